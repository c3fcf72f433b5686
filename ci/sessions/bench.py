"""`nox -s bench`: prod builds side by side, on a copy of the tree, with figures and ratios.

1. cold: no local build cache, no base images, empty registry cache;
2. fresh runner (no local cache, no images) warm from the registry, after a one-line commit to the first
   target's sources (the backend);
3. the same, after a one-line commit to the last target's sources only (the frontend): every other target
   must rerun no step;
4. no-op: nothing changed, local cache warm (the whole `nox -s prod`, nox included);
5. the build process guide's way: the same tree rebuilt with --no-cache for everything;
6. `nox -s dev` (no cache), then `nox -s watch` with the stack up: 7. a one-line edit to the first target's
   sources, 8. to the last target's, each from the write to the turn's verified line (ci/bench/loop.py); each
   of 6-8 five times, dev and the turns side by side in each round, counted by its median;
9. `nox -s verify -- --url` at the stack 6-8 left running, each service at its own address, 5 samples each,
   five times, counted by its median (goal: under 1 s, nox included);
10. alternating: eight commits (first target, last, last, first, both, the first target's dependency file,
   last, a revert of the one before), each built on a fresh runner warm from the registry only; per
   commit its time, the steps it reran and the minimum (what a runner that kept its local cache of every
   earlier commit reruns: the same commits built so first), the reruns beyond it (goal: 0), and the
   slowest of them against a cold build.
The targets and their sources come from the bake definition, as every session reads them.
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import asdict
from typing import Any

from ci import docker as dk
from ci.bench import heavy, loop
from ci.bench.cases import ALTERNATING, CASES, PROJECT, URL_CASE, Bench, Case, alternating_case, run_case
from ci.cache import registry
from ci.core import terminal
from ci.core.errors import CiError
from ci.core.session import Run, Session

LOOP_CASES = ("6 dev (no cache)", "7 watch: first target edited", "8 watch: last target edited")
LOOP_STEP = "6-8 dev and watch, side by side"
URL_GOAL = 1.0  # seconds, nox included


def body(run: Run) -> None:
    engine = dk.connect(run.settings)
    dk.require_engine(engine)
    cache_registry, _ = registry.cache_registry(run.settings.cache)
    problem = registry.probe(cache_registry).problem
    if problem:
        raise CiError(
            f"the benchmark needs the cache registry: {problem} (run `nox -s prod` once, or `ci/provision` as root)"
        )
    if run.args.heavy:
        heavy_profile(run, engine, cache_registry)
        return
    bench = Bench(run.settings, engine, cache_registry)
    cases: list[Case] = []
    try:
        print(f"bench: copy of the tree in {bench.tree}; preparing the session's venv", flush=True)
        bench.prepare(run.settings.root)
        for name in CASES:
            with run.step(name) as check:
                cases.append(run_case(bench, name))
                check.message = f"{cases[-1].seconds:.1f}s, {cases[-1].cached}/{cases[-1].steps} steps cached"
        timed = loop_cases(run, bench)
        with run.step(URL_CASE) as check:
            url_times = bench.verify_url()
            check.message = f"median {statistics.median(url_times):.2f}s of {len(url_times)}"
        bench.stop_stack()
        with run.step(ALTERNATING) as check:
            alternating = alternating_case(bench)
            check.message = alternating.summary()
    finally:
        if not run.args.keep:
            bench.stop_stack()
            dk.remove_images(engine, dk.project_image_ids(engine, PROJECT))
    summarize(run, cases, timed, url_times)
    alternating.show(run)


def heavy_profile(run: Run, engine: dk.Engine, cache_registry: str) -> None:
    """`--heavy`: the heavy profile's cases (ci/bench/heavy.py), then everything it made removed: images,
    build cache, registry refs."""
    bench, example = Bench(run.settings, engine, cache_registry), Bench(run.settings, engine, cache_registry)
    result = heavy.HeavyResult()
    try:
        print(f"bench --heavy: copy of the tree with {heavy.OVERLAY} in {bench.tree}", flush=True)
        bench.prepare(run.settings.root, heavy.OVERLAY)
        with run.step("H1-H3 prod builds") as check:
            heavy.builds(bench, PROJECT, result)
            check.message = "; ".join(g.line() for g in result.goals)
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


def loop_cases(run: Run, bench: Bench) -> list[loop.LoopCase]:
    names = list(bench.targets)
    first, last = names[0], names[-1]
    with run.step(LOOP_STEP) as check:
        edits = [(LOOP_CASES[1], lambda: print(f"edited {bench.edit(first)}")),
                 (LOOP_CASES[2], lambda: print(f"edited {bench.edit(last)}"))]  # fmt: skip
        found = loop.measure(bench.nox, bench.tree, bench.env, LOOP_CASES[0], edits)
        check.message = ", ".join(f"{c.name}: {c.figures()}" for c in found)
    return found


def summarize(run: Run, cases: list[Case], timed: list[loop.LoopCase], url_times: list[float]) -> None:
    cold, warm, other, noop, guide = cases
    rows = [(c.name, f"{c.seconds:.1f}s", c.steps, c.cached, f"{c.ratio:.0%}") for c in cases]
    print("\n" + terminal.table(("case", "wall time", "steps", "cached", "hit ratio"), rows, columns=terminal.width()))
    ratios = {
        "2/1": warm.seconds / cold.seconds,
        "2/5": warm.seconds / guide.seconds,
        "3/1": other.seconds / cold.seconds,
        "4/1": noop.seconds / cold.seconds,
    }
    dev, *turns = timed
    goals = {}
    for turn, goal in zip(turns, loop.GOALS, strict=True):
        key, ratio = f"{turn.name[0]}/6", turn.seconds / dev.seconds
        ratios[key] = ratio
        goals[key] = {"ratio": round(ratio, 3), "goal": goal, "met": ratio <= goal}
        # one decimal: a ratio of 15.4% against a goal of 15% must not read "15%"
        print(f"{turn.name}: {turn.figures()}, {ratio:.1%} of dev's {dev.figures()} "
              f"(goal: at most {goal:.0%}: {'met' if ratio <= goal else 'missed'})")  # fmt: skip
    url = statistics.median(url_times)
    goals["9"] = {"seconds": round(url, 3), "goal": URL_GOAL, "met": url < URL_GOAL}
    print(f"{URL_CASE}: median {url:.2f}s of {len(url_times)} ({', '.join(f'{t:.2f}' for t in url_times)}; "
          f"goal: under {URL_GOAL:g}s, nox included: {'met' if url < URL_GOAL else 'missed'})")  # fmt: skip
    print("\nratios: " + ", ".join(f"{k} = {v:.3f}" if k in goals else f"{k} = {v:.2f}" for k, v in ratios.items()))
    for case in (warm, other):
        per_target = ", ".join(f"{t} {n}" for t, n in case.rerun.items())
        print(f"case {case.name[0]} steps rerun per target: {per_target}; ran only: {', '.join(case.ran) or 'nothing'}")
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {platform_line()}",
        "cases": [asdict(c) | {"hit_ratio": round(c.ratio, 3)} for c in cases],
        "loop": [asdict(c) | {"seconds": round(c.seconds, 3)} for c in timed],
        "verify_url_seconds": [round(t, 3) for t in url_times],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "goals": goals,
    }
    run.data.update(result)  # the frame writes it into reports/bench.json
    watch = [f"{k} = {g['ratio']:.3f} (goal {g['goal']}: {'met' if g['met'] else 'missed'})"
             for k, g in goals.items() if "ratio" in g]  # fmt: skip
    watch.append(f"verify --url {url:.2f}s (goal {URL_GOAL:g}s: {'met' if url < URL_GOAL else 'missed'})")
    run.verdict = ", ".join([*(f"{k} = {v:.2f}" for k, v in ratios.items() if k not in goals), *watch])


def platform_line() -> str:
    return f"{platform.system()} {platform.release()}, Python {platform.python_version()}"


SESSION = Session(
    name="bench",
    summary=__doc__.split("\n\n")[0].split(": ", 1)[1],
    steps=(*CASES, LOOP_STEP, URL_CASE, ALTERNATING, "H1-H3 prod builds", heavy.CASES[3]),
    body=body,
)
