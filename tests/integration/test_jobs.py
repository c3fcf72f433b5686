"""Jobs on the real engine, on an app shaped like the issue's (full-stack-fastapi-template): a `prestart` job
built from the backend's image that the backend waits for (`service_completed_successfully`), which records
each run, under the build that ran it, in a store the project does not build (its database, with a named
volume); it logs an `AttributeError` warning and exits 0, as the issue's did. dev runs it once and says it
completed; verify lists it as a testcase of its own; a job that exits 1 fails dev, named with its log tail,
and every service the start replaced goes back on the previous build, the job run again on it; in a watch
turn, a frontend that does not come up takes the backend, which did, back with it; the store stopped fails
verify, and `verify --down` names it as left running. compose runs jobs alike from 2.26 to 2.40 (their order
with `--no-deps` too): first pass only.

One project and its builds serve every test, in order: each starts from the state the previous one left."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from python_on_whales import docker

from ci.core.settings import HOST_ENV, read_env_file
from ci.stack.live import free_port
from tests.conftest import Project, junit_results
from tests.integration.test_rollback import only_error as error_line

pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-jobs"
DATA = Path(__file__).resolve().parent.parent / "data"
STORE_IMAGE = f"{NAME}-store:1"  # the store's: built here, never by the project's bake file
BASE = read_env_file(HOST_ENV).get("PYTHON_IMAGE") or "localhost:5000/mirror/python:3.11-slim"
WAITS = """    init: true
    depends_on:
      prestart:
        condition: service_completed_successfully
"""
SERVICES = f"""  prestart:
    image: ${{COMPOSE_PROJECT_NAME:-mainza}}-backend:${{TAG:-dev}}
    pull_policy: never
    command: ["python", "-m", "backend.prestart"]
    depends_on:
      store:
        condition: service_started

  store:
    image: {STORE_IMAGE}
    pull_policy: never
    ports:
      - "127.0.0.1:${{STORE_PORT:-7000}}:7000"
    volumes:
      - store-data:/data
    restart: unless-stopped

"""
BROKEN_JOB = 'def main() -> None:\n    raise RuntimeError("migration 42 failed: no such table")\n'
BROKEN_NGINX = ("pid /tmp/nginx.pid;", "pid /run/nginx.pid;")  # fails at start as nginx's UID 101


@dataclass(frozen=True)
class App:
    project: Project
    store: str  # its URL

    def runs(self) -> list[str]:
        """The job's runs the store holds, oldest first: the cache bust of the build that ran each."""
        answer = requests.get(self.store, timeout=5)
        answer.raise_for_status()
        return [str(value) for value in answer.json()["disk"]]

    def build(self, service: str) -> str:
        """The cache bust of the build SERVICE serves (each dev build has its own)."""
        if service == "backend":
            return str(requests.get(f"{self.project.backend_url}/build/info", timeout=5).json()["cache_bust"])
        text = requests.get(f"{self.project.frontend_url}/build-info.js", timeout=5).text
        found = re.search(r'cacheBust: "([^"]+)"', text)
        assert found, text
        return found.group(1)

    def sources(self) -> str:
        return str(requests.get(f"{self.project.backend_url}/build/info", timeout=5).json()["source_digest"])

    def container(self, service: str) -> str:
        listed = docker.container.list(filters=[("label", f"com.docker.compose.project={NAME}")], all=True)
        [found] = [c.id for c in listed if c.config.labels.get("com.docker.compose.service") == service]
        return found


def volume() -> list[str]:
    return [v.name for v in docker.volume.list() if v.name == f"{NAME}_store-data"]


@pytest.fixture(scope="module")
def app(make_project: Callable[[str], Project]) -> Iterator[App]:
    project = make_project(NAME)
    if volume():  # an earlier run's, stopped before its teardown
        docker.volume.remove(volume())
    shutil.copy(DATA / "jobs" / "prestart.py", project.root / "backend" / "prestart.py")
    compose = project.root / "compose.yaml"
    text = compose.read_text()
    anchor = "  # The project's own build-cache registry"
    assert text.count("    init: true\n") == 1 and anchor in text and text.rstrip().endswith("registry-data:")
    text = text.replace("    init: true\n", WAITS).replace(anchor, SERVICES + anchor)
    compose.write_text(text.rstrip() + "\n  store-data:\n")
    project.commit(
        "a job the backend waits for, from its image; a store it writes to, which the project does not build"
    )
    docker.buildx.build(DATA / "store", build_args={"PYTHON_IMAGE": BASE}, tags=[STORE_IMAGE], load=True)
    port = free_port()
    project.env["STORE_PORT"] = str(port)
    yield App(project, f"http://127.0.0.1:{port}/")
    project.remove()
    docker.volume.remove(volume())
    if docker.image.exists(STORE_IMAGE):
        docker.image.remove(STORE_IMAGE, force=True)


def test_dev_runs_the_job_once_and_says_it_completed_though_it_logged_an_error(app: App) -> None:
    dev = app.project.ci("dev")
    assert dev.returncode == 0, dev.stdout[-3000:] + dev.stderr[-2000:]
    assert app.runs() == [app.build("backend")]  # once, by the build the backend runs, before it started
    assert "unhealthy" not in dev.stdout + dev.stderr
    assert "prestart completed" in dev.stdout  # the up step's line
    [row] = [line for line in dev.stdout.splitlines() if line.startswith("prestart ")]
    assert row.rstrip().endswith("completed"), row  # dev's table


def test_verify_lists_the_job_as_completed_with_its_exit_code_and_when(app: App) -> None:
    verify = app.project.ci("verify")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
    results = junit_results(app.project.reports / "junit-verify.xml")
    jobs = {name: result for name, result in results.items() if name.startswith("prestart ")}
    assert jobs == {
        "prestart job": "passed",
        "prestart image": "passed",  # the build's image: the backend's
        "prestart source fingerprint": "passed",
    }, results
    assert results["store health"] == "passed" and "store job" not in results
    [row] = [line for line in verify.stdout.splitlines() if line.lstrip().startswith("prestart job")]
    assert re.search(r"completed \(exit code 0\) at 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ", row), row
    assert "prestart completed" in verify.stdout  # the services step
    assert len(app.runs()) == 1  # verify never runs it


def test_a_job_that_exits_1_fails_dev_named_with_its_log_tail_and_the_previous_build_runs_it_again(app: App) -> None:
    before, sources = app.build("backend"), app.sources()
    with app.project.edited("backend/prestart.py", lambda text: text.replace("def main() -> None:\n", BROKEN_JOB)):
        number = (app.project.root / "backend" / "prestart.py").read_text().splitlines().index(
            '    raise RuntimeError("migration 42 failed: no such table")'
        ) + 1
        dev = app.project.ci("dev")
    assert dev.returncode == 1, dev.stdout[-3000:] + dev.stderr[-2000:]
    assert "RuntimeError: migration 42 failed" in dev.stderr.split("last log lines of prestart (the new build)")[1]
    assert error_line(dev) == (
        "error: prestart: the new build's job failed (exited 1: RuntimeError: migration 42 failed: no such table "
        f"at backend/prestart.py:{number}); the previous build (sources {sources[7:19]}) ran it again: completed; "
        "back on their previous build too: backend, frontend"
    )
    # The failed run wrote nothing; the previous build's job ran again, then the services on that build.
    assert app.runs() == [before, before]
    assert app.build("backend") == app.build("frontend") == before


def test_a_failed_start_of_one_of_two_replaced_services_brings_both_back(app: App) -> None:
    """A watch turn over a backend edit and a frontend that cannot start (from the local cache: a dev's
    build, without its time): the backend came up on the new build, its job run for it; the frontend did
    not. Both go back, the job run again with them, so the stack never runs the new backend beside the old
    frontend; verify then passes."""
    backend, frontend = app.build("backend"), app.build("frontend")
    project = app.project
    with (
        project.edited("backend/main.py", lambda text: text + "\n# an edit the turn rebuilds\n"),
        project.edited("frontend/nginx.conf", lambda text: text.replace(*BROKEN_NGINX)),
    ):
        turn = project.ci("watch", "--once")
    assert turn.returncode == 1, turn.stdout[-3000:] + turn.stderr[-2000:]
    [line] = [x for x in turn.stderr.splitlines() if x.startswith("backend, frontend  ")]
    assert 'unhealthy: frontend: the new build is unhealthy (exited 1: nginx: [emerg] open() "/run' in line, line
    assert line.endswith("serves again; back on their previous build too: backend, prestart"), line
    runs = app.runs()
    assert runs[-1] == backend and runs[-2] not in (backend, frontend), runs  # the new build's run, then the old's
    assert (app.build("backend"), app.build("frontend")) == (backend, frontend)
    verify = project.ci("verify")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]


def test_the_store_stopped_fails_verify_and_down_names_it_as_left_running(app: App) -> None:
    store = app.container("store")
    docker.container.kill(store)  # by hand: its restart policy leaves it down
    try:
        verify = app.project.ci("verify")
    finally:
        docker.container.start(store)
    assert verify.returncode == 1
    assert error_line(verify).startswith("error: store health: store: exited (exit code "), error_line(verify)
    results = junit_results(app.project.reports / "junit-verify.xml")
    assert results["store health"] == "failure" and results["prestart job"] == results["services"] == "passed"
    down = app.project.ci("verify", "--down")
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-2000:]
    assert (
        "stack stopped (--down): backend, frontend, prestart; left running: store (images the project does not "
        f"build; `docker compose -p {NAME} stop store` stops them)"
    ) in down.stdout
    listed = docker.container.list(filters=[("label", f"com.docker.compose.project={NAME}")], all=True)
    assert [c.config.labels["com.docker.compose.service"] for c in listed] == ["store"]
