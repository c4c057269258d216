"""`polaris analyze scaling` on stores of real runs: a synthetic family of fake-server models whose
accuracies follow known curves, with their sizes in a temp models.yaml."""

from __future__ import annotations

import json
import math

import pytest
from conftest import cli_env, polaris
from fakeserver import Policy
from synth import SIZES, SUBJECT, logistic, models_yaml, run_family, write_mmlu, write_sums

from polaris.analysis.modelmeta import ModelInfo, load_models
from polaris.analysis.study import scaling_study
from polaris.errors import PolarisError


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """Three stores on one 200-question MMLU subject: a logistic in log10 N, a flat line that jumps
    at the largest size, and nothing above chance."""
    root = tmp_path_factory.mktemp("family")
    data = write_mmlu(root / "data")
    mp = pytest.MonkeyPatch()
    mp.setenv("POLARIS_DATA_DIR", str(data))
    yaml = models_yaml(root / "models.yaml", "synth", "syn")
    shapes = {
        "logistic": [logistic(math.log10(n)) for n in SIZES],
        "jump": [0.25] * (len(SIZES) - 1) + [0.9],
        "chance": [0.25] * len(SIZES),
    }
    stores = {}
    for shape, accs in shapes.items():
        store = root / f"{shape}.db"
        models = [f"syn-{i}" for i in range(len(SIZES))]
        res = run_family(data, store, SUBJECT, Policy(accuracy={f"syn-{i}": a for i, a in enumerate(accs)}),
                         models, "--prompt", "zeroshot-direct")
        assert [round(r["baseline"], 6) for r in res] == [0.25] * len(SIZES)
        stores[shape] = store
    yield {"root": root, "data": data, "yaml": yaml, "stores": stores, "accs": shapes}
    mp.undo()


def analyse(family, shape, *extra):
    proc = polaris("analyze", "scaling", "--task", SUBJECT, "--store", str(family["stores"][shape]), "--models",
                   str(family["yaml"]), "--json", *extra, env=cli_env(POLARIS_DATA_DIR=str(family["data"])))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_points_ci_baseline_and_fits(family):
    doc = analyse(family, "logistic")
    study = doc["studies"][0]
    assert study["task"] == SUBJECT and study["metrics"] == ["exact"]  # multiple choice: no text metrics
    (curve,) = study["curves"]
    assert curve["family"] == "synth" and curve["baseline"] == 0.25
    assert [p["params"] for p in curve["points"]] == pytest.approx(SIZES)
    for p, want in zip(curve["points"], family["accs"]["logistic"]):
        assert abs(p["y"] - want) < 0.08 and p["low"] < p["y"] < p["high"]  # 200 items: within ~2 SE
    fits = curve["fits"]
    assert fits["line"]["fitted"] and fits["logistic"]["fitted"]
    assert fits["logistic"]["fixed"]["b"] == 0.25  # floored at the baseline
    assert fits["logistic"]["params"]["x0"] == pytest.approx(10.0, abs=0.3)
    assert fits["logistic"]["aicc"] < fits["line"]["aicc"] and curve["best_fit"] == "logistic"
    assert fits["bnsl"]["fitted"] and fits["bnsl"]["aicc"] is None  # 7 sizes, 6 parameters: AICc undefined
    assert len(fits["logistic"]["curve"]["x"]) == len(fits["logistic"]["curve"]["y"]) > 10
    assert curve["verdict"]["above_baseline"] is True


def test_jump_at_the_largest_size_is_emergent(family):
    doc = analyse(family, "jump")
    (v,) = doc["studies"][0]["verdicts"]
    assert v["verdict"] == "emergent" and v["above_baseline"] and v["predictable"] is False
    assert v["z"] > 5 and v["largest"]["predicted"] < 0.35 and v["largest"]["observed"] > 0.8
    assert v["breakthroughness"] == 100.0  # flat, then one step: zero median step


def test_nothing_above_chance_is_not_emergent(family):
    (v,) = analyse(family, "chance")["studies"][0]["verdicts"]
    assert v["verdict"] == "not above baseline" and v["above_baseline"] is False and v["above_p"] > 0.05


def test_tables_and_figure(family, tmp_path):
    fig = tmp_path / "scaling.png"
    proc = polaris("analyze", "scaling", "--task", SUBJECT, "--store", str(family["stores"]["jump"]), "--models",
                   str(family["yaml"]), "--figure", str(fig), env=cli_env(POLARIS_DATA_DIR=str(family["data"])))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Emergence (Lu et al.)" in out and "emergent" in out and "Fits against log10(parameters)" in out
    assert "openai/syn-6" in out and "100B" in out
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 10_000


@pytest.mark.parametrize("width", (80, 120))
def test_tables_fit_the_terminal(family, width):
    """One models table per curve; below 100 columns the means go without their intervals (said under
    the table) rather than wrapping every row over three lines."""
    from termcheck import check

    proc = polaris("analyze", "scaling", "--task", SUBJECT, "--store", str(family["stores"]["jump"]), "--models",
                   str(family["yaml"]), env=cli_env(POLARIS_DATA_DIR=str(family["data"]), COLUMNS=str(width)))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    check(out, width, ["model", "params", "exact match %", "chance %", "metric", "line", "logistic", "verdict"])
    row = next(line for line in out.splitlines() if "openai/syn-6" in line)
    if width == 80:
        assert "[" not in row and "left out at 80 columns: 95% CIs" in " ".join(out.split()), out
    else:
        assert "[" in row and "95% CIs" not in out.split("Fits against")[0].split("per model")[1], out


def test_missing_metadata_is_one_line_naming_the_model(family, tmp_path):
    partial = tmp_path / "models.yaml"
    partial.write_text("\n".join(family["yaml"].read_text().splitlines()[:-1]) + "\n")  # syn-6 left out
    env = cli_env(POLARIS_DATA_DIR=str(family["data"]))
    proc = polaris("analyze", "scaling", "--task", SUBJECT, "--store", str(family["stores"]["jump"]),
                   "--models", str(partial), env=env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "openai/syn-6" in proc.stderr and "models.yaml" in proc.stderr and "params" in proc.stderr
    # With --family the unknown model is left out, and said so.
    doc = json.loads(polaris("analyze", "scaling", "--task", SUBJECT, "--store", str(family["stores"]["jump"]),
                             "--models", str(partial), "--family", "synth", "--json", env=env).stdout)
    study = doc["studies"][0]
    assert len(study["curves"][0]["points"]) == 6 and any("syn-6" in n for n in study["notes"])


def test_bad_requests_are_one_line_errors(family):
    env = cli_env(POLARIS_DATA_DIR=str(family["data"]))
    store = str(family["stores"]["jump"])
    for args, words in [
        (("--task", "gsm8k"), "no stored cells of task 'gsm8k'"),
        (("--task", SUBJECT, "--metric", "bleu"), "unknown metric 'bleu'"),
        (("--task", SUBJECT, "--metric", "per-token"), "multiple choice"),
        (("--task", SUBJECT, "--metric", "brier"), "--scoring loglik"),
        (("--task", SUBJECT, "--family", "nope"), "no model of family 'nope'"),
    ]:
        proc = polaris("analyze", "scaling", *args, "--store", store, "--models", str(family["yaml"]), env=env)
        assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_metric_sensitivity_exact_match_jumps_per_digit_is_smooth(tmp_path, monkeypatch):
    """Schaeffer et al.'s mechanism on real runs: each digit wrong with probability q falling evenly
    with log N. Per-digit accuracy (1 - q) is a line; exact match ((1 - q)^L) leaps at the top."""
    data = write_sums(tmp_path / "data")
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    yaml = models_yaml(tmp_path / "models.yaml", "digits", "dig")
    q = {f"dig-{i}": max(0.02, 0.6 - 0.1 * i) for i in range(len(SIZES))}
    store = tmp_path / "s.db"
    run_family(data, store, "gsm8k", Policy(digit_error=q), list(q), "--prompt", "zeroshot-direct")
    study = scaling_study(store, "gsm8k", models=yaml)
    assert study.metrics == ["exact", "per-token", "edit"]
    per_token = study.curve("digits", "per-token")
    for y, (name, rate) in zip(per_token.y, q.items()):
        assert abs(y - (1 - rate)) < 0.06, name
    verdicts = {v["metric"]: v for v in study.verdicts()}
    exact = verdicts["exact"]
    assert exact["verdict"] == "emergent" and verdicts["per-token"]["verdict"] == "predictable"
    assert verdicts["edit"]["verdict"] == "predictable"
    assert set(exact["smooth_under"]) == {"per-token", "edit"}
    assert exact["metric_sensitivity"]["per-token"] > 0  # B(exact) - B(per-token)
    assert study.curve("digits", "edit").baseline > 3  # random numbers: most digits wrong
    doc = study.to_dict()
    edit = next(c for c in doc["curves"] if c["metric"] == "edit")
    assert edit["orientation"] == -1 and edit["higher_is_better"] is False
    assert edit["points"][0]["y"] > edit["points"][-1]["y"]  # on its own scale: distance falls with size
    json.dumps(doc, allow_nan=False)


def test_lab_models_take_their_sizes_from_the_lab(tmp_path, monkeypatch):
    """lab/<name> models are placed by the lab's own metadata (several seeds per size averaged)."""
    import polaris.lab

    data = write_sums(tmp_path / "data", n=40)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    sizes = {"tiny": 1e4, "small": 1e5, "mid": 1e6}
    names = [f"{s}-seed{j}" for s in sizes for j in range(2)]
    meta = {f"lab/{n}": {"params": sizes[n.split("-")[0]], "family": "polaris-lab/add3", "seed": int(n[-1]),
                         "instruction_tuned": False} for n in names}
    monkeypatch.setattr(polaris.lab, "models_metadata", lambda ladder=None: meta, raising=False)
    q = {n: {"tiny": 0.5, "small": 0.3, "mid": 0.1}[n.split("-")[0]] + 0.02 * int(n[-1]) for n in names}
    store = tmp_path / "s.db"
    run_family(data, store, "gsm8k", Policy(digit_error=q), names, "--prompt", "zeroshot-direct")
    # The store's model names are openai/<name>; rename them to lab/<name> as a lab run stores them.
    import sqlite3

    db = sqlite3.connect(store)
    for (rid, spec, label) in db.execute("SELECT id, spec, label FROM runs").fetchall():
        db.execute("UPDATE runs SET spec=?, label=? WHERE id=?", (spec.replace('"openai/', '"lab/'),
                                                                   label.replace("openai/", "lab/", 1), rid))
    db.commit()
    db.close()
    study = scaling_study(store, "gsm8k", models=load_models(), metrics=["per-token"])
    (curve,) = study.curves
    assert curve.family == "polaris-lab/add3" and len(curve.models) == 6 and len(curve.x) == 3
    assert curve.x == pytest.approx([4.0, 5.0, 6.0])
    # Two seeds per size: the size's SE carries their spread on top of the item SE they share.
    seeds = [s for s in curve.models if s.params == 1e4]
    assert curve.se[0] > max(s.se for s in seeds)
    # A source passed in explicitly wins over everything else.
    study = scaling_study(store, "gsm8k", metrics=["exact"], sources=(
        lambda name: ModelInfo(name, 1e9, "mine") if name.startswith("lab/") else None,))
    assert study.curves[0].family == "mine" and study.curves[0].x == [9.0]


def test_unknown_lab_model_without_lab_metadata_is_an_error(tmp_path, monkeypatch):
    import polaris.lab

    monkeypatch.setattr(polaris.lab, "models_metadata", lambda ladder=None: {}, raising=False)
    data = write_sums(tmp_path / "data", n=5)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    store = tmp_path / "s.db"
    run_family(data, store, "gsm8k", Policy(), ["lab-x"], "--prompt", "zeroshot-direct")
    with pytest.raises(PolarisError, match="no metadata for model 'openai/lab-x'"):
        scaling_study(store, "gsm8k")


def test_log_prob_metrics_from_stored_option_scores(tmp_path, monkeypatch):
    """Cells scored by option log-likelihood keep per-item option log-probs (data.loglik): the same
    items give target log-prob, probability of the right option and Brier score beside exact match."""
    import numpy as np

    from polaris.analysis.metrics import brier_score, option_probs
    from polaris.store.store import ResultRow, Store

    monkeypatch.setenv("POLARIS_DATA_DIR", str(tmp_path / "nodata"))  # the task need not load
    yaml = models_yaml(tmp_path / "models.yaml", "ll", "ll")
    store = Store(tmp_path / "s.db")
    rng = np.random.default_rng(0)
    for i, n in enumerate(SIZES):
        margin = 0.6 * (math.log10(n) - 8)  # the right option's logit advantage grows with log N
        rows = []
        for j in range(150):
            logits = rng.normal(0, 1, 4)
            logits[j % 4] += margin
            lps = logits - np.logaddexp.reduce(logits)
            probs = option_probs(lps)
            rows.append(ResultRow(f"q{j}", j, "", float(np.argmax(lps) == j % 4), None, True, None, "(A)", "(A)",
                                  {"chance": 0.25, "loglik": {"options": ["(A)", "(B)", "(C)", "(D)"],
                                                              "logprobs": lps.tolist(), "gold": j % 4,
                                                              "target_logprob": float(lps[j % 4]),
                                                              "prob_correct": float(probs[j % 4]),
                                                              "brier": brier_score(probs, j % 4)}}))
        spec = {"model": f"openai/ll-{i}", "task": SUBJECT, "prompt": "zeroshot-direct", "scoring": "loglik"}
        store.put_run(f"run{i}", f"openai/ll-{i}/{SUBJECT}/zeroshot-direct/loglik", spec, {})
        store.put_results(f"run{i}", rows)
    study = scaling_study(store, SUBJECT, models=yaml)
    store.close()
    assert study.metrics == ["exact", "logprob", "prob", "brier"]
    prob, brier = study.curve("ll", "prob"), study.curve("ll", "brier")
    assert prob.baseline == pytest.approx(0.25) and brier.baseline == pytest.approx(0.75)
    assert prob.y[-1] > prob.y[0] + 0.3 and brier.y[-1] < brier.y[0]
    rows = {v["metric"]: v for v in study.verdicts()}
    assert rows["brier"]["above_baseline"] is True  # lower Brier than a uniform guess: better, tested one-sided
    assert rows["logprob"]["above_baseline"] is None  # no chance level for a raw log-prob
    assert set(rows["exact"]["metric_sensitivity"]) == {"logprob", "prob", "brier"}


@pytest.mark.parametrize("width", [80, 120])
def test_tables_fit_the_terminal(family, width):
    from termcheck import check

    proc = polaris("analyze", "scaling", "--task", SUBJECT, "--store", str(family["stores"]["jump"]), "--models",
                   str(family["yaml"]), env=cli_env(POLARIS_DATA_DIR=str(family["data"]), COLUMNS=str(width)))
    assert proc.returncode == 0, proc.stderr
    check(proc.stdout, width, ["curve", "model", "params", "chance %", "metric", "line", "logistic",
                               "onset (logistic x0)", "broken power law", "best BIC", "above chance (p)",
                               "largest: observed vs predicted", "z", "verdict", "B", "line R²",
                               "B(exact) - B(metric)"])
    assert "openai/syn-6" in proc.stdout and "emergent" in proc.stdout
