"""Inference engines for lab models: numpy (the default; no torch needed) and torch.

Both compute the same function as `model.GPT.forward` and share one interface, which the decoder
(`decode.py`) drives with numpy arrays:

    engine.cfg                                  GPTConfig
    engine.forward(idx, pos=None, mask=None, caches=None) -> float32 logits [b, t, vocab]
        idx, pos: int [b, t]; mask: bool, broadcastable to [b, heads, t, keys] (True: attend),
        None for plain causal attention; caches: one per layer from `new_caches`
    engine.new_caches(size) / engine.select(caches, rows)   KV caches; keep only some batch rows

The numpy engine is as fast as torch on these models (BENCHMARKS.md, "Lab inference") and is what
`LabBackend` uses by default ($POLARIS_LAB_ENGINE=torch picks torch), so `pip install polaris-lab`
answers with lab models without torch. It reads the
safetensors file itself (`safetensors.numpy`) and computes in float32, as the torch engine does after
loading float16 weights.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from polaris.errors import PolarisError
from polaris.lab.arch import GPTConfig
from polaris.lab.checkpoint import CONFIG, WEIGHTS, read_checkpoint
from polaris.lab.tokenizer import CharTokenizer

ENGINES = ("numpy", "torch")
ENV = "POLARIS_LAB_ENGINE"


CHUNK_TOKENS = 2048  # rows x positions per pass: keeps a layer's activations in the CPU cache


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = x - x.mean(-1, keepdims=True)
    var = np.square(d).mean(-1, keepdims=True)
    var += np.float32(1e-5)  # torch.nn.LayerNorm's default eps
    d /= np.sqrt(var, out=var)
    d *= w
    d += b
    return d


_ERF = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)  # Abramowitz & Stegun 7.1.26


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as torch's F.gelu, in place. erf(z) to within 1.5e-7 (float32's resolution
    near 1): a polynomial in t = 1/(1 + p|z|) times exp(-z^2); scipy.special.erf was five times
    slower on float32 arrays and dominated decoding."""
    z = x * np.float32(1 / math.sqrt(2))
    a = np.abs(z)
    t = a * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(_ERF[4])
    for c in _ERF[3::-1]:
        poly += np.float32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    poly *= np.exp(a, out=a)  # 1 - erf(|z|)
    np.subtract(np.float32(1.0), poly, out=poly)
    np.copysign(poly, z, out=poly)  # erf(z)
    poly += np.float32(1.0)
    poly *= x
    poly *= np.float32(0.5)
    return poly


class NumpyCache:
    """One layer's keys and values, preallocated for `size` positions and written in place."""

    def __init__(self, size: int) -> None:
        self.size, self.len = size, 0
        self.k: np.ndarray | None = None
        self.v: np.ndarray | None = None

    def write(self, k: np.ndarray, v: np.ndarray, rows: slice, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Store new keys and values of some rows at the next positions (`advance` moves past them
        once every row is written); return those rows' keys and values so far."""
        if self.k is None or self.v is None:
            _, h, _, d = k.shape
            self.k = np.empty((batch, h, self.size, d), np.float32)
            self.v = np.empty((batch, h, self.size, d), np.float32)
        end = self.len + k.shape[2]
        self.k[rows, :, self.len : end] = k
        self.v[rows, :, self.len : end] = v
        return self.k[rows, :, :end], self.v[rows, :, :end]

    def advance(self, t: int) -> None:
        self.len += t


class _Layer:
    def __init__(self, w: dict[str, np.ndarray], i: int) -> None:
        p = f"blocks.{i}."
        self.ln1 = (w[p + "ln1.weight"], w[p + "ln1.bias"])
        self.ln2 = (w[p + "ln2.weight"], w[p + "ln2.bias"])
        # Transposed once here so every step is a plain x @ W.
        self.qkv = (np.ascontiguousarray(w[p + "attn.qkv.weight"].T), w[p + "attn.qkv.bias"])
        self.proj = (np.ascontiguousarray(w[p + "attn.proj.weight"].T), w[p + "attn.proj.bias"])
        self.fc = (np.ascontiguousarray(w[p + "fc.weight"].T), w[p + "fc.bias"])
        self.out = (np.ascontiguousarray(w[p + "out.weight"].T), w[p + "out.bias"])


class NumpyGPT:
    """`model.GPT`'s forward pass in numpy (float32)."""

    name = "numpy"

    def __init__(self, cfg: GPTConfig, weights: dict[str, np.ndarray]) -> None:
        self.cfg = cfg
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.tok, self.pos = w["tok.weight"], w["pos.weight"]
        self.head = np.ascontiguousarray(self.tok.T)  # tied output head
        self.ln_f = (w["ln_f.weight"], w["ln_f.bias"])
        self.layers = [_Layer(w, i) for i in range(cfg.n_layer)]

    def new_caches(self, size: int) -> list[NumpyCache]:
        return [NumpyCache(size) for _ in self.layers]

    def select(self, caches: list[NumpyCache], rows: np.ndarray) -> None:
        for c in caches:
            if c.k is not None and c.v is not None:
                c.k, c.v = c.k[rows], c.v[rows]

    def forward(self, idx: np.ndarray, pos: np.ndarray | None = None, mask: np.ndarray | None = None,
                caches: list[NumpyCache] | None = None) -> np.ndarray:
        b, t = idx.shape
        if pos is None:
            pos = np.broadcast_to(np.arange(t), (b, t))
        pos = np.broadcast_to(pos, (b, t))
        step = max(1, CHUNK_TOKENS // t)
        out = np.empty((b, t, self.cfg.vocab_size), np.float32)
        for i in range(0, b, step):
            rows = slice(i, min(b, i + step))
            m = mask if mask is None or mask.shape[0] == 1 else mask[rows]
            out[rows] = self._rows(idx[rows], pos[rows], m, caches, rows, b)
        for c in caches or ():
            c.advance(t)
        return out

    def _rows(self, idx: np.ndarray, pos: np.ndarray, mask: np.ndarray | None, caches: list[NumpyCache] | None,
              rows: slice, batch: int) -> np.ndarray:
        b, t = idx.shape
        c, h = self.cfg.n_embd, self.cfg.n_head
        d = c // h
        x = self.tok[idx] + self.pos[pos]
        scale = np.float32(1 / math.sqrt(d))
        for i, layer in enumerate(self.layers):
            qkv = _layer_norm(x, *layer.ln1) @ layer.qkv[0]
            qkv += layer.qkv[1]
            q, k, v = qkv.reshape(b, t, 3, h, d).transpose(2, 0, 3, 1, 4)  # each [b, h, t, d]
            if caches is not None:
                k, v = caches[i].write(k, v, rows, batch)
            keys = k.shape[2]
            att = (q * scale) @ k.transpose(0, 1, 3, 2)  # [b, h, t, keys]
            blocked = ~np.tri(t, keys, keys - t, dtype=bool) if mask is None else ~mask
            np.copyto(att, np.float32(-np.inf), where=blocked)
            att -= att.max(-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(-1, keepdims=True)
            y = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, c) @ layer.proj[0]
            y += layer.proj[1]
            x += y
            f = _layer_norm(x, *layer.ln2) @ layer.fc[0]
            f += layer.fc[1]
            y = _gelu(f) @ layer.out[0]
            y += layer.out[1]
            x += y
        return _layer_norm(x, *self.ln_f) @ self.head


class TorchGPT:
    """A torch `GPT` behind the engine interface (numpy in, numpy out)."""

    name = "torch"

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cfg = model.cfg

    def new_caches(self, size: int) -> list[Any]:
        from polaris.lab.model import KVCache

        return [KVCache(size) for _ in self.model.blocks]

    def select(self, caches: list[Any], rows: np.ndarray) -> None:
        import torch

        sel = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        for c in caches:
            c.select(sel)

    def forward(self, idx: np.ndarray, pos: np.ndarray | None = None, mask: np.ndarray | None = None,
                caches: list[Any] | None = None) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(
                torch.from_numpy(np.asarray(idx, dtype=np.int64)),
                None if pos is None else torch.from_numpy(np.asarray(pos, dtype=np.int64)),
                None if mask is None else torch.from_numpy(np.ascontiguousarray(mask)),
                caches,
            )
        return out.float().numpy()


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """The checkpoint's tensors as numpy arrays, in their stored dtype."""
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
    except ImportError:
        raise PolarisError("lab models need the safetensors package (pip install safetensors)") from None
    try:
        return load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise PolarisError(f"{path / WEIGHTS}: cannot read weights ({str(exc).splitlines()[0]})") from None


def expected_shapes(cfg: GPTConfig) -> dict[str, tuple[int, ...]]:
    c = cfg.n_embd
    shapes: dict[str, tuple[int, ...]] = {"tok.weight": (cfg.vocab_size, c), "pos.weight": (cfg.block_size, c),
                                          "ln_f.weight": (c,), "ln_f.bias": (c,)}
    for i in range(cfg.n_layer):
        p = f"blocks.{i}."
        shapes |= {p + "ln1.weight": (c,), p + "ln1.bias": (c,), p + "ln2.weight": (c,), p + "ln2.bias": (c,),
                   p + "attn.qkv.weight": (3 * c, c), p + "attn.qkv.bias": (3 * c,),
                   p + "attn.proj.weight": (c, c), p + "attn.proj.bias": (c,),
                   p + "fc.weight": (4 * c, c), p + "fc.bias": (4 * c,),
                   p + "out.weight": (c, 4 * c), p + "out.bias": (c,)}
    return shapes


def load_numpy(path: Path) -> tuple[NumpyGPT, CharTokenizer, dict[str, Any]]:
    """The numpy engine, tokenizer and config of a checkpoint directory (no torch)."""
    cfg, tok, config = read_checkpoint(path)
    weights = read_weights(path)
    want = expected_shapes(cfg)
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if got != want:
        diff = sorted(set(got) ^ set(want)) or [k for k in want if got[k] != want[k]]
        raise PolarisError(f"{path / WEIGHTS}: weights do not fit the config in {CONFIG} ({diff[0]})")
    return NumpyGPT(cfg, weights), tok, config


def load_engine(path: Path, kind: str = "numpy") -> tuple[Any, CharTokenizer, dict[str, Any]]:
    """An engine for a checkpoint: "numpy" (default) or "torch" (needs torch)."""
    if kind == "numpy":
        return load_numpy(path)
    if kind == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise PolarisError(f"${ENV}=torch needs torch (pip install torch==2.13.0); numpy needs nothing") from None
        from polaris.lab.checkpoint import load_checkpoint

        model, tok, config = load_checkpoint(path)
        return TorchGPT(model), tok, config
    raise PolarisError(f"unknown lab engine '{kind}' (choose from {', '.join(ENGINES)})")


def engine_name(kind: str | None = None) -> str:
    """The engine to use: `kind`, else $POLARIS_LAB_ENGINE, else numpy (as fast as torch on these
    models, BENCHMARKS.md "Lab inference", and needs no torch). Both give the same answers."""
    kind = (kind or os.environ.get(ENV) or "numpy").strip().lower()
    if kind not in ENGINES:
        raise PolarisError(f"unknown lab engine '{kind}' (${ENV}: {', '.join(ENGINES)})")
    return kind


class OneBlasThread:
    """OpenBLAS's thread count is per process: it is held at one from the first `acquire` to the
    last `release` (a backend holds it from loading its model to closing). Changing it while
    another thread is inside OpenBLAS made two models decoding at once four times slower, so it is
    not switched per batch."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.limiter: Any = None

    def acquire(self) -> None:
        with self.lock:
            if self.users == 0:
                from threadpoolctl import ThreadpoolController

                self.limiter = ThreadpoolController().limit(limits=1, user_api="blas")
            self.users += 1

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.limiter is not None:
                self.limiter.restore_original_limits()
                self.limiter = None


BLAS = OneBlasThread()  # one per process, like the setting it guards


def set_one_thread(engine: Any) -> None:
    """Lab models are small: thread pools gain little on them and, when other work shares the cores,
    their spinning threads made decoding ten times slower (measured, torch and OpenBLAS alike).
    torch's setting is per OS thread: call this in the thread that runs the engine. (numpy
    engines: hold `BLAS` instead.)"""
    if engine.name == "torch":
        import torch

        torch.set_num_threads(1)


@contextmanager
def one_thread(engine: Any) -> Iterator[None]:
    """Run an engine on one CPU thread for the duration of the block."""
    set_one_thread(engine)
    if engine.name == "torch":
        yield
        return
    BLAS.acquire()
    try:
        yield
    finally:
        BLAS.release()
