"""The torch side of the hf backend: one batched `generate` call, one batched log-likelihood pass.

These run in the batcher's worker thread on token ids the backend prepared. Imported only once the
backend has checked that torch and transformers are installed.

Sampling. Each row (one sample of one request) draws from its own `torch.Generator`, seeded by
(run seed, sample index), so a sample's text does not depend on which other rows shared its batch
or on whether it was drawn in the first run or on resume. transformers' `generate` draws from the
global RNG, so sampled rows decode greedily over the output of `RowSampler`, which samples each
row from its own generator and leaves only the chosen token finite.

Log-likelihood. The contexts of a batch run once and their KV cache is copied to one row per
option, which then runs only the option's tokens: the options of an item share its context's
computation instead of recomputing it per option.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteriaList


@dataclass(frozen=True)
class GenKey:
    """What rows must share to run in one `generate` call."""

    max_tokens: int
    temperature: float
    top_p: float | None
    stop: tuple[str, ...]
    thinking_budget: int | None = None  # budget forcing (ThinkingBudget); None: think freely
    effort: str | None = None  # --reasoning-effort, for the chat template


@dataclass(frozen=True)
class GenRow:
    ids: tuple[int, ...]
    seed: int | None  # None: greedy


@dataclass(frozen=True)
class GenOut:
    text: str
    finish: str
    tokens: int
    prompt_tokens: int
    reasoning_tokens: int | None = None  # with a thinking budget: tokens up to the end of the thought
    forced: bool = False  # the budget ran out and the closing tag was written for the model


@dataclass(frozen=True)
class LoglikItem:
    context: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class LoglikOut:
    logprobs: list[float]
    tokens: list[int]
    greedy: list[bool]


def row_seed(seed: int, index: int) -> int:
    """The generator seed of sample `index` of a request in a run seeded `seed`."""
    return int.from_bytes(hashlib.sha256(f"polaris/{seed}/{index}".encode()).digest()[:8], "big") >> 1


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = [[pad_id] * (width - len(s)) + list(s) for s in seqs]
    mask = [[0] * (width - len(s)) + [1] * len(s) for s in seqs]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


class RowSampler(LogitsProcessor):
    """Temperature / nucleus sampling with one generator per row (module docstring)."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float | None) -> None:
        # CPU generators: the same uniform draws whatever the device, and no device sync per row.
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logits = scores.float() / self.temperature
        if self.top_p is not None and self.top_p < 1.0:
            ordered, order = logits.sort(dim=-1, descending=True)
            probs = ordered.softmax(-1)
            drop = probs.cumsum(-1) - probs > self.top_p  # the most likely token always stays
            logits = torch.full_like(logits, float("-inf")).scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
        cdf = logits.softmax(-1).cumsum(-1)
        u = torch.stack([torch.rand((), generator=g) for g in self.generators]).to(cdf.device)
        pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1).contiguous()).clamp(max=cdf.shape[-1] - 1)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(-1, pick, 0.0)


class ThinkingBudget(LogitsProcessor):
    """Budget forcing (Muennighoff et al.'s s1): a row that has thought for `budget` tokens gets its
    closing tag written for it, one forced token per step, and then answers freely.

    A row is thinking from the start when its prompt ends with an opening tag (templates that open
    the thought for the model), else from the step its own text completes one; the tokens after the
    opening tag count. The closing text is the matching tag on its own line (models/thinking.py). Rows
    that never open a thought are left alone. Tags are found in the decoded text, so a tag split
    into several tokens counts once it is complete."""

    def __init__(self, tokenizer, budget: int, prompts: Sequence[Sequence[int]], pairs: Sequence[tuple[str, str]],
                 stop_ids: frozenset[int]) -> None:
        from polaris.models.thinking import open_tag_at_end

        self.tok, self.budget, self.pairs, self.stop_ids = tokenizer, budget, tuple(pairs), stop_ids
        n = len(prompts)
        self.tail = [""] * n  # the last characters generated: enough to see a tag complete
        self.close: list[str | None] = [None] * n  # closing tag of the open thought (None: not thinking)
        self.count = [0] * n  # tokens thought so far
        self.pending: list[list[int]] = [[] for _ in range(n)]  # forced tokens still to write
        self.forced = [False] * n
        self.ended_at: list[int | None] = [None] * n  # tokens generated up to and including the closing tag
        self.finished = [False] * n
        self.steps = -1  # generated tokens seen (the first call sees the prompt only)
        for i, ids in enumerate(prompts):
            pair = open_tag_at_end(tokenizer.decode(list(ids[-16:]), skip_special_tokens=False), self.pairs)
            self.close[i] = pair[1] if pair else None

    def _advance(self, i: int, token: int) -> None:
        if self.finished[i] or token in self.stop_ids:
            self.finished[i] = True
            return
        tail = (self.tail[i] + self.tok.decode([token], skip_special_tokens=False))[-64:]
        close = self.close[i]
        if self.ended_at[i] is not None:
            pass
        elif close is None:
            for open_tag, close_tag in self.pairs:
                at = tail.find(open_tag)
                if at >= 0:
                    self.close[i], tail = close_tag, tail[at + len(open_tag):]
                    break
        elif close in tail:
            self.ended_at[i] = self.steps
        else:
            self.count[i] += 1
        self.tail[i] = tail

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        from polaris.models.thinking import forced_close

        self.steps += 1
        if self.steps:
            for i, token in enumerate(input_ids[:, -1].tolist()):
                self._advance(i, token)
        out = None
        for i in range(len(self.tail)):
            close = self.close[i]
            if (close is not None and self.ended_at[i] is None and not self.forced[i] and not self.finished[i]
                    and self.count[i] >= self.budget):
                self.pending[i] = list(self.tok.encode(forced_close(close), add_special_tokens=False))
                self.forced[i] = True
            if self.pending[i] and not self.finished[i]:
                out = scores.clone() if out is None else out
                out[i] = float("-inf")
                out[i, self.pending[i].pop(0)] = 0.0
        return scores if out is None else out

    def reasoning_tokens(self, i: int, generated: int) -> int:
        """Tokens of row i's thinking (through its closing tag), given its generated token count."""
        if self.ended_at[i] is not None:
            return min(self.ended_at[i], generated)
        return generated if self.close[i] is not None else 0


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the earliest stop sequence starts in `text`, if any."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def generate_batch(model, tokenizer, key: GenKey, rows: Sequence[GenRow], *, pad_id: int,
                   eos_ids: frozenset[int], stopper=None) -> list[GenOut]:
    """Generate one continuation per row (left padding; stop sequences end rows early)."""
    ids, mask = left_pad([r.ids for r in rows], pad_id, model.device)
    config = GenerationConfig(max_new_tokens=key.max_tokens, do_sample=False, num_beams=1, pad_token_id=pad_id,
                              eos_token_id=sorted(eos_ids) or None)
    processors = LogitsProcessorList()
    if key.temperature > 0:
        seeds = [r.seed if r.seed is not None else 0 for r in rows]
        processors.append(RowSampler(seeds, key.temperature, key.top_p))
    budget = None
    if key.thinking_budget is not None:  # last: it overrides whatever was picked while it forces
        from polaris.scoring.text import THINK_TAGS

        budget = ThinkingBudget(tokenizer, key.thinking_budget, [r.ids for r in rows], THINK_TAGS,
                                eos_ids | {pad_id})
        processors.append(budget)
    criteria = StoppingCriteriaList([stopper]) if stopper is not None else None
    out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                         logits_processor=processors or None, stopping_criteria=criteria)
    results = []
    for b, (row, toks) in enumerate(zip(rows, out[:, ids.shape[1]:].tolist())):
        n = next((i for i, t in enumerate(toks) if t in eos_ids), len(toks))
        text = tokenizer.decode(toks[:n], skip_special_tokens=True)
        # A row that a stop string ended is filled with padding up to the longest row.
        while n and toks[n - 1] == pad_id and pad_id not in eos_ids:
            n -= 1
        cut = first_stop(text, key.stop)
        if cut is not None:
            text, finish = text[:cut], "stop"
        else:
            finish = "length" if n >= key.max_tokens else "stop"
        if budget is not None:
            results.append(GenOut(text, finish, n, len(row.ids), budget.reasoning_tokens(b, n), budget.forced[b]))
        else:
            results.append(GenOut(text, finish, n, len(row.ids)))
    return results


def _accepts(model, name: str) -> bool:
    import inspect

    return name in inspect.signature(model.forward).parameters


def right_pad(seqs: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = [list(s) + [pad_id] * (width - len(s)) for s in seqs]
    mask = [[1] * len(s) + [0] * (width - len(s)) for s in seqs]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def loglik_batch(model, items: Sequence[LoglikItem], *, pad_id: int) -> list[LoglikOut]:
    """log P(continuation | context) for every option of every item, in two forward passes."""
    device = model.device
    # Contexts are right-padded and run without an attention mask: causal attention alone keeps
    # real tokens from seeing the padding after them, and the unmasked causal path is the fast
    # one (with a padding mask, CPU attention is about twice as slow).
    ctx, ctx_mask = right_pad([it.context for it in items], pad_id, device)
    lengths = ctx_mask.sum(-1)
    rows_b = torch.arange(len(items), device=device)
    with torch.inference_mode():
        if _accepts(model, "logits_to_keep"):
            keep = sorted({len(it.context) - 1 for it in items})
            out = model(input_ids=ctx, use_cache=True, logits_to_keep=torch.tensor(keep, device=device))
            column = {p: i for i, p in enumerate(keep)}
            last = out.logits[rows_b, torch.tensor([column[len(it.context) - 1] for it in items], device=device)]
        else:
            out = model(input_ids=ctx, use_cache=True)
            last = out.logits[rows_b, lengths - 1]
        first = last.float().log_softmax(-1)  # the next-token distribution after each context
        rows = [(b, c) for b, it in enumerate(items) for c in it.continuations]
        owner = torch.tensor([b for b, _ in rows], device=device)
        heads = torch.tensor([c[0] if c else 0 for _, c in rows], device=device)
        lp = first[owner, heads]
        greedy = first[owner].argmax(-1) == heads
        width = max(len(c) for _, c in rows) - 1
        if width > 0:
            # Options run after a copy of their item's context cache, masked to its real tokens;
            # the last token of an option is only ever a target, never an input.
            cache = out.past_key_values
            cache.batch_select_indices(owner)
            feed = torch.tensor([list(c[:-1]) + [pad_id] * (width - max(len(c) - 1, 0)) for _, c in rows], device=device)
            targets = torch.tensor([list(c[1:]) + [0] * (width - max(len(c) - 1, 0)) for _, c in rows], device=device)
            live = torch.tensor([[1] * max(len(c) - 1, 0) + [0] * (width - max(len(c) - 1, 0)) for _, c in rows],
                                device=device)
            mask = torch.cat([ctx_mask[owner], live], dim=-1)
            pos = lengths[owner].unsqueeze(-1) + torch.arange(width, device=device)
            logits = model(input_ids=feed, attention_mask=mask, position_ids=pos, past_key_values=cache,
                           use_cache=True).logits.float()
            logp = logits.log_softmax(-1)
            picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            lp = lp + (picked * live).sum(-1)
            greedy = greedy & ((logp.argmax(-1) == targets) | (live == 0)).all(-1)
    empty = torch.tensor([len(c) == 0 for _, c in rows], device=device)
    lp = lp.masked_fill(empty, 0.0)
    greedy = greedy | empty
    results, k = [], 0
    lp_list, greedy_list = lp.tolist(), greedy.tolist()
    for it in items:
        m = len(it.continuations)
        results.append(LoglikOut(lp_list[k:k + m], [len(c) for c in it.continuations], greedy_list[k:k + m]))
        k += m
    return results
