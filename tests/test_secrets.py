"""Secrets: an API key (or a password in --base-url) never reaches the store, the manifests, the
output or any file a run writes, even when the server quotes it back in its error bodies."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import answers_for, cli_env, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy

KEY = "sk-polaris-TOPSECRET-8c1f2e"
PASSWORD = "pw-TOPSECRET-77ab"


def _artefacts(root: Path) -> dict[str, bytes]:
    """Every file under the run directory, and a text dump of every SQLite store there."""
    found = {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    for p in root.rglob("*.db"):
        db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        found[f"{p} (dump)"] = "\n".join(db.iterdump()).encode()
        db.close()
    return found


def _assert_clean(secret: str, root: Path, outputs: list[str]) -> None:
    for name, blob in _artefacts(root).items():
        assert secret.encode() not in blob, f"{secret} leaked into {name}"
    for out in outputs:
        assert secret not in out, out


def test_api_key_never_stored_or_printed_even_when_echoed(tmp_path, monkeypatch):
    data = write_gsm8k(tmp_path / "data", 40)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    env = cli_env(POLARIS_DATA_DIR=str(data), OPENAI_API_KEY=KEY)
    store = tmp_path / "run" / "s.db"
    store.parent.mkdir()
    outputs: list[str] = []
    answers = answers_for("gsm8k")
    # The server quotes the Authorization header in every error body; a 400 is not retried, so
    # its body becomes a stored error; 500s exhaust a one-attempt budget the same way.
    policy = Policy(answers=answers, api_key=KEY, echo_key=True, faults={"500": 0.3, "400": 0.2})
    with FakeOpenAI(policy) as server:
        base = ["run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(store)]
        first = polaris(*base, "--json", "-M", "max-attempts=1", env=env)
        assert first.returncode in (2, 4), first.stderr  # items in error (or refused), after a summary by reason
        res = json.loads(first.stdout)["results"][0]
        assert res["errors"] > 0  # errors quoting the key were recorded...
        db = sqlite3.connect(store)
        errors = [e for (e,) in db.execute("SELECT error FROM calls WHERE error IS NOT NULL")]
        db.close()
        assert any("HTTP 400" in e for e in errors) and any("HTTP 500" in e for e in errors)
        assert any("[redacted]" in e for e in errors)  # ...with the key blanked out
        outputs += [first.stdout, first.stderr]
        table = polaris(*base, "-M", "max-attempts=1", env=env)  # the table and the warning
        outputs += [table.stdout, table.stderr]
        wrong = polaris(*base, env=cli_env(POLARIS_DATA_DIR=str(data), OPENAI_API_KEY=KEY + "-wrong"))
        assert wrong.returncode == 2 and "401" in wrong.stderr
        outputs += [wrong.stdout, wrong.stderr]
        rescored = polaris("rescore", "--store", str(store), "--json", env=env)
        assert rescored.returncode == 0, rescored.stderr
        outputs += [rescored.stdout, rescored.stderr]
    _assert_clean(KEY, tmp_path / "run", outputs)
    assert "TOPSECRET" not in "".join(outputs)  # not even the wrong key's prefix


def test_password_in_base_url_is_never_stored_or_printed(tmp_path):
    data = write_gsm8k(tmp_path / "data", 6)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "run" / "s.db"
    store.parent.mkdir()
    outputs = []
    with FakeOpenAI(Policy(fixed="The answer is 3.", faults={"400": 0.5}, echo_key=True)) as server:
        url = server.base_url.replace("http://", f"http://polaris:{PASSWORD}@")
        ok = polaris("run", "-m", "openai/fake-model", "--base-url", url, "--store", str(store), "--json", env=env)
        assert ok.returncode in (2, 4), ok.stderr  # the 400s quote the Basic credentials back
        assert json.loads(ok.stdout)["results"][0]["errors"] > 0
        outputs += [ok.stdout, ok.stderr]
    # The same URL with the server gone: the "cannot reach" error names the host, not the password.
    gone = polaris("run", "-m", "openai/other", "--base-url", url, "--store", str(store), env=env)
    assert gone.returncode == 2 and "cannot reach http://127.0.0.1" in gone.stderr
    outputs += [gone.stdout, gone.stderr]
    _assert_clean(PASSWORD, tmp_path / "run", outputs)
    (manifest,) = sqlite3.connect(store).execute("SELECT manifest FROM runs").fetchone()
    assert json.loads(manifest)["backend"]["endpoint"] == server.base_url
