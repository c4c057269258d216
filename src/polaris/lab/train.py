"""Training one lab model (torch): data from the tasks' training splits, rendered exactly as the
runner renders zero-shot prompts, with the loss on the response only.

Deterministic from the seed on one machine: torch runs on one thread per model, the seed fixes the
initial weights and the order of batches, and the training set is fixed by the task and
`data_seed`. (Different CPUs or torch builds may round differently.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional as F

from polaris.lab.model import GPT, GPTConfig
from polaris.lab.sizes import SIZES
from polaris.lab.tasks import FORMATS, make_task, prompt_and_response, train_items
from polaris.lab.tokenizer import EOS, PAD, CharTokenizer


@dataclass(frozen=True)
class TrainSpec:
    tasks: tuple[str, ...]
    size: str
    seed: int = 0
    steps: int = 1600
    batch_size: int = 32
    lr: float | None = None  # None: the size's default (smaller models take larger steps)
    warmup: int = 100
    weight_decay: float = 0.1
    n_train: int = 30_000  # training problems per task (each rendered in every format)
    data_seed: int = 0
    formats: tuple[str, ...] = FORMATS

    def to_json(self) -> dict:
        return asdict(self) | {"tasks": list(self.tasks), "formats": list(self.formats)}


@dataclass
class TrainData:
    tok: CharTokenizer
    x: torch.Tensor  # [N, L] token ids, right-padded
    loss_mask: torch.Tensor  # [N, L-1]: True where the next token is part of the response (or EOS)
    lengths: torch.Tensor  # [N]
    fmt: torch.Tensor  # [N] index of the prompt format of each sequence
    block_size: int


def build_data(tasks: Sequence[str], n_train: int, data_seed: int, formats: Sequence[str]) -> TrainData:
    pairs: list[tuple[str, str]] = []
    fmt_ids: list[int] = []
    for name in tasks:
        task = make_task(name)
        items = train_items(name, n_train, data_seed)
        pairs += [prompt_and_response(task, it, fmt) for it in items for fmt in formats]
        fmt_ids += [j for _ in items for j in range(len(formats))]
    tok = CharTokenizer.build(p + r for p, r in pairs)
    seqs = [(tok.encode(p), tok.encode(r) + [EOS]) for p, r in pairs]
    width = max(len(p) + len(r) for p, r in seqs)
    x = torch.full((len(seqs), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(seqs), width - 1), dtype=torch.bool)
    lengths = torch.zeros(len(seqs), dtype=torch.long)
    for i, (p, r) in enumerate(seqs):
        x[i, : len(p) + len(r)] = torch.tensor(p + r)
        mask[i, len(p) - 1 : len(p) + len(r) - 1] = True
        lengths[i] = len(p) + len(r)
    block = width + 16  # a little room for prompts a few characters longer than any seen
    return TrainData(tok, x, mask, lengths, torch.tensor(fmt_ids), block)


def default_lr(n_embd: int) -> float:
    return min(3e-3, 1e-3 * math.sqrt(256 / n_embd))


def lr_at(step: int, spec: TrainSpec, peak: float) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < spec.warmup:
        return peak * (step + 1) / spec.warmup
    t = (step - spec.warmup) / max(1, spec.steps - spec.warmup)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, t))))


def train_model(spec: TrainSpec, data: TrainData, on_step: Callable[[int, float], None] | None = None) -> GPT:
    """Train one model; `on_step(step, loss)` is called after every step (progress)."""
    torch.manual_seed(spec.seed)
    n_layer, n_head, n_embd = SIZES[spec.size]
    cfg = GPTConfig(data.tok.vocab_size, data.block_size, n_layer, n_head, n_embd)
    model = GPT(cfg).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    peak = spec.lr or default_lr(n_embd)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=peak,
        betas=(0.9, 0.98),
    )
    gen = torch.Generator().manual_seed(spec.seed)
    # Batches take turns between formats: short direct sequences are not padded to scratchpad length.
    pools = [p for p in (torch.nonzero(data.fmt == j).flatten() for j in range(int(data.fmt.max()) + 1)) if len(p)]
    for step in range(spec.steps):
        pool = pools[step % len(pools)]
        idx = pool[torch.randint(len(pool), (spec.batch_size,), generator=gen)]
        width = int(data.lengths[idx].max())
        x = data.x[idx, :width]
        mask = data.loss_mask[idx, : width - 1]
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits[mask], x[:, 1:][mask])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, spec, peak)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if on_step is not None:
            on_step(step + 1, loss.item())
    return model.eval()
