"""`nox -s bench`: prod builds side by side, on a copy of the tree, with figures and ratios.

1. cold: no local build cache, no base images, empty registry cache;
2. fresh runner (no local cache, no images) warm from the registry, after a one-line commit to the first
   target's sources (the backend);
3. the same, after a one-line commit to the last target's sources only (the frontend): every other target
   must rerun no step;
4. no-op: nothing changed, local cache warm (the whole `nox -s prod`, nox included);
5. the build process guide's way: the same tree rebuilt with --no-cache for everything;
6. `nox -s dev` (no cache), then `nox -s watch` with the stack up: 7. a one-line edit to the first target's
   sources, 8. to the last target's, each from the write to the turn's verified line (ci/loopbench.py); each
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

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ci import docker as dk
from ci import heavybench, loopbench, registry, stack, terminal
from ci.bake import resolve_targets
from ci.bakefile import ResolvedTarget
from ci.dockerfile import copy_sources
from ci.errors import CiError
from ci.fingerprint import fingerprint
from ci.frame import Run, Session
from ci.git import commit_all, copy_worktree, git
from ci.settings import HOST_VARIABLES, Settings

PROJECT = "mainzabench"
OFFICIAL_BASES = {
    "PYTHON_IMAGE": "docker.io/library/python:3.11-slim",
    "NODE_IMAGE": "docker.io/library/node:20-slim",
    "NGINX_IMAGE": "docker.io/library/nginx:1.27",
}
CASES = (
    "1 cold (every step run)",
    "2 fresh runner, first target changed",
    "3 fresh runner, last target changed",
    "4 no-op",
    "5 guide (--no-cache)",
)
LOOP_CASES = ("6 dev (no cache)", "7 watch: first target edited", "8 watch: last target edited")
LOOP_STEP = "6-8 dev and watch, side by side"
URL_CASE = "9 verify --url, local stack"
URL_GOAL = 1.0  # seconds, nox included
URL_ROUNDS = 5
ALTERNATING = "10 alternating, fresh runners"
# The eight commits of case 10: which targets each edits (0 the first, -1 the last), "deps" the first
# target's dependency file, "revert" a revert of the commit before.
SEQUENCE: tuple[tuple[str, tuple[int | str, ...]], ...] = (
    ("first", (0,)), ("last", (-1,)), ("last again", (-1,)), ("first again", (0,)), ("both", (0, -1)),
    ("dependency bump", ("deps",)), ("last after the bump", (-1,)), ("revert", ("revert",)),
)  # fmt: skip
# A line each kind of source file takes without changing what it does.
COMMENTS = {".py": "# {}", ".ts": "// {}", ".js": "// {}", ".css": "/* {} */", ".html": "<!-- {} -->"}


@dataclass
class Case:
    name: str
    seconds: float
    steps: int
    cached: int
    ran: list[str]  # the steps that were not cached, as "target: step"
    rerun: dict[str, int]  # steps not cached, per target

    @property
    def ratio(self) -> float:
        return self.cached / self.steps if self.steps else 0.0


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true", help="keep the copy of the tree and its images")
    parser.add_argument(
        "--heavy",
        action="store_true",
        help="the heavy profile instead (bench/heavy/: gigabytes of ML dependencies, a React frontend); "
        "leaves nothing behind, as one run makes tens of GB",
    )


class Bench:
    """A copy of the tree in a folder of its own, built by `nox -s prod` run as a user would."""

    def __init__(self, settings: Settings, engine: dk.Engine, cache_registry: str) -> None:
        self.engine, self.registry = engine, cache_registry
        self.workdir = Path(tempfile.mkdtemp(prefix="mainza-bench-"))
        self.tree = self.workdir / "tree"
        self.bases = [os.environ.get(k) or settings.host_defaults.get(k) or v for k, v in OFFICIAL_BASES.items()]
        self.host_defaults = settings.host_defaults
        self.settings_ports = list(settings.ports.values())  # the variables that set the stack's host ports
        self.settings: Settings | None = None  # the copy's, once prepared
        self.targets: dict[str, ResolvedTarget] = {}
        self.last_report: dict[str, Any] = {}  # build-prod.json of the last prod
        self.env = {
            **os.environ,
            **{k: v for k, v in settings.host_defaults.items() if k in HOST_VARIABLES},
            "COMPOSE_PROJECT_NAME": PROJECT,
            "CACHE_BRANCH": "bench",  # case 10 checks out commits, detached
            "REPORTS_DIR": str(self.workdir / "reports"),
            "CACHE_REGISTRY": cache_registry,
            # The loop cases run a stack: on ports of its own, never those of the stack you may be running.
            **{variable: str(stack.free_port()) for variable in settings.ports.values()},
        }
        self.nox = [
            sys.executable,
            "-m",
            "nox",
            "-f",
            str(self.tree / "noxfile.py"),
            "--envdir",
            str(self.workdir / "nox"),
        ]

    def prepare(self, root: Path, overlay: Path | None = None) -> None:
        """The copy of ROOT's tree, with OVERLAY's files laid over it (a profile), committed."""
        self.tree.mkdir()
        copy_worktree(root, self.tree, "bench: the tree as it is")
        if overlay is not None:
            shutil.copytree(root / overlay, self.tree, dirs_exist_ok=True)
            commit_all(self.tree, f"bench: the profile in {overlay}")
        try:
            subprocess.run(
                [*self.nox, "-s", "prod", "dev", "verify", "--install-only"],
                env=self.env,
                cwd=self.tree,
                capture_output=True,
                check=True,
            )
        except subprocess.CalledProcessError as err:
            raise CiError(f"bench: preparing the copy failed: {err.stderr or err}") from None
        self.settings = Settings(self.tree, PROJECT, self.workdir / "reports", {}, self.host_defaults)
        self.targets = resolve_targets(self.engine, self.settings, "prod", {"PROJECT": PROJECT})
        for target in self.targets:
            registry.delete_cache(f"{self.registry}/{PROJECT}/{target}")

    def prod(self, name: str, *extra: str, env: dict[str, str] | None = None) -> Case:
        start = time.monotonic()
        cmd = [*self.nox, "-s", "prod", "--", *extra]
        run = subprocess.run(cmd, env={**self.env, **(env or {})}, cwd=self.tree, capture_output=True, text=True)
        seconds = time.monotonic() - start
        if run.returncode != 0:
            sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
            raise CiError(f"bench case {name!r}: nox -s prod failed (exit {run.returncode}); its output is above")
        report = self.last_report = json.loads((self.workdir / "reports" / "build-prod.json").read_text())
        ran = [f"{t['target']}: {s}" for t in report["targets"] for s in t.get("ran_steps", [])]
        rerun = {t["target"]: t["steps"] - t["cached_steps"] for t in report["targets"]}
        case = Case(name, seconds, sum(t["steps"] for t in report["targets"]),
                    sum(t["cached_steps"] for t in report["targets"]), ran, rerun)  # fmt: skip
        print(f"{name}: {case.seconds:.1f}s, {case.cached}/{case.steps} steps cached", flush=True)
        return case

    def fresh_runner(self) -> None:
        """No local images of the copy, no base images, no build cache: a new CI runner."""
        dk.remove_images(self.engine, dk.project_image_ids(self.engine, PROJECT) + self.bases)
        dk.prune_build_cache(self.engine)

    def stop_stack(self) -> None:
        """The copy's stack, which the loop cases started."""
        if self.settings is not None:
            engine = dk.connect(self.settings, stack.compose_env("dev"))
            dk.stop_services(engine, list(dk.service_containers(engine)))

    def verify_url(self) -> list[float]:
        """`nox -s verify -- --url SERVICE=URL ...` at the running stack, every service at its own published
        address, timed URL_ROUNDS times; --tree, as the loop cases leave their edits uncommitted."""
        assert self.settings is not None
        ports = {variable: self.env[variable] for variable in self.settings_ports}
        engine = dk.connect(self.settings, {**stack.compose_env("dev"), **ports})
        services = stack.services(engine, {name: t.tags for name, t in self.targets.items()})
        urls = [f"{s.name}={s.url(s.checks.build_info)}" for s in services if s.checks.build_info]
        cmd = [*self.nox, "-s", "verify", "--", "--tree", *(a for u in urls for a in ("--url", u))]
        times = []
        for _ in range(URL_ROUNDS):
            start = time.monotonic()
            run = subprocess.run(cmd, env=self.env, cwd=self.tree, capture_output=True, text=True)
            times.append(time.monotonic() - start)
            if run.returncode != 0:
                sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
                raise CiError(
                    f"bench case {URL_CASE!r}: nox -s verify failed (exit {run.returncode}); its output is above"
                )
        return times

    def dependency_edit(self) -> str:
        """A comment line added to the first file the first target's Dockerfile copies (its dependencies)."""
        resolved = self.targets[next(iter(self.targets))]
        context = self.tree / resolved.context
        for source in copy_sources((context / resolved.dockerfile).read_text()):
            path = context / source.source
            if path.is_file() and path.suffix in (".txt", *COMMENTS):
                comment = COMMENTS.get(path.suffix, "# {}")
                path.write_text(path.read_text() + comment.format(f"bench: {time.time()}") + "\n")
                return str(path.relative_to(self.tree))
        raise CiError("bench: the first target's Dockerfile copies no file that takes a comment")

    def alternating(self) -> list[str]:
        """Commit the eight changes of case 10; their hashes, the state before them first."""
        names = list(self.targets)
        commits = [git(self.tree, "rev-parse", "HEAD")]
        for label, changes in SEQUENCE:
            if changes == ("revert",):
                git(self.tree, "revert", "--no-edit", "HEAD")
            else:
                edited = [self.dependency_edit() if c == "deps" else self.edit(names[int(c)]) for c in changes]
                commit_all(self.tree, f"bench: {label}: {', '.join(edited)}")
            commits.append(git(self.tree, "rev-parse", "HEAD"))
        return commits

    def checkout(self, commit: str) -> None:
        git(self.tree, "checkout", "-q", "--detach", commit)

    def edit_and_commit(self, target: str) -> None:
        commit_all(self.tree, f"bench: one-line change to {self.edit(target)}")

    def edit(self, target: str) -> str:
        """A one-line edit to the first source of TARGET that takes a comment (never its Dockerfile)."""
        resolved = self.targets[target]
        context = self.tree / resolved.context
        sources = [f for f in fingerprint(context, context / resolved.dockerfile).files if Path(f).suffix in COMMENTS]
        if not sources:
            raise CiError(f"bench: no source of {target} takes a comment ({', '.join(COMMENTS)})")
        path = context / sources[0]
        path.write_text(path.read_text() + "\n" + COMMENTS[path.suffix].format(f"bench: {time.time()}") + "\n")
        return str(path.relative_to(self.tree))


def body(run: Run) -> None:
    engine = dk.connect(run.settings)
    dk.require_engine(engine)
    cache_registry, _ = registry.cache_registry(os.environ)
    problem = registry.probe(cache_registry).problem
    if problem:
        raise CiError(
            f"the benchmark needs the cache registry: {problem} (run `nox -s prod` once, or `ci/provision` as root)"
        )
    if run.args.heavy:
        heavy(run, engine, cache_registry)
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
        loop = loop_cases(run, bench)
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
    summarize(run, cases, loop, url_times)
    alternating.show(run)


def heavy(run: Run, engine: dk.Engine, cache_registry: str) -> None:
    """`--heavy`: the heavy profile's cases (ci/heavybench.py), then everything it made removed: images,
    build cache, registry refs."""
    bench, example = Bench(run.settings, engine, cache_registry), Bench(run.settings, engine, cache_registry)
    result = heavybench.HeavyResult()
    try:
        print(f"bench --heavy: copy of the tree with {heavybench.OVERLAY} in {bench.tree}", flush=True)
        bench.prepare(run.settings.root, heavybench.OVERLAY)
        with run.step("H1-H3 prod builds") as check:
            heavybench.builds(bench, PROJECT, result)
            check.message = "; ".join(g.line() for g in result.goals)
        example.prepare(run.settings.root)
        with run.step(heavybench.CASES[3]) as check:
            heavybench.watch_case(bench, example, PROJECT, result)
            check.message = result.goals[-1].line()
    finally:
        bench.stop_stack()
        example.stop_stack()
        dk.remove_images(engine, dk.project_image_ids(engine, PROJECT))
        for target in bench.targets:
            registry.delete_cache(f"{cache_registry}/{PROJECT}/{target}")
        dk.prune_build_cache(engine)
    heavybench.summarize(run, result)


def loop_cases(run: Run, bench: Bench) -> list[loopbench.LoopCase]:
    names = list(bench.targets)
    first, last = names[0], names[-1]
    with run.step(LOOP_STEP) as check:
        edits = [(LOOP_CASES[1], lambda: print(f"edited {bench.edit(first)}")),
                 (LOOP_CASES[2], lambda: print(f"edited {bench.edit(last)}"))]  # fmt: skip
        found = loopbench.measure(bench.nox, bench.tree, bench.env, LOOP_CASES[0], edits)
        check.message = ", ".join(f"{c.name}: {c.figures()}" for c in found)
    return found


@dataclass
class Alternating:
    """Case 10: per commit, the fresh runner's build and the minimum (a warm runner's reruns)."""

    cold: Case
    fresh: list[Case]
    minimum: list[Case]

    def extra(self, n: int) -> list[str]:
        """The steps commit N reran beyond the minimum."""
        return sorted(set(self.fresh[n].ran) - set(self.minimum[n].ran))

    @property
    def unnecessary(self) -> int:
        return sum(len(self.extra(n)) for n in range(len(self.fresh)))

    @property
    def slowest_ratio(self) -> float:
        return max(c.seconds for c in self.fresh) / self.cold.seconds

    def summary(self) -> str:
        return f"{self.unnecessary} unnecessary reruns (goal 0); slowest/cold {self.slowest_ratio:.2f}"

    def show(self, run: Run) -> None:
        pairs = list(zip(self.fresh, self.minimum, strict=True))
        rows = [(f"{n + 1} {label}", f"{f.seconds:.1f}s", len(f.ran), len(m.ran), ", ".join(self.extra(n)) or "-")
                for n, ((label, _), (f, m)) in enumerate(zip(SEQUENCE, pairs, strict=True))]  # fmt: skip
        headers = ("commit", "time", "rerun", "minimum", "beyond the minimum")
        print(f"\n{ALTERNATING} (cold build {self.cold.seconds:.1f}s)")
        print(terminal.table(headers, rows, columns=terminal.width()))
        print(f"alternating: {self.summary()}")
        run.data["alternating"] = {
            "cold": asdict(self.cold),
            "commits": [
                asdict(f) | {"minimum": m.ran, "beyond_minimum": self.extra(n)}
                for n, (f, m) in enumerate(zip(self.fresh, self.minimum, strict=True))
            ],
            "unnecessary_reruns": self.unnecessary,
            "slowest_over_cold": round(self.slowest_ratio, 3),
        }
        run.verdict += f"; alternating: {self.summary()}"


def alternating_case(bench: Bench) -> Alternating:
    """The commits built twice: with the local cache kept and no registry (the minimum: a runner that has
    built every earlier commit), then each on a fresh runner warm from the registry alone."""
    commits = bench.alternating()
    no_registry = {"CACHE_REGISTRY": f"localhost:{stack.free_port()}"}  # not the default: never started
    bench.checkout(commits[0])
    bench.fresh_runner()
    bench.prod("minimum: before", "--no-cache", env=no_registry)
    minimum = []
    for n, commit in enumerate(commits[1:], 1):
        bench.checkout(commit)
        minimum.append(bench.prod(f"minimum: commit {n}", env=no_registry))
    # A namespace, as every hosted registry has (`ghcr.io/org`): the refs must be found under it.
    namespaced = {"CACHE_REGISTRY": bench.registry if "/" in bench.registry else f"{bench.registry}/bench/cache"}
    for target in bench.targets:
        registry.delete_cache(f"{namespaced['CACHE_REGISTRY']}/{PROJECT}/{target}")
    bench.checkout(commits[0])
    bench.fresh_runner()
    cold = bench.prod("alternating: cold", "--no-cache", env=namespaced)
    fresh = []
    for n, commit in enumerate(commits[1:], 1):
        bench.checkout(commit)
        bench.fresh_runner()
        fresh.append(bench.prod(f"alternating: commit {n}", env=namespaced))
    return Alternating(cold, fresh, minimum)


def run_case(bench: Bench, name: str) -> Case:
    if name == CASES[0]:
        # --no-cache: truly cold; `buildx prune --all` leaves records that a plain build still finds.
        bench.fresh_runner()
        return bench.prod(name, "--no-cache")
    if name in CASES[1:3]:
        bench.edit_and_commit(list(bench.targets)[0 if name == CASES[1] else -1])
        bench.fresh_runner()
        return bench.prod(name)
    if name == CASES[3]:
        return bench.prod(name)
    return bench.prod(name, "--no-cache")


def summarize(run: Run, cases: list[Case], loop: list[loopbench.LoopCase], url_times: list[float]) -> None:
    cold, warm, other, noop, guide = cases
    rows = [(c.name, f"{c.seconds:.1f}s", c.steps, c.cached, f"{c.ratio:.0%}") for c in cases]
    print("\n" + terminal.table(("case", "wall time", "steps", "cached", "hit ratio"), rows, columns=terminal.width()))
    ratios = {
        "2/1": warm.seconds / cold.seconds,
        "2/5": warm.seconds / guide.seconds,
        "3/1": other.seconds / cold.seconds,
        "4/1": noop.seconds / cold.seconds,
    }
    dev, *turns = loop
    goals = {}
    for turn, goal in zip(turns, loopbench.GOALS, strict=True):
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
        "loop": [asdict(c) | {"seconds": round(c.seconds, 3)} for c in loop],
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
    steps=(*CASES, LOOP_STEP, URL_CASE, ALTERNATING, "H1-H3 prod builds", heavybench.CASES[3]),
    body=body,
    options=options,
)
