"""What watch's live page shows (ci/watch/serve.py sends it): each service's state, what it runs, its last turns
and its own lines, held in one `Board` the loop updates and the page's clients read.

The loop's side costs a turn nothing measurable: a few frozen views built and swapped under a lock, then a
notify; nothing is encoded or sent on its thread. Each client's thread waits on the board, takes what changed
since it last looked (`Board.since`: the state when its version moved, the log lines past the last it sent),
and encodes and sends it itself: a slow or gone client holds only its own thread. The log lines are a bounded
ring per service (`LOG_LINES`): a client that falls further behind loses the oldest, never blocks the ring.

Every text from outside (file names, errors, a service's lines) is made inert here (ci/core/inert.py), once,
before any client sees it; the page inserts it as text alone.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from ci.builds.record import BuildRecord
from ci.core.inert import inert
from ci.core.report import MESSAGE_CAP
from ci.core.units import short_id
from ci.stack.services import Service
from ci.watch.turns import SYNCED, Turn

LOG_LINES = 200  # a service's last lines the page keeps
TURNS = 50  # the last turns the page lists
FILES = 20  # a turn's files listed, then how many more
TEXT_CAP = 400  # a file name's characters
WAIT_SECONDS = 15.0  # a client's longest wait: then a keepalive, which also finds a client gone

# A service's state on the page.
STARTING, BUILT, SYNCED_STATE, STALE, BUILDING, SYNCING, FAILED, UNHEALTHY = (
    "starting", "built", "synced", "stale", "building", "syncing", "failed", "unhealthy",
)  # fmt: skip
RUNNING = "running"  # a turn's result while it runs


@dataclass(frozen=True)
class Runs:
    """What a service runs, from the build record (and the sync record, for a synced one)."""

    image: str = ""  # the image's id, short
    reference: str = ""  # the reference bake tagged
    commit: str = ""
    sources: str = ""  # the source fingerprint of its image, short
    synced: str = ""  # the tree's fingerprint at its last proven sync, short; "": none


@dataclass(frozen=True)
class TurnView:
    """A turn as the page lists it: its texts inert, its times rounded."""

    number: int
    action: str  # synced | rebuilt
    result: str  # verified | running | the failure's word (build failed, not proven, unhealthy...)
    ok: bool
    files: tuple[str, ...]
    more_files: int
    services: tuple[str, ...]
    targets: tuple[str, ...]
    detail: str  # the proof, or the failure's cause
    build_seconds: float = 0.0
    sync_seconds: float = 0.0
    up_seconds: float = 0.0
    verify_seconds: float = 0.0
    from_change_seconds: float = 0.0
    ended: float = 0.0  # time.time() of its line; 0 while it runs


@dataclass(frozen=True)
class ServiceView:
    name: str
    target: str
    state: str
    why: str = ""  # a failed or unhealthy state's cause, a stale one's reason
    runs: Runs = field(default_factory=Runs)
    last_turn: int = 0  # its last turn's number; 0: none yet


@dataclass(frozen=True)
class LogView:
    seq: int  # across services: the order they came in
    service: str
    text: str


@dataclass(frozen=True)
class State:
    """The page's state but the log lines: what a client gets whole whenever it changes."""

    project: str
    version: int
    services: tuple[ServiceView, ...] = ()
    turns: tuple[TurnView, ...] = ()  # the newest first
    closed: bool = False  # the loop ended: the page stays as it was last

    def json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


@dataclass(frozen=True)
class Seen:
    """What a client was sent last: the state's version and the last log line's number."""

    version: int = -1
    log: int = 0


def turn_view(t: Turn, running: bool = False) -> TurnView:
    ok = t.result == "verified"
    return TurnView(
        number=t.number,
        action=t.action,
        result=RUNNING if running else t.result,
        ok=ok and not running,
        files=tuple(inert(f, TEXT_CAP) for f in t.files[:FILES]),
        more_files=max(0, len(t.files) - FILES),
        services=tuple(t.services),
        targets=tuple(t.targets),
        detail="" if running else inert(t.detail, MESSAGE_CAP),
        build_seconds=round(t.build_seconds, 2),
        sync_seconds=round(t.sync_seconds, 2),
        up_seconds=round(t.up_seconds, 2),
        verify_seconds=round(t.verify_seconds, 2),
        from_change_seconds=round(t.from_change_seconds, 2),
        ended=0.0 if running else round(time.time(), 3),
    )


def runs_of(record: BuildRecord | None, services: Sequence[Service], synced: Mapping[str, str]) -> dict[str, Runs]:
    """What each of SERVICES runs by RECORD (the latest build) and SYNCED (service: the tree's fingerprint at
    its last proven sync)."""
    targets = record.targets if record else {}
    found = {}
    for service in services:
        built = targets.get(service.target)
        if built is None:
            continue
        found[service.name] = Runs(
            image=short_id(built.image_id),
            reference=inert(built.image, TEXT_CAP),
            commit=inert(built.git_commit, TEXT_CAP),
            sources=short_id(built.source_digest),
            synced=short_id(synced[service.name]) if synced.get(service.name) else "",
        )
    return found


class Board:
    """The page's state, updated by the loop (define, running, begin, end, said, log) and read by the clients
    (since, wait). FACTS: what each service runs now, asked on the loop's thread after each turn."""

    def __init__(self, project: str, facts: Callable[[], Mapping[str, Runs]] | None = None) -> None:
        self._facts = facts
        self._changed = threading.Condition()
        self._state = State(inert(project, TEXT_CAP), 0)
        self._logs: dict[str, deque[LogView]] = {}
        self._seq = itertools.count(1)
        self._last_log = 0

    # The loop's side: each call a few views swapped under the lock, then a notify.

    def define(self, services: Sequence[Service]) -> None:
        """The stack's services, as the definitions last read declare them; each keeps its state."""
        with self._changed:
            had = {s.name: s for s in self._state.services}
            views = tuple(replace(had[s.name], target=s.target) if s.name in had else
                          ServiceView(s.name, s.target, STARTING) for s in services)  # fmt: skip
            self._publish(services=views)

    def running(self) -> None:
        """What each service runs now (FACTS), after a start or a turn."""
        if self._facts is None:
            return
        facts = self._facts()
        with self._changed:
            views = tuple(replace(s, runs=facts.get(s.name, s.runs)) for s in self._state.services)
            self._publish(services=views)

    def said(self, states: Mapping[str, tuple[str, str]]) -> None:
        """STATES: service -> (state, why), where the loop knows it apart from a turn (its start, a stale
        service, a stack that did not come up)."""
        with self._changed:
            views = tuple(replace(s, state=states[s.name][0], why=inert(states[s.name][1], MESSAGE_CAP))
                          if s.name in states else s for s in self._state.services)  # fmt: skip
            self._publish(services=views)

    def begin(self, t: Turn) -> None:
        """Turn T began: listed as running, its services building or syncing."""
        state = SYNCING if t.action == SYNCED else BUILDING
        with self._changed:
            mine = self._of(t)
            views = tuple(replace(s, state=state, why="") if s.name in mine else s for s in self._state.services)
            self._publish(services=views, turns=self._listed(turn_view(t, running=True)))

    def end(self, t: Turn) -> None:
        """Turn T's line was printed: its result, and each of its services' state by it."""
        view = turn_view(t)
        with self._changed:
            services = self._state.services
            if view.ok:
                state, why = (SYNCED_STATE if t.action == SYNCED else BUILT), ""
            else:
                state, why = (UNHEALTHY if t.result == UNHEALTHY else FAILED), f"{t.result}: {view.detail}"
            mine = self._of(t)
            views = tuple(replace(s, state=state, why=why, last_turn=t.number) if s.name in mine else s
                          for s in services)  # fmt: skip
            self._publish(services=views, turns=self._listed(view))
        self.running()

    def log(self, service: str, text: str, cut: bool = False) -> None:
        """A line SERVICE printed (from the logs' follower's thread), made inert and kept in its ring."""
        line = inert(text, MESSAGE_CAP) + (" [cut]" if cut else "")
        with self._changed:
            self._last_log = next(self._seq)
            ring = self._logs.setdefault(service, deque(maxlen=LOG_LINES))
            ring.append(LogView(self._last_log, inert(service, TEXT_CAP), line))
            self._changed.notify_all()

    def close(self) -> None:
        """The loop ended: every client is told so and let go."""
        with self._changed:
            self._publish(closed=True)

    def _of(self, t: Turn) -> set[str]:
        """Turn T's services: those it names, else its targets' (a rebuild names them once it listed them)."""
        return set(t.services) or {s.name for s in self._state.services if s.target in t.targets}

    def _listed(self, view: TurnView) -> tuple[TurnView, ...]:
        others = tuple(t for t in self._state.turns if t.number != view.number)
        return (view, *others)[:TURNS]

    def _publish(self, **changes: object) -> None:
        self._state = replace(self._state, version=self._state.version + 1, **changes)  # type: ignore[arg-type]
        self._changed.notify_all()

    # The clients' side.

    @property
    def state(self) -> State:
        with self._changed:
            return self._state

    def since(self, seen: Seen) -> tuple[State | None, list[LogView], Seen]:
        """What changed since SEEN: the state if its version moved (else None), the log lines after the last one
        sent, the oldest first (those the rings dropped meanwhile gone), and what is now seen."""
        with self._changed:
            state = self._state if self._state.version != seen.version else None
            lines = sorted((line for ring in self._logs.values() for line in ring if line.seq > seen.log),
                           key=lambda line: line.seq)  # fmt: skip
            return state, lines, Seen(self._state.version, self._last_log)

    def wait(self, seen: Seen, timeout: float = WAIT_SECONDS) -> bool:
        """Until something changed since SEEN, or TIMEOUT: whether it did."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._state.version != seen.version or self._last_log != seen.log, timeout
            )
