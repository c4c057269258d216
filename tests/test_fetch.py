"""`polaris data fetch` downloads real files over HTTP, checks them, and never leaves a bad file."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest
from conftest import cli_env, polaris

from polaris.tasks.fetch import GITHUB_RAW, sources, wanted


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server laid out like raw.githubusercontent.com."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[assignment]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _publish(root: Path, dataset: str, source_dir: Path) -> None:
    for f in sources()[dataset]:
        remote = root / f.url.removeprefix(GITHUB_RAW)
        remote.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_dir / f.local, remote)


def test_fetch_gsm8k_then_run_on_it(shared_data, mirror, tmp_path):
    root, url = mirror
    _publish(root, "gsm8k", shared_data / "gsm8k")
    _publish(root, "cot_hub_prompts", shared_data / "cot_hub_prompts")
    dest = tmp_path / "cache-data"
    env = cli_env(POLARIS_DATA_DIR=str(dest))
    missing = polaris("run", "-m", "baseline/gold", "--store", str(tmp_path / "s.db"), env=env)
    assert missing.returncode == 2 and "polaris data fetch gsm8k" in missing.stderr
    proc = polaris("data", "fetch", "gsm8k", "--mirror", url, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "3 files downloaded" in proc.stdout  # the test and train files, and the default prompt's file
    assert (dest / "gsm8k" / "test.jsonl").read_bytes() == (shared_data / "gsm8k" / "test.jsonl").read_bytes()
    prompt = "cot_hub_prompts/gsm8k/lib_prompt/prompt_original.txt"
    assert (dest / prompt).read_bytes() == (shared_data / prompt).read_bytes()
    assert not (dest / "cot_hub_prompts" / "MMLU").exists()  # only the hub file GSM8K's default reads
    again = polaris("data", "fetch", "gsm8k", "--mirror", url, env=env)
    assert "0 files downloaded" in again.stdout
    status = polaris("data", "status", env=env)
    assert "gsm8k            ready" in status.stdout and "mmlu             missing" in status.stdout
    run = polaris("run", "-m", "baseline/gold", "--store", str(tmp_path / "s.db"), "--limit", "5", "--json", env=env)
    assert run.returncode == 0 and '"accuracy": 1.0' in run.stdout


def test_fetch_rejects_a_tampered_file_and_writes_nothing(mirror, tmp_path):
    root, url = mirror
    for _, f in wanted("gsm8k"):
        remote = root / f.url.removeprefix(GITHUB_RAW)
        remote.parent.mkdir(parents=True, exist_ok=True)
        remote.write_text('{"question": "tampered", "answer": "#### 1"}\n')
    dest = tmp_path / "d"
    proc = polaris("data", "fetch", "gsm8k", "--mirror", url, env=cli_env(POLARIS_DATA_DIR=str(dest)))
    assert proc.returncode == 2 and "checksum mismatch" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (dest / "gsm8k" / "test.jsonl").exists()
    assert not list(dest.rglob("*.part"))


def test_fetch_unknown_dataset_and_missing_file(mirror, tmp_path):
    root, url = mirror
    env = cli_env(POLARIS_DATA_DIR=str(tmp_path / "d"))
    bad = polaris("data", "fetch", "gsm9k", env=env)
    assert bad.returncode == 2 and "unknown dataset 'gsm9k'" in bad.stderr
    gone = polaris("data", "fetch", "gsm8k", "--mirror", url, env=env)
    assert gone.returncode == 2 and "HTTP 404" in gone.stderr
