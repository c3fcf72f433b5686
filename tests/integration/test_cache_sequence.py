"""The registry cache over a sequence of commits, each built on a fresh runner (a second engine with its own
data root: no build cache, no images), against the real registry: every target reruns only the steps
downstream of what the commit changed, whatever the order of commits; and two branches built at the same
time do not spoil each other's cache.

Why it must hold (moby/buildkit#7139, #5560): a build in which a stage is served entirely from cache may
export a cache manifest whose records for that stage carry no layers, and a fresh runner that then needs
them reruns them (`npm ci`, `python -m venv`). So the refs must never be overwritten by such an export;
this sequence alternates the services so that each target is often fully cached, which is when it happens.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ci.cache import refs, registry
from ci.cache.registry_api import MANIFEST_TYPES, Ref
from ci.sources.git import git
from tests.conftest import Project
from tests.integration.second_engine import second_engine

pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-cache"
# Namespaced, as every hosted registry is (`ghcr.io/org`): the refs live under team/cache/<project>/<target>.
REGISTRY = "localhost:5000/team/cache"
# Bridges of their own (test_prod's second engines use mainzatest1), two at once for two branches.
BRIDGES = (("mainzatest7", "10.231.78.1/24"), ("mainzatest8", "10.231.79.1/24"))

# The steps each kind of change may rerun, by a part of their command: those downstream of the changed
# input. A target whose inputs did not change may rerun none. The dependency steps (`python -m venv`,
# `pip install`, `npm ci`) are downstream of the requirements and package files only.
BACKEND_BUILD_INFO = "RUN python -c 'import compileall"
FRONTEND_BUILD_INFO = "seconds=$(date"
DOWNSTREAM = {
    "backend sources": {"COPY backend/ ./backend/", BACKEND_BUILD_INFO},
    "backend requirements": {
        "COPY requirements-docker.txt",
        "pip install",
        "COPY --from=deps",
        "WORKDIR /app",
        "COPY backend/ ./backend/",
        BACKEND_BUILD_INFO,
    },
    "frontend sources": {"COPY frontend/src ./src", "npm run build", "COPY --from=build", FRONTEND_BUILD_INFO},
    # Back to sources an earlier commit had: the registry still holds that identity's cache (never
    # overwritten, and imported as an earlier identity), so only the new build info reruns.
    "frontend revert": {FRONTEND_BUILD_INFO},
}
BUILD_INFO = {"backend": BACKEND_BUILD_INFO, "frontend": FRONTEND_BUILD_INFO}


def touch(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def backend_edit(root: Path, n: int) -> None:
    touch(root / "backend" / "main.py", f"\n# sequence commit {n}\n")


def frontend_edit(root: Path, n: int) -> None:
    # A string the bundle keeps (a comment alone would leave the bundle, and its COPY, unchanged).
    touch(root / "frontend" / "src" / "main.ts", f'\nconsole.debug("sequence commit {n}");\n')


def both_edit(root: Path, n: int) -> None:
    backend_edit(root, n)
    frontend_edit(root, n)


def requirements_bump(root: Path, n: int) -> None:
    path = root / "requirements-docker.txt"
    path.write_text(path.read_text().replace("idna==3.20", "idna==3.10"))


def revert(root: Path, n: int) -> None:
    git(root, "revert", "--no-edit", "HEAD")


@dataclass(frozen=True)
class Commit:
    name: str
    changes: Callable[[Path, int], None]
    changed: dict[str, str]  # target -> the kind of change (a key of DOWNSTREAM)


SEQUENCE = (
    Commit("backend", backend_edit, {"backend": "backend sources"}),
    Commit("frontend", frontend_edit, {"frontend": "frontend sources"}),
    Commit("frontend again", frontend_edit, {"frontend": "frontend sources"}),
    Commit("backend again", backend_edit, {"backend": "backend sources"}),
    Commit("both", both_edit, {"backend": "backend sources", "frontend": "frontend sources"}),
    Commit("requirements bump", requirements_bump, {"backend": "backend requirements"}),
    Commit("frontend after the bump", frontend_edit, {"frontend": "frontend sources"}),
    Commit("revert of the frontend commit", revert, {"frontend": "frontend revert"}),
)


def delete_refs(project: str) -> None:
    """Every manifest under REGISTRY/PROJECT/: this module's cache refs from an earlier run (no one else's)."""
    for ref in registry.cache_refs(REGISTRY, project).refs:
        registry.delete_cache(ref.ref.rpartition(":")[0])


def layered(ref: str) -> str:
    """How many of a cache ref's records carry layers, from BuildKit's cache config (a record's "layers" or
    "chains"; a record that lost them has neither): the evidence of a lost record."""
    parsed = Ref.parse(ref)
    tag = parsed.tag
    base = f"http://{parsed.host}/v2/{parsed.repository}"
    index = requests.get(f"{base}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}, timeout=10).json()
    [config] = [m for m in index.get("manifests", []) if m["mediaType"].endswith("cacheconfig.v0")]
    records = requests.get(f"{base}/blobs/{config['digest']}", timeout=10).json()["records"]
    carrying = sum(1 for r in records if r.get("layers") or r.get("chains"))
    return f"{carrying}/{len(records)} records with layers"


def fresh_build(
    project: Project, root: Path, node: int, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """`prod` on a fresh runner (a second engine of its own, whose build steps reach the network through
    NAT: a step that reruns downloads, as on a CI runner); the build report."""
    bridge, cidr = BRIDGES[node]
    reports = Path((env or {}).get("REPORTS_DIR", project.reports))
    with second_engine(root, f"{NAME}-node{node}", bridge=bridge, cidr=cidr, nat=True) as context:
        run = project.ci("prod", "--builder", context, env=env, cwd=cwd)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "degraded" not in run.stdout, run.stdout[-2000:]
    report: dict[str, Any] = json.loads((reports / "build-prod.json").read_text())
    return report


def reruns(report: dict[str, Any]) -> dict[str, list[str]]:
    return {t["target"]: t["ran_steps"] for t in report["targets"]}


def unexpected(ran: dict[str, list[str]], changed: dict[str, str]) -> dict[str, list[str]]:
    """The steps that ran though nothing they depend on changed."""
    allowed = {target: DOWNSTREAM[kind] for target, kind in changed.items()}
    return {
        target: bad
        for target, steps in ran.items()
        if (bad := [s for s in steps if not any(part in s for part in allowed.get(target, ()))])
    }


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    delete_refs(NAME)
    made = make_project(NAME)
    made.env["CACHE_REGISTRY"] = REGISTRY
    return made


@pytest.mark.soak  # nine fresh runners, two to three minutes: with --soak, and as `nox -s bench`'s case 10 (CI's time)
def test_eight_commits_alternating_services_rerun_only_what_each_changed_on_fresh_runners(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cold = fresh_build(project, tmp_path_factory.mktemp("cold"), 0)
    assert all(t["cached_steps"] == 0 for t in cold["targets"]), reruns(cold)
    failures = []
    for n, commit in enumerate(SEQUENCE, 1):
        commit.changes(project.root, n)
        if git(project.root, "status", "--porcelain"):
            project.commit(f"sequence {n}: {commit.name}")
        start = time.monotonic()
        report = fresh_build(project, tmp_path_factory.mktemp(f"commit{n}"), 0)
        ran = reruns(report)
        print(f"commit {n} ({commit.name}): {time.monotonic() - start:.1f}s, reran {ran}")
        bad = unexpected(ran, commit.changed)
        if bad:
            failures.append(f"commit {n} ({commit.name}) reran {bad}")
        for target in report["targets"]:
            cache = target["cache"]
            print(f"  {target['target']}: {cache}; {layered(cache['identity_ref'])}")
            if target["target"] in commit.changed:
                # A new identity: its build info step runs, and the build holds every layer of its image.
                assert any(BUILD_INFO[target["target"]] in s for s in target["ran_steps"]), (n, target)
                assert cache["cache_to"][0] == cache["identity_ref"], (n, cache)
            else:
                # Why the cache holds: the one build whose export could lose layers, a target served wholly
                # from cache, exports nothing; the ref its identity's first build wrote stays as it was.
                assert cache["cache_to"] == [] and "holds its identity" in cache["not_exported"], (n, cache)
    assert not failures, failures


@pytest.mark.soak  # it builds on the registry the eight commits above leave: run with them, with --soak (CI's time)
def test_two_branches_built_at_once_then_again_on_fresh_runners_rerun_nothing(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("feature") / "tree"
    git(project.root, "worktree", "add", "-q", "-b", "feature", str(other))
    branches = {
        "main": (project.root, backend_edit, {**project.env}),
        "feature": (other, frontend_edit, {**project.env, "REPORTS_DIR": str(other / "reports")}),
    }
    for branch, (root, edit, env) in branches.items():
        env["CACHE_BRANCH"] = branch
        edit(root, 100)
        git(root, "commit", "-qam", f"{branch}: a change of its own")
    reports: dict[str, dict[str, Any]] = {}

    def build(branch: str, node: int, where: Path) -> None:
        root, _, env = branches[branch]
        reports[branch] = fresh_build(project, where, node, cwd=root, env=env)

    threads = [
        threading.Thread(target=build, args=(b, n, tmp_path_factory.mktemp(f"{b}-at-once")))
        for n, b in enumerate(branches)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(reports) == set(branches), "a concurrent build failed: its output is above"
    changed = {"main": "backend", "feature": "frontend"}
    for branch, report in reports.items():  # each writes its own branch's ref, never the other's
        for target in report["targets"]:
            ours = target["target"] == changed[branch]
            tags = [ref.rpartition(":")[2] for ref in target["cache"]["cache_to"]]
            own = refs.branch_tag(branch, "main")  # main's plain branch-main, feature's with its name's hash
            assert tags == ([target["cache"]["identity_ref"].rpartition(":")[2], own] if ours else [])
    for branch, (root, _, env) in branches.items():
        again = fresh_build(project, tmp_path_factory.mktemp(f"{branch}-again"), 0, cwd=root, env=env)
        assert {t: s for t, s in reruns(again).items() if s} == {}, (branch, reruns(again))
