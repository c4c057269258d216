"""How an imported response is found in the store: by its source, item and turn, never by a prompt.

Polaris did not send an imported run's prompts, so the prompts it would render for the cell are not the
key of its responses (and may change between versions). A request made by an imported run's backend
identity (`{"model", "imported": provenance}`) is keyed by the model, the source digest, the item and
the turn: the number of assistant messages already in the conversation (0 for a single answer; the
round for LLM-Modulo back-prompting, where the solver continues the conversation). `SolveContext`
asks this module for the body of such a request, so `polaris rescore` and the import itself read the
responses through the ordinary solvers.
"""

from __future__ import annotations

from typing import Any

from polaris.prompts.render import Prompt


def is_imported(identity: dict[str, Any]) -> bool:
    return isinstance(identity.get("imported"), dict)


def turn(prompt: Prompt) -> int:
    return sum(1 for m in prompt.messages if m.role == "assistant")


def key_body(identity: dict[str, Any], item: str | None, turn_no: int) -> dict[str, Any]:
    return {"model": identity.get("model"), "kind": "imported", "source": identity["imported"].get("source"),
            "item": item, "turn": turn_no}


def request_body(identity: dict[str, Any], prompt: Prompt, item: str | None) -> dict[str, Any]:
    return key_body(identity, item, turn(prompt))
