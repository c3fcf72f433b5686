"""What watch's live page shows: each service's state by its turns (a synced turn, a failed one and its cause,
a stale service), what it runs, the log rings, and what a client is sent since it last looked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from ci.builds.record import BuildRecord, TargetRecord
from ci.core import secrets
from ci.stack.services import Checks, Service
from ci.watch import board as b
from ci.watch.turns import SYNCED, Turn

SERVICES = [
    Service("backend", "backend", "b:dev", (), Checks()),
    Service("frontend", "frontend", "f:dev", (), Checks()),
]


def record() -> BuildRecord:
    def target(name: str, digit: str) -> TargetRecord:
        return TargetRecord(f"mainza-{name}:dev", "sha256:" + digit * 64, digit * 64, git_commit="c0ffee" * 6)

    return BuildRecord(
        "watch", "mainza", "dev", "T", {}, {"backend": target("backend", "a"), "frontend": target("frontend", "b")}
    )


@pytest.fixture
def board() -> b.Board:
    made = b.Board("mainza", lambda: b.runs_of(record(), SERVICES, {"backend": "d" * 64}))
    made.define(SERVICES)
    return made


@pytest.fixture(autouse=True)
def no_secrets() -> Iterator[None]:
    yield
    secrets.forget()


def states(board: b.Board) -> dict[str, tuple[str, str]]:
    return {s.name: (s.state, s.why) for s in board.state.services}


def test_a_synced_turn_shows_running_then_synced_with_its_proof_and_what_the_service_runs(board: b.Board) -> None:
    turn = Turn(1, ["backend/main.py"], [], ["backend"], action=SYNCED)
    board.begin(turn)
    assert states(board)["backend"] == (b.SYNCING, "") and board.state.turns[0].result == b.RUNNING
    turn.detail, turn.sync_seconds, turn.up_seconds, turn.from_change_seconds = "proven: 1 file", 0.1, 0.4, 0.6
    board.end(turn)
    state = board.state
    assert states(board) == {"backend": (b.SYNCED_STATE, ""), "frontend": (b.STARTING, "")}
    [shown] = state.turns
    assert (shown.number, shown.result, shown.ok, shown.detail, shown.files) == (
        1, "verified", True, "proven: 1 file", ("backend/main.py",)
    )  # fmt: skip
    assert shown.ended > 0 and shown.sync_seconds == 0.1
    backend = state.services[0]
    assert backend.last_turn == 1
    assert backend.runs == b.Runs("aaaaaaaaaaaa", "mainza-backend:dev", "c0ffee" * 6, "aaaaaaaaaaaa", "dddddddddddd")
    assert state.services[1].runs.synced == ""  # the frontend was never synced


def test_a_failed_rebuild_names_its_targets_services_and_its_cause(board: b.Board) -> None:
    turn = Turn(2, ["Dockerfile"], ["backend"], [])  # failed before it listed its services
    board.begin(turn)
    assert states(board)["backend"] == (b.BUILDING, "")
    turn.result, turn.detail = "build failed", "step RUN pip install: exit 1; the previous build still serves"
    board.end(turn)
    assert states(board)["backend"] == (b.FAILED, f"build failed: {turn.detail}")
    assert states(board)["frontend"] == (b.STARTING, "")
    assert not board.state.turns[0].ok and board.state.turns[0].detail == turn.detail
    unhealthy = Turn(3, ["backend/main.py"], ["backend"], ["backend"], result=b.UNHEALTHY, detail="backend: exited 1")
    board.begin(unhealthy)
    board.end(unhealthy)
    assert states(board)["backend"] == (b.UNHEALTHY, "unhealthy: backend: exited 1")
    assert [t.number for t in board.state.turns] == [3, 2]  # the newest first


def test_a_stale_service_and_the_start_are_said_apart_from_turns(board: b.Board) -> None:
    board.said({"frontend": (b.STALE, "its image is not the tree's")})
    assert states(board)["frontend"] == (b.STALE, "its image is not the tree's")
    board.said({"frontend": (b.BUILT, ""), "backend": (b.SYNCED_STATE, "")})
    assert states(board) == {"backend": (b.SYNCED_STATE, ""), "frontend": (b.BUILT, "")}


def test_definitions_read_again_keep_each_known_services_state_and_add_the_new_ones(board: b.Board) -> None:
    board.said({"backend": (b.BUILT, "")})
    board.define([SERVICES[0], Service("worker", "backend", "b:dev", (), Checks())])
    assert states(board) == {"backend": (b.BUILT, ""), "worker": (b.STARTING, "")}


def test_the_turns_listed_are_the_last_ones_and_a_turns_files_are_capped(board: b.Board) -> None:
    for number in range(1, b.TURNS + 6):
        board.end(Turn(number, [f"f{i}" for i in range(b.FILES + 3)], ["backend"], ["backend"]))
    turns = board.state.turns
    assert len(turns) == b.TURNS and turns[0].number == b.TURNS + 5
    assert len(turns[0].files) == b.FILES and turns[0].more_files == 3


def test_text_from_outside_is_inert_in_the_state_and_the_log_lines(board: b.Board) -> None:
    secrets.register("hunter2-secret-value")
    hostile = "</script><script>alert(1)</script>\x1b[31m\u202e hunter2-secret-value"
    turn = Turn(1, [f"backend/{hostile}.py"], ["backend"], ["backend"], result="build failed", detail=hostile)
    board.end(turn)
    board.log("backend", hostile + "\nsecond", cut=True)
    encoded = board.state.json()
    state, lines, _ = board.since(b.Seen())
    assert state is not None
    for text in (encoded, lines[0].text):
        assert "hunter2-secret-value" not in text and "\x1b" not in text and "\u202e" not in text
    assert "\\x1b[31m" in lines[0].text and "\\u202e" in lines[0].text and lines[0].text.endswith("[cut]")
    assert "</script>" in json.loads(encoded)["turns"][0]["detail"]  # text, for textContent: never parsed


def test_a_client_gets_the_state_when_it_moved_and_only_the_lines_it_has_not_seen(board: b.Board) -> None:
    state, lines, seen = board.since(b.Seen())
    assert state is not None and lines == []
    assert board.since(seen)[0] is None  # nothing moved
    board.log("backend", "one")
    board.log("frontend", "two")
    state, lines, seen = board.since(seen)
    assert state is None and [(line.service, line.text) for line in lines] == [("backend", "one"), ("frontend", "two")]
    board.log("backend", "three")
    assert [line.text for line in board.since(seen)[1]] == ["three"]


def test_a_services_ring_keeps_its_last_lines_a_client_far_behind_loses_the_oldest(board: b.Board) -> None:
    for i in range(b.LOG_LINES + 50):
        board.log("backend", f"line {i}")
    _, lines, _ = board.since(b.Seen())
    assert len(lines) == b.LOG_LINES and lines[0].text == "line 50" and lines[-1].text == f"line {b.LOG_LINES + 49}"


def test_a_waiting_client_wakes_on_a_change_and_the_loops_side_never_waits_for_it(board: b.Board) -> None:
    seen = board.since(b.Seen())[2]
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(board.wait(seen, timeout=5)))
    waiter.start()
    time.sleep(0.05)
    began = time.perf_counter()
    board.end(Turn(1, ["backend/main.py"], ["backend"], ["backend"]))
    spent = time.perf_counter() - began
    waiter.join(timeout=2)
    assert woke == [True] and spent < 0.01, spent
    assert board.wait(board.since(b.Seen())[2], timeout=0.01) is False  # nothing new: it times out


def test_the_board_closed_is_a_state_every_client_gets(board: b.Board) -> None:
    seen = board.since(b.Seen())[2]
    board.close()
    state = board.since(seen)[0]
    assert state is not None and state.closed
