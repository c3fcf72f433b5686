"""`nox -s bench`: prod builds side by side, on a copy of the tree, with figures and ratios.

1. cold: no local build cache, no base images, empty registry cache;
2. fresh runner (no local cache, no images) warm from the registry, after a one-line commit to the first
   target's sources (the backend);
3. the same, after a one-line commit to the last target's sources only (the frontend): every other target
   must rerun no step;
4. no-op: nothing changed, local cache warm (the whole `nox -s prod`, nox included);
5. the build process guide's way: the same tree rebuilt with --no-cache for everything;
6. `nox -s dev` (no cache), then `nox -s watch -- --no-sync` with the stack up: 7. a one-line edit to the first
   target's sources, 8. to the last target's, each from the write to the rebuild turn's verified line; 7s. the
   first target's edit through a sync turn of `nox -s watch` (its develop.watch rule), from the write to the
   proven line, twice a round; 7c. the same edit through `docker compose watch`'s sync+restart, from the write
   to the container healthy again, twice a round; 7p. 7s's edit again with watch's live page open in chromium,
   twice a round; 7s, 7c and 7p taking turns to go first (ci/bench/loop.py); five rounds, every case side by
   side in each, counted by its median; goals: 7 and 8 within 15% and 35% of 6, 7s within 0.35 of 7 and under
   1 s, 7s at most 7c + 0.15 s, the proof of 7s's turns at most 100 ms at the 95th percentile, 7p at most 7s +
   0.05 s, 7's and 8's timelines drawn in at most 50 ms (ci/bench/goals.py);
9. `nox -s verify -- --url` at the stack 6-8 left running, each service at its own address, 5 samples each,
   five times, counted by its median (goal: under 1 s, nox included);
10. alternating: eight commits (first target, last, last, first, both, the first target's dependency file,
   last, a revert of the one before), each built on a fresh runner warm from the registry only; per
   commit its time, the steps it reran and the minimum (what a runner that kept its local cache of every
   earlier commit reruns: the same commits built so first), the reruns beyond it (goal: 0), and the
   slowest of them against a cold build;
11. a warm `nox -s prod -- --push --sign` (provenance, SBOM, signature) against the same push with `--no-attest`,
   alternating, three each (goal: at most 10 s added, medians; ci/bench/release.py).
`-- --only loop`: cases 6-8, 7s, 7c and 7p alone, which prune nothing (1-5 and 10 empty the engine's build cache);
`-- --only push`: case 11 alone (nothing pruned either).
The targets and their sources come from the bake definition, as every session reads them.
The figures are drawn too, beside bench.json: reports/bench.html (ci/bench/picture.py).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict
from typing import Any

from ci import docker as dk
from ci.bench import goals as goals_
from ci.bench import heavy, loop, picture, release, watched
from ci.bench.cases import ALTERNATING, CASES, PROJECT, URL_CASE, Bench, Case, alternating_case, run_case
from ci.cache import registry
from ci.core import terminal
from ci.core.errors import CiError, UsageError
from ci.core.session import Run, Session
from ci.stack import live

LOOP_CASES = (
    "6 dev (no cache)",
    "7 watch: first target edited",
    "8 watch: last target edited",
    "7s watch: first target synced",
    "7c compose watch: first target synced",
    "7p watch: first target synced, its page open",
)
LOOP_STEP = "6-8 dev and watch, side by side"
URL_GOAL = 1.0  # seconds, nox included
ONLY = ("loop", "push")  # --only: the loop cases alone (6-8, 7s, 7c), or case 11; neither prunes anything
SYNC_EDITS = 2  # sync turns a round, of ours and of compose's: ten proofs over five rounds
Timed = tuple[list[loop.LoopCase], loop.ComposeCase]  # the loop cases 6, 7, 8, 7s and 7p; 7c


def body(run: Run) -> None:
    engine = dk.connect(run.settings)
    dk.require_engine(engine)
    cache_registry, _ = registry.cache_registry(run.settings.cache)
    problem = registry.probe(cache_registry).problem
    if problem:
        raise CiError(
            f"the benchmark needs the cache registry: {problem} (run `nox -s prod` once, or `ci/provision` as root)"
        )
    if run.args.only and run.args.only not in ONLY:
        raise UsageError(f"bench: --only takes {', '.join(ONLY)}, not {run.args.only!r}")
    if run.args.heavy:
        if run.args.only:
            raise UsageError("bench: --only and --heavy do not go together: --heavy runs its own cases")
        heavy_profile(run, engine, cache_registry)
        return
    bench = Bench(run.settings, engine, cache_registry)
    cases: list[Case] = []
    drawn: list[picture.Figure] = []  # cases 1-5 with their builds' phases
    try:
        print(f"bench: copy of the tree in {bench.tree}; preparing the session's venv", flush=True)
        bench.prepare(run.settings.root)
        if run.args.only == "push":
            with run.step(release.CASE) as check:
                pushed = release.push_case(bench)
                check.message = pushed.summary()
        elif run.args.only:
            timed = loop_cases(run, bench)
        else:
            for name in CASES:
                with run.step(name) as check:
                    cases.append(run_case(bench, name))
                    drawn.append(picture.build_figure(name, cases[-1].seconds, bench.last_report.get("targets", [])))
                    check.message = f"{cases[-1].seconds:.1f}s, {cases[-1].cached}/{cases[-1].steps} steps cached"
            timed = loop_cases(run, bench)
            with run.step(URL_CASE) as check:
                url_times = bench.verify_url()
                check.message = f"median {statistics.median(url_times):.2f}s of {len(url_times)}"
            bench.stop_stack()
            with run.step(ALTERNATING) as check:
                alternating = alternating_case(bench)
                check.message = alternating.summary()
            with run.step(release.CASE) as check:
                pushed = release.push_case(bench)
                check.message = pushed.summary()
    finally:
        if not run.args.keep:
            bench.stop_stack()
            dk.remove_images(engine, dk.project_image_ids(engine, PROJECT))
    if run.args.only == "push":
        draw(run, "nox -s bench -- --only push", push_figures(pushed), [summarize_push(run, pushed)])
        return
    if run.args.only:
        draw(run, "nox -s bench -- --only loop", picture.loop_figures(*timed), summarize_loop(run, timed))
        return
    shown = summarize(run, cases, timed, url_times)
    alternating.show(run)
    fresh = [c.seconds for c in alternating.fresh]
    unnecessary = alternating.unnecessary
    shown.append(goals_.Goal(ALTERNATING, "unnecessary reruns", unnecessary, 0, str(unnecessary)))
    shown.append(summarize_push(run, pushed))
    figures = [*drawn, *picture.loop_figures(*timed), picture.Figure(URL_CASE, url_times),
               picture.Figure(f"{ALTERNATING}: each commit's build", fresh), *push_figures(pushed)]  # fmt: skip
    draw(run, "nox -s bench", figures, shown)


def heavy_profile(run: Run, engine: dk.Engine, cache_registry: str) -> None:
    """`--heavy`: the heavy profile's cases (ci/bench/heavy.py), then everything it made removed: images,
    build cache, registry refs."""
    bench, example = Bench(run.settings, engine, cache_registry), Bench(run.settings, engine, cache_registry)
    result = heavy.HeavyResult(cold_timeline=run.settings.reports_dir / "build-heavy-cold.html")
    try:
        print(f"bench --heavy: copy of the tree with {heavy.OVERLAY} in {bench.tree}", flush=True)
        bench.prepare(run.settings.root, heavy.OVERLAY)
        with run.step("H1-H3 prod builds") as check:
            heavy.builds(bench, PROJECT, result)
            check.message = "; ".join(g.line() for g in result.goals)
        with run.step(heavy.TIMELINE) as check:
            heavy.timeline_case(result)
            check.message = "; ".join(g.line() for g in result.goals[-2:])
        example.prepare(run.settings.root)
        with run.step(heavy.CASES[3]) as check:
            heavy.watch_case(bench, example, PROJECT, result)
            check.message = result.goals[-1].line()
    finally:
        bench.stop_stack()
        example.stop_stack()
        dk.remove_images(engine, dk.project_image_ids(engine, PROJECT))
        for target in bench.targets:
            registry.delete_cache(f"{cache_registry}/{PROJECT}/{target}")
        dk.prune_build_cache(engine)
    heavy.summarize(run, result)
    figures = [picture.build_figure(b.name, b.seconds, b.targets) for b in result.builds]
    figures.append(picture.Figure(heavy.CASES[3], [result.turn_seconds] if result.turn_seconds else []))
    draw(run, "nox -s bench -- --heavy", figures, result.goals)


def loop_cases(run: Run, bench: Bench) -> tuple[list[loop.LoopCase], loop.ComposeCase]:
    names = list(bench.targets)
    first, last = names[0], names[-1]
    engine = bench.stack_engine()
    services = live.services(engine, {name: t.tags for name, t in bench.targets.items()})
    service = next(s.name for s in services if s.target == first)

    def edit(name: str, target: str) -> loop.Edit:
        return loop.Edit(name, lambda: print(f"edited {bench.edit(target)}"))

    sides = loop.Sides(
        rebuilds=[edit(LOOP_CASES[1], first), edit(LOOP_CASES[2], last)],
        syncs=[edit(LOOP_CASES[3], first)] * SYNC_EDITS,
        compose=[edit(LOOP_CASES[4], first)] * SYNC_EDITS,
        paged=[edit(LOOP_CASES[5], first)] * SYNC_EDITS,
        engine=engine,
        service=service,
        reports=bench.reports,
    )
    with run.step(LOOP_STEP) as check:
        found, composed = loop.measure(bench.nox, bench.tree, bench.env, loop.LoopCase(LOOP_CASES[0], [], ""), sides)
        check.message = ", ".join(f"{c.name}: {c.figures()}" for c in [*found, composed] if c.samples)
    return found, composed


def loop_figures(timed: Timed, ratios: dict[str, float], goals: dict[str, Any], drawn: list[goals_.Goal]) -> list[str]:
    """The loop cases' figures and goals on screen, into RATIOS and GOALS (bench.json) and DRAWN (the picture's);
    the verdict's parts."""
    (dev, first, last, synced, paged), composed = timed
    said = []
    for turn, limit in zip((first, last), loop.GOALS, strict=True):
        key, ratio = f"{turn.name[0]}/6", turn.seconds / dev.seconds
        ratios[key] = ratio
        goals[key] = {"ratio": round(ratio, 3), "goal": limit, "met": ratio <= limit}
        figure = f"{turn.seconds:.2f}s / {dev.seconds:.2f}s = {ratio:.1%}"
        drawn.append(goals_.Goal(turn.name, "over dev's time", ratio, limit, figure, f"{limit:.0%}"))
        # one decimal: a ratio of 15.4% against a goal of 15% must not read "15%"
        print(f"{turn.name}: {turn.figures()}, {ratio:.1%} of dev's {dev.figures()} "
              f"(goal: at most {limit:.0%}: {'met' if ratio <= limit else 'missed'})")  # fmt: skip
        said.append(f"{key} = {ratio:.3f} (goal {limit}: {'met' if ratio <= limit else 'missed'})")
    print(f"{synced.name}: {synced.figures()}")
    reached = list(zip(("7s/7", "7s"), goals_.sync_goals("7s", synced.samples, first.samples), strict=True))
    ratios["7s/7"] = reached[0][1].value
    if composed.samples:
        print(f"{composed.name}: {composed.figures()}")
        reached.append(("7s-7c", goals_.compose_goal("7s against 7c", synced.samples, composed.samples)))
    else:
        print(f"{composed.name}: not measured: {composed.refused}")
        goals["7s-7c"] = {"measured": False, "why": composed.refused}
        said.append("7s-7c not measured")
    if paged.samples:
        print(f"{paged.name}: {paged.figures()}")
        reached.append(("7p-7s", goals_.page_goal("7p against 7s", paged.samples, synced.samples)))
    drawings = [t.timeline_seconds for case in (first, last) for t in case.turns]
    if drawings:
        reached.append(("timeline", goals_.drawing_goal("7 and 8", drawings, [*first.samples, *last.samples])))
    # The proof itself: the read back and the comparison, as each sync turn's line says it (`read back in N ms`);
    # verify_seconds also counts the sync's record, written after it.
    proofs = [t.proof_seconds if t.proof_seconds is not None else t.verify_seconds for t in synced.turns]
    if proofs:
        reached.append((f"proof p{goals_.PROOF_PERCENTILE}", goals_.proof_goal("7s", proofs)))
    for key, goal in reached:
        print(goal.line())
        drawn.append(goal)
        goals[key] = goal.data()
        said.append(f"{key} = {goal.value:.3f} (goal {goal.goal:g}: {'met' if goal.met else 'missed'})")
    for case in (first, synced):
        parts = watched.where_time_went(case.samples, case.turns)
        if parts:
            shown = ", ".join(f"{n} {v:.2f}s" for n, v in parts)
            print(f"where {case.name[:2].strip()}'s time went (medians): {shown}")
    if composed.marks:
        med = {part: statistics.median(getattr(m, part) for m in composed.marks) for part in ("syncing", "restarted")}
        print(f"where 7c's time went (medians, from the write): compose's `Syncing` line {med['syncing']:.2f}s, "
              f"its `restarted` line {med['restarted']:.2f}s, healthy {composed.seconds:.2f}s")  # fmt: skip
    return said


def summarize_loop(run: Run, timed: Timed) -> list[goals_.Goal]:
    """`--only loop`: the loop cases' figures and goals, in bench.json and the verdict; the goals, to draw."""
    ratios: dict[str, float] = {}
    goals: dict[str, Any] = {}
    shown: list[goals_.Goal] = []
    said = loop_figures(timed, ratios, goals, shown)
    run.data.update({
        "machine": f"{os.cpu_count()} cores, {platform_line()}",
        "loop": [asdict(c) | {"seconds": round(c.seconds, 3) if c.samples else None} for c in [*timed[0], timed[1]]],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "goals": goals,
    })  # fmt: skip
    run.verdict = ", ".join(said)
    return shown


def summarize(run: Run, cases: list[Case], timed: Timed, url_times: list[float]) -> list[goals_.Goal]:
    """The figures and goals of every case but 10, on screen, in bench.json and the verdict; the goals, to draw."""
    cold, warm, other, noop, guide = cases
    rows = [(c.name, f"{c.seconds:.1f}s", c.steps, c.cached, f"{c.ratio:.0%}") for c in cases]
    print("\n" + terminal.table(("case", "wall time", "steps", "cached", "hit ratio"), rows, columns=terminal.width()))
    ratios = {
        "2/1": warm.seconds / cold.seconds,
        "2/5": warm.seconds / guide.seconds,
        "3/1": other.seconds / cold.seconds,
        "4/1": noop.seconds / cold.seconds,
    }
    goals: dict[str, Any] = {}
    shown: list[goals_.Goal] = []
    watch = loop_figures(timed, ratios, goals, shown)
    url = statistics.median(url_times)
    goals["9"] = {"seconds": round(url, 3), "goal": URL_GOAL, "met": url < URL_GOAL}
    shown.append(goals_.Goal(URL_CASE, "seconds, median", url, URL_GOAL, f"{url:.2f}s", f"{URL_GOAL:g}s"))
    print(f"{URL_CASE}: median {url:.2f}s of {len(url_times)} ({', '.join(f'{t:.2f}' for t in url_times)}; "
          f"goal: under {URL_GOAL:g}s, nox included: {'met' if url < URL_GOAL else 'missed'})")  # fmt: skip
    print("\nratios: " + ", ".join(f"{k} = {v:.3f}" if k in goals else f"{k} = {v:.2f}" for k, v in ratios.items()))
    for case in (warm, other):
        per_target = ", ".join(f"{t} {n}" for t, n in case.rerun.items())
        print(f"case {case.name[0]} steps rerun per target: {per_target}; ran only: {', '.join(case.ran) or 'nothing'}")
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {platform_line()}",
        "cases": [asdict(c) | {"hit_ratio": round(c.ratio, 3)} for c in cases],
        "loop": [asdict(c) | {"seconds": round(c.seconds, 3) if c.samples else None} for c in [*timed[0], timed[1]]],
        "verify_url_seconds": [round(t, 3) for t in url_times],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "goals": goals,
    }
    run.data.update(result)  # the frame writes it into reports/bench.json
    watch.append(f"verify --url {url:.2f}s (goal {URL_GOAL:g}s: {'met' if url < URL_GOAL else 'missed'})")
    run.verdict = ", ".join([*(f"{k} = {v:.2f}" for k, v in ratios.items() if k not in goals), *watch])
    return shown


def push_figures(pushed: release.PushCase) -> list[picture.Figure]:
    return [
        picture.Figure(f"{release.CASE}: signed", pushed.signed),
        picture.Figure(f"{release.CASE}: bare", pushed.bare),
    ]


def summarize_push(run: Run, pushed: release.PushCase) -> goals_.Goal:
    """Case 11 on screen, in bench.json (`push`, and its goal) and the verdict; its goal, to draw."""
    goal = pushed.goal()
    print(goal.line())
    run.data["push"] = {"signed": [round(t, 3) for t in pushed.signed], "bare": [round(t, 3) for t in pushed.bare]}
    run.data.setdefault("goals", {})["11"] = goal.data()
    said = f"11: {goal.shown} added (goal {release.GOAL:g}s: {'met' if goal.met else 'missed'})"
    run.verdict = f"{run.verdict}, {said}" if run.verdict else said
    return goal


def draw(run: Run, title: str, figures: list[picture.Figure], shown: list[goals_.Goal]) -> None:
    """The run's figures and goals as a picture, beside bench.json (ci/bench/picture.py)."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    about = f"{when}, {os.cpu_count()} cores, {platform_line()}"
    path = picture.write(run.settings.reports_dir, picture.Picture(title, about, figures, shown))
    print(f"bench: the figures drawn in {path}", flush=True)


def platform_line() -> str:
    return f"{platform.system()} {platform.release()}, Python {platform.python_version()}"


SESSION = Session(
    name="bench",
    summary=__doc__.split("\n\n")[0].split(": ", 1)[1],
    steps=(*CASES, LOOP_STEP, URL_CASE, ALTERNATING, release.CASE, "H1-H3 prod builds", heavy.TIMELINE, heavy.CASES[3]),
    body=body,
)
