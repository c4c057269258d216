"""`polaris report`: sections for the data present, numbers equal to the store's, figures written as PNG
and SVG, nothing fetched from elsewhere, store text escaped."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import polaris
from reportdata import HOSTILE, HOSTILE_ERROR, HOSTILE_GROUP, HOSTILE_MODEL, SCALING, build_store, planning_rows

from polaris.report.markup import Markup, ci, el, pct
from polaris.report.pairs import _kind, _norm



@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    info = build_store(root)
    out = root / "out"
    proc = polaris("report", "--store", str(info["store"]), "--out", str(out), "--json", env=info["env"])
    assert proc.returncode == 0, proc.stderr
    info.update(datadir=info["data"], out=out, result=json.loads(proc.stdout), html=(out / "index.html").read_text(),
                data=json.loads((out / "report.json").read_text()))
    return info


class Page(HTMLParser):
    """Tags with their attributes, rows by data-run, and the text inside each table row."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[tuple[dict[str, str | None], str]] = []
        self._row: tuple[dict[str, str | None], list[str]] | None = None
        self.sections: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section":
            self.sections.append(a.get("id") or "")
        if tag == "tr":
            self._row = (a, [])
        if tag in ("td", "th") and self._row is not None:
            self._row[1].append("|")

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append((self._row[0], "".join(self._row[1])))
            self._row = None

    def handle_data(self, data):
        if self._row is not None:
            self._row[1].append(data)


def parse(text: str) -> Page:
    p = Page()
    p.feed(text)
    return p


def _store(built):
    from polaris.store.store import Store

    return Store(built["store"], readonly=True)


def test_sections_follow_the_data(built):
    page = parse(built["html"])
    # The question answered first (findings, leaderboards), then the details. Scaling is there because
    # the pythia cells have sizes in the shipped models.yaml.
    expected = ["summary", "leaderboard", "scaling", "contrasts", "voting", "planning", "tasks", "manifests"]
    assert page.sections == expected
    assert built["result"]["sections"] == expected == built["data"]["sections"]
    nav = [a["href"] for t, a in page.tags if t == "a" and (a.get("href") or "").startswith("#") and
           a.get("class") != "run"]
    assert nav == [f"#{s}" for s in expected]


def test_empty_store_gives_a_page_without_sections(tmp_path):
    from polaris.store.store import Store

    Store(tmp_path / "empty.db").close()
    proc = polaris("report", "--store", str(tmp_path / "empty.db"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "out" / "index.html").read_text()
    assert parse(text).sections == [] and "no scored results yet" in text


def test_numbers_equal_the_store_summaries(built):
    from polaris.runner.summary import summarize

    page = parse(built["html"])
    cells = {c["run_id"]: c for c in built["data"]["cells"]}
    db = _store(built)
    try:
        runs = db.runs()
        assert set(cells) == {r.id for r in runs}
        for run in runs:
            rows = db.results(run.id)
            want = summarize(rows, headline=(run.manifest.get("summary") or {}).get("headline") or "micro")
            got = cells[run.id]["summary"]
            for key in ("n", "scored", "accuracy", "ci95", "strict_accuracy", "extracted", "disagree", "errors"):
                assert got[key] == pytest.approx(want[key]), (run.label, key)
            if want.get("maj_at"):
                assert got["maj_at"] == pytest.approx(want["maj_at"]) and got["pass_at"] == pytest.approx(want["pass_at"])
            # The per-task row of this run shows the same accuracy, CI and counts, with its run id.
            (text,) = [t for a, t in page.rows if a.get("data-run") == run.id and a.get("data-table") == "tasks"]
            assert ci(want["accuracy"], want["ci95"]) in text and run.id in text
            assert (f"|{want['scored']:,}|" in text or f"|{want['scored']:,} of " in text) and f"|{want['errors']}|" in text
            # A run that `polaris run` wrote recorded the same numbers in its manifest.
            stored = run.manifest.get("summary")
            if stored and "accuracy" in stored:
                assert stored["accuracy"] == pytest.approx(want["accuracy"])
    finally:
        db.close()


def test_leaderboard_rows_carry_each_cells_accuracy(built):
    page = parse(built["html"])
    section = built["html"].split('<section id="leaderboard">', 1)[1].split("</section>", 1)[0]
    board = parse(section)
    for cell in built["data"]["cells"]:
        s = cell["summary"]
        rows = [t for a, t in board.rows if a.get("data-model") == cell["model"] and cell["run_id"] in t]
        assert len(rows) == 1 and ci(s["accuracy"], s["ci95"]) in rows[0], (cell["label"], rows)
    # One board per suite, its columns the prompt formats x strategies of the suite's cells (not one
    # board per format and strategy); it marks partial cells and says why.
    assert section.count("<h3>Chain-of-Thought Hub: GSM8K</h3>") == 1
    assert section.count("<table") == section.count("<h3>") == 3  # GSM8K and the two Blocksworld tasks
    gsm8k = [c for c in built["data"]["cells"] if c["task"] == "gsm8k" and c["model"] != HOSTILE_MODEL]
    gsm8k_board = parse(section.split("<h3>Chain-of-Thought Hub: GSM8K</h3>", 1)[1].split("<h3>", 1)[0])
    (header,) = [t for a, t in gsm8k_board.rows if t.startswith("|model|")]
    for cell in gsm8k:
        assert cell["prompt"] in header and cell["strategy"] in header
    assert "* openai/alpha fewshot-cot greedy: 40 of 1319 items scored" in html.unescape(section)
    assert page.sections[:2] == ["summary", "leaderboard"]


def test_self_consistency_table_and_numbers(built):
    page = parse(built["html"])
    (sc,) = [c for c in built["data"]["cells"] if c["summary"].get("maj_at")]
    assert sc["summary"]["samples_per_item"] == 5
    assert sc["summary"]["maj_at"]["5"] == pytest.approx(sc["summary"]["accuracy"])
    for metric in ("maj_at", "pass_at"):
        (text,) = [t for a, t in page.rows if a.get("data-run") == sc["run_id"] and a.get("data-table") == "voting"
                   and a.get("data-metric") == metric]
        for k in "12345":
            assert ci(sc["summary"][metric][k], sc["summary"][metric + "_ci"][k]) in text


def test_contrasts_are_the_natural_pairs_with_holm(built):
    from polaris.analysis.compare import compare_rows
    from polaris.analysis.stats import holm

    rows = built["data"]["contrasts"]
    named = sorted((r["name"], r["a"], r["b"]) for r in rows)
    assert named == sorted([
        ("CoT vs direct", "openai/alpha/gsm8k/fewshot-cot/greedy", "openai/alpha/gsm8k/fewshot-direct/greedy"),
        ("CoT vs direct", "openai/beta/gsm8k/fewshot-cot/greedy", "openai/beta/gsm8k/fewshot-direct/greedy"),
        ("few-shot vs zero-shot", "openai/alpha/gsm8k/fewshot-cot/greedy", "openai/alpha/gsm8k/zeroshot-cot/greedy"),
        ("SC vs greedy", "openai/alpha/gsm8k/fewshot-cot/sc5@t0.7", "openai/alpha/gsm8k/fewshot-cot/greedy"),
    ])
    db = _store(built)
    try:
        for r in rows:
            want = compare_rows(db.results(r["a_run"]), db.results(r["b_run"])).as_dict()
            for key in ("n", "mean_a", "mean_b", "delta", "se", "low", "high", "p_value", "a_only", "b_only"):
                assert r[key] == pytest.approx(want[key]), (r["name"], key)
    finally:
        db.close()
    assert [r["p_holm"] for r in rows] == pytest.approx(holm([r["p_value"] for r in rows]))
    # alpha's direct run is wrong on every 2nd question, its CoT run on every 4th: a real gap that shows.
    (cot,) = [r for r in rows if r["name"] == "CoT vs direct" and r["a"].startswith("openai/alpha")]
    assert cot["delta"] > 0.15 and cot["a_only"] > cot["b_only"]
    page = parse(built["html"])
    (text,) = [t for a, t in page.rows if a.get("data-a") == cot["a_run"] and a.get("data-b") == cot["b_run"]]
    assert f"{100 * cot['delta']:+.1f} [{100 * cot['low']:+.1f}, {100 * cot['high']:+.1f}]" in text


def test_planning_curves_by_blocks_and_rounds(built):
    rows = planning_rows()
    cells = {c["model"]: c for c in built["data"]["cells"] if c.get("planning")}
    assert set(cells) == {"openai/planner", "openai/fake-planner"}
    cell = cells["openai/planner"]
    by = cell["planning"]["by_blocks"]
    for blocks in ("3", "4"):
        valid = [r.data["detail"]["valid"] for r in rows if r.group.startswith(blocks)]
        assert by[blocks]["success"]["mean"] == pytest.approx(sum(valid) / len(valid))
    at = [r.data["modulo"]["valid_at"] for r in rows]
    success_at = cell["planning"]["modulo"]["success_at"]
    assert [s["mean"] for s in success_at] == pytest.approx(
        [sum(a is not None and a <= k for a in at) / len(at) for k in range(3)])
    page = parse(built["html"])
    (text,) = [t for a, t in page.rows if a.get("data-run") == cell["run_id"] and a.get("data-table") == "planning"
               and a.get("data-blocks") == "3"]
    assert ci(by["3"]["success"]["mean"], by["3"]["success"]["ci95"]) in text
    (text_r,) = [t for a, t in page.rows if a.get("data-run") == cell["run_id"] and a.get("data-table") == "modulo"]
    for s in success_at:
        assert ci(s["mean"], s["ci95"]) in text_r
    # The real run: 4 instances of 3, 4 and 5 blocks; item i needs i % 4 back-prompts (3: never within 2).
    real = cells["openai/fake-planner"]["planning"]
    assert sorted(real["by_blocks"]) == ["3", "4", "5"]
    assert [s["mean"] for s in real["modulo"]["success_at"]] == pytest.approx([3 / 12, 6 / 12, 9 / 12])
    kinds = {k: f["count"] for k, f in real["failures"].items()}
    assert sum(kinds.values()) == 3  # the three items still invalid after two back-prompts
    failures = [(a.get("data-kind"), t) for a, t in page.rows
                if a.get("data-table") == "failures" and a.get("data-run") == cells["openai/fake-planner"]["run_id"]]
    assert {k for k, _ in failures} == set(kinds)


def test_scaling_section_is_the_study_of_each_family(built, monkeypatch):
    from polaris.analysis.study import scaling_study

    monkeypatch.setenv("POLARIS_DATA_DIR", str(built["datadir"]))  # as the report ran: the task loads

    (item,) = built["data"]["scaling"]
    assert (item["task"], item["family"], item["error"]) == ("gsm8k", "pythia", None)
    want = scaling_study(built["store"], "gsm8k", family="pythia").to_dict()
    assert [(v["metric"], v["verdict"], v["sizes"]) for v in item["study"]["verdicts"]] == \
           [(v["metric"], v["verdict"], v["sizes"]) for v in want["verdicts"]]
    exact = next(v for v in want["verdicts"] if v["metric"] == "exact")
    assert exact["sizes"] == len(SCALING) and exact["verdict"] == "emergent"  # flat, then 60% at 1.4B
    page = parse(built["html"])
    (text,) = [t for a, t in page.rows if a.get("data-metric") == "exact" and a.get("data-family") == "pythia"]
    assert "|emergent|" in text
    # Every model of the curve is listed with the run its score came from.
    curve = next(c for c in want["curves"] if c["metric"] == "exact")
    for m in curve["models"]:
        rows = [t for a, t in page.rows if f"|{m['model']}|" in t and m["run_id"] in t]  # one per metric
        assert any(ci(m["mean"], (m["low"], m["high"])) in t for t in rows), (m, rows)
    assert f"{HOSTILE_MODEL}: no metadata, left out" in html.unescape(built["html"])


def test_figures_are_png_and_svg_beside_the_page(built):
    out = built["out"]
    figs = built["data"]["figures"]
    stems = {Path(f).with_suffix("").as_posix() for f in figs}
    assert stems == {"figures/findings", "figures/forest", "figures/votes-0", "figures/planning-blocks",
                     "figures/planning-rounds", "figures/scaling-0"}
    for stem in stems:
        png, svg = out / f"{stem}.png", out / f"{stem}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert "<svg" in svg.read_text()[:2000]
    page = parse(built["html"])
    srcs = {a["src"] for t, a in page.tags if t == "img"}
    assert srcs == {f"{s}.png" for s in stems}


def test_nothing_external_and_no_script(built):
    text = built["html"]
    page = parse(text)
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe", "object", "embed", "base")]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href"):
                assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", value or "", re.I), (tag, name, value)
    assert "://" not in text and "@import" not in text and "url(" not in text
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]
    for name in ("manifests.json", "report.json"):
        assert (built["out"] / name).is_file()
    manifests = json.loads((built["out"] / "manifests.json").read_text())
    assert set(manifests) == {c["run_id"] for c in built["data"]["cells"]}
    # Every run id linked from a number has its manifest anchor on the page.
    anchors = {a["id"] for t, a in page.tags if a.get("id", "").startswith("run-")}
    links = {a["href"][1:] for t, a in page.tags if t == "a" and (a.get("href") or "").startswith("#run-")}
    assert links and links <= anchors


def test_store_text_is_escaped(built):
    text = built["html"]
    for raw in (HOSTILE, HOSTILE_MODEL, HOSTILE_GROUP, HOSTILE_ERROR):
        assert raw not in text
        assert html.escape(raw, quote=True) in text
    assert "<script" not in text.lower() and "<img src=x" not in text


def test_experiment_contrasts_replace_natural_pairs(built, tmp_path):
    exp = tmp_path / "cot.yaml"
    exp.write_text("models: [openai/alpha, openai/beta]\ntasks: [gsm8k]\nprompts: [fewshot-cot, fewshot-direct]\n"
                   "contrasts:\n  - prompt: [fewshot-cot, fewshot-direct]\n")
    out = tmp_path / "out"
    proc = polaris("report", "--store", str(built["store"]), "--out", str(out), "--experiment", str(exp),
                   "--pair", "openai/beta/gsm8k/fewshot-cot/greedy vs openai/alpha/gsm8k/fewshot-cot/greedy",
                   env=built["env"])
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((out / "report.json").read_text())["contrasts"]
    assert [(r["a"], r["b"]) for r in rows] == [
        ("openai/alpha/gsm8k/fewshot-cot/greedy", "openai/alpha/gsm8k/fewshot-direct/greedy"),
        ("openai/beta/gsm8k/fewshot-cot/greedy", "openai/beta/gsm8k/fewshot-direct/greedy"),
        ("openai/beta/gsm8k/fewshot-cot/greedy", "openai/alpha/gsm8k/fewshot-cot/greedy"),
    ]
    natural = {(r["a_run"], r["b_run"]): r for r in built["data"]["contrasts"]}
    for r in rows[:2]:
        assert r["delta"] == pytest.approx(natural[(r["a_run"], r["b_run"])]["delta"])
    assert all(r["n"] == 40 for r in rows)


def test_bad_input_is_one_line_exit_2(built, tmp_path):
    cases = [
        (("--store", str(tmp_path / "missing.db"), "--out", str(tmp_path / "o")), "no Polaris store"),
        (("--store", str(built["store"]), "--out", str(built["store"])), "is a file"),
        (("--store", str(built["store"]), "--out", str(tmp_path / "o"), "--pair", "just-one"), "--pair"),
        (("--store", str(built["store"]), "--out", str(tmp_path / "o"), "--pair", "openai/nope vs openai/alpha"),
         "no cell"),
        (("--store", str(built["store"]), "--out", str(tmp_path / "o"), "--experiment", str(tmp_path / "x.yaml")),
         "no such file"),
    ]
    for args, words in cases:
        proc = polaris("report", *args, env=built["env"])
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, proc.stderr)


def _spec(**kw):
    base = {"model": "m", "task": "gsm8k", "prompt": "fewshot-cot", "samples": 1, "temperature": 0.0, "top_p": None,
            "seed": 0, "vote": "majority", "exemplars": "default", "exemplar_seed": 0, "max_tokens": 1024,
            "task_options": []}
    return _norm(base | kw)


def test_natural_pair_rules():
    assert _kind(_spec(), _spec(prompt="fewshot-direct", max_tokens=256)) == ("CoT vs direct", True)
    assert _kind(_spec(prompt="zeroshot-direct", max_tokens=256), _spec(prompt="zeroshot-cot")) == ("CoT vs direct", False)
    # A max_tokens set by hand is a difference: not a clean pair.
    assert _kind(_spec(), _spec(prompt="fewshot-direct", max_tokens=512)) is None
    assert _kind(_spec(), _spec(prompt="zeroshot-cot")) == ("few-shot vs zero-shot", True)
    assert _kind(_spec(), _spec(prompt="zeroshot-direct", max_tokens=256)) is None  # two axes at once
    sc = _spec(samples=40, temperature=0.7, seed=3)
    assert _kind(sc, _spec()) == ("SC vs greedy", True) and _kind(_spec(), sc) == ("SC vs greedy", False)
    top = _spec(samples=40, temperature=0.7, seed=3, vote="complex-top-30")
    assert _kind(top, sc) == ("complex-top-30 vs vote-all", True)
    assert _kind(top, _spec()) is None  # the complexity vote against greedy is two changes
    assert _kind(_spec(samples=5, temperature=0.7), _spec(samples=5, temperature=1.0)) is None
    assert _kind(_spec(exemplars="complex"), _spec()) == ("complex vs default exemplars", True)
    assert _kind(_spec(exemplars="random", exemplar_seed=2), _spec()) is None
    assert _kind(_spec(), _spec()) is None


def test_markup_escapes_children_and_attributes():
    s = el("td", "<b>x</b>", title='"><script>', data_run="a&b")
    assert s == '<td title="&quot;&gt;&lt;script&gt;" data-run="a&amp;b">&lt;b&gt;x&lt;/b&gt;</td>'
    assert el("p", Markup("<br>"), ["<i>", None, 3]) == "<p><br>&lt;i&gt;3</p>"
    assert pct(0.12345) == "12.3" and pct(None) == "-" and ci(0.5, [0.25, 0.75]) == "50.0 [25.0, 75.0]"
