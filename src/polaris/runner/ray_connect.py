"""Reaching Ray: importing it (with token authentication when the cluster needs it) and failing fast
on a cluster address nothing answers at."""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

from polaris.errors import PolarisError


def _ray_token_available() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or os.path.isfile(os.path.expanduser("~/.ray/auth_token")))


def import_ray(address: str | None = None, *, check_only: bool = False) -> Any:
    if check_only:  # fail fast without paying for the import (a fully cached run never needs Ray)
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            import_ray(address)
        return None
    if (address or os.environ.get("RAY_ADDRESS")) and "RAY_AUTH_MODE" not in os.environ and _ray_token_available():
        # Ray clusters use token authentication by default, and a client sends its token only in token
        # mode, which Ray reads when it is imported (clusters without authentication accept it too).
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise PolarisError("--executor ray needs Ray: pip install 'polaris-lab[ray]' (or pip install ray)") from None
    return ray


def check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, on a cluster address nothing answers at."""
    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise PolarisError(f"--ray-address '{address}' is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise PolarisError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); "
                           "is `ray start --head` running there?") from None
