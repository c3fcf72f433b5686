"""Before any build, on a copy of the example app with a database the project does not build: a required
variable nothing sets ends doctor, dev, prod and watch with exit 2 naming it, and a misspelled database image
ends dev naming the service and the image, doctor too; nothing is built (no bake ran, no image made), in about
two seconds a session."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest
from python_on_whales import docker

from ci.core.settings import HOST_ENV, read_env_file
from tests.conftest import Project, junit_results

pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-preflight"
GOOD = read_env_file(HOST_ENV).get("PYTHON_IMAGE") or "localhost:5000/mirror/python:3.11-slim"
MISSPELLED = f"localhost:5000/{NAME}/postgress:16"  # the local registry answers: not found
DATABASE = """  db:
    image: ${DB_IMAGE:-%s}
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set the database's password}
    restart: unless-stopped

"""


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    made = make_project(NAME)
    compose = made.root / "compose.yaml"
    anchor = "  # The project's own build-cache registry"
    assert anchor in compose.read_text()
    compose.write_text(compose.read_text().replace(anchor, DATABASE % GOOD + anchor))
    made.commit("a database the project does not build, its password required")
    return made


def last_line(project: Project, session: str, run: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in run.stdout + run.stderr
    line: str = json.loads((project.reports / f"{session}.json").read_text())["line"]  # whole: printed cut
    return line


def nothing_built(project: Project, profile: str) -> None:
    assert junit_results(project.reports / f"junit-{profile}.xml")["bake"] == "skipped"
    assert not (project.reports / f"bake-metadata-{profile}.json").exists()  # bake never ran
    assert docker.image.list(filters=[("label", f"mainza.project={NAME}")]) == []


def test_a_required_variable_nothing_sets_ends_every_session_with_exit_2_before_anything_is_built(
    project: Project,
) -> None:
    said = "required variable POSTGRES_PASSWORD is missing a value: set the database's password"
    doctor = project.ci("doctor")
    assert doctor.returncode == 2, doctor.stdout[-3000:] + doctor.stderr[-2000:]
    assert last_line(project, "doctor", doctor) == (
        f"error: compose file: compose.yaml does not resolve: {said}: set it in .env or export it"
    )
    assert junit_results(project.reports / "junit-doctor.xml")["service images"] == "skipped"
    for session in ("dev", "prod"):
        run = project.ci(session)
        assert run.returncode == 2, run.stdout[-3000:] + run.stderr[-2000:]
        line = last_line(project, session, run)
        assert line == f"error: compose.yaml does not resolve: {said}; set it in .env or export it", line
        assert junit_results(project.reports / f"junit-{session}.xml")["preflight"] == "failure"
        nothing_built(project, session)
    watch = project.ci("watch", "--once")
    assert watch.returncode == 2, watch.stdout[-3000:] + watch.stderr[-2000:]
    assert said in last_line(project, "watch", watch)


def test_a_misspelled_image_of_a_service_it_does_not_build_ends_dev_before_it_bakes_naming_both(
    project: Project,
) -> None:
    env = {"DB_IMAGE": MISSPELLED, "POSTGRES_PASSWORD": "secret"}
    said = f"db's image {MISSPELLED} is not on this engine and cannot be pulled: not found in localhost:5000"
    run = project.ci("dev", env=env)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    line = last_line(project, "dev", run)
    assert line.startswith(f"error: {said}: check its name and tag (compose.yaml, .env)"), line
    nothing_built(project, "dev")
    doctor = project.ci("doctor", env=env)
    assert doctor.returncode == 1, doctor.stdout[-3000:] + doctor.stderr[-2000:]
    assert last_line(project, "doctor", doctor).startswith(f"error: service images: {said}")
    results = junit_results(project.reports / "junit-doctor.xml")
    assert {name for name, result in results.items() if result == "failure"} == {"service images"}, results
    assert results["compose file"] == "passed"
