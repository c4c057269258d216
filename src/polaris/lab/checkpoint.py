"""Checkpoints: a directory with `model.safetensors`, `config.json` and `tokenizer.json`.

`config.json` holds the architecture (`model`), the storage dtype and how the model was trained
(tasks, size label, seed, steps, ...). Weights may be stored in float16 to keep the shipped ladder
small; they are computed with in float32 after loading. Reading the config and hashing the weights
needs no torch; `engine.load_numpy` loads a checkpoint without it, `load_checkpoint` as a torch model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polaris.errors import PolarisError
from polaris.lab.arch import GPTConfig
from polaris.lab.tokenizer import CharTokenizer

if TYPE_CHECKING:
    from polaris.lab.model import GPT

WEIGHTS, CONFIG, TOKENIZER = "model.safetensors", "config.json", "tokenizer.json"
DTYPES = ("float16", "float32")


def is_checkpoint(path: Path) -> bool:
    return all((path / f).is_file() for f in (WEIGHTS, CONFIG, TOKENIZER))


def read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PolarisError(f"{path / CONFIG}: cannot read checkpoint config ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise PolarisError(f"{path / CONFIG} field 'model': missing model architecture")
    return data


def weights_hash(path: Path) -> str:
    """sha256 of the weights file: two checkpoints with the same hash answer identically."""
    h = hashlib.sha256()
    with open(path / WEIGHTS, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(path: Path, model: GPT, tok: CharTokenizer, meta: dict[str, Any], dtype: str = "float16") -> None:
    import torch
    from safetensors.torch import save_file

    if dtype not in DTYPES:
        raise PolarisError(f"unknown checkpoint dtype '{dtype}' (choose {' or '.join(DTYPES)})")
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(getattr(torch, dtype)).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path / WEIGHTS), metadata={"format": "pt"})
    config = {"model": model.cfg.to_json(), "dtype": dtype, **meta}
    (path / CONFIG).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tok.save(path / TOKENIZER)


def read_tokenizer(path: Path) -> CharTokenizer:
    return CharTokenizer.load(path / TOKENIZER)


def read_checkpoint(path: Path) -> tuple[GPTConfig, CharTokenizer, dict[str, Any]]:
    """The architecture, tokenizer and config of a checkpoint directory, each read once and the
    architecture checked against the tokenizer (both engines load through this)."""
    if not is_checkpoint(path):
        raise PolarisError(f"{path}: not a lab checkpoint (needs {WEIGHTS}, {CONFIG} and {TOKENIZER})")
    config = read_config(path)
    try:
        cfg = GPTConfig.from_json(config["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PolarisError(f"{path / CONFIG} field 'model': bad architecture ({exc})") from None
    tok = read_tokenizer(path)
    if cfg.vocab_size != tok.vocab_size:
        raise PolarisError(f"{path}: tokenizer has {tok.vocab_size} tokens, the model {cfg.vocab_size}")
    return cfg, tok, config


def load_checkpoint(path: Path) -> tuple[GPT, CharTokenizer, dict[str, Any]]:
    """The torch model (float32, eval mode), its tokenizer and its config."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from polaris.lab.model import GPT

    cfg, tok, config = read_checkpoint(path)
    model = GPT(cfg)
    try:
        state = {k: v.to(torch.float32) for k, v in load_file(str(path / WEIGHTS)).items()}
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise PolarisError(f"{path / WEIGHTS}: weights do not fit the config ({str(exc).splitlines()[0]})") from None
    return model.eval(), tok, config
