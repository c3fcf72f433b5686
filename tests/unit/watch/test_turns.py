"""watch's turn record: a turn's line, and the loop's last line."""

from __future__ import annotations

import pytest

from ci.watch import turns


def test_a_verified_turns_detail_gives_way_so_that_its_times_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    turn = turns.Turn(1, ["backend/main.py"], ["backend"], ["backend"], build_seconds=0.6, up_seconds=1.1)
    turn.detail, turn.from_change_seconds = "verified: running = tree (sources 83b0fdac436a)", 1.9
    for columns in (74, 80, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        line = turns.line(turn)
        assert line.startswith("backend  backend/main.py  built 0.6s  up 1.1s  verified")
        assert line.endswith("  1.9s from change") and len(line) <= columns, line


def test_the_loops_last_line_counts_its_turns_and_says_whether_the_stack_runs_on() -> None:
    done = [turns.Turn(1, [], ["backend"], []), turns.Turn(2, [], ["backend"], [], result="build failed")]
    assert turns.verdict(done, stopped=False) == "2 turns, 1 verified; the stack keeps running"
    assert turns.verdict(done[:1], stopped=True) == "1 turn, 1 verified; stack stopped"
    assert turns.verdict([], stopped=False) == "0 turns, 0 verified; the stack keeps running"
    lost = [*done, turns.Turn(3, [], ["backend"], [], result="no engine")]
    assert turns.engine_went_away(lost) and not turns.engine_went_away(done)
    assert turns.verdict(lost, stopped=True) == "3 turns; the engine went away"


def test_a_sync_turn_s_line_says_synced_and_proven_with_its_times_and_its_testcase_says_synced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ci.core.report import Report

    turn = turns.Turn(1, ["backend/main.py"], [], ["backend"], action=turns.SYNCED, sync_seconds=0.1, up_seconds=0.4)
    turn.detail, turn.from_change_seconds = "proven: 1 file read back in 12 ms (1 file, proven at T onto 1a2b)", 0.6
    monkeypatch.setenv("COLUMNS", "200")
    assert turns.line(turn) == (
        "backend  backend/main.py  synced 0.1s  up 0.4s  proven: 1 file read back in 12 ms (1 file, proven at T onto "
        "1a2b)  0.6s from change"
    )
    monkeypatch.setenv("COLUMNS", "60")
    assert turns.line(turn) == "backend  backend/main.py  synced 0.1s  up 0.4s  proven  0.6s from change"
    report = Report("watch")
    turns.record(report, turn)
    [case] = report.main.checks
    assert case.name == "turn 1: backend synced" and case.status == "passed" and "proven" in case.message
