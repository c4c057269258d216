"""The tables of run histories (runner/history.py), added in store schema 3.

`invocations`: each invocation that filled a run (polaris run, an experiment grid, rescore, an
import): its source, start and finish, endpoint, item limit, items asked and scored, Polaris and
scorer versions, and details in `data` (backend identity, executor, host, call figures, provenance).
`result_sources`: which invocation last judged each stored item result. Idempotent SQL, statements
separated by ";" (store/health.py runs it as a migration).
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
  id INTEGER PRIMARY KEY, run TEXT NOT NULL, source TEXT NOT NULL, started REAL NOT NULL, finished REAL,
  endpoint TEXT, item_limit INTEGER, items_asked INTEGER, items_scored INTEGER, errors INTEGER,
  polaris_version TEXT, scorer_version TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS invocations_run ON invocations (run);
CREATE TABLE IF NOT EXISTS result_sources (
  run TEXT NOT NULL, item TEXT NOT NULL, invocation INTEGER NOT NULL, PRIMARY KEY (run, item)) WITHOUT ROWID;
"""
