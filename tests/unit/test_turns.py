"""watch's turn record: a turn's line."""

from __future__ import annotations

import pytest

from ci import turns


def test_a_verified_turns_detail_gives_way_so_that_its_times_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    turn = turns.Turn(1, ["backend/main.py"], ["backend"], ["backend"], build_seconds=0.6, up_seconds=1.1)
    turn.detail, turn.from_change_seconds = "verified: running = tree (sources 83b0fdac436a)", 1.9
    for columns in (74, 80, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        line = turns.line(turn)
        assert line.startswith("backend  backend/main.py  built 0.6s  up 1.1s  verified")
        assert line.endswith("  1.9s from change") and len(line) <= columns, line
