"""The services come from the definitions: a third service, `worker` (its own folder as context, no HTTP
port), added by editing only the bake and compose files, is built, run, verified and pruned by every
session with no change to ci/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Project, junit_results

pytestmark = pytest.mark.integration

WORKER = Path(__file__).resolve().parent.parent / "data" / "worker"
BAKE_TARGET = """
target "%(name)s" {
  inherits   = ["_common"]
  context    = "%(name)s"
  args = {
    PYTHON_IMAGE = PYTHON_IMAGE
  }
  tags       = image_tags("%(name)s")
  cache-from = REGISTRY_CACHE ? ["type=registry,ref=${cache_ref("%(name)s")}"] : []
  cache-to   = REGISTRY_CACHE && CACHE_EXPORT ? ["type=registry,ref=${cache_ref("%(name)s")},mode=max"] : []
}
"""
COMPOSE_SERVICE = """  worker:
    image: ${COMPOSE_PROJECT_NAME:-mainza}-worker:${TAG:-dev}
    pull_policy: never
    labels:
      mainza.verify.startup-log: "true"
    restart: unless-stopped

"""


def add_built_service(project: Project, name: str, source: Path, service: str) -> None:
    """SOURCE copied into the project as folder NAME, built by a target NAME in every group and run by the
    compose SERVICE definition: as docs/services.md says to add one, with no change to ci/."""
    shutil.copytree(source, project.root / name)
    bake = project.root / "docker-bake.hcl"
    text = bake.read_text()
    assert text.count('targets = ["backend", "frontend"') == 3
    text = text.replace('targets = ["backend", "frontend"', f'targets = ["backend", "frontend", "{name}"')
    bake.write_text(text + BAKE_TARGET % {"name": name})
    compose = project.root / "compose.yaml"
    text = compose.read_text()
    anchor = "  # The project's own build-cache registry"
    assert anchor in text
    compose.write_text(text.replace(anchor, service + anchor))


def add_worker(project: Project) -> str:
    add_built_service(project, "worker", WORKER, COMPOSE_SERVICE)
    return project.commit("a third service: worker")


# first_pass: services found from the definitions are the suite's logic; every other module reads bake and
# compose on both plugin sets.
@pytest.mark.first_pass
def test_a_third_service_is_built_run_verified_and_pruned_with_no_change_to_ci(
    make_project: Callable[[str], Project],
) -> None:
    project = make_project("mainzatest-worker")
    tree = add_worker(project)

    dev = project.ci("dev")
    assert dev.returncode == 0, dev.stdout[-3000:] + dev.stderr
    assert "worker" in dev.stdout.split("service   image id")[1].split("\n\n")[0]
    verify = project.ci("verify")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr
    checks = {
        name: result
        for name, result in junit_results(project.reports / "junit-verify.xml").items()
        if name.startswith("worker ")
    }
    assert checks == dict.fromkeys(["worker image", "worker source fingerprint", "worker startup log"], "passed")

    prod = project.ci("prod")
    assert prod.returncode == 0, prod.stdout[-3000:] + prod.stderr
    targets = {t["target"] for t in json.loads((project.reports / "build-prod.json").read_text())["targets"]}
    assert targets == {"backend", "frontend", "worker"}
    up = project.ci("verify", "--up")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr

    prune = project.ci("prune", "--dry-run", "--keep", "1")
    assert prune.returncode == 0, prune.stdout[-3000:] + prune.stderr
    plan = json.loads((project.reports / "prune.json").read_text())["plan"]
    why = {i["name"]: i["why"] for i in plan["keep"] + plan["remove"] if i["kind"] == "image"}
    assert why["mainzatest-worker-worker:dev"] == "newest 1 builds of worker", why
    running = f"mainzatest-worker-worker:{tree}, mainzatest-worker-worker:latest"
    assert why[running] == "used by container mainzatest-worker-worker-1", why
