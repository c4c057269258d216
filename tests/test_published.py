"""Published outputs of real models, replayed through Polaris's scoring (tests/published.py): per file,
Polaris's flexible accuracy is within 0.5 points of the published figure, and every item where its
verdict differs from the source's is listed, with the reason, in tests/published_data/differences.json.

The development files are GPT-3 (four systems) on GSM8K and Codex on 14 BBH tasks. Other models' outputs
and the other 13 BBH tasks are kept apart to check that the rules generalise: nothing here may be tuned
to a sentence of these files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED, cli_env, polaris

HERE = Path(__file__).resolve().parent
LISTED = json.loads((HERE / "published_data" / "differences.json").read_text())["files"]
TOLERANCE = 0.5  # points of accuracy


def _have() -> bool:
    return SHARED is not None and (SHARED / "published" / "gsm8k").is_dir() and (SHARED / "bbh" / "data").is_dir()


pytestmark = pytest.mark.skipif(not _have(), reason="published outputs (../shared/datasets/published) not available")


@pytest.fixture(scope="module")
def replayed():
    import os

    os.environ.setdefault("POLARIS_DATA_DIR", str(SHARED))
    import published

    out = {}
    for r in published.replays(SHARED):
        rows, summary = published.score(r)
        out[r.name] = (r, rows, summary)
    return out


def test_every_development_file_is_replayed(replayed):
    assert sorted(replayed) == sorted(LISTED)
    assert len([n for n in replayed if n.startswith("gsm8k/")]) == 4
    assert len([n for n in replayed if n.startswith("bbh/cot/")]) == len([n for n in replayed if n.startswith("bbh/direct/")]) == 14


@pytest.mark.parametrize("name", sorted(LISTED))
def test_accuracy_within_half_a_point_and_every_difference_listed(replayed, name):
    import published

    replay, rows, summary = replayed[name]
    assert len(rows) == len(replay.items) and all(r.error is None for r in rows)
    # The source's own verdicts reproduce the published figure (BBH: the reconstructed paper rule).
    assert 100 * sum(replay.source) / len(replay.source) == pytest.approx(replay.published, abs=0.005)
    assert abs(100 * summary["accuracy"] - replay.published) <= TOLERANCE
    found = published.differences(replay, rows)
    listed = LISTED[name]["differences"]
    assert sorted(found) == sorted(listed), f"{name}: differences not listed: {sorted(set(found) - set(listed))}, " \
                                            f"listed but gone: {sorted(set(listed) - set(found))}"
    for item, entry in listed.items():
        assert entry["reason"].strip() and entry["polaris"] == found[item]["polaris"]


def test_outcomes_account_for_every_item(replayed):
    for name, (_, rows, summary) in replayed.items():
        assert sum(summary["outcomes"].values()) == len(rows), name
        answered = summary["outcomes"]["correct"] + summary["outcomes"]["wrong"]
        assert answered / len(rows) == pytest.approx(summary["extracted"]), name


def test_the_cli_reads_a_replayed_run_as_the_replay_does(replayed, tmp_path):
    """One GSM8K system and one BBH file through a replay server (real HTTP, the recorded response for
    the question in each prompt) and `polaris run`: the same accuracy and outcomes as the replay."""
    from fakeserver import FakeOpenAI, Policy

    from polaris.tasks.registry import get_task

    for name, prompt in (("gsm8k/175b_verification", "fewshot-cot"), ("bbh/cot/boolean_expressions", "fewshot-cot")):
        replay, _, summary = replayed[name]
        task = get_task(replay.task)
        answers = {task.template_for(it.group).item_text(it): text for it, text in zip(replay.items, replay.responses)}
        store = tmp_path / f"{name.replace('/', '_')}.db"
        with FakeOpenAI(Policy(answers=answers, template="{answer}", keep_bodies=False)) as server:
            proc = polaris("run", "-m", "openai/replay", "--task", replay.task, "--prompt", prompt, "--base-url",
                           server.base_url, "--store", str(store), "--json", "--no-progress",
                           env=cli_env(POLARIS_DATA_DIR=str(SHARED)))
        assert proc.returncode == 0, proc.stderr
        (res,) = json.loads(proc.stdout)["results"]
        assert res["accuracy"] == pytest.approx(summary["accuracy"])
        assert res["outcomes"] == summary["outcomes"]
        assert abs(100 * res["accuracy"] - replay.published) <= TOLERANCE
