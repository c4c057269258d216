"""While a run goes: the progress status shows requests in flight, retries and errors by kind as they
happen (also when nothing finishes), and a server that has not finished a response after a minute gets
a clear warning."""

from __future__ import annotations

import asyncio
from collections import Counter

from conftest import answers_for, write_gsm8k
from fakeserver import FakeOpenAI, Policy

from polaris.models.liveness import Live
from polaris.models.registry import BackendOptions, make_backend
from polaris.runner.cell import CellSpec
from polaris.runner.monitor import Monitor
from polaris.runner.runner import run_cell
from polaris.store.store import Store


def _run(server, tmp_path, monitor, **opts):
    statuses: list[str] = []

    def update(done, total, errors):
        pass

    update.status = statuses.append  # what the progress bar's status column shows

    async def main():
        backend = make_backend("openai/fake-model", BackendOptions(base_url=server.base_url, concurrency=8, **opts))
        await backend.start()
        db = Store(tmp_path / "s.db")
        try:
            return await run_cell(CellSpec(model="openai/fake-model", task="gsm8k"), store=db, backend=backend,
                                  concurrency=8, on_progress=update, monitor=monitor)
        finally:
            db.close()
            await backend.close()

    return asyncio.run(main()), statuses


def test_status_shows_retries_and_errors_by_kind_as_they_happen(tmp_path, monkeypatch):
    monkeypatch.setenv("POLARIS_DATA_DIR", str(write_gsm8k(tmp_path / "data", 40)))
    policy = Policy(answers=answers_for("gsm8k"), latency=0.1, faults={"500": 0.2, "429": 0.1, "400": 0.05},
                    retry_after="0.01")
    with FakeOpenAI(policy) as server:
        run, statuses = _run(server, tmp_path, Monitor(), backoff=0.01, max_attempts=3)
    assert any("in flight" in s for s in statuses)
    assert any("retries:" in s and "HTTP 500" in s for s in statuses), statuses
    if run.summary["errors"]:
        assert any("errors:" in s for s in statuses)


def test_a_slow_server_gets_a_warning(tmp_path, monkeypatch):
    """Nothing finished `slow_after` seconds after the first request (a minute by default): one warning
    that says what is happening and what helps."""
    monkeypatch.setenv("POLARIS_DATA_DIR", str(write_gsm8k(tmp_path / "data", 4)))
    said: list[str] = []
    monitor = Monitor(emit=said.append, slow_after=1.0)
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), latency=3.0)) as server:
        run, statuses = _run(server, tmp_path, monitor)
    assert run.summary["errors"] == 0 and run.summary["accuracy"] == 1.0
    assert len(said) == 1 and "has finished" in said[0] and "--concurrency" in said[0]
    assert any("silent" in s or "in flight" in s for s in statuses)


def test_status_text():
    live = Live(in_flight=32, streaming=4, retries=Counter({"timeout": 3, "HTTP 500": 1, "stall": 2}),
                last_data=100.0, started=90.0)
    monitor = Monitor()
    monitor.errors.update({"HTTP 400": 2})
    text = monitor.status(live, now=130.0)
    assert text == "32 in flight, 4 streaming · silent 30 s · retries: 3 timeout, 2 stall, 1 HTTP 500 · errors: 2 HTTP 400"
