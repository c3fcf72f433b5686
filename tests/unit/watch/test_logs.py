"""watch's services' own lines: `SERVICE | line`, padded, inert and capped, written whole beside the turns' lines,
followed again after a turn from the last line shown; a stand-in for compose's follower (no engine)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from typing import Any, cast

import pytest

from ci import docker as dk
from ci.core import secrets, terminal
from ci.core.report import MESSAGE_CAP
from ci.watch import logs


def test_a_service_line_is_prefixed_padded_inert_and_capped() -> None:
    assert logs.shown(dk.LogLine("backend", "ready"), 8) == "backend  | ready"
    assert logs.shown(dk.LogLine("frontend", "ready"), 8) == "frontend | ready"
    hostile = logs.shown(dk.LogLine("backend", "\x1b[2J\x1b]0;owned\x07\u202eexe\r::error::x"), 7)
    assert hostile == "backend | \\x1b[2J\\x1b]0;owned\\x07\\u202eexe\\x0d::error::x"
    secrets.register("hunter2-token")
    try:
        assert logs.shown(dk.LogLine("backend", "token=hunter2-token"), 7) == "backend | token=***"
    finally:
        secrets.forget()
    endless = logs.shown(dk.LogLine("backend", "x" * (10 * MESSAGE_CAP), cut=True), 7)
    assert len(endless) < MESSAGE_CAP + 100 and "[cut: " in endless and endless.endswith(" [cut]")


class Compose:
    """A stand-in for dk.ServiceLogs: the lines given, then it ends (as 2.26's does once no container runs), or
    waits until closed (HOLD)."""

    made: list[Compose] = []  # noqa: RUF012 (a test's record)
    batches: list[list[dk.LogLine]] = []  # noqa: RUF012

    def __init__(self, engine: dk.Engine, services: Sequence[str], since: float) -> None:
        self.since, self.closed = since, threading.Event()
        self.lines_given = Compose.batches.pop(0) if Compose.batches else []
        self.hold = not Compose.batches
        Compose.made.append(self)

    def lines(self) -> Iterator[dk.LogLine]:
        yield from self.lines_given
        if self.hold:
            self.closed.wait(5)

    def close(self) -> None:
        self.closed.set()


@pytest.fixture
def compose(monkeypatch: pytest.MonkeyPatch) -> type[Compose]:
    Compose.made, Compose.batches = [], []
    monkeypatch.setattr(dk, "ServiceLogs", Compose)
    return Compose


def test_the_follower_prints_each_line_padded_widening_for_a_longer_name_and_follows_again_after_it_ended(
    compose: type[Compose],
) -> None:
    out = io.StringIO()
    compose.batches = [
        [dk.LogLine("backend", "up"), dk.LogLine("frontend", "up")],  # then ends: no container runs
        [dk.LogLine("a-database", "ready")],
    ]
    follower = logs.Follower(cast(Any, None), ["backend", "frontend"], out)
    follower.start()
    first = compose.made[0]
    assert follower._thread is not None
    follower._thread.join(5)
    follower.resume()  # after a turn: it ended, so it follows again from the last line it showed
    follower.resume()  # and not twice while that one runs
    follower.stop()
    assert len(compose.made) == 2 and compose.made[1].since >= first.since and compose.made[1].closed.is_set()
    assert out.getvalue().splitlines() == ["backend  | up", "frontend | up", "a-database | ready"]


def test_a_quiet_follower_prints_nothing_and_hands_each_line_to_its_listener(compose: type[Compose]) -> None:
    """`--no-logs` with the live page open: the page has the services' lines, the terminal none."""
    out, heard = io.StringIO(), []
    compose.batches = [[dk.LogLine("backend", "up"), dk.LogLine("backend", "x" * 10, cut=True)], []]  # then ends
    follower = logs.Follower(cast(Any, None), ["backend"], out, lambda *line: heard.append(line), quiet=True)
    follower.start()
    assert follower._thread is not None
    follower._thread.join(5)
    follower.stop()
    assert out.getvalue() == "" and heard == [("backend", "up", False), ("backend", "x" * 10, True)]


def test_a_service_line_never_lands_inside_a_line_of_the_session_s_own(capsys: pytest.CaptureFixture[str]) -> None:
    with terminal.fitted(200):
        print("backend  backend/main.py  built 0.6s", end="")  # the session's line, half written
        thread = threading.Thread(target=terminal.whole_line, args=(logs.shown(dk.LogLine("backend", "hi"), 7),))
        thread.start()
        thread.join()
        print("  verified  1.0s from change")
    assert capsys.readouterr().out.splitlines() == [
        "backend | hi",
        "backend  backend/main.py  built 0.6s  verified  1.0s from change",
    ]


def test_a_turn_line_forged_by_a_service_is_still_a_service_line() -> None:
    forged = "backend  backend/main.py  built 0.6s  up 1.1s  verified: running = tree (sources 1a2b)  1.9s from change"
    assert dk.is_service_line(logs.shown(dk.LogLine("backend", forged), 8))
    assert dk.is_service_line(logs.shown(dk.LogLine("backend", "\n" + forged), 8))  # one line: its newline shown
    assert not dk.is_service_line(forged)
