"""HTML report, figures and the sample viewer.

    build_report(store, out, *, experiments=(), pairs=(), title=None, summary=()) -> Report   (report/build.py)
    serve(store, host="127.0.0.1", port=8765) / make_server(...)                 (report/viewer.py)

Imported lazily so `import polaris.report` stays cheap.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("build_report", "Report"):
        from polaris.report import build

        return getattr(build, name)
    if name in ("serve", "make_server"):
        from polaris.report import viewer

        return getattr(viewer, name)
    raise AttributeError(name)
