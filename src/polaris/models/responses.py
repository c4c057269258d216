"""What an OpenAI-compatible server sent, validated: a well-formed completion or a `BadResponse`.

Every response body (a JSON document, or the chunks of a streamed one) goes through these pure
functions before anything is stored or scored. Servers in the wild send content as a list of parts
(the newer chat format), lone UTF-16 surrogates (`"\\ud800"`, which SQLite cannot store), JSON
nested deeper than any decoder recurses, `null` content, numbers where text belongs, objects where
a finish reason belongs. Anything that is not a completion becomes `BadResponse(reason)`, which the
client retries like a broken body and finally records as the item's error (never as a wrong answer
and never as an exception that ends the run).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from polaris.models.base import Choice

_SURROGATE = re.compile("[\ud800-\udfff]")


class BadResponse(Exception):
    """A 200 response that is not a well-formed completion; `reason` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def clean_text(text: str) -> str:
    """Valid UTF-8 text: lone surrogates (which JSON may escape but UTF-8 cannot encode) become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def load_json(raw: bytes | str) -> Any:
    """Parse a body: invalid UTF-8 bytes are replaced, never fatal; too-deep nesting is a BadResponse."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
    try:
        return json.loads(text)
    except RecursionError:
        raise BadResponse("JSON nested too deeply") from None
    except ValueError:
        raise BadResponse("unparseable JSON") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number",
            str: "a string"}.get(type(value), type(value).__name__)


def text_of(content: Any, what: str = "content") -> str | None:
    """A message's content as text: a string, or a list of parts whose text parts are joined (the
    newer chat format). None stays None (the caller decides whether that is an error)."""
    if content is None:
        return None
    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])  # {"type": "text" | "output_text", "text": ...}
            elif not (isinstance(part, dict) and isinstance(part.get("type"), str)):
                raise BadResponse(f"{what} has a part that is {_kind(part)} without text")
        if content and not texts:
            raise BadResponse(f"{what} has no text parts")
        return clean_text("".join(texts))
    raise BadResponse(f"{what} is {_kind(content)}, not text")


def _finish(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadResponse(f"finish_reason is {_kind(value)}")


def _index(c: dict[str, Any], position: int) -> int:
    i = c.get("index", position)
    if isinstance(i, bool) or not isinstance(i, int) or i < 0:
        raise BadResponse(f"choice index is {_kind(i)} {i!r}"[:80])
    return i


def _error_in_body(data: dict[str, Any]) -> None:
    err = data.get("error")
    if err is not None:
        message = err.get("message") if isinstance(err, dict) else err
        raise BadResponse(f"the server reported an error: {str(message)[:200]}")


def usage_of(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    out = {k: v for k, v in raw.items()
           if k in ("prompt_tokens", "completion_tokens", "total_tokens") and type(v) is int and v >= 0}
    details = raw.get("completion_tokens_details")
    if isinstance(details, dict) and type(details.get("reasoning_tokens")) is int:
        out["reasoning_tokens"] = details["reasoning_tokens"]
    return out


def _choice(c: Any, chat: bool) -> Choice:
    if not isinstance(c, dict):
        raise BadResponse(f"a choice is {_kind(c)}")
    finish = _finish(c.get("finish_reason"))
    if not chat:
        text = c.get("text")
        if not isinstance(text, str):
            raise BadResponse("choice text is missing" if text is None else f"choice text is {_kind(text)}")
        return Choice(clean_text(text), finish)
    msg = c.get("message")
    if not isinstance(msg, dict):
        raise BadResponse("choice without a message" if msg is None else f"message is {_kind(msg)}")
    reasoning = _reasoning(msg)
    text = text_of(msg.get("content"))
    if text is None:
        if not reasoning:  # a reasoning model cut off while thinking has only its thoughts: that is an answer
            raise BadResponse("message content is null" if "content" in msg else "message without content")
        text = ""
    return Choice(text, finish, reasoning or None)


def _reasoning(msg: dict[str, Any]) -> str | None:
    for key in ("reasoning_content", "reasoning"):
        value = msg.get(key)
        if value is not None:
            return text_of(value, key) if not isinstance(value, dict) else None
    return None


def completion(data: Any, chat: bool) -> tuple[list[Choice], dict[str, int]]:
    """The choices (in index order) and usage of a complete (non-streamed) response."""
    if not isinstance(data, dict):
        raise BadResponse(f"the body is {_kind(data)}, not an object")
    _error_in_body(data)
    raw = data.get("choices")
    if not isinstance(raw, list) or not raw:
        raise BadResponse("no choices in the response")
    indexed = sorted(((_index(c, i) if isinstance(c, dict) else i, i, c) for i, c in enumerate(raw)))
    return [_choice(c, chat) for _, _, c in indexed], usage_of(data.get("usage"))


@dataclass
class _Partial:
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    finish: str | None = None
    saw_content: bool = False
    saw_message: bool = False


class Stream:
    """Assembles a streamed response (`stream: true`, server-sent events) chunk by chunk."""

    def __init__(self, chat: bool) -> None:
        self.chat = chat
        self.choices: dict[int, _Partial] = {}
        self.usage: dict[str, int] = {}
        self.done = False  # `data: [DONE]` seen
        self.chunks = 0

    def feed(self, payload: str) -> None:
        """One event's data: a JSON chunk or `[DONE]`."""
        if payload.strip() == "[DONE]":
            self.done = True
            return
        data = load_json(payload)
        if not isinstance(data, dict):
            raise BadResponse(f"a streamed chunk is {_kind(data)}, not an object")
        _error_in_body(data)
        self.chunks += 1
        if data.get("usage") is not None:
            self.usage = usage_of(data["usage"]) or self.usage
        raw = data.get("choices") or []
        if not isinstance(raw, list):
            raise BadResponse(f"choices of a streamed chunk are {_kind(raw)}")
        for pos, c in enumerate(raw):
            if not isinstance(c, dict):
                raise BadResponse(f"a streamed choice is {_kind(c)}")
            part = self.choices.setdefault(_index(c, pos), _Partial())
            finish = _finish(c.get("finish_reason"))
            if finish is not None:
                part.finish = finish
            if self.chat:
                delta = c.get("delta")
                if delta is None:
                    delta = c.get("message")  # some servers repeat the whole message in the last chunk
                    if delta is None:
                        continue
                if not isinstance(delta, dict):
                    raise BadResponse(f"a streamed delta is {_kind(delta)}")
                part.saw_message = True
                text = text_of(delta.get("content"))
                reasoning = _reasoning(delta)
            else:
                text, reasoning = text_of(c.get("text"), "choice text"), None
            if text is not None:
                part.text.append(text)
                part.saw_content = True
            if reasoning:
                part.reasoning.append(reasoning)

    def result(self, eof: bool) -> tuple[list[Choice], dict[str, int]]:
        """The assembled choices; `eof`: the connection ended without `[DONE]` (fine once every choice
        has a finish reason, as some servers end streams; otherwise the stream was cut short)."""
        if not self.choices:
            raise BadResponse("the stream carried no choices")
        if eof and not self.done and any(p.finish is None for p in self.choices.values()):
            raise BadResponse("the stream ended before its last chunk")
        out = []
        for i in sorted(self.choices):
            p = self.choices[i]
            reasoning = "".join(p.reasoning) or None
            if not p.saw_content and not reasoning:
                raise BadResponse("message content is null" if p.saw_message or not self.chat
                                  else "choice without a message")
            out.append(Choice("".join(p.text), p.finish, reasoning))
        return out, self.usage


def sse_events(buffer: bytearray, final: bool = False) -> tuple[list[str], bool]:
    """Complete server-sent events at the start of `buffer` (consumed from it): their data fields,
    and whether any non-data line (comment, event name) arrived, which counts as a sign of life."""
    events: list[str] = []
    alive = False
    while True:
        end = buffer.find(b"\n\n")
        sep = 2
        crlf = buffer.find(b"\r\n\r\n")
        if crlf != -1 and (end == -1 or crlf < end):
            end, sep = crlf, 4
        if end == -1:
            if not final or not buffer.strip():
                break
            end, sep = len(buffer), 0
        block = bytes(buffer[:end]).decode("utf-8", "replace")
        del buffer[: end + sep]
        data = []
        for line in block.splitlines():
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line:
                alive = True
        if data:
            events.append("\n".join(data))
    return events, alive
