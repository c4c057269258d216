"""Ctrl-C, the same for every command: one line, exit code 130, within a second.

`install()` (called by `cli.main` before any command runs, so every command, present and future,
gets it) makes the first SIGINT:
- raise KeyboardInterrupt in the main thread as usual, so `finally` blocks run and `cli.main`
  prints "interrupted: N results kept; run the same command to continue" and leaves at once
  (`os._exit`: no waiting for worker threads, process pools or unclosed connections to wind down);
- start a deadline: SQLite keeps the main thread in C code for as long as a query runs, and a
  signal's Python handler only runs when it returns, so a watcher thread woken by the signal itself
  (`signal.set_wakeup_fd`) prints the line and exits GRACE seconds later if the main thread has not.
A second Ctrl-C exits at once. Everything committed to the store is kept: each response is
committed as it arrives, and an interrupted transaction is rolled back by SQLite on the next open,
exactly as after a SIGKILL (tests/test_resume.py).

A command whose normal end is Ctrl-C (`polaris view`) sets its own line and exit code with `expect`.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading

GRACE = 0.8  # seconds the main thread gets to wind down before the watcher exits for it
EXIT_INTERRUPTED = 130


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.said = False
        self.line: str | None = None  # None: the default line
        self.code = EXIT_INTERRUPTED
        self.wakeup: tuple[int, int] | None = None


_state = _State()  # process-wide: there is one SIGINT per process


def message() -> str:
    if _state.line is not None:
        return _state.line
    from polaris.store.health import kept

    return f"interrupted: {kept()} results kept; run the same command to continue"


def expect(line: str, code: int = 0) -> None:
    """Make Ctrl-C this command's normal end: print `line` instead and exit with `code`."""
    _state.line, _state.code = line, code


def leave() -> None:
    """Print the line (once per process) and exit now."""
    with _state.lock:
        if not _state.said:
            _state.said = True
            # Straight to file descriptor 2: a progress display may still hold sys.stderr, and os._exit
            # would drop whatever it buffered; below the display when one is still drawn.
            live = sys.stderr is not sys.__stderr__
            try:
                os.write(2, (("\n" if live else "") + message() + "\n").encode("utf-8", "replace"))
            except OSError:  # stderr closed: the exit code still says it
                pass
    os._exit(_state.code)


def _on_sigint(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _watch(fd: int) -> None:
    armed = False
    while True:
        try:
            select.select([fd], [], [])
            got = os.read(fd, 64)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return
        for byte in got:
            if byte != signal.SIGINT:
                continue
            if armed:
                leave()  # a second Ctrl-C: now
            armed = True
            deadline = threading.Timer(GRACE, leave)
            deadline.daemon = True
            deadline.start()


def install() -> None:
    """Take over SIGINT for this process (main thread only; a no-op elsewhere, e.g. in tests)."""
    if threading.current_thread() is not threading.main_thread() or _state.wakeup is not None:
        return
    try:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, _on_sigint)
    except (ValueError, OSError):
        return
    _state.wakeup = (r, w)
    threading.Thread(target=_watch, args=(r,), name="polaris-interrupt", daemon=True).start()
