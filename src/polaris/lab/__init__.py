"""The emergence lab: tiny GPT-style transformers trained by Polaris on synthetic arithmetic.

Only training imports torch (`pip install torch==2.13.0` then `polaris-lab[lab]`): models run on
numpy (`engine.py`), and tasks, listing and resolution are pure Python.

Public API (all importable from `polaris.lab`):

Tasks (`tasks.py`, `problems.py`)
    make_task(name, n_test=500) -> polaris.tasks.base.Task
        names: lab/add-N, lab/mul-N, lab/mul-NxM, lab/sum-KxN, lab/chain-K, each optionally
        with -rev (answer digits reversed); EXAMPLE_NAMES lists a representative set.
        Formats: zeroshot-direct (the answer only) and zeroshot-cot (scratchpad, then answer).
    parse_name(name) -> LabSpec       raises PolarisError on a bad name
    train_items(name, n, data_seed)   training items, disjoint from the test set
    prompt_and_response(task, item, fmt) -> (prompt text, gold response): what models train on
    digit_accuracy(answer, target): the continuous metric beside exact match (edit distance and the
    others are in polaris.analysis.metrics)

Models (`ladder.py`, `backend.py`, `checkpoint.py`)
    list_models(ladder=None) -> [ModelInfo]   shipped ladder by default; a directory otherwise
    models_metadata(ladder=None) -> {"lab/<id>": {"params", "family", "size", "seed", ...}}
        the models.yaml-style mapping the scaling analysis needs (family "polaris-lab/<ladder>")
    resolve(name) -> Path                     lab/<id> or lab/<checkpoint dir> -> checkpoint dir
    LabBackend(name, engine=None)             Backend protocol: generate (greedy / seeded sampling,
                                              n samples, stop sequences, batched), loglik,
                                              supports_n = True, identity() with the weights hash
    load_engine(path, kind="numpy") -> (engine, tokenizer, config)   numpy (no torch) or torch;
                                              decode.generate / decode.loglik drive either
    load_checkpoint(path), save_checkpoint(path, model, tok, meta)   the torch model (training)

Demo (`demo.py`)
    run_demo(out, store=None) -> DemoRun      `polaris demo`: the ladder x formats, study, report

Training (`train.py`, `ladder_train.py`, `sizes.py`)
    train_ladder(out, tasks=("lab/add-3",), sizes=DEFAULT_SIZES, seeds=3, steps=1600, batch_size=32, jobs=1, ...)
        -> index dict (also out/index.json); resumable; deterministic per seed on one machine
    SIZES (s1 ~10k .. s10 ~4.8M parameters), DEFAULT_SIZES (s1..s6)
    CLI: polaris lab train | models | eval

The shipped ladder (`ladder/index.json`, one checkpoint directory per model) was trained with the
command recorded in its index; its models are named `lab/add3-s<k>-seed<j>`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "make_task": "tasks",
    "parse_name": "tasks",
    "train_items": "tasks",
    "prompt_and_response": "tasks",
    "digit_accuracy": "tasks",
    "EXAMPLE_NAMES": "tasks",
    "FORMATS": "tasks",
    "LabSpec": "tasks",
    "list_models": "ladder",
    "models_metadata": "ladder",
    "resolve": "ladder",
    "ModelInfo": "ladder",
    "SHIPPED": "ladder",
    "LabBackend": "backend",
    "load_engine": "engine",
    "run_demo": "demo",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "train_ladder": "ladder_train",
    "SIZES": "sizes",
    "DEFAULT_SIZES": "sizes",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"polaris.lab.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'polaris.lab' has no attribute '{name}'")
