"""`nox -s prod` on the real engine: registry cache, reproducible metadata, the build report, another
build node, and what happens when the registry or the builder cannot do their part."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from python_on_whales import DockerClient, docker

from ci.builds.figures import PHASES
from ci.sources.git import git
from ci.stack.live import free_port
from tests.conftest import Project, assert_junit_valid
from tests.integration.fake_registry import fake_registry
from tests.integration.second_engine import second_engine

pytestmark = pytest.mark.integration

NAME = "mainzatest-prod"


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project(NAME)


def build_report(project: Project) -> dict[str, Any]:
    return json.loads((project.reports / "build-prod.json").read_text())


def cached_ratio(report: dict[str, Any]) -> float:
    steps = sum(t["steps"] for t in report["targets"])
    return sum(t["cached_steps"] for t in report["targets"]) / steps


def error_line(run: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in run.stdout + run.stderr
    [line] = [x for x in run.stderr.splitlines() if x.startswith("error: ")]
    return line


@pytest.fixture(scope="module")
def two_builds(project: Project) -> tuple[dict[str, Any], dict[str, Any]]:
    first = project.nox("-s", "prod")
    assert first.returncode == 0, first.stderr
    first_report = build_report(project)
    second = project.nox("-s", "prod")
    assert second.returncode == 0, second.stderr
    return first_report, build_report(project)


def test_prod_metadata_is_the_commits(project: Project, two_builds: tuple[dict[str, Any], dict[str, Any]]) -> None:
    full, epoch = git(project.root, "log", "-1", "--format=%H %ct").split()
    variables = two_builds[1]["variables"]
    assert variables["GIT_COMMIT"] == full[:7]
    assert variables["CACHE_BUST"] == full
    assert variables["BUILD_DATE"] == datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for target in ("backend", "frontend"):
        image = docker.image.inspect(f"{NAME}-{target}:{full[:7]}")
        assert f"{NAME}-{target}:latest" in image.repo_tags
        assert image.config.labels["org.opencontainers.image.revision"] == full[:7]


def test_second_build_of_a_commit_is_all_cache_and_the_same_images(
    two_builds: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    first, second = two_builds
    assert all(t["cached_steps"] == t["steps"] > 0 for t in second["targets"]), second["targets"]
    ids = {t["target"]: t["image_id"] for t in first["targets"]}
    assert {t["target"]: t["image_id"] for t in second["targets"]} == ids
    assert second["cache"]["status"] == "ok"


def test_build_report_has_per_target_figures_in_json_and_junit(
    project: Project, two_builds: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    for target in two_builds[1]["targets"]:
        assert target["image_id"].startswith("sha256:") and target["digest"].startswith("sha256:")
        assert target["size_bytes"] > 0 and target["wall_seconds"] >= 0
        assert {"steps", "cached_steps", "cache_hit_ratio", "context_transferred_bytes"} <= set(target)
        assert 0 < target["context_bytes"] < 5_000_000
    for target in two_builds[0]["targets"]:  # where the first build's time went, each within its span
        phases = target["phases"]
        assert phases and set(phases) <= set(PHASES), target
        assert all(0 < seconds <= target["wall_seconds"] for seconds in phases.values()), target
    root = assert_junit_valid(project.reports / "junit-prod.xml").getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    props = {p.get("name"): p.get("value") for p in suites["backend"].findall(".//property")}
    assert props["cache_hit_ratio"] == "1.0" and props["steps"] == props["cached_steps"]
    steps = ["engine", "preflight", "builder", "cache", "bake", "push"]
    assert [c.get("name") for c in suites["prod"].findall("testcase")] == steps


def test_a_second_node_takes_at_least_90_percent_of_steps_from_the_registry_cache(
    project: Project, two_builds: tuple[dict[str, Any], dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The cache of this commit is in the registry (two_builds, and no build of another state since: the
    # last export to the cache ref wins); the second node has no cache and no network for its build
    # steps, so every step it does not take from the registry fails.
    with second_engine(tmp_path_factory.mktemp("node2")) as context:
        run = project.nox("-s", "prod", "--", "--builder", context)
        assert run.returncode == 0, run.stderr
        report = build_report(project)
        ratio = cached_ratio(report)
        print(f"second node: {ratio:.0%} of steps from the registry cache")
        assert ratio >= 0.9, report["targets"]
        node = DockerClient(context=context)
        assert node.image.exists(f"{NAME}-backend:latest") and node.image.exists(f"{NAME}-frontend:latest")


def test_a_frontend_only_commit_rebuilds_no_backend_step_on_a_fresh_runner(
    project: Project, two_builds: tuple[dict[str, Any], dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    backend_commit = git(project.root, "rev-parse", "--short=7", "HEAD")
    before = {t["target"]: t for t in two_builds[1]["targets"]}
    page = project.root / "frontend" / "index.html"
    page.write_text(page.read_text().replace("</body>", "<!-- a frontend-only commit --></body>"))
    tree = project.commit("a frontend-only change")
    # A fresh runner: no local cache, no network for build steps; all it does not rebuild comes from the
    # registry cache of the previous commit.
    with second_engine(tmp_path_factory.mktemp("node4"), "mainzatest-node4") as context:
        run = project.nox("-s", "prod", "--", "--builder", context)
        assert run.returncode == 0, run.stderr
    targets = {t["target"]: t for t in build_report(project)["targets"]}
    assert targets["backend"]["steps_rerun"] == 0, targets["backend"]["ran_steps"]
    assert targets["backend"]["image_id"] == before["backend"]["image_id"]
    assert targets["backend"]["git_commit"] == backend_commit
    assert targets["frontend"]["steps_rerun"] > 0 and targets["frontend"]["git_commit"] == tree
    assert build_report(project)["variables"]["GIT_COMMIT"] == tree  # the whole tree's commit, still recorded
    props = {
        s.get("name"): {p.get("name"): p.get("value") for p in s.findall(".//property")}
        for s in assert_junit_valid(project.reports / "junit-prod.xml").getroot().findall("testsuite")
    }
    assert props["backend"]["git_commit"] == backend_commit and props["backend"]["steps_rerun"] == "0"

    # Here too: the backend is the image of its own commit, tagged with it and with the tree's.
    local = project.nox("-s", "prod", "verify", "--", "--up", "--down")
    assert local.returncode == 0, local.stdout + local.stderr
    image = docker.image.inspect(f"{NAME}-backend:{tree}")
    assert image.id == before["backend"]["image_id"]
    assert f"{NAME}-backend:{backend_commit}" in image.repo_tags
    assert image.config.labels["org.opencontainers.image.revision"] == backend_commit


def test_a_dirty_tree_is_marked_never_passed_off_as_the_commit(project: Project) -> None:
    with project.edited("backend/main.py", lambda text: text + "\n# an edit not committed\n"):
        run = project.nox("-s", "prod")
    assert run.returncode == 0, run.stderr
    short = git(project.root, "rev-parse", "--short=7", "HEAD")
    variables = build_report(project)["variables"]
    assert variables["GIT_COMMIT"] == f"{short}-dirty"
    assert "-dirty" in variables["CACHE_BUST"]
    image = docker.image.inspect(f"{NAME}-backend:{short}-dirty")
    assert image.config.labels["org.opencontainers.image.revision"].endswith("-dirty")
    # Per service: the frontend's inputs are not edited, so it keeps its clean identity.
    frontend = docker.image.inspect(f"{NAME}-frontend:{short}-dirty")
    assert not frontend.config.labels["org.opencontainers.image.revision"].endswith("-dirty")


def test_unreachable_cache_registry_still_builds_and_says_so(project: Project) -> None:
    registry = f"localhost:{free_port()}"
    run = project.ci("prod", env={"CACHE_REGISTRY": registry})
    assert run.returncode == 0, run.stderr
    assert f"warning: cache registry {registry} unavailable: nothing answers" in run.stdout
    report = build_report(project)
    assert report["cache"]["status"] == "unavailable"
    root = assert_junit_valid(project.reports / "junit-prod.xml").getroot()
    assert root.find(".//property[@name='cache_status']").get("value") == "unavailable"

    strict = project.ci("prod", "--strict-cache", env={"CACHE_REGISTRY": registry})
    assert strict.returncode == 1
    assert error_line(strict).startswith(f"error: cache registry {registry} unavailable")


def test_registry_answering_errors_still_builds_and_says_so(project: Project) -> None:
    with fake_registry("errors") as registry:
        run = project.ci("prod", env={"CACHE_REGISTRY": registry})
    assert run.returncode == 0, run.stderr
    assert "answers HTTP 500" in run.stdout
    assert build_report(project)["cache"]["status"] == "unavailable"


def test_registry_failing_during_the_build_still_builds_and_says_so(project: Project) -> None:
    with fake_registry("breaks") as registry:
        run = project.ci("prod", env={"CACHE_REGISTRY": registry})
        strict = project.ci("prod", "--strict-cache", env={"CACHE_REGISTRY": registry})
    assert run.returncode == 0, run.stderr
    assert "registry cache unavailable during the build" in run.stdout
    assert strict.returncode == 1
    assert "cache" in error_line(strict)


def test_unknown_builder_is_one_line(project: Project) -> None:
    run = project.ci("prod", "--builder", "no-such-builder")
    assert run.returncode == 1
    assert error_line(run) == "error: unknown builder 'no-such-builder': `docker buildx ls` lists the builders"


def test_builder_that_cannot_export_cache_is_named_with_the_fix(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with second_engine(tmp_path_factory.mktemp("node3"), "mainzatest-node3", containerd_store=False) as context:
        strict = project.ci("prod", "--builder", context, "--strict-cache")
    assert strict.returncode == 1
    line = error_line(strict)
    assert f"builder {context} (docker driver) cannot export cache" in line
    assert "containerd-snapshotter" in line


@pytest.fixture
def pushed_repos(project: Project) -> Iterator[None]:
    yield
    docker.image.remove(
        [i for i in docker.image.list() if any(t.startswith("localhost:5000/mainzatest-prod-") for t in i.repo_tags)],
        force=True,
    )


def test_push_publishes_commit_and_latest_with_provenance(project: Project, pushed_repos: None) -> None:
    run = project.nox("-s", "prod", "--", "--push")
    assert run.returncode == 0, run.stderr
    short = git(project.root, "rev-parse", "--short=7", "HEAD")
    tags = requests.get(f"http://localhost:5000/v2/{NAME}-backend/tags/list", timeout=5).json()["tags"]
    assert {short, "latest"} <= set(tags)
    index = requests.get(
        f"http://localhost:5000/v2/{NAME}-backend/manifests/{short}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=5,
    ).json()
    kinds = [m.get("annotations", {}).get("vnd.docker.reference.type") for m in index["manifests"]]
    assert "attestation-manifest" in kinds


def test_push_to_a_refusing_registry_fails_with_its_message(project: Project, pushed_repos: None) -> None:
    with fake_registry("breaks") as registry:
        run = project.ci("prod", "--push", env={"IMAGE_REGISTRY": registry})
    assert run.returncode == 1
    line = error_line(run)
    assert line.startswith(f"error: push of {registry}/{NAME}-backend:")
    assert "denied" in line.lower() or "refuses" in line or "403" in line


@pytest.mark.first_pass  # the project's own registry, started by docker run, no plugin: the first pass only (time)
def test_default_registry_down_starts_the_projects_own_and_dev_keeps_it(project: Project) -> None:
    port = free_port()  # CACHE_REGISTRY left at its default, on a port where nothing answers
    env = {"CACHE_REGISTRY_PORT": str(port)}
    try:
        run = project.ci("prod", env=env)
        assert run.returncode == 0, run.stderr
        assert f"started the project's cache registry on localhost:{port}" in run.stdout
        catalog = requests.get(f"http://localhost:{port}/v2/_catalog", timeout=5).json()
        assert {f"{NAME}/backend", f"{NAME}/frontend"} <= set(catalog["repositories"])
        assert docker.volume.exists(f"{NAME}_registry-data")
        dev = project.ci("dev", env=env)
        assert dev.returncode == 0, dev.stderr
        assert requests.get(f"http://localhost:{port}/v2/", timeout=5).status_code == 200, "dev stopped it"
    finally:
        project.remove()
        if docker.volume.exists(f"{NAME}_registry-data"):
            docker.volume.remove(f"{NAME}_registry-data")
