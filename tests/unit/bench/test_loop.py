"""ci/bench/loop.py: what a timed turn must say, and the end of a compose watch turn (the loop itself runs in
`nox -s bench`)."""

from __future__ import annotations

from collections import deque

import pytest

from ci import docker as dk
from ci.bench import loop
from ci.bench.watched import REBUILT, SYNCED, TurnLine
from ci.core.errors import CiError


def test_a_sync_case_takes_only_a_proven_sync() -> None:
    loop.expect(TurnLine("backend  backend/main.py  synced 0.1s  up 0.4s  proven  0.6s from change", "proven", SYNCED),
                SYNCED, "7s")  # fmt: skip
    rebuilt = TurnLine("backend  backend/main.py  built 0.6s  up 0.9s  verified  1.7s from change", "verified", REBUILT)
    with pytest.raises(CiError, match=r"7s was not a proven sync: backend  backend/main\.py  built"):
        loop.expect(rebuilt, SYNCED, "7s")
    failed = TurnLine("backend/main.py  not proven: backend: ...", "not proven")
    with pytest.raises(CiError, match="not proven: backend"):
        loop.expect(failed, SYNCED, "7s")


def test_a_rebuild_case_takes_only_a_verified_rebuild() -> None:
    loop.expect(TurnLine("...", "verified", REBUILT), REBUILT, "7")
    with pytest.raises(CiError, match="7 did not verify: a sync"):
        loop.expect(TurnLine("a sync", "proven", SYNCED), REBUILT, "7")
    with pytest.raises(CiError, match="did not verify: backend  build failed"):
        loop.expect(TurnLine("backend  build failed: ...", "build failed"), REBUILT, "7")


class Said:
    """compose watch's lines, as ComposeWatch gives them: (when read, the line)."""

    def __init__(self, *lines: tuple[float, str]) -> None:
        self.lines = deque(lines)

    def next(self, timeout: float) -> tuple[float, str] | None:
        return self.lines.popleft() if self.lines else None


class Events:
    def __init__(self, *events: dk.ContainerEvent) -> None:
        self.events = deque(events)

    def next(self, timeout: float) -> dk.ContainerEvent | None:
        return self.events.popleft() if self.events else None


def test_a_compose_turn_ends_at_its_container_healthy_after_it_started_again() -> None:
    """A healthy event before the restart's start (a check of the old process) or of another container is not it."""
    start = loop.time.monotonic()
    said = Said(
        (start + 0.3, 'Syncing service "backend" after 1 changes were detected'),
        (start + 0.5, 'service(s) ["backend"] restarted'),
    )
    events = Events(
        dk.ContainerEvent("c1", "health_status: healthy"),  # before the restart
        dk.ContainerEvent("c2", "start"),  # another container
        dk.ContainerEvent("c1", "start"),
        dk.ContainerEvent("c2", "health_status: healthy"),
        dk.ContainerEvent("c1", "health_status: healthy"),
        dk.ContainerEvent("c1", "health_status: unhealthy"),  # never read: the turn ended
    )  # fmt: skip
    mark = loop.healthy_again(said, events, "c1", start)  # type: ignore[arg-type]
    assert mark.syncing == pytest.approx(0.3) and mark.restarted == pytest.approx(0.5)
    assert mark.healthy > 0 and list(events.events) == [dk.ContainerEvent("c1", "health_status: unhealthy")]


def test_a_compose_turn_that_never_gets_healthy_again_is_a_bench_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "TURN_TIMEOUT", 0.05)
    events = Events(dk.ContainerEvent("c1", "health_status: healthy"))  # no start: not the restart's
    with pytest.raises(CiError, match="did not see the container healthy again"):
        loop.healthy_again(Said(), events, "c1", loop.time.monotonic())  # type: ignore[arg-type]
