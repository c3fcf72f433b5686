"""ci/bench/watched.py: watch's turn lines as the bench reads them (made by watch's own `line`, so that a change
of its format breaks here), watch.json's turns, and where the timed turns' time went."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci.bench.watched import (
    REBUILT,
    SYNCED,
    TurnReport,
    proof_seconds,
    read_turns,
    turn_line,
    where_time_went,
)
from ci.core.errors import CiError
from ci.watch.turns import Turn, line


def made(columns: int, monkeypatch: pytest.MonkeyPatch, **fields: object) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    turn = Turn(4, ["backend/main.py"], ["backend"], ["backend"], **fields)  # type: ignore[arg-type]
    return line(turn)


SYNC = {"action": SYNCED, "sync_seconds": 0.12, "up_seconds": 0.41, "from_change_seconds": 0.63,
        "detail": "proven: 1 file read back in 12 ms (synced 1 file onto 1a2b3c4d5e6f)"}  # fmt: skip
REBUILD = {"build_seconds": 0.6, "up_seconds": 0.9, "from_change_seconds": 1.7, "detail": "verified: running = tree"}


@pytest.mark.parametrize("columns", [300, 60], ids=["whole", "cut to the bare word"])
def test_a_sync_turns_line_reads_as_synced_and_proven(columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    found = turn_line(made(columns, monkeypatch, **SYNC))
    assert found is not None and found.action == SYNCED and found.result == "proven"
    assert found.proven and not found.verified


@pytest.mark.parametrize("columns", [300, 60], ids=["whole", "cut to the bare word"])
def test_a_rebuild_turns_line_reads_as_rebuilt_and_verified(columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    found = turn_line(made(columns, monkeypatch, **REBUILD))
    assert found is not None and found.action == REBUILT and found.verified and not found.proven


@pytest.mark.parametrize(
    "result",
    ["sync failed", "not proven", "build failed", "not verified", "unhealthy", "does not parse", "image missing",
     "failed", "no engine", "interrupted"],
)  # fmt: skip
def test_a_failed_turns_line_reads_as_its_result_and_neither_verified_nor_proven(
    result: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = turn_line(made(120, monkeypatch, result=result, detail="backend: something; rebuilding it"))
    assert found is not None and found.result == result and found.action == ""
    assert not found.verified and not found.proven


def test_a_sync_that_fell_back_reads_as_a_rebuild_not_a_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rebuild turn after a failed sync ends verified: the sync case must not take it."""
    found = turn_line(made(120, monkeypatch, **REBUILD))
    assert found is not None and not found.proven


@pytest.mark.parametrize(
    "text",
    ["watching the inputs of backend, frontend", "stack: running the latest build: backend, frontend (0.3s)",
     "start: backend synced from the tree onto 1a2b3c4d5e6f", "edited backend/main.py", ""],
)  # fmt: skip
def test_another_line_of_watch_is_no_turn(text: str) -> None:
    assert turn_line(text) is None


def test_the_proofs_own_time_is_read_from_its_detail() -> None:
    assert proof_seconds(str(SYNC["detail"])) == 0.012
    assert proof_seconds("proven: 3 files, 1 deleted read back in 140 ms (...)") == 0.14
    assert proof_seconds("verified: running = tree") is None
    assert proof_seconds("proven") is None  # a line cut to the bare word: watch.json keeps the detail whole


def report(number: int, action: str, **parts: float) -> dict[str, object]:
    fields = {"build_seconds": 0.0, "sync_seconds": 0.0, "up_seconds": 0.0, "verify_seconds": 0.0,
              "from_change_seconds": 0.0} | parts  # fmt: skip
    detail = "proven: 1 file read back in 15 ms (...)" if action == SYNCED else "verified: running = tree"
    return {"number": number, "files": ["backend/main.py"], "action": action, "result": "verified",
            "detail": detail, **fields}  # fmt: skip


def test_watch_json_turns_are_read_with_their_parts(tmp_path: Path) -> None:
    path = tmp_path / "watch.json"
    path.write_text(json.dumps({"status": "interrupted", "turns": [
        report(1, REBUILT, build_seconds=3.0, up_seconds=1.0, verify_seconds=0.1, from_change_seconds=4.2,
               timeline_seconds=0.004),
        report(2, SYNCED, sync_seconds=0.1, up_seconds=0.4, verify_seconds=0.03, from_change_seconds=0.6),
    ]}))  # fmt: skip
    first, second = read_turns(path)
    assert (first.action, first.build_seconds, first.proof_seconds, first.timeline_seconds) == (
        REBUILT,
        3.0,
        None,
        0.004,
    )
    assert (second.action, second.sync_seconds, second.verify_seconds, second.proof_seconds) == (
        SYNCED, 0.1, 0.03, 0.015,
    )  # fmt: skip


@pytest.mark.parametrize(
    "text", ["", "[]", '{"status": "failed"}', '{"turns": {}}', '{"turns": [{"number": 1}]}'],
    ids=["empty", "a list", "no turns", "turns not a list", "a turn without its parts"],
)  # fmt: skip
def test_a_watch_json_without_turns_in_watchs_form_is_a_bench_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "watch.json"
    path.write_text(text)
    with pytest.raises(CiError, match="bench: "):
        read_turns(path)


def test_a_missing_watch_json_is_a_bench_error(tmp_path: Path) -> None:
    with pytest.raises(CiError, match="cannot read watch's turns"):
        read_turns(tmp_path / "watch.json")


def test_where_the_sync_turns_time_went_is_each_parts_median() -> None:
    turns = [
        TurnReport(1, SYNCED, "verified", 0.0, 0.10, 0.40, 0.03, 0.60, 0.012),
        TurnReport(2, SYNCED, "verified", 0.0, 0.12, 0.50, 0.05, 0.70, 0.020),
        TurnReport(3, SYNCED, "verified", 0.0, 0.11, 0.45, 0.04, 0.65, 0.015),
    ]
    parts = dict(where_time_went([0.90, 1.00, 0.95], turns))
    assert list(parts) == ["until seen", "synced", "up", "proof", "rest", "of which read back"]
    assert parts["until seen"] == pytest.approx(0.30)
    assert (parts["synced"], parts["up"], parts["proof"]) == (0.11, 0.45, 0.04)
    assert parts["rest"] == pytest.approx(0.65 - 0.11 - 0.45 - 0.04)
    assert parts["of which read back"] == 0.015


def test_where_a_rebuild_turns_time_went_names_the_build_and_verify() -> None:
    turns = [TurnReport(1, REBUILT, "verified", 0.6, 0.0, 0.9, 0.05, 1.7, None)]
    assert [name for name, _ in where_time_went([1.95], turns)] == ["until seen", "built", "up", "verified", "rest"]
    assert where_time_went([1.0, 2.0], turns) == []  # samples and turns that do not pair say nothing
