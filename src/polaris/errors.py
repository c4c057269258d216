"""User-facing errors.

Anything a user can fix (bad option, missing file, malformed row, unreachable server) is raised as a
`PolarisError`: the CLI prints its message on one line and exits with code 2, before touching stored
results where it can.
"""

from __future__ import annotations

# Exit codes of every `polaris` command (docs/scale.md):
EXIT_OK = 0  # done: everything asked was answered and scored
EXIT_BUG = 1  # a bug in Polaris (a traceback): please report it
EXIT_ERROR = 2  # a one-line error: bad input, an unusable server or store, a cell the server refused
EXIT_BUDGET = 3  # stopped at --max-tokens/--max-requests; run the same command again to go on
EXIT_ITEM_ERRORS = 4  # finished, but some items failed after retries (summary by reason); run again to retry them
EXIT_INTERRUPTED = 130  # Ctrl-C; run the same command again to go on


class PolarisError(Exception):
    """An error the user can act on; its message is printed as one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def where(path: object, line: int | None = None, field: str | None = None) -> str:
    """Format a location for error messages: `file:line field 'x'`."""
    loc = str(path)
    if line is not None:
        loc += f":{line}"
    if field is not None:
        loc += f" field '{field}'"
    return loc
