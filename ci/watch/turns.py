"""watch's turns: what one turn was (Turn), how it ended and how long each part took, its line on screen and
its testcase in the report; a failed turn ends the loop only when the engine no longer answers."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ci import docker as dk
from ci.builds.record import BuildRecord
from ci.core import terminal
from ci.core.errors import EngineUnreachable, Exit, SessionStatus, interruption_exit, stopped_by
from ci.core.report import Check, Report, Status
from ci.core.units import short_id
from ci.stack.services import Service

if TYPE_CHECKING:
    from ci.watch.board import Board

SYNCED, REBUILT = "synced", "rebuilt"  # a turn's action


@dataclass
class Turn:
    """One turn of the loop, as watch.json and the JUnit file keep it."""

    number: int
    files: list[str]  # relative to the project
    targets: list[str]
    services: list[str]
    # verified | does not parse | image missing | build failed | unhealthy | not verified | failed | no engine |
    # interrupted (the last two in the words of SessionStatus)
    result: str = "verified"
    detail: str = ""
    build_seconds: float = 0.0
    up_seconds: float = 0.0
    verify_seconds: float = 0.0
    from_change_seconds: float = 0.0  # from when the watcher saw the change (or the turn began) to its line
    action: str = REBUILT  # synced (its files copied into the running container, proven) | rebuilt
    sync_seconds: float = 0.0  # a sync turn's copy, delete, restart and commands; its proof is verify_seconds
    timeline_seconds: float = 0.0  # of build_seconds: its timeline drawn (reports/build-watch.html)


class Failed(Exception):
    """A turn that failed: its result (build failed, unhealthy, not verified, failed) and why."""

    def __init__(self, result: str, detail: str) -> None:
        super().__init__(detail)
        self.result, self.detail = result, detail


@contextmanager
def taking(
    current: Turn, seen: float, engine: dk.Engine, report: Report, board: Board | None = None
) -> Iterator[float]:
    """The turn CURRENT while the block runs it (given when it started, time.monotonic()): how it ended and
    the time of its verification and from the change (SEEN), then its line and testcase, whatever happens,
    and on the live page (BOARD) right after its line. A Failed block is a failed turn, and the loop goes on;
    one whose engine no longer answers ends the loop: EngineUnreachable."""
    started = time.monotonic()
    stopped = Exit.INTERRUPTED
    if board:
        board.begin(current)
    try:
        yield started
    except Failed as failed:
        current.result, current.detail = failed.result, failed.detail
        lost = engine_lost(engine, current)
        if lost:
            current.result, current.detail = SessionStatus.NO_ENGINE, str(lost)
            raise lost from None
    except EngineUnreachable as err:
        current.result, current.detail = SessionStatus.NO_ENGINE, str(err)
        raise
    except KeyboardInterrupt as stop:
        current.result, current.detail = SessionStatus.INTERRUPTED, f"stopped by {stopped_by(stop)} during the turn"
        stopped = interruption_exit(stop)
        raise
    finally:
        spent = current.build_seconds + current.sync_seconds + current.up_seconds
        current.verify_seconds = max(0.0, time.monotonic() - started - spent)
        current.from_change_seconds = max(0.0, time.monotonic() - seen)
        record(report, current, stopped)
        if board:
            board.end(current)


def engine_lost(engine: dk.Engine, current: Turn) -> EngineUnreachable | None:
    """After a failed turn, whether the engine still answers; if not, what ends the loop. Asked, not read
    from the failure's text: a refused socket, a stream cut mid-build and a compose error all read apart."""
    try:
        dk.require_engine(engine)
    except EngineUnreachable:
        return EngineUnreachable(
            f"no Docker engine answers at {dk.engine_location()} any more (turn {current.number} failed on it): "
            "start it or fix DOCKER_HOST, then run `nox -s watch` again"
        )
    return None


def running_sources(record: BuildRecord | None, services: Iterable[Service]) -> dict[str, str]:
    """What each service runs before the turn, `sources 1a2b3c4d5e6f`: the latest build's (RECORD), which
    the stack runs (the loop started it so, and each turn that built recreated its services)."""
    targets = record.targets if record else {}
    return {s.name: f"sources {short_id(targets[s.target].source_digest)}" for s in services if s.target in targets}


def engine_went_away(done: Sequence[Turn]) -> bool:
    """Whether the last turn ended the loop as its engine no longer answered."""
    return bool(done) and done[-1].result == SessionStatus.NO_ENGINE


def verdict(done: Sequence[Turn], stopped: bool) -> str:
    """The loop's last line: its turns, how many were verified, and whether the stack runs on (STOPPED: --down)."""
    if engine_went_away(done):
        return f"{len(done)} turns; the engine went away"
    verified = sum(t.result == "verified" for t in done)
    state = "stack stopped" if stopped else "the stack keeps running"
    return f"{terminal.plural(len(done), 'turn')}, {verified} verified; {state}"


def line(t: Turn) -> str:
    """The turn's line: what changed, then its figures; a verified turn's detail gives way to the bare word
    when the line would not fit the terminal, so that the times at its end stay (watch.json keeps it)."""
    files = (t.files[0] + (f" (+{len(t.files) - 1})" if len(t.files) > 1 else "")) if t.files else "(catch-up)"
    if t.result != "verified":
        return "  ".join([*([", ".join(t.targets)] if t.targets else []), files, f"{t.result}: {t.detail}"])
    made = f"synced {t.sync_seconds:.1f}s" if t.action == SYNCED else f"built {t.build_seconds:.1f}s"
    head = f"{', '.join(t.services)}  {files}  {made}  up {t.up_seconds:.1f}s  "
    tail = f"  {t.from_change_seconds:.1f}s from change"
    fits = len(head) + len(t.detail) + len(tail) <= terminal.width()
    return head + (t.detail if fits else "proven" if t.action == SYNCED else "verified") + tail


def record(report: Report, t: Turn, stopped: Exit = Exit.INTERRUPTED) -> None:
    """The turn's line on screen, and a testcase in REPORT; STOPPED: an interrupted turn's exit code (128 and
    its signal's number)."""
    text = line(t)
    interrupted = t.result == SessionStatus.INTERRUPTED
    status: Status = "passed" if t.result == "verified" else "interrupted" if interrupted else "failed"
    codes: dict[str, Exit] = {SessionStatus.INTERRUPTED: stopped, SessionStatus.NO_ENGINE: Exit.NO_ENGINE}
    exit_code = codes.get(t.result, Exit.FAILED)
    seconds = t.build_seconds + t.sync_seconds + t.up_seconds + t.verify_seconds
    what = f"{', '.join(t.services)} synced" if t.action == SYNCED else ", ".join(t.targets or t.files)
    # In the report before on screen: a Ctrl-C sent on seeing the line must not find the turn unrecorded.
    report.add(Check(f"turn {t.number}: {what}", status, seconds, text, exit_code=exit_code))
    stream = sys.stdout if t.result == "verified" else sys.stderr
    # On a terminal, in its result's colour: it stands out from the services' own lines (ci/watch/logs.py).
    painted = "passed" if t.result == "verified" else "interrupted" if interrupted else "failed"
    terminal.show(terminal.paint(text, painted, on=terminal.colour_on(stream)), stream)
