"""Stop signals: SIGINT (Ctrl-C, a CI runner's cancel), SIGTERM (a process manager's or CI runner's stop) and
SIGHUP (the terminal closed) end every session alike, as an interruption (ci/core/errors.py's Stopped), while the
frame runs it (`handled`).

The first one is noted (ci/core/errors.py's `received`: the Docker door reads it, so that a docker, buildx or
compose command that fails because the signal reached it too is the interruption, not a failure), the
process's children are stopped (SIGINT, which each of them cancels on, as from a terminal; SIGKILL for any
still running after GRACE seconds), so that nothing acts on the stack once the session starts ending, and
Stopped is raised in the main thread. A later one is noted but not raised: the session is ending already, and
what it does then (bringing the previous build back, writing its reports) must finish. A signal ignored when
the process started stays ignored (`nohup`, a background job's SIGINT), as Python leaves SIGINT then.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

from ci.core.errors import Stopped, forget_stops, note_stop, received

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE = 10.0  # seconds a child has to end on SIGINT: buildx and compose cancel in well under one
POLL = 0.05

_held: list[bool] = []  # [True] once the session has ended: a signal then is recorded, not raised


def hold() -> None:
    """The session has ended (its reports are being written): a stop signal from now on is recorded only."""
    _held[:] = [True]


def _stop(signum: int, frame: FrameType | None) -> None:
    first = received() is None
    note_stop(signum)
    if first and not _held:
        stop_children()
        raise Stopped(signum)


@contextmanager
def handled() -> Iterator[None]:
    """Within the block, each stop signal (but one ignored when the block began) ends the session as an
    interruption (see above); the handlers before it are back after it. Only the main thread can handle
    signals: elsewhere the block changes nothing."""
    forget_stops()
    _held.clear()
    main = threading.current_thread() is threading.main_thread()
    before = {signum: signal.getsignal(signum) for signum in SIGNALS} if main else {}
    for signum, handler in before.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _stop)
    try:
        yield
    finally:
        for signum, handler in before.items():
            # None: a handler not set from Python, which Python cannot set back; the default then.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        forget_stops()
        _held.clear()


def _stat(pid: int | str) -> tuple[str, int] | None:
    """A process's state letter and parent's pid, from /proc; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after `PID (NAME) `: the name may hold spaces
    return fields[0], int(fields[1])


def children() -> list[int]:
    """This process's children still running (not ended, not yet reaped), from /proc (none without it)."""
    me = os.getpid()
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    found = []
    for pid in pids:
        stat = _stat(pid)
        if stat is not None and stat[1] == me and stat[0] not in "ZX":
            found.append(pid)
    return found


def _running(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"


def stop_children(grace: float = GRACE) -> list[int]:
    """SIGINT to each child of this process, SIGKILL to any still running after GRACE seconds; returns them.
    They are not reaped: their Popen objects do that, as ever."""
    pids = children()
    for pid in pids:
        _signal(pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(POLL)
    for pid in filter(_running, pids):
        _signal(pid, signal.SIGKILL)
    return pids


def _signal(pid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):  # ended meanwhile
        os.kill(pid, signum)
