"""The hf backend end to end on a tiny random Llama built in the test (tests/tinymodel.py): `polaris run
-m hf/<dir>` for generation (gsm8k, mmlu) and log-likelihood scoring (mmlu), cache and resume,
seeded sampling, the chat template, stop sequences, batching, identity and one-line errors. Every
output is checked against transformers run directly, one prompt at a time."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import cli_env, polaris
from mcdata import write_mmlu

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from tinymodel import build  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from polaris.models.base import Decoding, GenRequest, LoglikRequest  # noqa: E402
from polaris.models.hf import HFBackend  # noqa: E402
from polaris.models.hf_compute import first_stop  # noqa: E402
from polaris.prompts.render import Prompt  # noqa: E402

pytestmark = pytest.mark.hf


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return build(tmp_path_factory.mktemp("hf") / "tiny")


@pytest.fixture(scope="session")
def reference(tiny):
    """transformers itself, unbatched: what every stored output must equal."""
    tok = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny).eval()

    def greedy(ids: list[int], max_new: int, stops=()) -> str:
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=max_new, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        text = tok.decode(out[0, len(ids):], skip_special_tokens=True)
        cut = first_stop(text, stops)
        return text if cut is None else text[:cut]

    def loglik(context: str, continuation: str) -> float:
        ctx, whole = tok(context).input_ids, tok(context + continuation).input_ids
        with torch.no_grad():
            lp = model(torch.tensor([whole])).logits[0].log_softmax(-1)
        return sum(lp[j - 1, whole[j]].item() for j in range(len(ctx), len(whole)))

    return tok, greedy, loglik


@pytest.fixture
def data(tiny_data) -> Path:
    """Six GSM8K items (conftest) and eight MMLU anatomy questions (mcdata)."""
    return write_mmlu(tiny_data)


def _env(**extra: str) -> dict[str, str]:
    return cli_env(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", **extra)


def _run(store: Path, model: Path | str, *args: str, env=None):
    proc = polaris("run", "-m", f"hf/{model}", "--store", str(store), "--json", "--no-progress", *args,
                   env=env or _env())
    assert proc.returncode == 0, proc.stderr
    (res,) = json.loads(proc.stdout)["results"]
    return res


def _stored(store: Path) -> list[tuple[dict, int, str, dict | None]]:
    db = sqlite3.connect(store)
    rows = db.execute("SELECT r.body, s.idx, s.text, s.data FROM samples s JOIN requests r ON r.hash = s.hash"
                      " ORDER BY r.created, s.idx").fetchall()
    return [(json.loads(b), i, t, json.loads(d) if d else None) for b, i, t, d in rows]


GEN = ("--api", "completions", "-p", "fewshot-direct", "--max-tokens", "12")


def test_gsm8k_generation_is_transformers_greedy_cached_and_resumed(tiny, reference, data, tmp_path):
    tok, greedy, _ = reference
    store = tmp_path / "s.db"
    first = _run(store, tiny, "-t", "gsm8k", "--limit", "2", "-M", "batch-size=4", "-M", "device=cpu",
                 "-M", "dtype=float32", *GEN)
    assert first["n"] == 2 and first["requests_sent"] == 2 and first["errors"] == 0
    resumed = _run(store, tiny, "-t", "gsm8k", *GEN)
    assert resumed["n"] == 6 and resumed["requests_sent"] == 4 and resumed["cached"] == 2
    again = _run(store, tiny, "-t", "gsm8k", *GEN)
    assert again["requests_sent"] == 0 and again["cached"] == 6 and again["accuracy"] == resumed["accuracy"]
    stored = _stored(store)
    assert len(stored) == 6
    for body, _, text, _ in stored:
        assert body["provider"] == "hf" and body["dtype"] == "float32" and body["model"] == str(tiny.resolve())
        assert text == greedy(tok(body["prompt"]).input_ids, 12, body["stop"])


def test_mmlu_generation_and_loglik_through_one_store(tiny, reference, data, tmp_path):
    tok, greedy, loglik = reference
    store = tmp_path / "s.db"
    gen = _run(store, tiny, "-t", "mmlu/anatomy", "-p", "zeroshot-direct", "--api", "completions", "--max-tokens", "8")
    assert gen["n"] == 8 and gen["requests_sent"] == 8 and gen["strategy"] == "greedy+completions+max:8"
    ll = _run(store, tiny, "-t", "mmlu/anatomy", "--scoring", "loglik", "-M", "batch-size=8")
    assert ll["n"] == 8 and ll["requests_sent"] == 8 and ll["errors"] == 0 and ll["strategy"] == "loglik"
    assert ll["extracted"] == 1.0
    scored = [(b, d) for b, _, _, d in _stored(store) if b["kind"] == "loglik"]
    assert len(scored) == 8
    for body, d in scored:
        assert body["continuations"] == [" (A)", " (B)", " (C)", " (D)"]
        assert body["context"].endswith("\nThe answer is")
        direct = [loglik(body["context"], c) for c in body["continuations"]]
        assert d["logprobs"] == pytest.approx(direct, abs=1e-4)
        assert max(range(4), key=lambda i: d["logprobs"][i]) == max(range(4), key=lambda i: direct[i])
        assert d["tokens"] == [len(tok(body["context"] + c).input_ids) - len(tok(body["context"]).input_ids)
                               for c in body["continuations"]]
    db = sqlite3.connect(store)
    results = [json.loads(x) for (x,) in db.execute("SELECT data FROM results WHERE run=?", (ll["run_id"],))]
    for r in results:
        rec = r["loglik"]
        assert r["samples"][0]["answer"] == rec["options"][rec["choice"]]
        assert 0 <= rec["prob_correct"] <= 1 and 0 <= rec["brier"] <= 2 and rec["target_logprob"] < 0
    assert _run(store, tiny, "-t", "mmlu/anatomy", "--scoring", "loglik")["requests_sent"] == 0
    proc = polaris("rescore", "--store", str(store), "--json", env=_env())
    assert proc.returncode == 0, proc.stderr
    rescored = {r["strategy"]: r["accuracy"] for r in json.loads(proc.stdout)["results"]}
    assert rescored == {"greedy+completions+max:8": gen["accuracy"], "loglik": ll["accuracy"]}


def test_sampled_runs_are_reproducible_and_resume_draws_the_same_samples(tiny, data, tmp_path):
    sampled = ("-t", "gsm8k", "--limit", "2", "--temperature", "1.0", "--seed", "7", *GEN)
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert _run(a, tiny, "--samples", "2", *sampled)["requests_sent"] == 2
    resumed = _run(a, tiny, "--samples", "3", *sampled)
    assert resumed["requests_sent"] == 2 and resumed["cached"] == 4  # one call per item for sample 2
    assert _run(b, tiny, "--samples", "3", *sampled)["requests_sent"] == 2  # fresh: n=3 in one call
    texts_a = {(body["prompt"], i): t for body, i, t, _ in _stored(a)}
    texts_b = {(body["prompt"], i): t for body, i, t, _ in _stored(b)}
    assert len(texts_a) == 6 and texts_a == texts_b
    assert len(set(texts_a.values())) == 6  # the samples differ from each other
    other_seed = tmp_path / "c.db"
    _run(other_seed, tiny, "--samples", "3", *sampled[:-len(GEN) - 2], "--seed", "8", *GEN)
    assert {(body["prompt"], i): t for body, i, t, _ in _stored(other_seed)} != texts_a


def test_chat_prompts_use_the_tokenizer_chat_template(tiny, reference, data, tmp_path):
    tok, greedy, _ = reference
    store = tmp_path / "s.db"
    res = _run(store, tiny, "-t", "gsm8k", "--limit", "2", "--api", "chat", "-p", "fewshot-direct", "--max-tokens", "10")
    assert res["requests_sent"] == 2
    for body, _, text, _ in _stored(store):
        assert body["kind"] == "chat" and [m["role"] for m in body["messages"]][-2:] == ["assistant", "user"]
        rendered = tok.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=True)
        assert rendered.startswith("<s><|user|>\n") and rendered.endswith("<|assistant|>\n")
        assert text == greedy(tok(rendered, add_special_tokens=False).input_ids, 10)
    plain = tmp_path / "plain"
    shutil.copytree(tiny, plain)
    (plain / "chat_template.jinja").unlink()
    proc = polaris("run", "-m", f"hf/{plain}", "-t", "gsm8k", "--limit", "1", "--api", "chat", "--store",
                   str(tmp_path / "p.db"), env=_env())
    last = proc.stderr.strip().splitlines()[-1]  # after transformers' weight-loading progress lines
    assert proc.returncode == 2 and last.startswith("error: ") and "has no chat template; use --api completions" in last


@pytest.mark.parametrize("model, extra, message", [
    ("./no-such-dir", (), "no model directory at no-such-dir"),
    ("someorg/no-such-model", (), "not found in the Hugging Face cache (HF_HUB_OFFLINE is set)"),
    ("TINY", ("-M", "dtype=float8"), "-M dtype=float8: choose from auto, float32, float16, bfloat16"),
    ("TINY", ("-M", "device=cuda"), "no CUDA GPU is available here"),
])
def test_unusable_models_are_one_line_errors(tiny, data, tmp_path, model, extra, message):
    if "device=cuda" in extra and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    model = str(tiny) if model == "TINY" else model
    proc = polaris("run", "-m", f"hf/{model}", "-t", "gsm8k", "--store", str(tmp_path / "s.db"), *extra,
                   env=_env(HF_HOME=str(tmp_path / "hf-home")), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


# -- the backend in-process ----------------------------------------------------------------------


def test_identity_names_the_files_and_the_dtype(tiny, tmp_path):
    base = HFBackend(str(tiny)).identity()
    assert base["dtype"] == "float32" and base["model"] == str(tiny.resolve()) and base["files"]
    assert HFBackend(str(tiny), dtype="bfloat16").identity()["dtype"] == "bfloat16"
    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    assert HFBackend(str(copy)).identity()["files"] == base["files"]
    weights = copy / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0xFF  # one weight changes: same names, same sizes
    weights.write_bytes(bytes(raw))
    assert HFBackend(str(copy)).identity()["files"] != base["files"]


def _gen(backend, text, max_tokens=16, stop=(), **kw):
    return GenRequest(Prompt(text=text, stop=stop), Decoding(max_tokens=max_tokens, **kw))


def test_concurrent_requests_are_batched_and_equal_one_at_a_time(tiny, reference):
    tok, greedy, loglik = reference
    prompts = [f"Question: what is {i} plus {'1' * i}?\n" for i in range(10)]
    contexts = [f"Q: {'why ' * i}?\nThe answer is" for i in range(12)]

    async def go():
        b = HFBackend(str(tiny), batch_size=8)
        await b.start()
        try:
            gens = await asyncio.gather(*(b.generate(_gen(b, p)) for p in prompts))
            gen_batches = b.batches
            lls = await asyncio.gather(*(b.loglik(LoglikRequest(c, (" (A)", " (B)", " yes"))) for c in contexts))
            return gens, gen_batches, lls, b.batches - gen_batches
        finally:
            await b.close()

    gens, gen_batches, lls, ll_batches = asyncio.run(go())
    assert gen_batches <= 3  # 10 rows, batches of up to 8
    assert [g.choices[0].text for g in gens] == [greedy(tok(p).input_ids, 16) for p in prompts]
    assert ll_batches <= 6  # 36 options in batches of 8 rows (2 items each): not one forward pass per option
    for c, r in zip(contexts, lls):
        assert r.logprobs == pytest.approx([loglik(c, x) for x in (" (A)", " (B)", " yes")], abs=1e-4)


def test_stop_sequences_end_generation_early_and_are_cut(tiny, reference):
    tok, greedy, _ = reference
    text = "Question: Ann reads 20 pages a day for 7 days.\n"
    ids = tok(text).input_ids
    with torch.no_grad():
        model = AutoModelForCausalLM.from_pretrained(tiny).eval()
        out = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False, pad_token_id=0)[0, len(ids):]
    pieces = [tok.decode([t]) for t in out]
    # A stop string: the first later token that decodes to plain ASCII not seen before it.
    k = next(i for i in range(3, len(pieces)) if pieces[i].strip() and pieces[i].isascii() and pieces[i].isprintable()
             and pieces[i] not in tok.decode(out[:i]))
    stop = pieces[k]

    async def go():
        b = HFBackend(str(tiny))
        await b.start()
        try:
            return await b.generate(_gen(b, text, max_tokens=24, stop=(stop,)))
        finally:
            await b.close()

    choice = asyncio.run(go()).choices[0]
    full = tok.decode(out, skip_special_tokens=True)
    assert choice.text == full[: full.find(stop)] and choice.finish_reason == "stop"
    assert choice.tokens == k + 1 < 24  # generation ended at the stop string, not at max_tokens


def test_the_checkpoints_generation_defaults_are_not_applied(tiny, reference, tmp_path):
    tok, greedy, _ = reference
    ckpt = tmp_path / "chatty"
    shutil.copytree(tiny, ckpt)
    config = json.loads((ckpt / "generation_config.json").read_text())
    config.update(do_sample=True, temperature=0.7, repetition_penalty=5.0, no_repeat_ngram_size=1)
    (ckpt / "generation_config.json").write_text(json.dumps(config))
    text = "Question: Tom has 3 apples.\n"
    ids = tok(text).input_ids
    with torch.no_grad():
        as_saved = AutoModelForCausalLM.from_pretrained(ckpt).eval().generate(torch.tensor([ids]), max_new_tokens=16)
    assert tok.decode(as_saved[0, len(ids):], skip_special_tokens=True) != greedy(ids, 16)  # the defaults matter

    async def go():
        b = HFBackend(str(ckpt))
        await b.start()
        try:
            return await b.generate(_gen(b, text))
        finally:
            await b.close()

    assert asyncio.run(go()).choices[0].text == greedy(ids, 16)  # greedy means greedy


@pytest.mark.parametrize("add_bos", [True, False])
def test_loglik_context_starts_as_the_tokenizer_does_and_says_so(tmp_path, add_bos):
    """Contexts are tokenised with the tokenizer's default special tokens: a BOS where it adds one (Llama),
    none where it does not (GPT-2, Pythia; lm-eval adds none for either). Each stored score says which."""
    path = build(tmp_path / f"bos-{add_bos}", add_bos=add_bos)
    tok = AutoTokenizer.from_pretrained(path)
    backend = HFBackend(str(path), device="cpu", dtype="float32")

    async def go():
        try:
            return await backend.loglik(LoglikRequest("Q: which? The answer is", (" (A)", " (B)")))
        finally:
            await backend.close()

    res = asyncio.run(go())
    assert res.bos is add_bos
    ids = tok("Q: which? The answer is").input_ids
    assert (ids[0] == tok.bos_token_id) is add_bos
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    whole = tok("Q: which? The answer is (A)").input_ids
    with torch.no_grad():
        lp = model(torch.tensor([whole])).logits[0].log_softmax(-1)
    assert res.logprobs[0] == pytest.approx(sum(lp[j - 1, whole[j]].item() for j in range(len(ids), len(whole))),
                                            abs=1e-4)
