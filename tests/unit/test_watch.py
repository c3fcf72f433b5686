"""watch's lock: one loop per project (its reports folder), named when a second one is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ci.errors import CiError
from ci.sessions import watch


def test_a_second_watch_on_one_project_is_refused_naming_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "reports" / "watch.lock"
    first = watch.hold_lock(lock)
    try:
        with pytest.raises(CiError, match=rf"another `nox -s watch` \(pid {os.getpid()}\) watches this project"):
            watch.hold_lock(lock)
    finally:
        first.close()
    watch.hold_lock(lock).close()  # free again once the first has ended


def test_a_verified_turns_detail_gives_way_so_that_its_times_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    turn = watch.Turn(1, ["backend/main.py"], ["backend"], ["backend"], build_seconds=0.6, up_seconds=1.1)
    turn.detail, turn.from_change_seconds = "verified: running = tree (sources 83b0fdac436a)", 1.9
    for columns in (74, 80, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        line = watch.line(turn)
        assert line.startswith("backend  backend/main.py  built 0.6s  up 1.1s  verified")
        assert line.endswith("  1.9s from change") and len(line) <= columns, line
