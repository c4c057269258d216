"""`train_ladder`: train every size x seed of a ladder, with a progress bar, resumably.

Each model trains on one torch thread (that makes it deterministic and lets `jobs` processes share
the cores); the largest models start first. After each model is saved it is reloaded from disk
and evaluated greedily on the test items, and the ladder index is rewritten, so a killed run keeps
every finished model and a rerun of the same command trains only what is missing.
"""

from __future__ import annotations

import queue as queue_mod
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.lab.checkpoint import DTYPES, is_checkpoint, read_config
from polaris.lab.ladder import INDEX, read_index, write_index
from polaris.lab.sizes import DEFAULT_SIZES, SIZES
from polaris.lab.tasks import parse_name

DEFAULT_TASKS = ("lab/add-3",)
DEFAULT_SEEDS = 3
DEFAULT_STEPS = 1600
DEFAULT_BATCH = 32


@dataclass(frozen=True)
class Job:
    id: str
    spec: Any  # TrainSpec (imported lazily: it needs torch)
    path: str
    dtype: str
    eval_items: int


def ladder_name(tasks: Sequence[str]) -> str:
    """`lab/add-3` -> `add3`; several tasks are joined with `_`."""
    return "_".join(t.removeprefix("lab/").replace("-", "") for t in tasks)


def _git_commit(out: Path) -> str | None:
    """The commit of the code that trains, "-dirty" if tracked source files differ from it (the
    ladder being written is not counted: the shipped ladder lives inside the package)."""
    src = Path(__file__).resolve().parents[1]
    status = ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no", "--", "."]
    try:
        if out.resolve().is_relative_to(src):
            status.append(f":(exclude){out.resolve().relative_to(src)}")
        head = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(status, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@lru_cache(maxsize=2)
def _data(tasks: tuple[str, ...], n_train: int, data_seed: int, formats: tuple[str, ...]):
    from polaris.lab.train import build_data

    return build_data(tasks, n_train, data_seed, formats)


def run_job(job: Job, progress: Any) -> dict[str, Any]:
    """Train, save, reload and evaluate one model (in this process); report steps to `progress`."""
    import torch

    from polaris import __version__
    from polaris.lab.checkpoint import save_checkpoint, weights_hash
    from polaris.lab.engine import load_engine
    from polaris.lab.evaluate import evaluate
    from polaris.lab.train import default_lr, train_model

    torch.set_num_threads(1)
    spec = job.spec
    data = _data(spec.tasks, spec.n_train, spec.data_seed, spec.formats)
    losses: list[float] = []

    def on_step(step: int, loss: float) -> None:
        losses.append(loss)
        if step % 10 == 0 or step == spec.steps:
            progress.put((job.id, step, sum(losses[-50:]) / len(losses[-50:])))

    start = time.perf_counter()
    model = train_model(spec, data, on_step)
    seconds = time.perf_counter() - start
    n_layer, n_head, width = SIZES[spec.size]
    entry = {
        "id": job.id,
        "size": spec.size,
        "seed": spec.seed,
        "params": sum(p.numel() for p in model.parameters()),
        "layers": n_layer,
        "heads": n_head,
        "width": width,
        "lr": spec.lr or default_lr(width),
        "train_seconds": round(seconds, 1),
        "final_loss": round(sum(losses[-50:]) / max(1, len(losses[-50:])), 5),
    }
    meta = {"id": job.id, "train": spec.to_json(), "polaris": __version__, "torch": torch.__version__, **entry}
    save_checkpoint(Path(job.path), model, data.tok, meta, job.dtype)
    engine, tok, _ = load_engine(Path(job.path), "torch")  # evaluate what was saved (float16 by default)
    entry["weights_sha256"] = weights_hash(Path(job.path))
    entry["eval"] = {
        t: {f: evaluate(engine, tok, t, f, job.eval_items).to_json() for f in spec.formats} for t in spec.tasks
    }
    return entry


class _Direct:
    """In-process stand-in for the progress queue of worker processes."""

    def __init__(self, update) -> None:
        self.update = update

    def put(self, item) -> None:
        self.update(*item)


def _plan(out: Path, settings: dict[str, Any], jobs: list[Job]) -> tuple[dict, dict, list[Job]]:
    """What is already trained in `out` (kept) and what is left. A ladder can grow by sizes and
    seeds; a model or index trained with other settings is refused, never overwritten."""
    index: dict[str, Any] = {"format": 1, **settings, "sizes": [], "seeds": [], "commands": [], "models": []}
    if (out / INDEX).is_file():
        previous = read_index(out)
        differ = [k for k, v in settings.items() if previous.get(k, v) != v]
        if differ:
            raise PolarisError(
                f"{out}: holds a ladder trained with other settings ({', '.join(differ)}); choose another --out"
            )
        index |= {k: previous.get(k, index[k]) for k in ("sizes", "seeds", "commands")}
        index["models"] = previous["models"]
    done = {m["id"]: m for m in index["models"] if is_checkpoint(out / str(m.get("id")))}
    todo = []
    for job in jobs:
        if is_checkpoint(Path(job.path)):
            if read_config(Path(job.path)).get("train") != job.spec.to_json():
                raise PolarisError(
                    f"{job.path}: already holds a model trained with other settings; choose another --out"
                )
            if job.id in done:
                continue
        todo.append(job)
    return index, done, todo


def train_ladder(
    out: Path | str,
    tasks: Sequence[str] = DEFAULT_TASKS,
    sizes: Sequence[str] = DEFAULT_SIZES,
    seeds: int | Sequence[int] = DEFAULT_SEEDS,
    steps: int = DEFAULT_STEPS,
    *,
    batch_size: int = DEFAULT_BATCH,
    lr: float | None = None,
    n_train: int = 30_000,
    data_seed: int = 0,
    name: str | None = None,
    dtype: str = "float16",
    jobs: int = 1,
    eval_items: int = 500,
    command: str | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Train (or finish training) a ladder in `out`; returns its index (also written to out/index.json)."""
    from polaris.lab.train import TrainSpec

    out = Path(out)
    tasks = tuple(parse_name(t).name for t in tasks)
    if not tasks:
        raise PolarisError("--task: give at least one lab task")
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        raise PolarisError(f"--sizes: unknown size '{bad[0]}' (choose from {', '.join(SIZES)})")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list or min(seed_list) < 0:
        raise PolarisError("--seeds: need at least one seed, seeds are >= 0")
    for option, value, low in (("--steps", steps, 1), ("--batch-size", batch_size, 1), ("--jobs", jobs, 1)):
        if value < low:
            raise PolarisError(f"{option}: must be at least {low} (got {value})")
    if n_train < 1 or eval_items < 0:
        raise PolarisError("--n-train must be at least 1 and --eval-items at least 0")
    if dtype not in DTYPES:
        raise PolarisError(f"--dtype: choose {' or '.join(DTYPES)} (got {dtype})")
    name = name or ladder_name(tasks)
    base = TrainSpec(tasks, sizes[0], 0, steps, batch_size, lr, min(100, steps // 10), 0.1, n_train, data_seed)
    jobs_all = []
    for size in sizes:
        for seed in seed_list:
            mid = f"{name}-{size}-seed{seed}"
            jobs_all.append(Job(mid, replace(base, size=size, seed=seed), str(out / mid), dtype, eval_items))
    settings = {"name": name, "tasks": list(tasks), "formats": list(base.formats), "steps": steps}
    settings |= {"batch_size": batch_size, "lr": lr, "n_train": n_train, "data_seed": data_seed, "dtype": dtype}
    index, done, todo = _plan(out, settings, jobs_all)
    if not todo:  # all trained: leave the index (and the run it records) untouched
        return read_index(out)
    index |= {"command": command, "git": _git_commit(out)}
    if command and command not in index["commands"]:
        index["commands"].append(command)
    index["sizes"] = [s for s in SIZES if s in set(index["sizes"]) | set(sizes)]
    index["seeds"] = sorted(set(index["seeds"]) | set(seed_list))

    def record(entry: dict[str, Any]) -> None:
        done[entry["id"]] = entry
        rank = {s: i for i, s in enumerate(SIZES)}
        index["models"] = sorted(done.values(), key=lambda m: (rank.get(m.get("size"), len(rank)), m.get("seed", 0)))
        write_index(out, index)

    out.mkdir(parents=True, exist_ok=True)
    if done:
        record(next(iter(done.values())))  # the index lists the reused models before training starts
    todo.sort(key=lambda j: (-SIZES[j.spec.size][2] * SIZES[j.spec.size][0], j.spec.seed))  # big ones first
    start = time.perf_counter()
    _run_all(todo, jobs, record, show_progress)
    import torch

    index["torch"] = torch.__version__
    index["wall_seconds"] = round(time.perf_counter() - start, 1)
    index["train_seconds"] = round(sum(m.get("train_seconds", 0) for m in index["models"]), 1)
    write_index(out, index)
    return index


def _run_all(todo: list[Job], jobs: int, record, show_progress: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not todo:
        return
    total = sum(j.spec.steps for j in todo)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    console = Console(stderr=True)
    # Without a terminal (a log file, CI) a rich bar would print its last frame cut to 80 columns: plain
    # progress lines instead (cli/progress.py), steps being the work.
    lines = None
    if show_progress and not console.is_terminal:
        from polaris.cli.progress import PlainBar

        lines = PlainBar(f"training {len(todo)} models (steps)", total, sys.stderr)
        lines.sent(1)
    with Progress(*columns, console=console, disable=not show_progress or lines is not None) as bar:
        overall = bar.add_task(f"training {len(todo)} models", total=total)
        seen: dict[str, int] = {}

        def update(model_id: str, step: int, loss: float) -> None:
            bar.advance(overall, step - seen.get(model_id, 0))
            seen[model_id] = step
            bar.update(overall, description=f"training {len(todo)} models · {model_id} loss {loss:.3f}")
            if lines is not None:
                lines.status_text = f"{model_id} loss {loss:.3f}"
                lines.update(sum(seen.values()), total, 0)

        if jobs == 1:
            for job in todo:
                record(run_job(job, _Direct(update)))
            return
        _run_pool(todo, jobs, record, update)


def _run_pool(todo: list[Job], jobs: int, record, update) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # fork would copy torch's thread pools
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        q = manager.Queue()
        pending = {pool.submit(run_job, job, q) for job in todo}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(q, update)
            for fut in finished:
                record(fut.result())
        _drain(q, update)


def _drain(q, update) -> None:
    while True:
        try:
            update(*q.get_nowait())
        except queue_mod.Empty:
            return
