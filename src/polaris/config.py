"""Where Polaris keeps things: the data directory, the store, the per-user cache."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("POLARIS_CACHE_DIR") or user_cache_dir("polaris"))


def data_dir() -> Path:
    """`POLARIS_DATA_DIR`, else `<user cache>/data`; laid out like ../shared/datasets."""
    env = os.environ.get("POLARIS_DATA_DIR")
    return Path(env).expanduser() if env else cache_dir() / "data"


def store_path(explicit: str | os.PathLike | None = None) -> Path:
    """`--store PATH`, else `POLARIS_STORE`, else `./polaris.db`."""
    return Path(explicit or os.environ.get("POLARIS_STORE") or "polaris.db")


DEMO_STORE = Path("polaris-demo") / "polaris.db"  # where `polaris demo` (run here) keeps its store


def missing_store(path: Path) -> str:
    """The one-line error for a store that does not exist, pointing at the demo's store when that is
    what the user has (the README's first command writes polaris-demo/polaris.db, not ./polaris.db)."""
    shown = f"./{path}" if not path.is_absolute() and path.parent == Path(".") else str(path)
    if path.resolve() != DEMO_STORE.resolve() and DEMO_STORE.is_file():
        return f"no store at {shown}; the demo's is {DEMO_STORE}: --store {DEMO_STORE}"
    return f"no Polaris store at {shown} (run `polaris run` first, or pass --store)"
