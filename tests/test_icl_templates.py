"""Lu et al.'s templates render their exact strings and score by their exact-match rules; the ICL
experiment file pairs instruction-tuned models with their base models and answers its question."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, cli_env, polaris
from fakeserver import FakeOpenAI, Policy
from synth import SUBJECT, write_mmlu

from polaris.errors import PolarisError
from polaris.prompts import icl
from polaris.runner.cell import CellSpec
from polaris.runner.runner import prepare
from polaris.scoring.ema import EMAScorer, ema_letter, ema_option
from polaris.tasks.base import Exemplar, Item

OPTS = ("Paris", "Lyon", "New York", "New York City.")
ITEM = Item("q1", "What is the capital of France?", "(A)", choices=OPTS)


def test_zero_shot_strings_are_lu_et_al_s():
    q = ITEM.question
    assert icl.query("open", q, OPTS) == "What is the capital of France? The correct answer is"
    assert icl.query("closed", q, OPTS) == ('What is the capital of France? The possible answers are "Paris", "Lyon",'
                                            ' "New York", "New York City", but the correct answer is')
    assert icl.query("closed-adv", q, OPTS) == ('QUESTION: What is the capital of France?\nOPTIONS: (a) "Paris", '
                                                '(b) "Lyon", (c) "New York", (d) "New York City."\nANSWER:')


def test_few_shot_prefix_is_lu_et_al_s_file_layout():
    ex = Exemplar("e1", "Why do people want to keep working?", "", "(D)",
                  ("frustration", "make money", "boredom", "being paid", "blisters"))
    shot = icl._exemplar("closed", ex, ())
    assert " ".join(shot) == ('Why do people want to keep working? The possible answers are "frustration", "make money",'
                              ' "boredom", "being paid", "blisters", but the correct answer is "being paid".')
    assert " ".join(icl._exemplar("open", ex, ())) == ('Why do people want to keep working? The correct answer is'
                                                       ' "being paid"')
    assert " ".join(icl._exemplar("closed-adv", ex, ())) == (
        'QUESTION: Why do people want to keep working?\nOPTIONS: (a) "frustration", (b) "make money", (c) "boredom",'
        ' (d) "being paid", (e) "blisters"\nANSWER: (d)')
    q = icl.query("closed-adv", ITEM.question, OPTS)
    p = icl.render_icl("closed-adv", q, [icl._exemplar("closed-adv", ex, ())] * 2, api="completions")
    assert p.text == f"{' '.join(icl._exemplar('closed-adv', ex, ()))}\n\n" * 2 + q and p.stop == ("\n\n",)
    chat = icl.render_icl("closed", q, [("Q1", "A1")], api="chat")
    assert [(m.role, m.content) for m in chat.messages] == [("user", "Q1"), ("assistant", "A1"), ("user", q)]
    single = icl.render_icl("closed", q, [("Q1", "A1")], api="chat", fewshot_as="single")
    assert [(m.role, m.content) for m in single.messages] == [("user", f"Q1 A1\n\n{q}")]


@pytest.mark.parametrize(("output", "index"), [
    ('"Paris".', 0),
    (" paris", 0),  # bare, any case, leading space stripped
    ('\n "Paris" is the capital', 0),
    (', "lyon"', 1),
    ('"New York City"', 3),  # the longest option that starts the output wins
    ('"New York" and not "Paris"', None),  # another option later: wrong
    ("Paris, or maybe Lyon", None),
    ("parisian food", None),  # a bare option must end at a word boundary
    ("Paris, I know", 0),  # "no" of "know" is no option anyway; whole words only
    ("The answer is Paris", None),  # must start with the option
    ("", None),
])
def test_ema_closed_and_open(output, index):
    assert ema_option(output, OPTS) == index


@pytest.mark.parametrize(("output", "index"), [
    (" (a)", 0), ("(B) Lyon", 1), ("\n(c)", 2), ("(a) because (a) is right", 0),
    ("(a) or (b)", None), ("a)", None), ("The answer is (a)", None), ("(e)", None), ("(d).", 3),
])
def test_ema_closed_adv_letters(output, index):
    assert ema_letter(output, 4) == index


def test_ema_scorer_round_trip_and_chance():
    for kind in ("open", "closed", "closed-adv"):
        sc = EMAScorer(kind)
        gold = sc.gold(ITEM)
        assert sc.score(sc.extract(" " + gold + ".", ITEM).answer, ITEM) == 1.0
        assert sc.score(sc.extract(sc.form(OPTS, 1), ITEM).answer, ITEM) == 0.0
        assert sc.chance(ITEM) == 0.25 and sc.extract("no idea", ITEM).answer is None
    labels = Item("b1", "not ( True ) is", "False", meta={"kind": "bool"})
    sc = EMAScorer("closed")
    assert sc.gold(labels) == '"False"' and sc.score(sc.extract('"false"', labels).answer, labels) == 1.0
    assert icl.query("closed", labels.question, ("True", "False")).endswith('"True", "False", but the correct answer is')


def test_cells_reject_what_templates_cannot_do(tiny_data):
    with pytest.raises(PolarisError, match="zeroshot-direct or fewshot-direct"):
        CellSpec(model="baseline/gold", task="gsm8k", prompt="fewshot-cot", template="closed")
    with pytest.raises(PolarisError, match="unknown --template 'shut'"):
        CellSpec(model="baseline/gold", task="gsm8k", prompt="zeroshot-direct", template="shut")
    with pytest.raises(PolarisError, match="not multiple choice"):
        prepare(CellSpec(model="baseline/gold", task="gsm8k", prompt="zeroshot-direct", template="closed"))
    a = CellSpec(model="m/x", task="gsm8k", prompt="zeroshot-direct")
    b = CellSpec(model="m/x", task="gsm8k", prompt="zeroshot-direct", template="closed-adv")
    assert a.run_id != b.run_id and b.strategy == "greedy+tpl:closed-adv"
    assert "template" not in a.identity()  # cells stored before templates keep their run ids


@pytest.fixture
def mmlu_data(tmp_path, monkeypatch):
    data = write_mmlu(tmp_path / "data", n=40)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    return data


@pytest.mark.parametrize("kind", ["closed", "closed-adv", "open"])
def test_runs_score_template_outputs_by_ema(mmlu_data, tmp_path, kind):
    """A fake server answering every question in the template's own answer form, 1 in 4 of them
    followed by a second option (wrong by EMA): accuracy 3/4 exactly; gold and random baselines too."""
    spec = CellSpec(model="openai/x", task=SUBJECT, prompt="fewshot-direct", template=kind, api="completions")
    cell = prepare(spec)
    scorer = cell.task.scorer
    answers, wrong = {}, 0
    for i, it in enumerate(cell.items):
        text = scorer.gold(it)
        if i % 4 == 0:
            other = 0 if it.target != "(A)" else 1
            text += " or " + scorer.form(it.choices, other)
            wrong += 1
        answers[cell.task.template.item_text(it)] = text
    store = tmp_path / "s.db"
    env = cli_env(POLARIS_DATA_DIR=str(mmlu_data))
    with FakeOpenAI(Policy(answers=answers, template="{answer}")) as srv:
        proc = polaris("run", "-m", "openai/x", "--task", SUBJECT, "--prompt", "fewshot-direct", "-T", f"template={kind}",
                       "--api", "completions", "--base-url", srv.base_url, "--store", str(store), "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        body = srv.bodies[0]
    (res,) = json.loads(proc.stdout)["results"]
    assert res["accuracy"] == pytest.approx(1 - wrong / len(cell.items)) and res["baseline"] == 0.25
    assert res["strategy"] == f"greedy+completions+tpl:{kind}" and res["above_chance"]["above"]
    assert body["prompt"] == cell.prompts[0].text and body["stop"] == ["\n\n"]
    assert body["prompt"].count("\n\n") == 5  # the five dev exemplars, then the question
    for model, acc in (("baseline/gold", 1.0), ("baseline/random", None)):
        proc = polaris("run", "-m", model, "--task", SUBJECT, "--prompt", "zeroshot-direct", "-T", f"template={kind}",
                       "--store", str(store), "--json", env=env)
        (r,) = json.loads(proc.stdout)["results"]
        assert r["extracted"] == 1.0 and (acc is None or r["accuracy"] == acc)


def test_icl_experiment_file_pairs_instruct_with_base():
    from polaris.experiments.spec import load_experiment

    exp = load_experiment(ROOT / "experiments" / "icl-emergence.yaml")
    assert {c.tuning for c in exp.cells} == {"base", "instruct"}
    zs_vs_fs = next(c for c in exp.contrasts if c.name == "zero-shot instruct vs few-shot base")
    pairs = exp.pairs(zs_vs_fs)
    assert pairs and all(a.prompt == "zeroshot-direct" and b.prompt == "fewshot-direct" for a, b in pairs)
    assert all(a.model.endswith("-Instruct") and a.model.removesuffix("-Instruct") == b.model for a, b in pairs)
    assert all(a.task == b.task and a.strategy == b.strategy for a, b in pairs)
    n_slices = len({(c.task, c.strategy) for c in exp.cells})
    assert len(pairs) == 2 * n_slices  # two families
    assert {c.spec.template for c in exp.cells} == {"open", "closed", "closed-adv"}


def test_icl_experiment_needs_metadata_for_every_model(tmp_path):
    from polaris.experiments.spec import load_experiment

    with pytest.raises(PolarisError, match=r"icl-emergence.yaml:\d+: models.0: no metadata for model 'openai/mine'"):
        load_experiment(ROOT / "experiments" / "icl-emergence.yaml", models=["openai/mine", "openai/Qwen/Qwen2.5-7B"])


def test_icl_experiment_end_to_end(mmlu_data, tmp_path):
    """A base/instruct pair (metadata in a user models.yaml) on a fake server: the base model is at
    chance zero-shot and good few-shot, the instruct model good zero-shot: 'instruction tuning'."""
    (tmp_path / "models.yaml").write_text(
        "models:\n  toy-base: {params: 1B, family: toy}\n"
        "  toy-chat: {params: 1B, family: toy, instruct: true, base: toy-base}\n")
    exp = tmp_path / "icl.yaml"
    exp.write_text(f"""name: icl-toy
models: [openai/toy-base, openai/toy-chat]
tasks: [{SUBJECT}]
prompts: [zeroshot-direct, fewshot-direct]
strategies:
  closed-adv: {{template: closed-adv, api: completions, max_tokens: 8}}
contrasts:
  - {{name: zero-shot instruct vs few-shot base, a: {{tuning: instruct, prompt: zeroshot-direct}},
     b: {{tuning: base, prompt: fewshot-direct}}}}
  - instruct vs base
""")
    cell = prepare(CellSpec(model="openai/x", task=SUBJECT, prompt="zeroshot-direct", template="closed-adv"))
    answers = {cell.task.template.item_text(it): cell.task.scorer.gold(it) for it in cell.items}
    env = cli_env(POLARIS_DATA_DIR=str(mmlu_data), POLARIS_MODELS=str(tmp_path / "models.yaml"))

    class Server(FakeOpenAI):
        def reply(self, text, seed, index, temperature, model=""):
            zero_shot = "ANSWER: (" not in text
            if model == "toy-base" and zero_shot:
                return "I think"  # no option: wrong by EMA
            return super().reply(text, seed, index, temperature, model)

    with Server(Policy(answers=answers, template="{answer}")) as srv:
        proc = polaris("experiment", "run", str(exp), "--base-url", srv.base_url, "--store", str(tmp_path / "s.db"),
                       "--json", "--no-progress", env=env)
        table = polaris("experiment", "run", str(exp), "--base-url", srv.base_url, "--store", str(tmp_path / "s.db"),
                        "--no-progress", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (entry,) = doc["icl"]
    assert entry["lineage"] == "toy-base" and entry["answer"] == "instruction tuning"
    s = entry["settings"]
    assert s["base-zero"]["accuracy"] == 0 and s["base-zero"]["above"] is False
    assert s["instruct-zero"]["accuracy"] == 1 and s["instruct-zero"]["above"] is True
    contrast = next(c for c in doc["contrasts"] if c["name"] == "zero-shot instruct vs few-shot base")
    assert contrast["a"].startswith("openai/toy-chat/") and contrast["b"].startswith("openai/toy-base/")
    assert contrast["delta"] == 0 and contrast["mde"] is not None
    both = {c["where"]: c for c in doc["contrasts"] if c["name"] == "instruct vs base"}
    assert set(both) == {"openai/toy-chat zeroshot-direct", "openai/toy-chat fewshot-direct"}  # where: A's model
    assert both["openai/toy-chat zeroshot-direct"]["delta"] == 1 and both["openai/toy-chat fewshot-direct"]["delta"] == 0
    assert "Without in-context learning?" in table.stdout and "instruction tuning" in table.stdout
    assert "MDE" in table.stdout and "chance %" in table.stdout


def test_shipped_icl_file_runs_end_to_end(shared_data, tmp_path):
    """experiments/icl-emergence.yaml with a base/instruct pair of fake models (metadata in the user's
    models.yaml) against a server that answers every template's question in its answer form."""
    from polaris.experiments.spec import load_experiment

    (tmp_path / "models.yaml").write_text(
        "models:\n  fake-base: {params: 7B, family: fake}\n"
        "  fake-chat: {params: 7B, family: fake, instruct: true, base: fake-base}\n")
    models = ["openai/fake-base", "openai/fake-chat"]
    file = ROOT / "experiments" / "icl-emergence.yaml"
    exp = load_experiment(file)
    answers = {}
    for kind in ("open", "closed", "closed-adv"):
        for task in sorted({c.task for c in exp.cells}):
            cell = prepare(CellSpec(model="openai/x", task=task, prompt="zeroshot-direct", template=kind), limit=2)
            answers.update({cell.task.template.item_text(it): cell.task.scorer.gold(it) for it in cell.items})
    env = cli_env(POLARIS_DATA_DIR=str(shared_data), POLARIS_MODELS=str(tmp_path / "models.yaml"))
    args = [arg for m in models for arg in ("-m", m)]
    with FakeOpenAI(Policy(answers=answers, template="{answer}")) as srv:
        proc = polaris("experiment", "run", str(file), *args, "--base-url", srv.base_url, "--limit", "2",
                       "--store", str(tmp_path / "s.db"), "--json", "--no-progress", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["cells"]) == 2 * 4 * 2 * 3 and all(c["state"] == "done" for c in doc["cells"])
    assert all(c["summary"]["accuracy"] == 1.0 for c in doc["cells"])
    assert len(doc["icl"]) == 4 * 3 and {e["answer"] for e in doc["icl"]} == {"not above chance"}  # 2 items: p > 5%
    names = {c["name"] for c in doc["contrasts"]}
    assert names == {c.name for c in exp.contrasts}
    bad = polaris("experiment", "run", str(file), "--dry-run", "-m", "openai/who", env=cli_env(
        POLARIS_DATA_DIR=str(shared_data)))
    assert bad.returncode == 2 and "no metadata for model 'openai/who'" in bad.stderr and "POLARIS_MODELS" in bad.stderr
