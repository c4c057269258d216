"""`--base-url` as given and as shown: credentials and query strings split off, secrets never shown.

`http://user:secret@host/v1?api-version=2024-06-01&key=K` is sent to `http://host/v1/<endpoint>?api-
version=2024-06-01&key=K` with HTTP Basic credentials, and shown and stored (identities, requests,
messages) as `http://host/v1?api-version=2024-06-01&key=***`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from polaris.models.base import BackendUnavailable


def _query_shown(query: str) -> str:
    """A query string with every value hidden but versions (`?api-version=2024-06-01&key=***`)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v if "version" in k.lower() else "***") for k, v in pairs], safe="*")


def split_base_url(url: str) -> tuple[str, str, tuple[str, str] | None]:
    """(base URL without credentials, query and fragment; the query string; (user, password) or None)."""
    url = url.strip()
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = parts._replace(scheme="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BackendUnavailable(f"--base-url '{public_url(url)}' is not an http(s) URL")
    if parts.fragment:
        raise BackendUnavailable(f"--base-url '{public_url(url)}' has a #fragment; drop it")
    creds = None
    if parts.username is not None or parts.password is not None:
        creds = (unquote(parts.username or ""), unquote(parts.password or ""))
    host = parts.netloc.rsplit("@", 1)[-1]
    base = parts._replace(netloc=host, query="", fragment="").geturl().rstrip("/")
    return base, parts.query, creds


def normalize_base_url(url: str) -> str:
    base, query, _ = split_base_url(url)
    return base + (f"?{query}" if query else "")


def public_url(url: str) -> str:
    """The URL without user name and password (`http://user:secret@host/v1` -> `http://host/v1`) and
    with query values hidden: what identities, stored requests and messages show."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = _query_shown(parts.query) if parts.query else ""
    return parts._replace(netloc=netloc, query=query, fragment="").geturl()
