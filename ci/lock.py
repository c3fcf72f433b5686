"""watch's lock: one loop per project (its reports folder), the lock file held while the loop runs, and the
process that holds it named when a second loop is refused."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO

from ci.errors import CiError


def hold_lock(path: Path) -> TextIO:
    """PATH, locked for this process: two loops on one project would recreate the same containers at
    once (compose then fails on its own temporary names). The lock goes with the process, however it ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise CiError(
            f"another `nox -s watch` (pid {holder}) watches this project: stop it first, or give this one "
            "its own COMPOSE_PROJECT_NAME and REPORTS_DIR"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
