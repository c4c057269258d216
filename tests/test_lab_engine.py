"""The numpy engine computes what the torch model computes: the same logits (to 1e-4) and the same
greedy answers on every shipped model size, with padding, masks and KV caches; and it loads
checkpoints with one-line errors, without torch."""

from __future__ import annotations

import numpy as np
import pytest

from polaris.errors import PolarisError
from polaris.lab.decode import Row, generate, loglik, row_seed
from polaris.lab.engine import BLAS, NumpyGPT, _gelu, expected_shapes, load_engine
from polaris.lab.ladder import list_models
from polaris.lab.tasks import make_task, prompt_and_response

SIZES = {m.size: m for m in list_models() if m.seed == 0}  # one model per shipped size
TASK = make_task("lab/add-3")
ITEMS = TASK.dataset.load()[:200]


@pytest.fixture(autouse=True)
def _one_thread():
    BLAS.acquire()
    yield
    BLAS.release()


def _engines(size: str):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    numpy_engine, tok, _ = load_engine(SIZES[size].path, "numpy")
    torch_engine, tok2, _ = load_engine(SIZES[size].path, "torch")
    assert tok == tok2
    return numpy_engine, torch_engine, tok


def _pairs(fmt: str) -> list[tuple[str, str]]:
    return [prompt_and_response(TASK, it, fmt) for it in ITEMS]


def test_gelu_is_the_exact_erf_gelu():
    from scipy.special import erf

    x = np.linspace(-10, 10, 200_001, dtype=np.float32)
    exact = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    assert np.abs(_gelu(x.copy()) - exact).max() < 2e-6


@pytest.mark.parametrize("size", sorted(SIZES))
def test_same_logits_as_torch(size):
    """Full sequences (causal, no mask), a left-padded prompt batch with a mask and caches, and
    decoding steps on those caches."""
    np_engine, torch_engine, tok = _engines(size)
    texts = [p + r for p, r in _pairs("zeroshot-cot")[:64]]
    width = max(map(len, texts))
    full = np.array([tok.encode(t.ljust(width, "\n")) for t in texts])
    assert np.abs(np_engine.forward(full) - torch_engine.forward(full)).max() < 1e-4

    prompts = [tok.encode(p) for p, _ in _pairs("zeroshot-direct")[:64]]
    width = max(map(len, prompts))
    x = np.zeros((len(prompts), width), dtype=np.int64)
    valid = np.zeros_like(x, dtype=bool)
    for i, ids in enumerate(prompts):
        x[i, width - len(ids):], valid[i, width - len(ids):] = ids, True
    pos = np.maximum(valid.cumsum(1) - 1, 0)
    mask = (np.tri(width, dtype=bool)[None] & valid[:, None, :]) | np.eye(width, dtype=bool)
    caches = [e.new_caches(width + 4) for e in (np_engine, torch_engine)]
    outs = [e.forward(x, pos, mask[:, None], c) for e, c in zip((np_engine, torch_engine), caches)]
    assert np.abs(outs[0] - outs[1])[valid].max() < 1e-4
    last = pos[:, -1]
    for step in range(3):
        token = outs[0][:, -1].argmax(-1)[:, None]
        last = last + 1
        valid = np.concatenate([valid, np.ones((len(prompts), 1), dtype=bool)], 1)
        outs = [e.forward(token, last[:, None], valid[:, None, None, :], c)
                for e, c in zip((np_engine, torch_engine), caches)]
        assert np.abs(outs[0] - outs[1]).max() < 1e-4, step


@pytest.mark.parametrize("size", sorted(SIZES))
def test_same_greedy_answers_and_logliks_as_torch(size):
    np_engine, torch_engine, tok = _engines(size)
    for fmt in TASK.formats:
        pairs = _pairs(fmt)
        rows = [Row(p, 128, stop=TASK.template.stop) for p, _ in pairs]
        a, b = generate(np_engine, tok, rows), generate(torch_engine, tok, rows)
        assert [(d.text, d.finish_reason, d.tokens) for d in a] == [(d.text, d.finish_reason, d.tokens) for d in b]
        la, lb = loglik(np_engine, tok, pairs), loglik(torch_engine, tok, pairs)
        assert [(n, g) for _, n, g in la] == [(n, g) for _, n, g in lb]
        assert max(abs(x[0] - y[0]) for x, y in zip(la, lb)) < 1e-3  # sums of up to 60 log-probs


def test_same_samples_as_torch():
    """Sampling draws from numpy's generator with either engine: the same seeds give the same samples."""
    np_engine, torch_engine, tok = _engines("s3")
    prompt = _pairs("zeroshot-cot")[0][0]
    rows = [Row(prompt, 64, temperature=1.3, top_p=0.95 if i % 2 else None, seed=row_seed(1, i, prompt))
            for i in range(16)]
    a, b = generate(np_engine, tok, rows), generate(torch_engine, tok, rows)
    assert [d.text for d in a] == [d.text for d in b]
    assert len({d.text for d in a}) > 1


def test_numpy_loader_reports_bad_checkpoints(tmp_path):
    import shutil

    small, big = SIZES["s1"].path, SIZES["s2"].path
    ck = tmp_path / "ck"
    shutil.copytree(small, ck)
    (ck / "model.safetensors").write_bytes((big / "model.safetensors").read_bytes())
    with pytest.raises(PolarisError, match="weights do not fit"):
        load_engine(ck, "numpy")
    (ck / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(PolarisError, match="cannot read weights"):
        load_engine(ck, "numpy")
    with pytest.raises(PolarisError, match="not a lab checkpoint"):
        load_engine(tmp_path / "missing", "numpy")
    with pytest.raises(PolarisError, match="unknown lab engine"):
        load_engine(small, "jax")


def test_numpy_engine_runs_a_random_model():
    """Shapes from the config alone (what a new ladder's models will have)."""
    from polaris.lab.arch import GPTConfig

    cfg = GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=8)
    rng = np.random.default_rng(0)
    weights = {k: rng.normal(0, 0.2, shape).astype(np.float16) for k, shape in expected_shapes(cfg).items()}
    logits = NumpyGPT(cfg, weights).forward(np.array([[1, 5, 7, 3]]))
    assert logits.shape == (1, 4, 20) and logits.dtype == np.float32 and np.isfinite(logits).all()
