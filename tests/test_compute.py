"""Test-time compute end to end against a fake reasoning model whose accuracy depends on the budget it
is given (tests/thinkserver.py), so every curve has a known truth: budgets as cell factors, the body
each backend style sends, compute accounting per sample and cell, truncation, the checks that catch a
server ignoring its budget, prices and the dry run's expected cost, `polaris analyze compute` with its
frontier, and the report's section."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import answers_for, polaris, write_gsm8k
from thinkserver import ANSWER, EFFORTS, ThinkPolicy, ThinkServer, need

from polaris.errors import PolarisError
from polaris.models.base import Decoding
from polaris.models.thinking import openai_fields
from polaris.runner.cell import CellSpec

N = 40
PRICES = "prices:\n  thinker: {input: 2.0, output: 10.0}\n"


@pytest.fixture
def data(tmp_path, monkeypatch):
    root = write_gsm8k(tmp_path / "data", N)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(root))
    return root


@pytest.fixture
def keys(data):
    return list(answers_for("gsm8k"))


def _run(server, store, *extra):
    proc = polaris("run", "-m", "openai/thinker", "--base-url", server.base_url, "-t", "gsm8k", "-p", "zeroshot-cot",
                   "--store", str(store), "--json", "--no-progress", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def _truth(keys, budget, limit=10**9):
    """(accuracy, completion tokens per item, reasoning per item, truncation) of greedy answers."""
    acc = tokens = reasoning = truncated = 0.0
    for k in keys:
        thought = need(k) if budget is None else min(need(k), budget)
        if thought + ANSWER > limit:
            tokens, reasoning, truncated = tokens + limit, reasoning + limit, truncated + 1
            continue
        acc += thought >= need(k)
        tokens += thought + ANSWER
        reasoning += thought
    n = len(keys)
    return acc / n, tokens / n, reasoning / n, truncated / n


def test_thinking_budgets_are_cells_whose_accuracy_and_tokens_follow_the_budget(data, keys, tmp_path):
    with ThinkServer(answers_for("gsm8k")) as server:
        doc, _ = _run(server, tmp_path / "s.db", "--thinking-budget", "64", "--thinking-budget", "256",
                      "--thinking-budget", "1024", "--max-tokens", "2048")
        sent = [b["thinking_token_budget"] for b in server.think.bodies]
    assert sorted(set(sent)) == [64, 256, 1024] and len(sent) == 3 * N  # vLLM's field, by default
    by_budget = {r["compute"]["budget"]["thinking_budget"]: r for r in doc["results"]}
    for budget, r in by_budget.items():
        acc, tokens, reasoning, _ = _truth(keys, budget)
        assert r["strategy"] == f"greedy+think:{budget}+max:2048"
        assert r["accuracy"] == pytest.approx(acc)
        c = r["compute"]
        assert c["per_item"]["completion"] == pytest.approx(tokens) and c["per_item"]["reasoning"] == pytest.approx(reasoning)
        assert c["per_item"]["answer"] == pytest.approx(ANSWER) and c["truncation_rate"] == 0
        assert c["budget_check"]["enforced"] and c["budget_check"]["over"] == 0
        assert c["per_item"]["prompt"] > 0 and r["latency"]["per_item"] > 0 and r["latency"]["items"] == N
    assert by_budget[64]["accuracy"] < by_budget[256]["accuracy"] < by_budget[1024]["accuracy"] == 1.0
    assert doc["compute_checks"] == []
    # Budgets are in the manifest (decoding and spec) and name the run, which stays resumable.
    db = sqlite3.connect(tmp_path / "s.db")
    manifests = [json.loads(m) for (m,) in db.execute("SELECT manifest FROM runs")]
    assert sorted(m["decoding"]["thinking_budget"] for m in manifests) == [64, 256, 1024]


def test_running_out_of_tokens_is_truncation_not_a_wrong_answer(data, keys, tmp_path):
    with ThinkServer(answers_for("gsm8k")) as server:
        doc, _ = _run(server, tmp_path / "s.db", "--max-tokens", "300")
    r = doc["results"][0]
    acc, tokens, _, truncated = _truth(keys, None, limit=300)
    assert 0 < truncated < 1 and r["compute"]["truncation_rate"] == pytest.approx(truncated)
    assert r["accuracy"] == pytest.approx(acc) and r["compute"]["per_item"]["completion"] == pytest.approx(tokens)
    assert r["compute"]["finish"]["length"] == round(truncated * N)


def test_a_server_that_ignores_the_budget_is_caught(data, keys, tmp_path):
    # This server honours SGLang's field only: vLLM's (the default) is ignored, so tokens do not move.
    with ThinkServer(answers_for("gsm8k"), ThinkPolicy(obey=("custom_params",))) as server:
        doc, err = _run(server, tmp_path / "s.db", "--thinking-budget", "64", "--thinking-budget", "256",
                        "--max-tokens", "2048")
        kinds = sorted(c["kind"] for c in doc["compute_checks"])
        assert kinds == ["budget-ignored", "budget-ignored", "factor-flat"]
        assert "ignores it" in err and "--thinking-budget levels did not move" in err
        assert all(r["accuracy"] == 1.0 for r in doc["results"])  # it thought as long as it liked
        # Sent the way this server takes it, the budget holds: no warning.
        doc, err = _run(server, tmp_path / "t.db", "--thinking-budget", "64", "--thinking-budget", "256",
                        "--max-tokens", "2048", "-M", "budget-param=custom_params")
        assert doc["compute_checks"] == [] and "warning" not in err
        assert server.think.bodies[-1]["custom_params"] == {"thinking_budget": 256}
        assert "thinking_token_budget" not in server.think.bodies[-1]
    assert doc["results"][0]["accuracy"] == pytest.approx(_truth(keys, 64)[0])


def test_reasoning_effort_is_sent_and_flat_effort_levels_are_flagged(data, keys, tmp_path):
    with ThinkServer(answers_for("gsm8k")) as server:
        doc, _ = _run(server, tmp_path / "s.db", "--reasoning-effort", "low", "--reasoning-effort", "high",
                      "--max-tokens", "4096")
        assert {b["reasoning_effort"] for b in server.think.bodies} == {"low", "high"}
    by = {r["compute"]["budget"]["reasoning_effort"]: r for r in doc["results"]}
    assert by["low"]["strategy"].startswith("greedy+effort:low")
    for effort, r in by.items():
        assert r["accuracy"] == pytest.approx(_truth(keys, EFFORTS[effort])[0])
    assert doc["compute_checks"] == []
    with ThinkServer(answers_for("gsm8k"), ThinkPolicy(obey=("thinking_token_budget",))) as server:
        doc, err = _run(server, tmp_path / "t.db", "--reasoning-effort", "low", "--reasoning-effort", "high",
                        "--max-tokens", "4096")
    assert [c["factor"] for c in doc["compute_checks"]] == ["reasoning_effort"] and "--reasoning-effort" in err


def test_budget_fields_per_backend_style():
    d = Decoding(max_tokens=100, temperature=0.0, reasoning_effort="high", thinking_budget=64)
    assert openai_fields(d) == ({"reasoning_effort": "high", "thinking_token_budget": 64}, ())
    assert openai_fields(d, param="custom_params")[0]["custom_params"] == {"thinking_budget": 64}
    assert openai_fields(d, param="chat_template_kwargs")[0]["chat_template_kwargs"] == {"thinking_budget": 64}
    assert openai_fields(Decoding(max_tokens=10)) == ({}, ())
    # The OpenAI API: reasoning models take max_completion_tokens and their default sampling, no budget.
    effort = Decoding(max_tokens=100, temperature=0.0, reasoning_effort="low")
    assert openai_fields(effort, official=True) == ({"reasoning_effort": "low", "max_completion_tokens": 100},
                                                    ("max_tokens", "temperature", "top_p"))
    with pytest.raises(PolarisError, match="takes no thinking budget"):
        openai_fields(d, official=True)
    from polaris.models.base import GenRequest
    from polaris.models.openai import OpenAIBackend
    from polaris.prompts.render import Message, Prompt

    body = OpenAIBackend("o3", base_url="https://api.openai.com/v1")._body(
        GenRequest(Prompt(messages=(Message("user", "hi"),)), effort))[1]
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body and "temperature" not in body
    with pytest.raises(PolarisError, match="--budget-param"):
        OpenAIBackend("m", base_url="http://127.0.0.1:1/v1", budget_param="thinking")


def test_budget_factors_keep_old_run_ids_and_name_cells():
    # Run ids computed by Polaris before these fields existed: stored results stay valid. (Zero-shot
    # cells: GSM8K's few-shot cells name their default prompt since it became Wei et al.'s, issue 17.)
    assert CellSpec(model="openai/m", task="gsm8k", prompt="zeroshot-cot").run_id == "3c0a64355b7d4e7e"
    assert CellSpec(model="openai/m", task="gsm8k", prompt="zeroshot-cot", max_tokens=512, samples=4,
                    temperature=0.7).run_id == "68f140dbecc1187f"
    spec = CellSpec(model="openai/m", task="gsm8k", reasoning_effort="high", thinking_budget=512)
    assert spec.run_id != CellSpec(model="openai/m", task="gsm8k").run_id
    assert spec.strategy == "greedy+effort:high+think:512"
    assert CellSpec(model="openai/m", task="gsm8k", max_tokens=1024).strategy == "greedy"  # the CoT default
    assert CellSpec.from_dict(spec.as_dict()) == spec
    for bad, match in (({"reasoning_effort": "max"}, "--reasoning-effort"), ({"thinking_budget": -1}, "0 or more"),
                       ({"scoring": "loglik", "prompt": "fewshot-direct", "thinking_budget": 8}, "need generation")):
        with pytest.raises(PolarisError, match=match):
            CellSpec(model="openai/m", task="gsm8k", **bad)


def _experiment(tmp_path, server):
    path = tmp_path / "ttc.yaml"
    path.write_text(f"""
models: [openai/thinker]
tasks: [gsm8k]
prompts: [zeroshot-cot]
base_url: {server.base_url}
thinking_budgets: [64, 256, 1024]
strategies:
  greedy: {{max_tokens: 2048}}
  sc4: {{max_tokens: 2048, samples: 4, temperature: 0.7}}
contrasts:
  - 1024 vs 64
  - sc4 vs greedy
""")
    return path


def test_a_grid_of_budgets_and_k_gives_curves_frontier_and_cost_with_known_truth(data, keys, tmp_path):
    (tmp_path / "prices.yaml").write_text(PRICES)
    prices = str(tmp_path / "prices.yaml")
    store = tmp_path / "grid.db"
    with ThinkServer(answers_for("gsm8k")) as server:
        exp = _experiment(tmp_path, server)
        dry = polaris("experiment", "run", str(exp), "--dry-run", "--json", "--store", str(store), "--prices", prices)
        assert dry.returncode == 0, dry.stderr
        est = json.loads(dry.stdout)
        assert len(est["cells"]) == 6 and {c["thinking_budget"] for c in est["cells"]} == {64, 256, 1024}
        for c in est["cells"]:  # nothing stored yet: completion bounded by max_tokens, priced before running
            assert c["cost_usd"] == pytest.approx((c["prompt_tokens"] * 2.0 + c["completion_tokens"] * 10.0) / 1e6)
        assert est["total"]["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in est["cells"]))
        proc = polaris("experiment", "run", str(exp), "--json", "--no-progress", "--store", str(store), "--prices",
                       prices)
        assert proc.returncode == 0, proc.stderr
        grid = json.loads(proc.stdout)
    assert all(c["summary"]["cost"]["usd"] > 0 for c in grid["cells"])
    assert {c["name"] for c in grid["contrasts"]} == {"1024 vs 64", "sc4 vs greedy"}
    proc = polaris("analyze", "compute", "--json", "--store", str(store), "--prices", prices,
                   "--figure", str(tmp_path / "c.png"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (tmp_path / "c.png").stat().st_size > 0
    (curve,) = doc["curves"]
    points = curve["points"]
    greedy = {p["thinking_budget"]: p for p in points if p["kind"] == "cell"}
    for budget, p in greedy.items():
        acc, tokens, reasoning, _ = _truth(keys, budget)
        assert p["accuracy"] == pytest.approx(acc) and p["tokens"] == pytest.approx(tokens)
        assert p["cost"] == pytest.approx((p["prompt_tokens"] * 2.0 + tokens * 10.0) / 1e6)
    # Self-consistency: maj@k and pass@k at k samples' tokens; maj@1 is the mean over samples.
    policy = ThinkPolicy()
    for budget in (64, 256, 1024):
        votes = {p["k"]: p for p in points if p["kind"] == "maj" and p["thinking_budget"] == budget}
        assert sorted(votes) == [1, 2, 4]
        assert votes[4]["tokens"] == pytest.approx(4 * votes[1]["tokens"])
        right = [policy.sample_need(k, 0, i, 0.7) <= budget for k in keys for i in range(4)]
        assert votes[1]["accuracy"] == pytest.approx(sum(right) / len(right))
        passes = {p["k"]: p["accuracy"] for p in points if p["kind"] == "pass" and p["thinking_budget"] == budget}
        assert passes[4] >= passes[1] == pytest.approx(votes[1]["accuracy"])
    # The frontier: rising accuracy with tokens, never pass@k, and every other point beaten by one of it.
    front = [p for p in points if p["frontier"]]
    assert [p["setting"] for p in front] == curve["frontier"] and all(p["kind"] != "pass" for p in front)
    assert all(a["tokens"] <= b["tokens"] and a["accuracy"] < b["accuracy"] for a, b in zip(front, front[1:]))
    for p in points:
        if p["kind"] != "pass":
            assert any(f["tokens"] <= p["tokens"] and f["accuracy"] >= p["accuracy"] for f in front)
    assert greedy[1024]["frontier"] and front[-1]["accuracy"] == 1.0
    # The report shows the section, with the same study in report.json.
    rep = polaris("report", "--out", str(tmp_path / "rep"), "--store", str(store), "--prices", prices, "--json")
    assert rep.returncode == 0, rep.stderr
    assert "compute" in json.loads(rep.stdout)["sections"]
    saved = json.loads((tmp_path / "rep" / "report.json").read_text())["compute"]
    assert len(saved["curves"][0]["points"]) == len(points)
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "Test-time compute" in page and "budget-forced" in page


def test_price_tables_are_checked_and_matched_like_models_yaml(tmp_path):
    from polaris.analysis.prices import load_prices

    (tmp_path / "p.yaml").write_text("prices:\n  openai/gpt-x: {input: 1, output: 3}\n  local/m: {input: 0, output: 0}\n")
    table = load_prices(tmp_path / "p.yaml")
    assert table.find("openai/gpt-x")[0] == "openai/gpt-x" and table.find("hf/org/m")[0] == "local/m"
    assert table.estimate("openai/gpt-x", 1e6, 1e6) == pytest.approx(4.0) and table.find("openai/other") is None
    for text, match in (("prices:\n  m: {input: 1}\n", "missing 'output'"),
                        ("prices:\n  m: {input: -1, output: 1}\n", r"prices.m.input: expected a price"),
                        ("prices:\n  m: {input: 1, output: 1, cached: 1}\n", "unknown field 'cached'"),
                        ("prices: [1, 2]\n", "maps model names")):
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(PolarisError, match=match):
            load_prices(tmp_path / "bad.yaml")
    # A models.yaml may carry the table; its models still load.
    (tmp_path / "models.yaml").write_text("models:\n  my/tiny: {params: 1B, family: t}\n" + PRICES)
    from polaris.analysis.modelmeta import load_models

    assert load_models(tmp_path / "models.yaml").find("my/tiny") is not None
    assert load_prices(None, tmp_path / "models.yaml").find("openai/thinker") is not None
    proc = polaris("analyze", "compute", "--prices", str(tmp_path / "missing.yaml"), "--store", str(tmp_path / "x.db"))
    assert proc.returncode == 2 and "price table" in proc.stderr and proc.stderr.count("\n") == 1


def test_experiment_files_cross_compute_axes_and_refuse_a_factor_set_twice(data, tmp_path):
    from polaris.experiments.spec import load_experiment

    path = tmp_path / "e.yaml"
    path.write_text("models: [openai/m]\ntasks: [gsm8k]\nreasoning_efforts: [low, high]\nmax_tokens: [512, 4096]\n"
                    "contrasts:\n  - high vs low\n  - {max_tokens: [4096, 512]}\n")
    exp = load_experiment(path)
    assert len(exp.cells) == 4 and {c.spec.strategy for c in exp.cells} == {
        "greedy+effort:low+max:512", "greedy+effort:low+max:4096", "greedy+effort:high+max:512",
        "greedy+effort:high+max:4096"}
    assert [len(exp.pairs(c)) for c in exp.contrasts] == [2, 2]
    path.write_text("models: [openai/m]\ntasks: [gsm8k]\nthinking_budgets: [64]\n"
                    "strategies:\n  s: {thinking_budget: 128}\n")
    with pytest.raises(PolarisError, match=r"e.yaml:\d+: strategies.s: thinking_budget is also crossed"):
        load_experiment(path)
    path.write_text("models: [openai/m]\ntasks: [gsm8k]\nreasoning_efforts: [extreme]\n")
    with pytest.raises(PolarisError, match=r"e.yaml:3: reasoning_efforts.0"):
        load_experiment(path)


def test_llm_modulo_rounds_and_plain_answers_share_one_compute_axis(tmp_path):
    from fakeserver import FakeOpenAI, Policy
    from planfake import Planner, alternating

    # Item i makes i % 4 wrong plans before the right one; the fake server bills 8 tokens per answer.
    planner = Planner("blocksworld", lambda i: alternating(i % 4), instances=4)
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(respond=planner)) as server:
        for extra in (["-T", "verifier-rounds=2"], []):
            proc = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "-t", "blocksworld",
                           "-T", "instances=4", "--store", str(store), "--json", "--no-progress", *extra)
            assert proc.returncode == 0, proc.stderr
    doc = json.loads(polaris("analyze", "compute", "--json", "--store", str(store)).stdout)
    (curve,) = doc["curves"]
    assert curve["task"] == "blocksworld[instances=4]"
    rounds = sorted((p for p in curve["points"] if p["kind"] == "round"), key=lambda p: p["tokens"])
    plain = [p for p in curve["points"] if p["kind"] == "cell"]
    used = [min(i % 4, 2) + 1 for i in range(12)]  # answers each item asked for, with two back-prompts
    assert [p["accuracy"] for p in rounds] == pytest.approx([3 / 12, 6 / 12, 9 / 12])
    for r, p in enumerate(rounds):
        assert p["tokens"] == pytest.approx(8 * sum(min(r + 1, u) for u in used) / 12)
    assert len(plain) == 1 and plain[0]["tokens"] == pytest.approx(8) and plain[0]["accuracy"] == pytest.approx(3 / 12)
    assert [p["setting"] for p in curve["points"] if p["frontier"]][-1].endswith("r=2")


def test_seeds_of_a_size_pool_into_one_point_whose_interval_adds_their_spread():
    from polaris.analysis.compute import Point, compute_study

    def point(model, acc, half, tokens):
        return Point(group=model, task="t", setting="zeroshot-cot greedy", kind="cell", tokens=tokens, accuracy=acc,
                     low=acc - half, high=acc + half, n=100, truncation=0.1, completion=tokens, runs=[model])

    study = compute_study([point("a-seed0", 0.4, 0.05, 10.0), point("a-seed1", 0.8, 0.05, 20.0),
                           point("b", 0.5, 0.05, 10.0)],
                          group_of=lambda m: "a" if m.startswith("a-") else m, min_points=1)
    (a,) = study.curves[("t", "a")]
    assert a.accuracy == pytest.approx(0.6) and a.tokens == pytest.approx(15.0) and a.n == 200
    assert a.runs == ["a-seed0", "a-seed1"]
    se_items = 0.05 / 1.959963984540054
    se = (se_items ** 2 + 0.08 / 2) ** 0.5  # Var of (0.4, 0.8) over 2 models
    assert a.high - a.accuracy == pytest.approx(1.959963984540054 * se)
    assert study.curves[("t", "b")][0].frontier
