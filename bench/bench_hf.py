"""hf backend speed against peers measured in the same run, on the same tiny random Llama.

1. Generation: `run_cell` through the hf backend (runner, cache, store, judging included; model
   loaded beforehand) against a bare transformers loop: `model.generate` on the same prompts in
   dataset order, `--batch-size` at a time, left padding, the same stop strings. Both decode
   greedily, so they generate the same tokens; throughput = generated tokens / second.
   Target: the backend within 10% of the bare loop.
2. Log-likelihood scoring (`--scoring loglik`, MMLU 5-shot direct contexts): options scored per
   second and model forward passes, against the floor of one forward pass per option
   (context + option, unbatched), also run here.

    POLARIS_DATA_DIR=../shared/datasets python bench/bench_hf.py [--items 64] [--batch-size 16]

Without MMLU/GSM8K data in POLARIS_DATA_DIR the script writes small synthetic sets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]


def _data(tmp: Path) -> None:
    """Use POLARIS_DATA_DIR when it has the data, else write synthetic GSM8K and MMLU anatomy."""
    root = Path(os.environ.get("POLARIS_DATA_DIR", tmp / "none"))
    if (root / "gsm8k" / "test.jsonl").is_file() and (root / "mmlu" / "test" / "anatomy_test.csv").is_file():
        return
    from mcdata import write_mmlu

    data = tmp / "data"
    write_mmlu(data, [(f"Which option is number {i}?", ("one", "two", "three", "four"), "ABCD"[i % 4])
                      for i in range(200)])
    (data / "gsm8k").mkdir()
    for split in ("test", "train"):
        with (data / "gsm8k" / f"{split}.jsonl").open("w") as fh:
            for i in range(300):
                fh.write(json.dumps({"question": f"What is {i} plus {2 * i}?",
                                     "answer": f"{i} + {2 * i} = {3 * i}\n#### {3 * i}"}) + "\n")
    from conftest import write_gsm8k_prompt

    write_gsm8k_prompt(data)
    os.environ["POLARIS_DATA_DIR"] = str(data)


class Counted:
    """Counts a model's forward calls (generate's steps included)."""

    def __init__(self, model) -> None:
        self.calls = 0
        inner = model.forward

        def forward(*args, **kwargs):
            self.calls += 1
            return inner(*args, **kwargs)

        model.forward = forward


async def ours(spec, backend, limit: int, tmp: Path) -> tuple[float, list]:
    from polaris.runner.runner import prepare, run_cell
    from polaris.store.store import Store

    with tempfile.TemporaryDirectory(dir=tmp) as d:
        store = Store(Path(d) / "s.db")
        cell = prepare(spec, limit=limit)
        t0 = time.perf_counter()
        await run_cell(cell, store=store, backend=backend, concurrency=backend.in_flight)
        elapsed = time.perf_counter() - t0
        rows = store.db.execute("SELECT s.text, s.tokens, s.data FROM samples s JOIN requests r ON r.hash = s.hash"
                                " ORDER BY r.created").fetchall()
        store.close()
    return elapsed, rows


def bare_generate(model, tok, prompts: list[str], stops: list[str], batch: int, max_new: int):
    import torch

    texts, tokens = [], 0
    t0 = time.perf_counter()
    for i in range(0, len(prompts), batch):
        enc = tok(prompts[i:i + batch], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, stop_strings=stops, tokenizer=tok,
                                 pad_token_id=tok.pad_token_id)
        new = out[:, enc.input_ids.shape[1]:]
        tokens += int((new != tok.pad_token_id).sum())
        for row in new:
            text = tok.decode(row, skip_special_tokens=True)
            cuts = [text.find(s) for s in stops if s in text]
            texts.append(text[: min(cuts)] if cuts else text)
    return time.perf_counter() - t0, texts, tokens


def floor_loglik(model, tok, pairs: list[tuple[str, str]]) -> float:
    import torch

    t0 = time.perf_counter()
    for context, cont in pairs:
        whole = tok(context + cont).input_ids
        with torch.no_grad():
            model(torch.tensor([whole]))
    return time.perf_counter() - t0


def batched_compute(backend, pairs: list[tuple[str, str]], batch: int, repeats: int) -> tuple[float, float]:
    """The backend's tokenising and its batched forward passes alone, outside the runner."""
    from polaris.models.hf_compute import LoglikItem, loglik_batch
    from polaris.models.tokens import pair_ids

    t0 = time.perf_counter()
    items, k = [], 4
    for i in range(0, len(pairs), k):
        ctx, conts = pair_ids(backend.tokenizer, pairs[i][0], [x for _, x in pairs[i:i + k]], backend._pad)
        items.append(LoglikItem(tuple(ctx), tuple(tuple(x) for x in conts)))
    t_tokens = time.perf_counter() - t0
    per = max(1, batch // k)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, len(items), per):
            loglik_batch(backend.model, items[i:i + per], pad_id=backend._pad)
        best = min(best, time.perf_counter() - t0)
    return best, t_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--loglik-items", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3, help="best of N for each side (the machine is shared)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    from tinymodel import build
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from polaris.models.hf import HFBackend
    from polaris.runner.cell import CellSpec
    from polaris.runner.runner import prepare

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_hf_"))
    _data(tmp)
    model_dir = build(tmp / "tiny")
    print(f"load average {os.getloadavg()[0]:.1f}, torch threads {args.threads}, batch size {args.batch_size}",
          file=sys.stderr)

    # -- generation ---------------------------------------------------------------------------
    gen = CellSpec(model=f"hf/{model_dir}", task="gsm8k", prompt="fewshot-direct", api="completions",
                   max_tokens=args.max_tokens)
    prompts = [p.text for p in prepare(gen, limit=args.items).prompts]
    stops = list(prepare(gen, limit=1).prompts[0].stop)
    backend = HFBackend(str(model_dir), batch_size=args.batch_size)
    asyncio.run(backend.start())
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    bare_generate(model, tok, prompts[: args.batch_size], stops, args.batch_size, 4)  # warm-up
    best_ours = best_bare = float("inf")
    for _ in range(args.repeats):
        t, rows = asyncio.run(ours(gen, backend, args.items, tmp))
        best_ours = min(best_ours, t)
        t, texts, bare_tokens = bare_generate(model, tok, prompts, stops, args.batch_size, args.max_tokens)
        best_bare = min(best_bare, t)
    same = [r[0] for r in rows] == texts
    # Identical texts: the same tokens were generated; count them once, as the bare loop does (EOS included).
    ours_tps, bare_tps = bare_tokens / best_ours, bare_tokens / best_bare
    print(f"generation: {args.items} prompts, {bare_tokens} tokens, max {args.max_tokens} per prompt, "
          f"identical texts: {same}")
    print(f"  hf backend via run_cell  {best_ours:7.2f} s  {ours_tps:8.0f} tok/s  ({backend._gen.stats.batches} batches)")
    print(f"  bare transformers loop   {best_bare:7.2f} s  {bare_tps:8.0f} tok/s")
    print(f"  ratio backend/bare       {ours_tps / bare_tps:7.3f}  (target >= 0.90)")

    # -- log-likelihood -----------------------------------------------------------------------
    ll = CellSpec(model=f"hf/{model_dir}", task="mmlu/anatomy", prompt="fewshot-direct", scoring="loglik")
    counter = Counted(backend.model)
    best_ll = float("inf")
    for _ in range(args.repeats):
        counter.calls = 0
        t, rows = asyncio.run(ours(ll, backend, args.loglik_items, tmp))
        best_ll = min(best_ll, t)
    passes = counter.calls
    from polaris.runner.loglik import context_and_continuations, options_for

    cell = prepare(ll, limit=args.loglik_items)
    pairs = []
    for item, p in zip(cell.items, cell.prompts):
        context, conts = context_and_continuations(cell.task.template_for(item.group), p.text,
                                                   options_for(item).answers)
        pairs += [(context, c) for c in conts]
    t_floor = min(floor_loglik(model, tok, pairs) for _ in range(max(1, args.repeats - 1)))
    t_compute, t_tokens = batched_compute(backend, pairs, args.batch_size, args.repeats)
    avg_ctx = sum(len(tok(c).input_ids) for c, _ in pairs[::4]) / max(1, len(pairs) // 4)
    print(f"loglik: {len(cell.items)} items, {len(pairs)} options, contexts of {avg_ctx:.0f} tokens on average")
    print(f"  hf backend via run_cell  {best_ll:7.2f} s  {len(pairs) / best_ll:8.1f} options/s  "
          f"{passes} forward passes")
    print(f"  its tokenising alone     {t_tokens:7.2f} s  (context alone and with each option, as lm-eval does)")
    print(f"  its forward passes alone {t_compute:7.2f} s  {len(pairs) / t_compute:8.1f} options/s")
    print(f"  one option per pass      {t_floor:7.2f} s  {len(pairs) / t_floor:8.1f} options/s  "
          f"{len(pairs)} forward passes")
    print(f"  speed-up                 {t_floor / best_ll:7.2f}x")
    asyncio.run(backend.close())


if __name__ == "__main__":
    main()
