"""`polaris view`: a local web app to browse stored samples (standard library `http.server`).

    GET /                 the page (static HTML + vanilla JS that renders every stored text with
                          textContent, never as markup)
    GET /api/meta         the store's runs and the values of the model/task/prompt/strategy filters
    GET /api/results      a page of item results: ?model= &task= &prompt= &strategy= &run=
                          &verdict=right|wrong|error &extraction=extracted|unextracted &disagree=1
                          &outcome=correct|wrong|truncated|hedged|invalid-option|no-answer|error
                          &limit=50 &after=<cursor from the previous page> &count=0 (skip the total)
    GET /api/count        ?<the same filters>: how many rows match (the page asks once per filter change)
    GET /api/item         ?run=&item=: prompt, responses, extracted answers, gold, votes, planning

Safety: binds 127.0.0.1 unless told otherwise (the command warns when it is told otherwise); it
answers only requests whose Host header is `localhost`, `127.0.0.1`, `[::1]` or the address it was
bound to, with its own port (a DNS-rebinding page sends its own name, e.g. `127.0.0.1.nip.io`); the
store is opened read-only; every response carries a Content-Security-Policy that allows only this
server's own script and no inline script; a malformed request gets a one-line JSON error.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from polaris.errors import PolarisError
from polaris.report import query

STATIC = {"/": ("viewer.html", "text/html; charset=utf-8"), "/viewer.js": ("viewer.js", "text/javascript; charset=utf-8"),
          "/viewer.css": ("viewer.css", "text/css; charset=utf-8")}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
       " base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
HOST_NAMES = {"localhost", "127.0.0.1", "[::1]"}  # what a Host header may name, besides the bound address
MAX_CURSOR = 4096  # characters of an `after` cursor (a real one is a run id, an index and an item id)


def host_allowed(header: str, names: set[str], port: int) -> bool:
    """Is `header` (a Host header: name, optionally `:port`) one of `names`, on `port` if it has one?"""
    header = header.strip().lower()
    if header.startswith("["):
        name, _, rest = header.partition("]")
        name += "]"
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and port_text is None:
            return False
    else:
        name, sep, port_text = header.partition(":")
        port_text = port_text if sep else None
    if name not in names:
        return False
    return port_text is None or port_text == str(port)


def parse_cursor(text: str) -> list[Any]:
    """The `after` cursor [run, idx, item] of a previous page, checked before it reaches SQL."""
    if len(text) > MAX_CURSOR:
        raise ValueError(f"after: a cursor is at most {MAX_CURSOR} characters")
    try:
        after = json.loads(text)
    except RecursionError:
        raise ValueError("after: not a cursor") from None
    if not (isinstance(after, list) and len(after) == 3 and isinstance(after[0], str) and isinstance(after[2], str)
            and type(after[1]) is int and -2**63 <= after[1] < 2**63):
        raise ValueError("after must be a cursor [run, idx, item] from a previous page")
    return after


class Source:
    """Read-only connections to the store (one per server thread) and a cached table of runs."""

    def __init__(self, path: Path) -> None:
        from polaris.store.store import Store

        Store(path, readonly=True).close()  # one-line error if it is missing or not a Polaris store
        self.path = Path(path)
        self.uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        self._local = threading.local()
        self._runs: tuple[Any, dict[str, query.RunInfo]] = (None, {})
        self._lock = threading.Lock()

    def db(self) -> sqlite3.Connection:
        con = getattr(self._local, "db", None)
        if con is None:
            con = sqlite3.connect(self.uri, uri=True, timeout=30, check_same_thread=False)
            con.execute("PRAGMA query_only=1")
            self._local.db = con
        return con

    def runs(self) -> dict[str, query.RunInfo]:
        db = self.db()
        stamp = db.execute("SELECT COUNT(*), MAX(updated) FROM runs").fetchone()
        with self._lock:
            if self._runs[0] != stamp:  # runs added or updated since: read them again
                self._runs = (stamp, query.read_runs(db))
            return self._runs[1]


def _static(name: str) -> bytes:
    return resources.files("polaris.report").joinpath("static", name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes on a kept-alive connection: with Nagle's algorithm the body
    # waits for the client's delayed ACK (40 ms on Linux) on every request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False, allow_nan=False).encode(), "application/json")

    def _host_ok(self) -> bool:
        return host_allowed(self.headers.get("Host") or "", self.server.host_names, self.server.server_address[1])

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_ok():
            self._json(403, {"error": "this viewer answers only requests addressed to localhost, 127.0.0.1, [::1]"
                                      " or the address it was started with (--host)"})
            return
        url = urlsplit(self.path)
        if url.path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
            return
        if url.path in STATIC:
            name, ctype = STATIC[url.path]
            self._send(200, _static(name), ctype)
            return
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/api/meta":
                self._json(200, self._meta())
            elif url.path == "/api/results":
                self._json(200, self._results(params))
            elif url.path == "/api/count":
                src = self.server.source
                self._json(200, {"total": query.total(src.db(), src.runs(), _filters(params))})
            elif url.path == "/api/item":
                found = query.item(self.server.source.db(), self.server.source.runs(), params.get("run", ""),
                                   params.get("item", ""))
                self._json(404 if found is None else 200, found or {"error": "no such item in this run"})
            else:
                self._json(404, {"error": f"no such page: {url.path}"})
        except (PolarisError, ValueError) as exc:
            self._json(400, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - one line in the log and a JSON answer, never a dropped connection
            print(f"viewer: {self.path[:80]}: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)
            self._json(500, {"error": f"internal error ({type(exc).__name__})"})

    def _meta(self) -> dict[str, Any]:
        src = self.server.source
        runs = src.runs()
        counts = dict(src.db().execute("SELECT run, COUNT(*) FROM results GROUP BY run").fetchall())
        listed = [r.as_dict() | {"items": counts.get(r.id, 0)} for r in runs.values()]
        facets = {k: sorted({getattr(r, k) for r in runs.values()}) for k in ("model", "task", "prompt", "strategy")}
        return {"store": str(src.path), "runs": listed, "facets": facets}

    def _results(self, p: dict[str, str]) -> dict[str, Any]:
        f = _filters(p)
        after = parse_cursor(p["after"]) if p.get("after") else None
        limit = int(p.get("limit") or 50)
        started = time.perf_counter()
        out = query.page(self.server.source.db(), self.server.source.runs(), f, after=after, limit=limit,
                         count=p.get("count") not in ("0", "false", "no"))
        out["ms"] = round(1000 * (time.perf_counter() - started), 2)
        return out


def _filters(p: dict[str, str]) -> query.Filters:
    return query.Filters(model=p.get("model") or None, task=p.get("task") or None, prompt=p.get("prompt") or None,
                         strategy=p.get("strategy") or None, run=p.get("run") or None,
                         verdict=p.get("verdict") or None, extraction=p.get("extraction") or None,
                         disagree=p.get("disagree") in ("1", "true", "yes"), outcome=p.get("outcome") or None)


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, source: Source, host: str, port: int, verbose: bool = False) -> None:
        self.source = source
        self.verbose = verbose
        self.loopback = host in LOOPBACK or host.startswith("127.")
        bound = host.lower() if ":" not in host or host.startswith("[") else f"[{host.lower()}]"
        self.host_names = HOST_NAMES | {bound}
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host if ':' not in str(host) else f'[{host}]'}:{port}/"


def make_server(store: str | Path, host: str = "127.0.0.1", port: int = 8765, verbose: bool = False) -> ViewerServer:
    """A viewer server on (host, port), not yet serving; port 0 picks a free port (see `.url`)."""
    source = Source(Path(store))
    try:
        return ViewerServer(source, host, port, verbose)
    except OSError as exc:
        raise PolarisError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(store: str | Path, host: str = "127.0.0.1", port: int = 8765, verbose: bool = False) -> None:
    server = make_server(store, host, port, verbose)
    try:
        server.serve_forever()
    finally:
        server.server_close()
