"""The bench's copy of the tree and its prod cases (`nox -s bench`, ci/sessions/bench.py): a folder of its
own, built by `nox -s prod` run as a user would, edited and committed as a developer would; each case's
figures (`Case`), cases 1-5 and case 10 (the alternating commits, against their minimum)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ci import docker as dk
from ci.builds.bake import resolve_targets
from ci.builds.bakefile import ResolvedTarget
from ci.cache import registry
from ci.core import terminal
from ci.core.errors import CiError
from ci.core.report import Findings
from ci.core.settings import HOST_VARIABLES, Settings
from ci.sources.dockerfile import copy_sources
from ci.sources.fingerprint import fingerprint
from ci.sources.git import commit_all, copy_worktree, git
from ci.stack import live

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
URL_CASE = "9 verify --url, local stack"
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


class Bench:
    """A copy of the tree in a folder of its own, built by `nox -s prod` run as a user would."""

    def __init__(self, settings: Settings, engine: dk.Engine, cache_registry: str) -> None:
        self.engine, self.registry = engine, cache_registry
        self.workdir = Path(tempfile.mkdtemp(prefix="mainza-bench-"))
        self.tree = self.workdir / "tree"
        self.reports = self.workdir / "reports"  # the copy's sessions' (REPORTS_DIR)
        self.bases = [settings.env.get(k) or settings.host_defaults.get(k) or v for k, v in OFFICIAL_BASES.items()]
        self.host_defaults = settings.host_defaults
        self.settings_ports = list(settings.ports.values())  # the variables that set the stack's host ports
        self.settings: Settings | None = None  # the copy's, once prepared
        self.targets: dict[str, ResolvedTarget] = {}
        self.last_report: dict[str, Any] = {}  # build-prod.json of the last prod
        self.env = {
            **settings.env.exported,  # the sessions' own environment, which they read .env beneath
            **{k: v for k, v in settings.host_defaults.items() if k in HOST_VARIABLES},
            "COMPOSE_PROJECT_NAME": PROJECT,
            "CACHE_BRANCH": "bench",  # case 10 checks out commits, detached
            "REPORTS_DIR": str(self.reports),
            "CACHE_REGISTRY": cache_registry,
            # The loop cases run a stack: on ports of its own, never those of the stack you may be running.
            **{variable: str(live.free_port()) for variable in settings.ports.values()},
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
        if overlay is None:
            copy_worktree(root, self.tree, "bench: the tree as it is")
        else:
            copy_worktree(root, self.tree, f"bench: the tree with the profile in {overlay}", overlay=root / overlay)
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
        self.settings = Settings(self.tree, PROJECT, self.reports, {}, self.host_defaults)
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
        report = self.last_report = json.loads((self.reports / "build-prod.json").read_text())
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
            engine = dk.connect(self.settings, live.compose_env("dev"))
            dk.stop_services(engine, list(dk.service_containers(engine)))

    def stack_engine(self) -> dk.Engine:
        """The engine bound to the copy's stack as the loop cases run it: its project, dev's tag, its own ports."""
        assert self.settings is not None
        ports = {variable: self.env[variable] for variable in self.settings_ports}
        return dk.connect(self.settings, {**live.compose_env("dev"), **ports})

    def verify_url(self) -> list[float]:
        """`nox -s verify -- --url SERVICE=URL ...` at the running stack, every service at its own published
        address, timed URL_ROUNDS times; --tree, as the loop cases leave their edits uncommitted."""
        engine = self.stack_engine()
        services = live.services(engine, {name: t.tags for name, t in self.targets.items()})
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

    def show(self, run: Findings) -> None:
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
    no_registry = {"CACHE_REGISTRY": f"localhost:{live.free_port()}"}  # not the default: never started
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
