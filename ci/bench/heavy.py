"""The real weight, for `nox -s bench -- --heavy`: the heavy profile (ci/bench/heavy_app/, laid over the bench's copy
of the tree: a backend with gigabytes of ML dependencies, a React frontend of several hundred packages) built
as a pipeline builds it, with where each build's time goes and what each moves.

H1 cold prod: no build cache, no images, empty registry cache; the time outside the build steps (image
   export, unpacking, cache export) against the steps' own (goal: at most 0.25);
H2 a fresh runner after a one-line backend commit: its time against H1 (goal: at most 0.15, and under 60 s),
   the bytes it pulled, and what the registry grew by (goal: under 20 MB);
H3 a fresh runner after a one-line frontend commit: no byte of the backend pulled, time under 0.25 of H1;
H4 watch: a one-line backend edit, from the write to the verified line, against the example app's turn
   plus the heavy backend's own start (its imports, from its log);
and H1's timeline (build-prod.html, kept as reports/build-heavy-cold.html): its weight (goal: under 1 MB) and
the time it takes to open in chromium (goal: under 1 s).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ci import docker as dk
from ci.bench import loop
from ci.bench.goals import Goal
from ci.builds.bakefile import ResolvedTarget
from ci.builds.figures import phases_text
from ci.cache import registry
from ci.core.errors import CiError
from ci.core.report import Findings
from ci.core.units import human

OVERLAY = Path("ci/bench/heavy_app")  # the app the profile lays over the copy, beside this code
CASES = (
    "H1 cold prod",
    "H2 fresh runner, backend commit",
    "H3 fresh runner, frontend commit",
    "H4 watch: backend edit",
)
OUTSIDE_GOAL = 0.25  # H1: exports and unpacking over the steps' own time
BACKEND_GOAL, BACKEND_LIMIT = 0.15, 60.0  # H2 over H1, and seconds
FRONTEND_GOAL = 0.25  # H3 over H1
GROWTH_LIMIT = 20_000_000  # bytes the registry cache may grow by for a one-line commit
START_TIMEOUT = 1800.0  # watch's first start of the heavy stack: its images unpacked from the cache
ENV = {"BACKEND_START_PERIOD": "300s"}  # the heavy backend imports its libraries before it answers
IMPORTED = re.compile(r"imported .* in (\d+(?:\.\d+)?)s")
TIMELINE = "H1 timeline"
TIMELINE_SECONDS, TIMELINE_BYTES = 1.0, 1_000_000  # H1's timeline: to open it in chromium, its weight


class Runner(Protocol):
    """What the heavy cases need of the bench's copy of the tree (ci/bench/cases.py's Bench)."""

    tree: Path
    reports: Path
    env: dict[str, str]
    engine: dk.Engine
    registry: str
    targets: dict[str, ResolvedTarget]
    last_report: dict[str, Any]

    def prod(self, name: str, *extra: str, env: dict[str, str] | None = None) -> Any: ...
    def fresh_runner(self) -> None: ...
    def edit_and_commit(self, target: str) -> None: ...
    def edit(self, target: str) -> str: ...
    def stop_stack(self) -> None: ...


@dataclass
class HeavyBuild:
    """One prod build of the heavy profile: its time, and per target where it went and what it pulled."""

    name: str
    seconds: float
    targets: list[dict[str, Any]]

    @property
    def steps_seconds(self) -> float:
        return float(sum(t.get("phases", {}).get("steps", 0.0) for t in self.targets))

    @property
    def outside_seconds(self) -> float:
        """Every phase but the steps: importing and exporting the cache, the image's export and unpacking."""
        return float(sum(s for t in self.targets for p, s in t.get("phases", {}).items() if p != "steps"))

    def pulled(self, target: str) -> int:
        return next((int(t.get("pulled_bytes", 0)) for t in self.targets if t["target"] == target), 0)

    def phases(self) -> list[str]:
        """A line per target: where its time went (the figures whole, never cut: one target a line)."""
        return [f"  {t['target']}: {phases_text(t.get('phases', {}))}" for t in self.targets]


@dataclass
class HeavyResult:
    builds: list[HeavyBuild] = field(default_factory=list)
    growth_bytes: int = 0
    turn_seconds: float = 0.0
    example_turn_seconds: float = 0.0
    start_seconds: float = 0.0
    cold_timeline: Path | None = None  # where H1's timeline is kept (H2's build writes its own); None: not kept
    timeline_bytes: int = 0
    timeline_seconds: float = 0.0
    goals: list[Goal] = field(default_factory=list)


def build(bench: Runner, name: str, *extra: str) -> HeavyBuild:
    started = time.monotonic()
    bench.prod(name, *extra, env=ENV)
    found = HeavyBuild(name, time.monotonic() - started, list(bench.last_report.get("targets", [])))
    print("\n".join([f"{name}: where the time went:", *found.phases()]), flush=True)
    return found


def cache_bytes(bench: Runner, project: str) -> int:
    return registry.distinct_bytes(registry.cache_refs(bench.registry, project, bench.targets).refs)


def builds(bench: Runner, project: str, result: HeavyResult) -> None:
    """H1-H3: the cold build, then a fresh runner after a backend commit and after a frontend commit."""
    backend, frontend = next(iter(bench.targets)), list(bench.targets)[-1]
    bench.fresh_runner()
    cold = build(bench, CASES[0], "--no-cache")
    if result.cold_timeline is not None:
        shutil.copyfile(bench.reports / "build-prod.html", result.cold_timeline)
    before = cache_bytes(bench, project)
    bench.edit_and_commit(backend)
    bench.fresh_runner()
    after_backend = build(bench, CASES[1])
    result.growth_bytes = cache_bytes(bench, project) - before
    bench.edit_and_commit(frontend)
    bench.fresh_runner()
    after_frontend = build(bench, CASES[2])
    result.builds = [cold, after_backend, after_frontend]
    outside = cold.outside_seconds / cold.steps_seconds if cold.steps_seconds else float("inf")
    result.goals += [
        Goal(CASES[0], "outside the steps / steps", outside, OUTSIDE_GOAL,
             f"{cold.outside_seconds:.0f}s / {cold.steps_seconds:.0f}s = {outside:.2f}"),
        Goal(CASES[1], "time / cold", after_backend.seconds / cold.seconds, BACKEND_GOAL,
             f"{after_backend.seconds:.1f}s / {cold.seconds:.1f}s = {after_backend.seconds / cold.seconds:.2f}"),
        Goal(CASES[1], "seconds", after_backend.seconds, BACKEND_LIMIT, f"{after_backend.seconds:.1f}s",
             f"{BACKEND_LIMIT:g}s"),
        Goal(CASES[1], "registry growth", result.growth_bytes, GROWTH_LIMIT, human(result.growth_bytes),
             human(GROWTH_LIMIT)),
        Goal(CASES[2], "backend bytes pulled", after_frontend.pulled(backend), 0,
             human(after_frontend.pulled(backend))),
        Goal(CASES[2], "time / cold", after_frontend.seconds / cold.seconds, FRONTEND_GOAL,
             f"{after_frontend.seconds:.1f}s / {cold.seconds:.1f}s = {after_frontend.seconds / cold.seconds:.2f}"),
    ]  # fmt: skip
    for case in result.builds:
        pulled = ", ".join(f"{t['target']} {human(int(t.get('pulled_bytes', 0)))}" for t in case.targets)
        print(f"{case.name}: {case.seconds:.1f}s, pulled {pulled}", flush=True)


def timeline_case(result: HeavyResult) -> None:
    """H1's timeline, where builds kept it, weighed and opened in chromium (the browser already up: a reader's is)."""
    from ci.probe import browser  # playwright: the bench installs verify --browser's requirement

    if result.cold_timeline is None or not result.cold_timeline.is_file():
        raise CiError("bench --heavy: H1's timeline was not kept")
    result.timeline_bytes = result.cold_timeline.stat().st_size
    result.timeline_seconds = browser.load_seconds(result.cold_timeline)
    result.goals += [
        Goal(TIMELINE, "seconds to open", result.timeline_seconds, TIMELINE_SECONDS,
             f"{result.timeline_seconds:.2f}s", f"{TIMELINE_SECONDS:g}s"),
        Goal(TIMELINE, "weight", result.timeline_bytes, TIMELINE_BYTES, human(result.timeline_bytes),
             human(TIMELINE_BYTES)),
    ]  # fmt: skip


def turn(tree: Path, env: Mapping[str, str], edit: Any, name: str, timeout: float) -> float:
    """One rebuild turn of watch on TREE (`--no-sync`: H4 times a rebuild, whatever the develop.watch rules say):
    watch started (the stack from the cache when it is not up), EDIT written, seconds from the write to the
    verified line."""
    case = loop.LoopCase(name, [], "")
    loop.turns(tree, env, [loop.Edit(name, edit)], {name: case}, start_timeout=timeout)
    return case.samples[-1]


def backend_start(engine: dk.Engine, project: str) -> float:
    """The heavy backend's own start: the seconds its imports took, as its log says."""
    containers = dk.project_containers(engine, project)
    for container in containers:
        if container.service == "backend":
            found = IMPORTED.findall(dk.container_logs(engine, container.id))
            if found:
                return float(found[-1])
    raise CiError("bench --heavy: the backend's log has no `imported ... in Ns` line")


def watch_case(bench: Runner, example: Runner, project: str, result: HeavyResult) -> None:
    """H4: a backend turn of the heavy profile against one of the example app, in the same run."""
    backend = next(iter(bench.targets))
    env = {**bench.env, **ENV}
    result.turn_seconds = turn(bench.tree, env, lambda: bench.edit(backend), CASES[3], START_TIMEOUT)
    result.start_seconds = backend_start(bench.engine, project)
    bench.stop_stack()
    example_backend = next(iter(example.targets))
    result.example_turn_seconds = turn(
        example.tree, example.env, lambda: example.edit(example_backend), "example app: backend edit", START_TIMEOUT
    )
    example.stop_stack()
    allowed = result.example_turn_seconds + result.start_seconds
    result.goals.append(
        Goal(CASES[3], "seconds", result.turn_seconds, allowed,
             f"{result.turn_seconds:.1f}s (example app's turn {result.example_turn_seconds:.1f}s + the heavy "
             f"backend's start {result.start_seconds:.1f}s)", f"{allowed:.1f}s")
    )  # fmt: skip


def summarize(run: Findings, result: HeavyResult) -> None:
    """The goals, met or missed, on screen, in bench.json and in the last line."""
    for build_ in result.builds:
        print("\n".join([f"{build_.name}: {build_.seconds:.1f}s", *build_.phases()]))
    for goal in result.goals:
        print(goal.line())
    run.data["heavy"] = {
        "builds": [
            {"name": b.name, "seconds": round(b.seconds, 3), "targets": b.targets,
             "steps_seconds": round(b.steps_seconds, 3), "outside_seconds": round(b.outside_seconds, 3)}
            for b in result.builds
        ],
        "registry_growth_bytes": result.growth_bytes,
        "watch_turn_seconds": round(result.turn_seconds, 3),
        "example_turn_seconds": round(result.example_turn_seconds, 3),
        "backend_start_seconds": round(result.start_seconds, 3),
        "timeline": {"bytes": result.timeline_bytes, "seconds": round(result.timeline_seconds, 3)},
        "goals": [{"case": g.case, "what": g.what, "value": g.value, "goal": g.goal, "met": g.met}
                  for g in result.goals],
    }  # fmt: skip
    missed = [g for g in result.goals if not g.met]
    run.verdict = f"heavy: {len(result.goals) - len(missed)} of {len(result.goals)} goals met" + (
        f"; missed: {', '.join(f'{g.case} {g.what} {g.shown}' for g in missed)}" if missed else ""
    )
