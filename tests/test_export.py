"""`polaris export`: one row per item (or per sample) with the run's spec and manifest keys, in Parquet
(read back by pandas and by Hugging Face datasets), CSV and JSONL; the numbers equal what `polaris run`
reports; imported runs carry the source's verdicts; the schema is versioned and documented."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from conftest import cli_env, polaris
from fakeserver import FakeOpenAI, Policy
from test_import_formats import BATCH_MAP, batch_file

from polaris.export.schema import SCHEMA_VERSION, columns

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tiny_data, tmp_path):
    """A generated self-consistency run (3 samples) and an imported OpenAI Batch file (an error, a cut response)."""
    path = tmp_path / "s.db"
    env = cli_env(POLARIS_DATA_DIR=str(tiny_data))
    with FakeOpenAI(Policy(wrong_every=3)) as server:
        gen = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--samples", "3",
                      "--temperature", "0.7", "--store", str(path), "--json", env=env)
    assert gen.returncode == 0, gen.stderr
    imp = polaris("import", "jsonl", str(batch_file(tmp_path / "batch.jsonl")), "--task", "gsm8k", *BATCH_MAP,
                  "--store", str(path), "--json", env=env)
    assert imp.returncode == 0, imp.stderr
    return path, env, json.loads(gen.stdout)["results"][0], json.loads(imp.stdout)["runs"][0]


def export(store, *args: str) -> dict:
    path, env, *_ = store
    proc = polaris("export", "--store", str(path), "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_parquet_reads_in_pandas_with_the_documented_columns(store, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    _, _, gen, imp = store
    out = tmp_path / "items.parquet"
    doc = export(store, "--out", str(out))
    assert doc == {"path": str(out), "format": "parquet", "rows": 12, "runs": 2, "unit": "item",
                   "schema_version": SCHEMA_VERSION}
    df = pd.read_parquet(out)
    assert list(df.columns) == [c[0] for c in columns(False)]
    assert (df.schema_version == SCHEMA_VERSION).all()
    by_run = df.groupby("run_id")
    # The same numbers `polaris run` and `polaris import` printed.
    for res in (gen, imp):
        rows = by_run.get_group(res["run_id"])
        scored = rows[rows.error.isna()]
        assert len(rows) == 6 and scored.correct.mean() == pytest.approx(res["accuracy"])
    g = by_run.get_group(gen["run_id"])
    assert (g.samples == 3).all() and (g.strategy == "sc3@t0.7").all() and g.imported.isna().all()
    assert (g.temperature == 0.7).all() and (g.tokens > 0).all() and (g.latency >= 0).all()
    i = by_run.get_group(imp["run_id"]).set_index("item")
    assert (i.imported == "jsonl").all() and (i.model == "gpt-4o-mini-2024-07-18").all()
    assert i.loc["gsm8k/test/4", "outcome"] == "error" and i.loc["gsm8k/test/2", "outcome"] == "truncated"
    assert i.loc["gsm8k/test/1", "outcome"] == "wrong" and i.loc["gsm8k/test/0", "outcome"] == "correct"
    assert i.loc["gsm8k/test/0", "tokens"] == 11.0 and i.loc["gsm8k/test/0", "finish"] == "stop"
    assert i.loc["gsm8k/test/0", "response"].endswith("The answer is 7.")
    assert json.loads(i.loc["gsm8k/test/0", "task_options"]) == {}
    import pyarrow.parquet as pq

    assert pq.read_schema(out).metadata[b"polaris.export.schema"] == str(SCHEMA_VERSION).encode()


def test_parquet_loads_as_a_hugging_face_dataset(store, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "items.parquet"
    export(store, "--out", str(out), "--task", "gsm8k")
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 12 and set(ds.column_names) == {c[0] for c in columns(False)}
    assert ds.features["correct"].dtype == "float64" and ds.features["extracted"].dtype == "bool"


def test_sample_rows_csv_and_jsonl_agree(store, tmp_path):
    _, _, gen, imp = store
    a, b = tmp_path / "s.csv", tmp_path / "s.jsonl"
    assert export(store, "--out", str(a), "--samples")["rows"] == 6 * 3 + 6  # K=3, and one per imported item
    export(store, "--out", str(b), "--samples")
    with a.open(newline="") as fh:
        from_csv = list(csv.DictReader(fh))
    from_jsonl = [json.loads(line) for line in b.read_text().splitlines()]
    assert list(from_csv[0]) == [c[0] for c in columns(True)] == list(from_jsonl[0])
    assert len(from_csv) == len(from_jsonl) == 24
    for c, j in zip(from_csv, from_jsonl):
        assert c["item"] == j["item"] and c["response"] == (j["response"] or "")
        assert c["sample_correct"] == ("" if j["sample_correct"] is None else str(j["sample_correct"]))
    gen_rows = [j for j in from_jsonl if j["run_id"] == gen["run_id"]]
    assert sorted({j["sample"] for j in gen_rows}) == [0, 1, 2]
    failed = [j for j in from_jsonl if j["item"] == "gsm8k/test/4" and j["run_id"] == imp["run_id"]]
    assert len(failed) == 1 and failed[0]["sample"] is None and failed[0]["outcome"] == "error"


def test_filters_choose_runs(store, tmp_path):
    _, _, gen, imp = store
    out = tmp_path / "x.jsonl"
    assert export(store, "--out", str(out), "--model", "openai/fake-model")["runs"] == 1
    assert {json.loads(x)["run_id"] for x in out.read_text().splitlines()} == {gen["run_id"]}
    assert export(store, "--out", str(out), "--run", imp["run_id"][:6])["rows"] == 6
    assert export(store, "--out", str(out), "--task", "math")["rows"] == 0


def test_bad_export_options_are_one_line_errors(store, tmp_path):
    path, env, *_ = store
    proc = polaris("export", "--store", str(path), "--out", str(tmp_path / "x.xls"), "--format", "xls", env=env)
    assert proc.returncode == 2 and "unknown --format 'xls'" in proc.stderr
    proc = polaris("export", "--store", str(path), "--out", str(tmp_path / "nowhere" / "x.csv"), env=env)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = polaris("export", "--store", str(tmp_path / "none.db"), "--out", str(tmp_path / "x.csv"), env=env)
    assert proc.returncode == 2 and "no Polaris store" in proc.stderr


def test_docs_list_every_column():
    doc = (ROOT / "docs" / "export.md").read_text()
    assert f"Schema version: {SCHEMA_VERSION}" in doc
    listed = set(re.findall(r"^\| `(\w+)` \|", doc, flags=re.M))
    assert {c[0] for c in columns(False)} | {c[0] for c in columns(True)} <= listed
