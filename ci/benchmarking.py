"""`nox -s bench`: prod builds side by side, on a copy of the tree, with figures and ratios.

1. cold: no local build cache, no base images, empty registry cache;
2. fresh runner (no local cache, no images) warm from the registry, after a one-line backend change;
3. no-op: nothing changed, local cache warm (the whole `nox -s prod`, nox included);
4. the build process guide's way: the same change rebuilt with --no-cache for everything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci import caching
from ci import docker as dk
from ci.config import HOST_VARIABLES, load_settings
from ci.errors import CiError
from ci.reporting import table, write_json
from ci.worktree import commit_all, copy_worktree

PROJECT = "mainzabench"
TARGETS = ("backend", "frontend")
OFFICIAL_BASES = {
    "PYTHON_IMAGE": "docker.io/library/python:3.11-slim",
    "NODE_IMAGE": "docker.io/library/node:20-slim",
    "NGINX_IMAGE": "docker.io/library/nginx:1.27",
}


@dataclass
class Case:
    name: str
    seconds: float
    steps: int
    cached: int
    ran: list[str]  # the steps that were not cached, as "target: step"

    @property
    def ratio(self) -> float:
        return self.cached / self.steps if self.steps else 0.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the copy of the tree and its images")
    args = parser.parse_args(argv)
    settings = load_settings()
    docker = dk.client(settings)
    dk.require_engine(docker)
    registry, _ = caching.cache_registry(os.environ)
    problem = caching.probe_registry(registry)
    if problem:
        raise CiError(
            f"the benchmark needs the cache registry: {problem} (run `nox -s prod` once, or `sudo ci/provision`)"
        )
    bases = [os.environ.get(k) or settings.host_defaults.get(k) or OFFICIAL_BASES[k] for k in OFFICIAL_BASES]

    workdir = Path(tempfile.mkdtemp(prefix="mainza-bench-"))
    tree = workdir / "tree"
    tree.mkdir()
    copy_worktree(settings.root, tree, "bench: the tree as it is")
    env = {
        **os.environ,
        **{k: v for k, v in settings.host_defaults.items() if k in HOST_VARIABLES},
        "COMPOSE_PROJECT_NAME": PROJECT,
        "REPORTS_DIR": str(workdir / "reports"),
        "CACHE_REGISTRY": registry,
    }
    nox = [sys.executable, "-m", "nox", "-f", str(tree / "noxfile.py"), "--envdir", str(workdir / "nox")]

    def prod(name: str, *extra: str) -> Case:
        start = time.monotonic()
        run = subprocess.run([*nox, "-s", "prod", "--", *extra], env=env, cwd=tree, capture_output=True, text=True)
        seconds = time.monotonic() - start
        if run.returncode != 0:
            sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
            raise CiError(f"bench case {name!r}: nox -s prod failed (exit {run.returncode}); its output is above")
        report = json.loads((workdir / "reports" / "build-prod.json").read_text())
        ran = [f"{t['target']}: {s}" for t in report["targets"] for s in t.get("ran_steps", [])]
        case = Case(name, seconds, sum(t["steps"] for t in report["targets"]),
                    sum(t["cached_steps"] for t in report["targets"]), ran)  # fmt: skip
        print(f"{name}: {case.seconds:.1f}s, {case.cached}/{case.steps} steps cached", flush=True)
        return case

    def fresh_runner() -> None:
        project_images = [i.id for i in dk.project_images(docker, PROJECT)]
        dk.forget_images_and_cache(docker, project_images + bases)

    try:
        print(f"bench: copy of the tree in {tree}; preparing the session's venv", flush=True)
        subprocess.run([*nox, "-s", "prod", "--install-only"], env=env, cwd=tree, capture_output=True, check=True)
        for target in TARGETS:
            caching.delete_cache(registry, f"{PROJECT}/{target}")
        fresh_runner()
        cold = prod("1 cold")
        source = tree / "backend" / "main.py"
        source.write_text(source.read_text() + "\n# bench: a one-line change\n")
        commit_all(tree, "bench: one-line backend change")
        fresh_runner()
        warm = prod("2 fresh runner, warm registry")
        noop = prod("3 no-op")
        guide = prod("4 guide (--no-cache)", "--no-cache")
    except subprocess.CalledProcessError as err:
        raise CiError(f"bench: preparing the copy failed: {err.stderr or err}") from None
    finally:
        if not args.keep:
            images = [i.id for i in dk.project_images(docker, PROJECT)]
            if images:
                docker.image.remove(images, force=True)

    cases = [cold, warm, noop, guide]
    print("\n" + table(
        ("case", "wall time", "steps", "cached", "hit ratio"),
        [(c.name, f"{c.seconds:.1f}s", c.steps, c.cached, f"{c.ratio:.0%}") for c in cases],
    ))  # fmt: skip
    ratios = {
        "2/1": warm.seconds / cold.seconds,
        "2/4": warm.seconds / guide.seconds,
        "3/1": noop.seconds / cold.seconds,
    }
    print("\nratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    print(f"case 2 ran only: {', '.join(warm.ran) or 'nothing'}")
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {platform_line()}",
        "cases": [c.__dict__ | {"hit_ratio": round(c.ratio, 3)} for c in cases],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
    }
    path = write_json(result, settings.reports_dir / "bench.json")
    print(f"\nJSON: {path}")
    return 0


def platform_line() -> str:
    return f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
