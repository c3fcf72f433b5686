"""The inner loop, timed for `nox -s bench`: on the bench's copy of the tree, each round runs `nox -s dev` (no
cache); then `nox -s watch -- --no-sync` with the stack up, for a one-line edit to each of the first and the last
target's sources, from the write to the rebuild turn's verified line (goals: the first target, the backend,
within 15% of dev's time, the last, the frontend, within 35%); then the first target's edit twice through a sync
turn of `nox -s watch` (its develop.watch rule: sync+restart), from the write to the proven line, and twice
through `docker compose watch` (the same rule, compose's own sync+restart), from the write to the restarted
container healthy again: compose proves nothing, and health is where a turn of ours starts its proof; and the
same sync turns again with watch's live page open in chromium (what the page costs a turn). Which of the three
goes first turns by round. watch.json says what drawing each rebuild turn's timeline took. ROUNDS rounds,
every case side by side in each, so that the machine's drift weighs on all alike; each counts by its median, as
one sample of a 2 s turn on a noisy machine decides nothing. The goals of the sync turns are ci/bench/goals.py's.

Every turn line must say what the case times: a rebuild turn verified, a sync turn proven; any other (a failed
turn, a sync that fell back to a rebuild) is a bench error naming the line. Each watch process's watch.json gives
the parts of the turns it timed (ci/bench/watched.py). A `docker compose watch` process lives only within its
side of a round (ci/docker/compose.py `compose_watch` stops it however the block ends)."""

from __future__ import annotations

import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ci import docker as dk
from ci.bench.watched import REBUILT, SYNCED, TurnLine, TurnReport, read_turns, turn_line
from ci.core.errors import CiError
from ci.stack.live import free_port

GOALS = (0.15, 0.35)  # watch's rebuild turn over dev's time: the first target's edit, the last's
TURN_TIMEOUT = 180.0
ROUNDS = 5
QUIET = 1.0  # seconds of a quiet tree before each edit: the edit is a burst of its own
REBUILD_ONLY = ("--no-sync",)  # watch's option: every turn a rebuild, whatever the develop.watch rules say


@dataclass(frozen=True)
class Edit:
    """A timed edit: its case's name and the write."""

    name: str
    write: Callable[[], object]


@dataclass
class LoopCase:
    name: str
    samples: list[float]  # seconds, one per timed turn
    line: str  # the last one's: the session's last line, or the turn's
    turns: list[TurnReport] = field(default_factory=list)  # watch.json's record of each timed turn, when read

    @property
    def seconds(self) -> float:
        return statistics.median(self.samples)

    def figures(self) -> str:
        return f"{self.seconds:.2f}s (median of {', '.join(f'{x:.2f}' for x in self.samples)})"


@dataclass(frozen=True)
class ComposeTurn:
    """Where one compose watch turn's time went, each from the write: compose's `Syncing` line read, its
    `restarted` line read, the backend's container seen healthy again (the turn's end)."""

    syncing: float
    restarted: float
    healthy: float


@dataclass
class ComposeCase(LoopCase):
    marks: list[ComposeTurn] = field(default_factory=list)
    refused: str = ""  # why compose watch did not run here (its compose skips every service): not measured


class Watching:
    """`python -m ci watch ARGS` on TREE in the background, its output line by line."""

    def __init__(self, tree: Path, env: Mapping[str, str], args: Sequence[str] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ci", "watch", *args], cwd=tree, env=dict(env), text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not dk.is_service_line(line):  # a service's own line (`SERVICE | ...`) may hold a turn's words
                self.lines.put(line.rstrip("\n"))

    def wait_for(self, wanted: Callable[[str], bool], timeout: float = TURN_TIMEOUT) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise CiError(f"bench: nox -s watch exited with {self.proc.returncode}") from None
                continue
            if wanted(line):
                return line
        raise CiError(f"bench: nox -s watch said nothing awaited within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass(frozen=True)
class Kind:
    """How `turns` runs watch and what its turns must be: watch's ARGS, the ACTION each turn ends well with
    (rebuilt and verified, or synced and proven), REPORTS (watch.json's folder: its record of the turns, the build
    record's timeline drawing), PAGE (watch's live page open in chromium throughout)."""

    args: Sequence[str] = ()
    action: str = REBUILT
    reports: Path | None = None
    page: bool = False


REBUILDS = Kind(args=REBUILD_ONLY)


@dataclass(frozen=True)
class Sides:
    """What a round times beside dev: the rebuild turns (watch --no-sync), the sync turns (watch) and compose watch's
    turns of the same edit (through ENGINE, the stack's, its SERVICE's container awaited), the sync turns again
    with watch's page open in chromium (PAGED); REPORTS: watch.json's folder."""

    rebuilds: Sequence[Edit]
    syncs: Sequence[Edit]
    compose: Sequence[Edit]
    engine: dk.Engine
    service: str
    reports: Path
    paged: Sequence[Edit] = ()


def measure(
    nox: list[str], tree: Path, env: Mapping[str, str], dev: LoopCase, sides: Sides
) -> tuple[list[LoopCase], ComposeCase]:
    """ROUNDS rounds of `nox -s dev` (into DEV), then watch's rebuild turns, then its sync turns, compose watch's
    turns and the sync turns with the page open, which goes first turning by round: dev's case and each edit's,
    then compose's."""
    edits = [*sides.rebuilds, *sides.syncs, *sides.paged]
    cases: dict[str, LoopCase] = {e.name: LoopCase(e.name, [], "") for e in edits}
    composed = ComposeCase(sides.compose[0].name if sides.compose else "compose watch", [], "")

    def ours() -> None:
        turns(tree, env, sides.syncs, cases, kind=Kind(action=SYNCED, reports=sides.reports))

    def theirs() -> None:
        compose_turns(sides.engine, sides.service, sides.compose, composed)

    def paged() -> None:
        if sides.paged:
            turns(tree, env, sides.paged, cases, kind=Kind(action=SYNCED, reports=sides.reports, page=True))

    order = [ours, theirs, paged]
    for n in range(ROUNDS):
        run_dev(nox, tree, env, dev)
        turns(tree, env, sides.rebuilds, cases, kind=Kind(args=REBUILD_ONLY, reports=sides.reports))
        for side in order[n % 3 :] + order[: n % 3]:
            side()
    return [dev, *cases.values()], composed


def run_dev(nox: list[str], tree: Path, env: Mapping[str, str], case: LoopCase) -> None:
    start = time.monotonic()
    run = subprocess.run([*nox, "-s", "dev"], cwd=tree, env=dict(env), capture_output=True, text=True)
    case.samples.append(time.monotonic() - start)
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
        raise CiError(f"bench: nox -s dev failed (exit {run.returncode}); its output is above")
    case.line = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    print(f"{case.name}: {case.samples[-1]:.1f}s", flush=True)


def turns(
    tree: Path,
    env: Mapping[str, str],
    edits: Sequence[Edit],
    cases: Mapping[str, LoopCase],
    start_timeout: float = TURN_TIMEOUT,
    *,
    kind: Kind = REBUILDS,
) -> None:
    """Each edit of EDITS, timed from the write to watch's line for it, into CASES by its name; watch (`nox -s watch
    ARGS`, KIND's) may take START_TIMEOUT to start (the stack from the cache when it is not up, a catch-up turn).
    Each line must say KIND's action ended well: any other is a bench error naming it. With KIND's reports,
    watch.json's record of the timed turns (the last ones, after any catch-up turn) joins them (a rebuild turn's
    with the time its timeline took to draw). With KIND's page, watch's live page is open in chromium (on
    a port of its own) from before the first edit to after the last turn."""
    action, reports = kind.action, kind.reports
    port = free_port() if kind.page else 0
    watching = Watching(tree, {**env, "WATCH_PORT": str(port)} if kind.page else env, kind.args)
    timed: list[LoopCase] = []
    try:
        watching.wait_for(lambda line: line.startswith("watching the inputs of"), start_timeout)
        with ExitStack() as stack:
            if kind.page:
                open_page(stack, f"http://127.0.0.1:{port}/")
            timed_edits(watching, edits, cases, action, timed)
    finally:
        watching.stop()
    if reports is not None:
        recorded = read_turns(reports / "watch.json")[-len(timed) :] if timed else []
        if [t.action for t in recorded] != [action] * len(timed):
            raise CiError(f"bench: watch.json's last turns are not the {len(timed)} {action} turns timed")
        for case, turn in zip(timed, recorded, strict=True):
            case.turns.append(turn)


def open_page(stack: ExitStack, url: str) -> None:
    """URL open in a headless chromium until STACK closes, its live link up (the page follows watch's turns)."""
    from ci.probe import browser  # playwright: the bench installs verify --browser's requirement

    shown = stack.enter_context(browser.opened())
    shown.goto(url, wait_until="load")
    shown.wait_for_selector("#link.live", timeout=10_000)


def timed_edits(
    watching: Watching,
    edits: Sequence[Edit],
    cases: Mapping[str, LoopCase],
    action: str,
    timed: list[LoopCase],
) -> None:
    """Each edit written and timed to its turn's line, into CASES and TIMED (ci/bench/loop.py `turns`)."""
    for edit in edits:
        time.sleep(QUIET)
        start = time.monotonic()
        edit.write()
        line = watching.wait_for(lambda text: turn_line(text) is not None)
        expect(turn_line(line), action, edit.name)
        case = cases[edit.name]
        case.samples.append(time.monotonic() - start)
        case.line = line
        timed.append(case)
        print(f"{edit.name}: {case.samples[-1]:.2f}s from the write to `{line}`", flush=True)


def expect(found: TurnLine | None, action: str, name: str) -> None:
    """FOUND must be a turn that did ACTION and ended well; a bench error naming its line if not."""
    assert found is not None
    if action == SYNCED and not found.proven:
        raise CiError(f"bench: watch's turn for {name} was not a proven sync: {found.text}")
    if action == REBUILT and not found.verified:
        raise CiError(f"bench: watch's turn for {name} did not verify: {found.text}")


def compose_turns(engine: dk.Engine, service: str, edits: Sequence[Edit], case: ComposeCase) -> None:
    """Each edit of EDITS through `docker compose watch` (its sync+restart), timed from the write to SERVICE's
    container healthy again, into CASE; once compose refuses to watch (its version skips every service without
    `build:`), the case says why and is no longer run."""
    if not edits or case.refused:
        return
    with dk.compose_watch(engine) as watching:
        try:
            watching.ready(TURN_TIMEOUT)
        except dk.WatchRefused as err:
            version = dk.compose_version_line(engine)
            case.refused = f"{err} ({version}; compose watches a service without `build:` from 2.32)"
            print(f"{case.name}: not measured: {case.refused}", flush=True)
            return
        container = dk.service_containers(engine)[service].id
        for edit in edits:
            with dk.container_events(engine, ("start", "health_status")) as events:
                time.sleep(QUIET)
                start = time.monotonic()
                edit.write()
                mark = healthy_again(watching, events, container, start)
            case.samples.append(mark.healthy)
            case.marks.append(mark)
            case.line = watching.said[-1] if watching.said else ""
            print(f"{edit.name}: {mark.healthy:.2f}s from the write to {service} healthy again (compose: syncing "
                  f"{mark.syncing:.2f}s, restarted {mark.restarted:.2f}s)", flush=True)  # fmt: skip


def healthy_again(watching: dk.ComposeWatch, events: dk.ContainerEvents, container: str, start: float) -> ComposeTurn:
    """Until CONTAINER starts again and is then healthy (compose's restart, the engine's events), compose's lines
    read on the way; the times from START. CiError when it takes TURN_TIMEOUT or compose ends."""
    syncing = restarted = 0.0
    started = False
    while time.monotonic() - start < TURN_TIMEOUT:
        said = watching.next(0.0)
        if said and "Syncing" in said[1]:
            syncing = syncing or said[0] - start
        elif said and "restarted" in said[1]:
            restarted = restarted or said[0] - start
        event = events.next(0.02)
        if event is None or event.container_id != container:
            continue
        started = started or event.action == "start"
        if started and event.action == "health_status: healthy":
            return ComposeTurn(syncing, restarted, time.monotonic() - start)
    raise CiError(f"bench: compose watch's turn did not see the container healthy again within {TURN_TIMEOUT:.0f}s")
