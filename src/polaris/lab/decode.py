"""Batched decoding and scoring with a lab model: greedy or seeded sampling with stop sequences, and
log-likelihoods of continuations. Works on numpy arrays with any engine (`engine.py`: numpy or
torch), so the same code decides what a model answers whichever engine computes its logits.

Prompts of different lengths share one batch: they are left-padded, padding is masked out of
attention and positions count from each prompt's first real character, so a prompt decodes the
same alone or in a batch (up to float rounding). Rows leave the batch as they finish.

Sampling draws from numpy's PCG64 seeded per row, in float64 from the float32 logits, so a sampled
answer does not depend on the engine either (up to float rounding at a draw's boundary).

A thinking budget (budget forcing, docs/compute.md) treats the scratchpad as the thinking: a row that
has written `think_budget` characters without starting its answer sentence ("Answer...") gets the
start of that sentence written for it (`Row.answer_prefix`, "Answer:" on a new line, one forced token
per step) and goes on to write the answer itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from polaris.lab.tokenizer import EOS, PAD, UNK, CharTokenizer


@dataclass(frozen=True, slots=True)
class Row:
    """One sequence to decode."""

    prompt: str
    max_tokens: int
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None  # sampling seed for this row (ignored when greedy)
    stop: tuple[str, ...] = ()
    think_budget: int | None = None  # scratchpad characters before the answer is forced (None: no limit)
    answer_prefix: str = "Answer:"  # what forcing writes to start the answer sentence


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    finish_reason: str  # "stop" (end of text or a stop sequence) or "length"
    tokens: int
    forced: bool = False  # the thinking budget ran out and the answer sentence was started for the model


ANSWER_MARK = "Answer"  # every lab answer sentence starts with it ("Answer: 579", "Answer reversed: 975")


def scratchpad_tokens(text: str) -> int:
    """Tokens (characters: the tokenizer is char-level) a response spent before its answer sentence:
    its thinking. A response that never starts the sentence thought throughout."""
    at = text.find(ANSWER_MARK)
    return len(text) if at < 0 else at


def _answering(text: str) -> bool:
    """Has the model begun its answer sentence (its last line is "Answer..." or on the way to it)?"""
    line = text.rsplit("\n", 1)[-1]
    return ANSWER_MARK in text or (bool(line) and ANSWER_MARK.startswith(line[: len(ANSWER_MARK)]))


def _forced_start(text: str, prefix: str) -> str:
    """The answer sentence's start, on a line of its own (a blank line would be the stop sequence)."""
    return prefix if not text or text.endswith("\n") else "\n" + prefix


def row_seed(seed: int | None, index: int, prompt: str) -> int:
    """A per-sample seed: the same (seed, sample index, prompt) always draws the same sample, whatever
    else shares its batch, and different prompts do not share random draws."""
    h = hashlib.sha256(f"{seed if seed is not None else 0}\x00{index}\x00{prompt}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def _prompt_ids(tok: CharTokenizer, text: str, limit: int) -> list[int]:
    ids = tok.encode(text)
    return ids[-limit:] if ids else [EOS]  # an empty prompt starts from end-of-text, as after a document


def _sample(logits: np.ndarray, row: Row, rng: np.random.Generator) -> int:
    z = logits.astype(np.float64) / row.temperature
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    if row.top_p is not None and row.top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        p = probs[order]
        drop = np.cumsum(p) - p >= row.top_p  # keep the smallest prefix reaching top_p
        probs = np.zeros_like(probs)
        probs[order[~drop]] = p[~drop]
    cdf = np.cumsum(probs)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))


def _pick(logits: np.ndarray, rows: Sequence[Row], rngs: Sequence[np.random.Generator | None]) -> list[int]:
    logits = logits.copy()
    logits[:, [PAD, UNK]] = -np.inf  # never targets in training: never emitted
    out = logits.argmax(-1).tolist()
    for i, (row, rng) in enumerate(zip(rows, rngs)):
        if rng is not None:
            out[i] = _sample(logits[i], row, rng)
    return out


def generate(engine: Any, tok: CharTokenizer, rows: Sequence[Row]) -> list[Decoded]:
    """Decode every row; one forward pass per step for the whole batch."""
    if not rows:
        return []
    block = engine.cfg.block_size
    prompts = [_prompt_ids(tok, r.prompt, block - 1) for r in rows]
    width = max(map(len, prompts))
    x = np.full((len(rows), width), PAD, dtype=np.int64)
    valid = np.zeros((len(rows), width), dtype=bool)
    for i, ids in enumerate(prompts):
        x[i, width - len(ids) :] = ids
        valid[i, width - len(ids) :] = True
    pos = np.maximum(valid.cumsum(1) - 1, 0)
    causal = np.tri(width, dtype=bool)
    mask = (causal[None] & valid[:, None, :]) | np.eye(width, dtype=bool)  # pads see themselves
    budget = [min(r.max_tokens, block - len(p)) for r, p in zip(rows, prompts)]
    caches = engine.new_caches(width + max(0, *budget))
    logits = engine.forward(x, pos, mask[:, None], caches)[:, -1]
    last = pos[:, -1].copy()
    rngs = [np.random.Generator(np.random.PCG64(r.seed or 0)) if r.temperature > 0 else None for r in rows]
    ids: list[list[int]] = [[] for _ in rows]
    texts = [""] * len(rows)
    done: list[Decoded | None] = [Decoded("", "length", 0) if b <= 0 else None for b in budget]
    forcing: list[list[int] | None] = [None] * len(rows)  # forced tokens still to write (budget forcing)
    live = list(range(len(rows)))
    while True:
        keep = [j for j, i in enumerate(live) if done[i] is None]
        if not keep:
            break
        if len(keep) < len(live):  # finished rows leave the batch and its caches
            sel = np.array(keep)
            engine.select(caches, sel)
            valid, last, logits = valid[sel], last[sel], logits[sel]
            live = [live[j] for j in keep]
        picks = _pick(logits, [rows[i] for i in live], [rngs[i] for i in live])
        for j, i in enumerate(live):
            b = rows[i].think_budget
            if b is not None and forcing[i] is None and len(ids[i]) >= b and not _answering(texts[i]):
                forcing[i] = tok.encode(_forced_start(texts[i], rows[i].answer_prefix))
            if forcing[i]:
                picks[j] = forcing[i].pop(0)
        for i, t in zip(live, picks):
            done[i] = _advance(tok, rows[i], t, ids[i], texts, i, budget)
            if done[i] is not None and forcing[i] is not None:
                done[i] = Decoded(done[i].text, done[i].finish_reason, done[i].tokens, True)
        if all(done[i] is not None for i in live):
            break
        step = np.array([[ids[i][-1] if ids[i] else EOS] for i in live], dtype=np.int64)
        last = last + 1
        valid = np.concatenate([valid, np.ones((len(live), 1), dtype=bool)], 1)
        logits = engine.forward(step, last[:, None], valid[:, None, None, :], caches)[:, -1]
    return [d if d is not None else Decoded(t, "length", len(x), forcing[i] is not None)
            for i, (d, t, x) in enumerate(zip(done, texts, ids))]


def _advance(
    tok: CharTokenizer, row: Row, token: int, ids: list[int], texts: list[str], i: int, budget: list[int]
) -> Decoded | None:
    """Append one token to row i; return its result if it just finished."""
    if token == EOS:
        return Decoded(texts[i], "stop", len(ids))
    ids.append(token)
    budget[i] -= 1
    texts[i] += tok.decode([token])
    for s in row.stop:
        at = texts[i].find(s, max(0, len(texts[i]) - len(s) - 1)) if s else -1
        if at >= 0:
            return Decoded(texts[i][:at], "stop", len(ids))
    return None if budget[i] > 0 else Decoded(texts[i], "length", len(ids))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def loglik(engine: Any, tok: CharTokenizer, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, int, bool]]:
    """For each (context, continuation): summed log-prob of the continuation, its length in tokens,
    and whether greedy decoding would have produced it. Long contexts keep their last characters."""
    if not pairs:
        return []
    block = engine.cfg.block_size
    seqs, spans = [], []
    for context, cont in pairs:
        c_ids = tok.encode(cont)[: block - 1]
        x_ids = _prompt_ids(tok, context, block - len(c_ids))
        seqs.append(x_ids + c_ids)
        spans.append((len(x_ids), len(c_ids)))
    width = max(map(len, seqs))
    x = np.full((len(seqs), width), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    logp = _log_softmax(engine.forward(x).astype(np.float64))  # right padding: causal attention never sees it
    out = []
    for i, (start, n) in enumerate(spans):
        if n == 0:
            out.append((0.0, 0, True))
            continue
        rows = logp[i, start - 1 : start - 1 + n]
        target = x[i, start : start + n]
        total = float(rows[np.arange(n), target].sum())
        out.append((total, n, bool((rows.argmax(-1) == target).all())))
    return out
