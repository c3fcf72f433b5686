"""One lock per project for every session that changes its stack (dev, watch, prod, prune, `verify --up` or
`--down`): two at once would recreate, retag and remove the same containers and images (two devs left the
backend removed, the stack half down). A second session waits up to LOCK_WAIT seconds for the first to end,
then is refused with one line naming the holder: its session, pid, since when and where.

The lock is a file per project name on this machine (the stack is the engine's, whichever checkout drives
it), held with flock: it goes with the process, however it ends, and a stale file holds nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from ci.core.errors import CiError, interruption_exit, stopped_by

POLL = 0.2  # seconds between tries while waiting


class Refused(CiError):
    """Another session holds the project: nothing was done, and the reports folder is left to the holder
    (the frame writes no report for a refused session)."""


@dataclass(frozen=True)
class Holder:
    session: str
    pid: int
    since: str  # local time, HH:MM:SS
    where: str  # the checkout it runs in

    def __str__(self) -> str:
        return f"`nox -s {self.session}` (pid {self.pid}, since {self.since}, in {self.where})"

    @classmethod
    def read(cls, handle: TextIO) -> Holder | None:
        handle.seek(0)
        try:
            return cls(**json.loads(handle.read()))
        except (ValueError, TypeError):
            return None  # written by an older version, or being written


def lock_file(directory: Path, project: str) -> Path:
    return directory / f"{project}.lock"


@contextmanager
def held(
    path: Path,
    me: Holder,
    wait: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = lambda line: print(line, flush=True),
) -> Iterator[None]:
    """PATH locked for this process while the block runs, waiting up to WAIT seconds for a holder to end
    (one line says whom it waits for); Refused when it does not, or on Ctrl-C while waiting."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+")
    try:
        _take(handle, wait, clock, sleep, out, project=path.stem)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(asdict(me)))
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def _take(
    handle: TextIO,
    wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    out: Callable[[str], None],
    project: str,
) -> None:
    start, said = clock(), False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = Holder.read(handle)
        who = str(holder) if holder else "another session"
        if clock() - start >= wait:
            raise Refused(
                f"{who} holds project {project}: nothing was done; wait for it to end (LOCK_WAIT={wait:g} seconds "
                "waited), stop it, or give this checkout its own COMPOSE_PROJECT_NAME"
            )
        if not said:
            out(f"waiting for {who} to end: it holds project {project} (up to {wait:g}s, LOCK_WAIT)")
            said = True
        try:
            sleep(POLL)
        except KeyboardInterrupt as stop:
            err = Refused(
                f"interrupted ({stopped_by(stop)}) while waiting for {who}, which holds project {project}: "
                "nothing was done"
            )
            err.exit_code = interruption_exit(stop)
            raise err from None


def holder_here(session: str, where: Path) -> Holder:
    return Holder(session, os.getpid(), datetime.now().strftime("%H:%M:%S"), str(where))
