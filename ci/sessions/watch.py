"""`nox -s watch`: the inner loop, proven after every change.

Watches each target's inputs; after a burst of changes, plans it by the services' develop.watch rules
(ci/watch/plan.py): what a sync can carry is copied into the running container, restarted or run as the rule
says, waited for and proven by reading it back (a sync turn, ci/watch/sync.py; recorded for verify in
reports/last-sync.json), and a sync that fails falls back to a rebuild; the rest rebuilds only the targets whose
inputs changed (local build cache, fresh build-info values), recreates only their services, waits for their
health, and runs verify's checks on them: every turn ends with one line saying whether what runs is the tree. A failed
build leaves the previous containers running, a new container that does not come up gives way to the
previous build (ci/stack/rollback.py), and a bake or compose file that does not parse is a failed turn that
touches nothing: the loop goes on watching, and the next save retries. A stack that does not come up as the
loop starts is the same: the loop watches, and each turn also brings up the services that are down. Only
Ctrl-C, SIGTERM, SIGHUP or an engine that goes away end it (a second session on the project waits, then is
refused: ci/core/lock.py); the engine is asked after a failed turn (`docker version`), as its errors read
differently in docker, compose and buildx, and mid-stream.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ci import docker as dk
from ci.builds import bake
from ci.builds.bakefile import ResolvedTarget
from ci.builds.buildargs import shaping_args
from ci.builds.record import BuildRecord, TargetRecord, read_record
from ci.builds.synced import clear_synced, read_synced, record_sync
from ci.core.errors import CiError, UsageError, stopped_by
from ci.core.session import Run, Session
from ci.core.settings import watch_port
from ci.core.units import short_id
from ci.phases import start as starting
from ci.phases.build import TAG, dev_targets, rebuild
from ci.phases.check import Context, NotVerified, changed_since_build, prove, stale_targets
from ci.sources.identity import Inputs
from ci.stack import live, preflight, rollback
from ci.stack.develop import WatchRule, watch_rules
from ci.stack.services import Service, job_kinds
from ci.watch import board as board_
from ci.watch import logs, serve, turns
from ci.watch import sync as sync_
from ci.watch.plan import Sync, plan
from ci.watch.turns import SYNCED, Failed, Turn

if TYPE_CHECKING:
    from ci.watch.bursts import Burst

PROFILE = "watch"
IMAGE_MISSING = "image missing"  # a turn's result: the definitions name an image that cannot be had


@dataclass
class Loop:
    """What the turns share: the engine, the definitions as last read, the turns so far."""

    run: Run
    engine: dk.Engine
    # Where build and compose progress goes: nowhere, unless --logs (failures are said on stderr anyway).
    progress: TextIO = field(default_factory=lambda: open(os.devnull, "w"))  # noqa: SIM115
    follower: logs.Follower | None = None  # the services' own lines between turns; None: --no-logs, --once
    targets: dict[str, ResolvedTarget] = field(default_factory=dict)
    inputs: dict[str, Inputs] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    record: BuildRecord | None = None  # the latest build, as this loop last wrote it
    turns: list[Turn] = field(default_factory=list)
    unreadable: str = ""  # why the definitions did not read at the last save of one; empty: they did
    unread_as: str = "does not parse"  # that turn's result: does not parse | image missing
    rules: dict[str, tuple[WatchRule, ...]] = field(default_factory=dict)  # develop.watch, by service
    users: dict[str, dk.ContainerUser] = field(default_factory=dict)  # each synced container's user, by its id
    # The container of each service the loop last saw at the tree (its start, a proven sync, a verified
    # rebuild): a sync copies only a burst's files into that one; any other (recreated by hand, by compose) is
    # compared whole first.
    known: dict[str, str] = field(default_factory=dict)
    started: dict[str, str] = field(default_factory=dict)  # containers others started since, by service
    board: board_.Board | None = None  # what the live page shows (ci/watch/board.py); None: no page
    page: serve.Page | None = None

    @property
    def definitions(self) -> list[Path]:
        return [self.run.settings.bake_file, self.run.settings.compose_file]

    def read_definitions(self) -> str:
        """The dev group's targets, their inputs and the stack's services, from the bake and compose files, each
        image the loop does not build found (preflight); what preflight says."""
        targets = dev_targets(self.engine, self.run.settings)
        config, compose = preflight.resolved(self.engine)
        ready = preflight.require(preflight.check(self.engine, compose, targets))
        rules = watch_rules(config, self.run.settings.root)
        # All or nothing: a file that does not parse leaves the loop with the definitions it had.
        self.targets, self.services, self.rules = targets, ready.defined.built, rules
        self.inputs = bake.target_inputs(self.run.settings.root, targets)
        if self.board:
            self.board.define(self.services)
        return ready.summary()

    @property
    def services_by_name(self) -> dict[str, Service]:
        return {s.name: s for s in self.services}

    def user_of(self, container: str) -> dk.ContainerUser:
        """CONTAINER's user, asked once per container: one recreated since has another id."""
        if container not in self.users:
            self.users[container] = dk.container_user(self.engine, container)
        return self.users[container]

    def relative(self, path: Path) -> str:
        root = self.run.settings.root.resolve()
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def body(run: Run) -> None:
    # A loop is stopped by Ctrl-C, a process manager's SIGTERM or a closed terminal's SIGHUP (the frame makes
    # each an interruption): each ends it cleanly, reports written.
    with run.step("engine") as check:
        loop = Loop(run, dk.connect(run.settings, live.compose_env(TAG)))
        if run.args.logs:
            loop.progress = sys.stdout
        check.message = f"engine {dk.require_engine(loop.engine)}"
    with run.step("preflight") as check:
        serve_page(loop)
        check.message = loop.read_definitions()
    try:
        with run.step("stack") as check:
            began = time.monotonic()
            check.message = start(loop)
            print(f"stack: {check.message} ({time.monotonic() - began:.1f}s)", flush=True)  # watch prints no step table
        up = True
    except starting.NotUp as err:
        if run.args.once:
            raise
        # As a failed turn: the step says so, the loop watches, and the next save retries.
        loop.record, up = err.record, False
        print(f"start: {err}; watching: the next save retries", file=sys.stderr, flush=True)
        said(loop, {s.name: (board_.UNHEALTHY, f"start: {err}") for s in loop.services})
    follow(loop)  # its child ends with the session whatever happens (ci/docker/compose.py's ServiceLogs)
    try:
        # What changed while nothing watched, synced where the rules carry it; after a failed start, the tree
        # was just tried.
        stale, synced = catch_up(loop) if up else ([], set())
        said(loop, {s.name: (board_.STALE, "its image is not the tree's") for s in loop.services if s.target in stale})
        if stale:
            files = sorted(loop.relative(p) for p in changed_since_build(loop.record, loop.inputs, stale))
            turn(loop, files, stale, time.monotonic())
        if up:
            print(start_line(loop, synced), flush=True)
            said(loop, at_start(loop, synced))
        if run.args.once:
            if not loop.turns:
                print("nothing changed since the running build", flush=True)
            return
        run.report_decides = False  # a loop's failed turns are its record, not its verdict: Ctrl-C ends it
        from ci.watch import bursts  # watchfiles is installed for this session alone; the others import this module

        # Containers started by others (`docker compose up --force-recreate` by hand): noticed between bursts.
        with dk.container_events(loop.engine, ("start",)) as started:
            for burst in bursts.watching(loop.inputs, loop.definitions, lambda: started_by_others(loop, started)):
                on_burst(loop, burst)
                resume(loop)
    except KeyboardInterrupt as stop:
        print(f"\nstopped ({stopped_by(stop)})", flush=True)
    finally:
        finish(loop)


def start(loop: Loop) -> str:
    """The stack running the latest build of the tree, from the local cache when it is not already."""
    settings, names = loop.run.settings, ", ".join(s.name for s in loop.services)
    loop.record = read_record(settings.reports_dir, settings.project)
    if starting.runs(loop.engine, loop.services, loop.record, TAG):
        return f"running the latest build: {names}"
    print(f"starting the stack from a cached build of the tree ({names})", flush=True)
    started = starting.built(lambda: build(loop, loop.targets), loop.engine, settings, loop.services, loop.progress)
    loop.record = started.record
    return f"started from a cached build: {names}"


def started_by_others(loop: Loop, events: dk.ContainerEvents) -> bool:
    """Whether a container of a service with sync rules was started that is not the one the loop last proved
    (its start events read from EVENTS): the loop's own turns have made theirs known by the time this asks."""
    for event in events.pending():
        if event.action == "start" and event.service in loop.rules:
            loop.started[event.service] = event.container_id
    for service, container in list(loop.started.items()):
        if loop.known.get(service) in (None, container):
            del loop.started[service]  # one of the loop's own, or of a service it never proved
    return bool(loop.started)


def recreated(loop: Loop) -> None:
    """Each service whose container others started since the loop proved it (started_by_others): compared with
    the tree whole, and what differs synced there and proven. Nothing is rebuilt here: a container that runs no
    image of the build record, a difference no sync carries or a sync that fails is said, and left to the next
    save, so that a failing rebuild (and its rollback's container) never repeats by itself."""
    try:
        running = dk.service_containers(loop.engine)
    except CiError:
        return
    later = "the next save rebuilds it"
    for service, started in sorted(loop.started.items()):
        container = running.get(service)
        if container is not None and container.id == started and container.running and container.health == "starting":
            continue  # whoever started it may wait for its health (`compose up --wait`): not restarted under them
        del loop.started[service]
        if container is None or not container.running or container.id != started:
            continue
        loop.known[service] = container.id  # asked once; a sync below makes it known again, proven
        target = loop.services_by_name[service].target if service in loop.services_by_name else ""
        built = loop.record.targets.get(target) if loop.record else None
        if built is None or container.image != built.image_id:
            print(f"{service}: container {short_id(container.id)} was started by someone else and runs no image of "
                  f"the build record: {later}", flush=True)  # fmt: skip
            continue
        print(f"{service}: container {short_id(container.id)} was started by someone else: comparing it whole",
              flush=True)  # fmt: skip
        found = caught_up(loop, loop.services_by_name[service], container, built, later)
        if found is None or found.sync is None:
            continue
        if not found.differs:
            print(f"{service}: at the tree ({found.compared} files compared)", flush=True)
        elif not sync_turn(loop, found.sync, container, time.monotonic(), list(found.files), later):
            loop.known[service] = container.id


def on_burst(loop: Loop, burst: Burst) -> None:
    if not burst.paths:
        recreated(loop)
        return
    files = sorted(loop.relative(p) for p in burst.paths)
    changed = any(p in burst.paths for p in loop.definitions)
    reread = False
    # An image missing may be pulled meanwhile, with no edit: each save asks again.
    if changed or (loop.unreadable and loop.unread_as == IMAGE_MISSING):
        print(f"the definitions {'changed' if changed else 'named an image missing'}: reading them again", flush=True)
        reread = True
        try:
            loop.read_definitions()
            loop.unreadable = ""
        except CiError as err:
            loop.unreadable = str(err)
            loop.unread_as = IMAGE_MISSING if isinstance(err, preflight.ImagesMissing) else "does not parse"
        targets = list(loop.inputs)
    else:
        targets = [name for name, i in loop.inputs.items() if any(i.includes(p) for p in burst.paths)]
    if loop.unreadable:
        unread(loop, files)
    elif targets and (reread or loop.run.args.no_sync):  # new definitions: every target rebuilt, as before the rules
        turn(loop, files, targets, burst.seen)
    elif targets:
        planned(loop, burst, files)


def planned(loop: Loop, burst: Burst, files: list[str]) -> None:
    """The burst by its plan (ci/watch/plan.py): each service a sync can carry gets a sync turn, proven; the
    targets of the others, and of a sync that failed, are rebuilt in one turn, as every turn was before."""
    root = loop.run.settings.root.resolve()
    inside = [p for p in burst.paths if p.is_relative_to(root)]  # the watcher's paths: absolute, resolved
    relative = [p.relative_to(root).as_posix() for p in inside]
    gone = [p.relative_to(root).as_posix() for p in inside if not os.path.lexists(p)]
    services = {s.name: s.target for s in loop.services}
    decided = plan(relative, gone, services, loop.rules, loop.inputs, root)
    rebuilt = decided.targets
    try:
        running = dk.service_containers(loop.engine) if decided.syncs else {}
    except CiError:
        running = {}  # the rebuild turn lists them again, and says why it cannot (an engine gone ends the loop)
    for sync in decided.syncs:
        container = running.get(sync.service)
        target = services[sync.service]
        if container is None or not container.running or target in rebuilt:
            rebuilt.append(target)  # nothing to sync into: the rebuild brings it up
            continue
        mine = [shown(f, gone) for f in relative if loop.inputs[target].includes(root / f)]
        if loop.known.get(sync.service) != container.id:
            whole = unknown_container(loop, sync.service, container)
            if whole is None or whole.sync is None:
                rebuilt.append(target)
                continue
            sync, mine = whole.sync, sorted(set(mine) | set(whole.files))
        if not sync_turn(loop, sync, container, burst.seen, mine):
            rebuilt.append(target)
    rebuilt = list(dict.fromkeys(rebuilt))
    if rebuilt:
        turn(loop, [f for f in files if any(loop.inputs[t].includes(root / f) for t in rebuilt)] or files,
             rebuilt, burst.seen)  # fmt: skip


def unknown_container(loop: Loop, service: str, container: dk.ContainerInfo) -> sync_.CatchUp | None:
    """SERVICE's CONTAINER, not the one the loop last saw at the tree (recreated since: its earlier syncs gone),
    compared with the tree whole: the sync that brings it there, or None (said) when only a rebuild does."""
    print(f"{service}: container {short_id(container.id)} is not the one watch last proved: comparing it whole",
          flush=True)  # fmt: skip
    built = loop.record.targets.get(loop.services_by_name[service].target) if loop.record else None
    if built is None or container.image != built.image_id:
        print(f"{service}: it runs no image of the build record: rebuilding it", flush=True)
        return None
    return caught_up(loop, loop.services_by_name[service], container, built)


def shown(path: str, gone: list[str]) -> str:
    return f"{path} (deleted)" if path in gone else path


def sync_turn(
    loop: Loop, sync: Sync, container: dk.ContainerInfo, seen: float, files: list[str], then: str = "rebuilding it"
) -> bool:
    """SYNC carried into the service's running CONTAINER and proven: its line and testcase (turns.taking);
    the sync recorded where verify reads it. False when it failed (its line names the service and the path):
    the caller rebuilds the service's target. FILES: the burst's files of the service, as the line shows them."""
    current = Turn(len(loop.turns) + 1, sorted(files), [], [sync.service], action=SYNCED)
    loop.turns.append(current)
    settings, target = loop.run.settings, loop.services_by_name[sync.service].target
    with turns.taking(current, seen, loop.engine, loop.run.report, loop.board):
        try:
            digest = sync_.tree_digest(loop.inputs[target])  # the tree the copies are read from
            user = loop.user_of(container.id)
            carried = sync_.carry(loop.engine, sync.service, container.id, sync, settings.root.resolve(), user,
                                  job_kinds(loop.services))  # fmt: skip
        except CiError as err:
            forget(loop, sync.service)
            loop.known.pop(sync.service, None)
            raise Failed("sync failed", f"{sync.service}: {err}; {then}") from None
        current.sync_seconds, current.up_seconds = carried.sync_seconds, carried.up_seconds
        if not carried.proof.ok:
            forget(loop, sync.service)
            loop.known.pop(sync.service, None)
            said = carried.proof.line().replace(container.id, container.name)
            raise Failed("not proven", f"{sync.service}: {said}; {then}")
        entry = sync_.entry_of(sync, container, loop.rules.get(sync.service, ()), loop.inputs[target], digest)
        entry = record_sync(settings.reports_dir, settings.project, sync.service, entry)
        current.detail = f"{carried.proof.line()} ({entry.line()} onto {short_id(entry.image)})"
        loop.known[sync.service] = container.id
    return current.result == "verified"


def forget(loop: Loop, service: str) -> None:
    """SERVICE's earlier syncs no longer say what its container holds: a sync went wrong in it."""
    clear_synced(loop.run.settings.reports_dir, loop.run.settings.project, [service])


def catch_up(loop: Loop) -> tuple[list[str], set[str]]:
    """The stack brought to the tree as the loop starts: each running service with sync rules compared with the
    tree by content (ci/watch/sync.py `catch_up`: edits and deletions made while nothing watched, or an earlier
    sync the tree has moved from), what differs synced and proven in a turn of its own. Returned: the targets
    left to rebuild (their image is not the tree's and a running service of theirs is not at the tree by any
    sync: no rules, an input no rule carries, a container that cannot be read, a proof that failed), and the
    services that run synced files at the tree."""
    stale = stale_targets(loop.engine, loop.services, loop.inputs)
    if loop.run.args.no_sync or loop.record is None:
        return stale, set()
    try:
        running = {n: c for n, c in dk.service_containers(loop.engine).items() if c.running}
    except CiError:
        return stale, set()  # the rebuild turn lists them again, and says why it cannot
    forced: list[str] = []
    synced: set[str] = set()
    # One image per target, as a burst's plan has it: a stale target one of whose services no sync can carry (a
    # job on the backend's image, which must run again on the new code) is rebuilt for all of them.
    unsyncable = {s.target for s in loop.services if not any(r.action.syncs for r in loop.rules.get(s.name, ()))}
    for service in loop.services:
        container, built = running.get(service.name), loop.record.targets.get(service.target)
        rules = loop.rules.get(service.name, ())
        if container is None or built is None or container.image != built.image_id:
            continue  # not the recorded build: stale by its image, or by the checks of its turn
        if not any(r.action.syncs for r in rules) or (service.target in stale and service.target in unsyncable):
            continue
        found = caught_up(loop, service, container, built)
        if found is None or found.sync is None:
            forced.append(service.target)
        elif found.differs:
            if sync_turn(loop, found.sync, container, time.monotonic(), list(found.files)):
                synced.add(service.name)
            else:
                forced.append(service.target)
        elif service.target in stale:  # its image is older, its files the tree's: verify reads that here
            synced.add(service.name)
            inputs = loop.inputs[service.target]
            entry = sync_.entry_of(Sync(service.name, (), ()), container, rules, inputs, sync_.tree_digest(inputs))
            record_sync(loop.run.settings.reports_dir, loop.run.settings.project, service.name, entry)
    behind = [
        t for t in stale if any(s.target == t and s.name in running and s.name not in synced for s in loop.services)
    ]
    rebuilt = list(dict.fromkeys(forced + behind))
    loop.known.update(
        (s.name, running[s.name].id) for s in loop.services if s.name in running and s.target not in rebuilt
    )
    return rebuilt, {s.name for s in loop.services if s.name in synced and s.target not in rebuilt}


def serve_page(loop: Loop) -> None:
    """The live page (ci/watch/serve.py) on --port, else WATCH_PORT; its address said first. Not with --once or
    port 0; a port it cannot have is said in one line, and the loop runs without the page."""
    port = watch_port(loop.run.settings.env) if loop.run.args.port is None else loop.run.args.port
    if loop.run.args.once or port == 0:
        return
    board = board_.Board(loop.run.settings.project, lambda: running_now(loop))
    page = serve.open_page(board, port)
    if isinstance(page, str):
        print(page, file=sys.stderr, flush=True)
        return
    loop.board, loop.page = board, page
    print(f"page: {page.address} (live, read-only)", flush=True)


def running_now(loop: Loop) -> dict[str, board_.Runs]:
    """What each service runs, for the page: the latest build, and the tree at each proven sync."""
    settings = loop.run.settings
    synced = {n: e.tree_digest for n, e in read_synced(settings.reports_dir, settings.project).services.items()}
    return board_.runs_of(loop.record, loop.services, synced)


def said(loop: Loop, states: dict[str, tuple[str, str]]) -> None:
    """Each service's state on the page (STATES: service -> state, why), where no turn says it."""
    if loop.board and states:
        loop.board.said(states)
        loop.board.running()


def at_start(loop: Loop, synced: set[str]) -> dict[str, tuple[str, str]]:
    """Each service's state once the start's turns ran, as start_line says it; a failed one's, its turn's."""
    states = {}
    for service in loop.services:
        last = next((t for t in reversed(loop.turns) if service.name in t.services), None)
        if last is None or last.result == "verified":
            states[service.name] = (board_.SYNCED_STATE if service.name in synced else board_.BUILT, "")
    return states


def check_args(args: argparse.Namespace) -> None:
    if args.port is not None and not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number: give 1-65535, or 0 for no page")


def start_line(loop: Loop, synced: set[str]) -> str:
    """The line after the start's turns: each service at the tree, and how (SYNCED: by sync), or not (its
    last turn failed)."""
    said = []
    for service in loop.services:
        last = next((t for t in reversed(loop.turns) if service.name in t.services), None)
        state = "synced" if service.name in synced else "built"
        said.append(f"{service.name} ({state if last is None or last.result == 'verified' else 'not at the tree'})")
    head = "at the tree" if all(not s.endswith("(not at the tree)") for s in said) else "not all at the tree"
    return f"{head}: {', '.join(said)}" + ("" if head == "at the tree" else "; the next save retries")


def caught_up(
    loop: Loop, service: Service, container: dk.ContainerInfo, built: TargetRecord, then: str = "rebuilding it"
) -> sync_.CatchUp | None:
    """SERVICE's running CONTAINER against the tree (sync_.catch_up); None, said on a line ending in THEN, when
    only a rebuild brings it there."""
    try:
        user = loop.user_of(container.id)
        found = sync_.catch_up(loop.engine, loop.run.settings.root, service.name, container.id,
                               loop.rules.get(service.name, ()), loop.inputs[service.target], built, user)  # fmt: skip
    except CiError as err:
        found = sync_.CatchUp(rebuild=str(err))
    if found.rebuild or found.sync is None:
        print(f"{service.name}: {found.rebuild}; {then}", flush=True)
        return None
    return found


def unread(loop: Loop, files: list[str]) -> None:
    """A turn that cannot run: a definition does not parse, or names an image that cannot be had. Nothing is
    built or touched; the next save of it reads it again."""
    current = Turn(len(loop.turns) + 1, files, [], [], loop.unread_as, f"{loop.unreadable}; the stack runs unchanged")
    loop.turns.append(current)
    turns.record(loop.run.report, current)
    if loop.board:
        loop.board.end(current)


def build(loop: Loop, targets: dict[str, ResolvedTarget], current: Turn | None = None) -> BuildRecord:
    """Bake TARGETS; the record keeps the others as the loop last recorded them. CURRENT: the turn, given the time
    its build's timeline took to draw."""
    settings, logs = loop.run.settings, loop.run.args.logs
    built = rebuild(settings, loop.engine, PROFILE, targets, loop.record, show_logs=logs, out=loop.progress)
    loop.record = built.record
    if current is not None:
        current.timeline_seconds = built.timeline_seconds
    return built.record


def turn(loop: Loop, files: list[str], targets: list[str], seen: float) -> None:
    """Rebuild TARGETS, recreate their services and those of the stack that are down (a failed start leaves
    them so), verify them; one line, and the turn in the report, whatever happens (turns.taking). SEEN: when
    the change was seen (time.monotonic())."""
    current = Turn(len(loop.turns) + 1, files, targets, [])
    loop.turns.append(current)
    with turns.taking(current, seen, loop.engine, loop.run.report, loop.board) as started:
        try:
            containers = dk.service_containers(loop.engine)
            services = starting.due(loop.services, targets, containers)
            current.services = [s.name for s in services]
            # Their running images kept before the build moves their tags: a new container that fails gives
            # way to them.
            with rollback.keeping(loop.engine, current.services, containers, job_kinds(loop.services)) as kept:
                attempt(loop, current, services, started, kept)
        except CiError as err:  # a docker call around the build and up: listing, keeping the images
            raise Failed("failed", str(err)) from None


def attempt(loop: Loop, current: Turn, services: list[Service], started: float, kept: dict[str, rollback.Kept]) -> None:
    """The turn's build, up and proof, timed into CURRENT; raises Failed with what failed."""
    previous = turns.running_sources(loop.record, services)
    try:
        build(loop, {t: loop.targets[t] for t in current.targets}, current)
    except CiError as err:
        still = ", ".join(f"{s}: {p}" for s, p in previous.items())
        raise Failed("build failed", f"{err}; the previous build still serves ({still})") from None
    finally:
        current.build_seconds = time.monotonic() - started
    assert loop.record is not None
    request = starting.Request(loop.engine, loop.run.settings, loop.services, loop.record, current.services,
                               only=True, kept=kept, out=loop.progress)  # fmt: skip
    try:
        deployed = starting.replace(request)
    except starting.NotUp as err:
        loop.record = err.record  # what runs now: the previous build, where it came back
        raise Failed("unhealthy", str(err)) from None
    except CiError as err:
        raise Failed("unhealthy", str(err)) from None
    finally:
        current.up_seconds = time.monotonic() - started - current.build_seconds
    # The args it built with: those it resolved when it started (a .env edited since is verify's to name).
    resolved = {name: shaping_args(t.args) for name, t in loop.targets.items()}
    ctx = Context(loop.run.settings, loop.engine, loop.record, loop.services, deployed.containers, args_now=resolved)
    try:
        current.detail = prove(ctx, services, PROFILE)
    except NotVerified as err:
        raise Failed("not verified", str(err)) from None
    loop.known.update((s.name, deployed.containers[s.name].id) for s in services if s.name in deployed.containers)


def follow(loop: Loop) -> None:
    """The services' own lines from now on, beside the turns' and on the live page (ci/watch/logs.py); with
    --no-logs, on the page alone; none with --once."""
    quiet = loop.run.args.no_logs
    if loop.run.args.once or (quiet and loop.board is None):
        return
    listener = loop.board.log if loop.board else None
    loop.follower = logs.Follower(loop.engine, [s.name for s in loop.services], listener=listener, quiet=quiet)
    loop.follower.start()


def resume(loop: Loop) -> None:
    """After a turn: compose 2.26's follower ends when none of the containers runs."""
    if loop.follower:
        loop.follower.resume()


def finish(loop: Loop) -> None:
    """The services' lines stopped; watch.json's turns, --down, and the last line."""
    run = loop.run
    if loop.follower:
        loop.follower.stop()
    if loop.page:
        loop.page.stop()
    run.data["turns"] = [asdict(t) for t in loop.turns]
    # --down needs the engine: after it went away, nothing to stop.
    if run.args.down and loop.services and not turns.engine_went_away(loop.turns):
        dk.stop_services(loop.engine, [s.name for s in loop.services])
        print("stack stopped (--down)", flush=True)
    run.verdict = turns.verdict(loop.turns, stopped=run.args.down)


SESSION = Session(
    name="watch",
    summary="Rebuild, recreate and verify only what changed, after every change (Ctrl-C stops).",
    steps=("engine", "preflight", "stack"),  # then a testcase per turn
    body=body,
    check_args=check_args,
    steps_table=False,  # one line per turn says it all
    locks=lambda args: True,
)
