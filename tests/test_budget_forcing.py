"""Budget forcing (s1): the hf backend stops a thought at N tokens, writes the closing tag and lets the
model answer, checked against transformers' own greedy decoding of exactly that; the lab backend cuts
the scratchpad at N characters and starts the answer sentence; and `polaris demo compute` end to end
without torch."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env, polaris

from polaris.errors import PolarisError
from polaris.models.base import Decoding, GenRequest
from polaris.prompts.render import Prompt

TESTS = Path(__file__).resolve().parent
CLOSE = "\n</think>\n\n"


# -- hf ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tinymodel import build

    torch.set_num_threads(1)
    return build(tmp_path_factory.mktemp("hf") / "tiny")


def _generate(model_dir, prompts, budget, max_tokens=24):
    from polaris.models.hf import HFBackend

    async def go():
        b = HFBackend(str(model_dir))
        await b.start()
        try:
            return await asyncio.gather(*(b.generate(GenRequest(Prompt(text=p), Decoding(max_tokens=max_tokens,
                                                                                         thinking_budget=budget)))
                                          for p in prompts))
        finally:
            await b.close()

    return [r.choices[0] for r in asyncio.run(go())]


def _forced_reference(model_dir, prompt, budget, max_tokens):
    """transformers greedy with budget forcing done by hand: N thought tokens, the closing text, then the
    rest of the response greedily. (text, tokens through the closing tag)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tok(prompt).input_ids

    def greedy(prefix, n):
        with torch.no_grad():
            out = model.generate(torch.tensor([prefix]), max_new_tokens=n, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        return out[0, len(prefix):].tolist()

    close = tok.encode(CLOSE, add_special_tokens=False)
    thought = greedy(ids, budget)[:budget] if budget else []
    head = thought + close
    rest = greedy(ids + head, max_tokens - len(head))
    if tok.eos_token_id in rest:
        rest = rest[: rest.index(tok.eos_token_id)]
    through = next(j for j in range(1, len(close) + 1) if "</think>" in tok.decode(close[:j]))
    return tok.decode(head + rest, skip_special_tokens=True), budget + through


@pytest.mark.hf
def test_hf_budget_forcing_is_greedy_thinking_cut_at_n_then_the_closing_tag(tiny):
    prompts = ["Question: Tom has 3 apples and buys 4 more.\n<think>", "Q: Which cavity holds the pituitary? <think>\n"]
    for budget in (0, 3, 9):
        for p, choice in zip(prompts, _generate(tiny, prompts, budget)):
            text, reasoning = _forced_reference(tiny, p, budget, 24)
            assert choice.text == text and CLOSE.strip() in choice.text
            assert choice.forced and choice.reasoning_tokens == reasoning
    # No thought opened (neither by the prompt nor by the model): the budget changes nothing.
    plain = "Question: Ann reads 20 pages a day for 7 days."
    (free,), (capped,) = _generate(tiny, [plain], None), _generate(tiny, [plain], 2)
    assert capped.text == free.text and not capped.forced and capped.reasoning_tokens == 0


@pytest.mark.hf
def test_hf_budget_through_the_cli_is_stored_and_counted(tiny, tiny_data, tmp_path):
    from transformers import AutoTokenizer

    # A template that opens the thought for the model, as reasoning models' templates do.
    model_dir = tmp_path / "thinker"
    tok = AutoTokenizer.from_pretrained(tiny)
    tok.chat_template = tok.chat_template.replace("<|assistant|>\n", "<|assistant|>\n<think>\n")
    tok.save_pretrained(model_dir)
    for f in Path(tiny).iterdir():
        if not (model_dir / f.name).exists():
            (model_dir / f.name).write_bytes(f.read_bytes())
    env = cli_env(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    store = tmp_path / "s.db"
    proc = polaris("run", "-m", f"hf/{model_dir}", "-p", "zeroshot-cot", "--thinking-budget", "5", "--max-tokens", "20",
                   "--store", str(store), "--json", "--no-progress", env=env)
    assert proc.returncode == 0, proc.stderr
    (res,) = json.loads(proc.stdout)["results"]
    assert res["strategy"] == "greedy+think:5+max:20" and res["compute"]["forced"] == res["n"] == 6
    data = [json.loads(d) for (d,) in sqlite3.connect(store).execute("SELECT data FROM samples")]
    assert all(d["forced"] and d["reasoning_tokens"] >= 5 for d in data)
    assert res["compute"]["per_item"]["reasoning"] == pytest.approx(sum(d["reasoning_tokens"] for d in data) / 6)
    # An effort reaches the chat template: completion prompts have none, which is one line.
    refused = polaris("run", "-m", f"hf/{model_dir}", "--api", "completions", "--reasoning-effort", "low",
                      "--max-tokens", "4", "--store", str(tmp_path / "e.db"), "--no-progress", env=env)
    assert refused.returncode == 2 and "--reasoning-effort goes to the chat template" in refused.stderr


# -- lab -----------------------------------------------------------------------------------------------


def _lab(name, budget, n=40, effort=None):
    from polaris.lab.backend import LabBackend
    from polaris.lab.tasks import make_task, prompt_and_response

    task = make_task("lab/add-3")
    prompts = [prompt_and_response(task, it, "zeroshot-cot")[0] for it in list(task.dataset.load())[:n]]

    async def go():
        b = LabBackend(name)
        try:
            return await asyncio.gather(*(b.generate(GenRequest(Prompt(text=p, stop=("\n\n",)),
                                                                Decoding(max_tokens=80, thinking_budget=budget,
                                                                         reasoning_effort=effort)))
                                          for p in prompts))
        finally:
            await b.close()

    return [r.choices[0] for r in asyncio.run(go())]


def test_lab_budget_cuts_the_scratchpad_and_forces_the_answer_sentence():
    free = _lab("lab/add3-s6-seed0", None)
    assert all(not c.forced and c.reasoning_tokens == c.text.index("Answer") for c in free)
    for budget in (0, 12, 24):
        for f, c in zip(free, _lab("lab/add3-s6-seed0", budget)):
            assert c.forced and c.text[:budget] == f.text[:budget]  # greedy thinking, cut at the budget
            rest = c.text[budget:]
            assert rest.startswith("Answer:" if budget == 0 or c.text[budget - 1] == "\n" else "\nAnswer:")
            assert c.reasoning_tokens == c.text.index("Answer") <= budget + 1
    # A budget above the whole scratchpad leaves the answers alone.
    assert [c.text for c in _lab("lab/add3-s6-seed0", 60)] == [f.text for f in free]
    with pytest.raises(PolarisError, match="no --reasoning-effort"):
        _lab("lab/add3-s6-seed0", None, n=1, effort="low")


def test_demo_compute_runs_offline_without_torch_and_reads_the_ladder(tmp_path):
    from polaris.lab.ladder import list_models

    models = {m.name: m for m in list_models()}
    chosen = ["lab/add3-s2-seed1", "lab/add3-s6-seed0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLARIS_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS / "notorch"), str(TESTS.parent / "src")])
    env["OMP_NUM_THREADS"] = "1"
    out = tmp_path / "demo"
    args = [sys.executable, "-m", "polaris", "demo", "compute", "--out", str(out), *sum((["-m", m] for m in chosen), [])]
    proc = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["cells"] == 12 and doc["calls"] > 0
    rows = {r["size"]: r for r in doc["findings"]}
    assert len(rows) == 2
    for name in chosen:
        m = models[name]
        row = next(r for size, r in rows.items() if f" {m.size} " in size)
        recorded = m.eval["lab/add-3"]
        assert row["full"]["accuracy"] == pytest.approx(recorded["zeroshot-cot"]["exact"], abs=0.004)
        assert row["direct"]["accuracy"] == pytest.approx(recorded["zeroshot-direct"]["exact"], abs=0.004)
        for b in (0, 12, 24):
            assert row[f"think:{b}"]["forced"] == 1.0 and row[f"think:{b}"]["reasoning"] <= b + 1
        assert row["cut"]["truncated"] > 0.95 and row["cut"]["accuracy"] < 0.05
        assert row["full"]["reasoning"] > 30 and row["direct"]["reasoning"] == 0
    text = " ".join(doc["summary"])
    assert f"{100 * rows[max(rows, key=lambda s: 'add3 s6' in s)]['full']['accuracy']:.1f}%" in text
    page = (out / "compute-report" / "index.html").read_text()
    assert 'id="compute"' in page and 'id="scaling"' not in page
    assert list((out / "compute-report" / "figures").glob("compute-*.png"))
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "no model called" in again.stdout
