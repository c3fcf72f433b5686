"""watch's lock: one loop per project (its reports folder), named when a second one is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ci.errors import CiError
from ci.lock import hold_lock


def test_a_second_watch_on_one_project_is_refused_naming_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "reports" / "watch.lock"
    first = hold_lock(lock)
    try:
        with pytest.raises(CiError, match=rf"another `nox -s watch` \(pid {os.getpid()}\) watches this project"):
            hold_lock(lock)
    finally:
        first.close()
    hold_lock(lock).close()  # free again once the first has ended
