"""`nox -s watch` on the real engine, in a copy of the project: each change makes one turn that rebuilds
and recreates only the service whose inputs changed and proves it; a broken build leaves the previous
container serving; Ctrl-C ends the loop with the stack up and the reports written."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator

import pytest
import requests
from python_on_whales import docker

from ci.sources.fingerprint import fingerprint
from tests.conftest import Project, assert_junit_valid
from tests.integration.watching import Watch, is_turn, without_watch_rules

# watch builds and starts by dev's phases, which run on both plugin sets: CI's second pass leaves it out (time)
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-watch"


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return without_watch_rules(make_project(NAME))  # rebuild turns: a sync turn's are test_watch_sync's


def started(project: Project, env: dict[str, str] | None = None) -> Watch:
    """A watch in PROJECT (ENV over the project's), once it watches: it says so when its watcher runs, so a
    save right after the line is seen (ci/watch/bursts.py)."""
    running = Watch(project, env)
    running.wait_for(lambda line: line.startswith("watching the inputs of"))
    return running


def watching(project: Project, env: dict[str, str] | None = None) -> Iterator[Watch]:
    """A watch in PROJECT (ENV over the project's), from when it watches; killed after, if it still runs."""
    running = started(project, env)
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


@pytest.fixture(scope="module")
def watch(project: Project) -> Iterator[Watch]:
    yield from watching(project)


def container_id(project: Project, service: str) -> str:
    return str(project.running(service).id)


def test_a_backend_edit_rebuilds_and_recreates_the_backend_only_and_proves_it(project: Project, watch: Watch) -> None:
    frontend = container_id(project, "frontend")
    main = project.root / "backend" / "main.py"
    main.write_text(main.read_text() + "\n# watch: a backend edit\n")
    line = watch.wait_for(is_turn)
    assert line.startswith("backend  backend/main.py  built "), line
    assert "verified: running = tree (sources " in line and line.endswith("s from change"), line
    info = requests.get(f"{project.backend_url}/build/info", timeout=5).json()
    assert info["source_digest"] == fingerprint(project.root, project.root / "Dockerfile").digest
    assert container_id(project, "frontend") == frontend


def test_a_frontend_edit_rebuilds_and_recreates_the_frontend_only(project: Project, watch: Watch) -> None:
    backend = container_id(project, "backend")
    page = project.root / "frontend" / "index.html"
    page.write_text(page.read_text().replace("</body>", "<!-- watch: a frontend edit --></body>"))
    line = watch.wait_for(is_turn)
    assert line.startswith("frontend  frontend/index.html  built ") and "verified" in line, line
    assert "watch: a frontend edit" in requests.get(f"{project.frontend_url}/", timeout=5).text
    assert container_id(project, "backend") == backend


def test_fifty_files_changed_at_once_are_one_turn(project: Project, watch: Watch) -> None:
    folder = project.root / "backend" / "generated"
    folder.mkdir()
    for n in range(50):
        (folder / f"module_{n}.py").write_text(f"VALUE = {n}\n")
    first = watch.wait_for(is_turn)
    assert first.startswith("backend  backend/generated/") and "(+49)" in first and "verified" in first, first
    assert watch.turns_within(3.0) == []


def test_a_file_outside_every_context_makes_no_turn(project: Project, watch: Watch) -> None:
    (project.root / "README.md").write_text((project.root / "README.md").read_text() + "\nwatch: not an input\n")
    (project.root / "tests" / "scratch.py").write_text("# not an input\n")
    (project.root / "backend" / ".main.py.swp").write_text("an editor's swap file\n")
    assert watch.turns_within(3.0) == []


def test_a_broken_build_leaves_the_previous_backend_serving_and_the_fix_passes(project: Project, watch: Watch) -> None:
    before = requests.get(f"{project.backend_url}/build/info", timeout=5).json()
    main = project.root / "backend" / "main.py"
    good = main.read_text()
    main.write_text(good + "\ndef broken(:\n")
    line = watch.wait_for(is_turn)
    assert line.startswith("backend  backend/main.py  build failed: backend [runtime 5/5] RUN python -c"), line
    assert "compileall" in line and "failed (exit 1)" in line
    assert requests.get(f"{project.backend_url}/build/info", timeout=5).json() == before
    main.write_text(good + "\n# fixed\n")
    fixed = watch.wait_for(is_turn)
    assert fixed.startswith("backend  backend/main.py  built ") and "verified" in fixed, fixed


def test_ctrl_c_exits_0_with_the_stack_up_and_the_reports_written(project: Project, watch: Watch) -> None:
    watch.proc.send_signal(signal.SIGINT)
    assert watch.proc.wait(timeout=30) == 0
    watch.wait_for(lambda line: line.startswith("watch: ") and "the stack keeps running" in line, timeout=5)
    assert {"backend", "frontend"} <= {
        c.config.labels["com.docker.compose.service"]
        for c in docker.container.list(filters=[("label", f"com.docker.compose.project={project.name}")])
    }
    report = json.loads((project.reports / "watch.json").read_text())
    assert report["status"] == "passed" and report["exit_code"] == 0
    results = [t["result"] for t in report["turns"]]
    assert results == ["verified", "verified", "verified", "build failed", "verified"], report["turns"]
    # The whole failure is kept, what still serves included, when the line on screen is cut to the width.
    assert "the previous build still serves (backend: sources " in report["turns"][3]["detail"]
    root = assert_junit_valid(project.reports / "junit-watch.xml").getroot()
    turns = [c for c in root.iter("testcase") if str(c.get("name", "")).startswith("turn ")]
    assert len(turns) == 5 and [c.find("failure") is not None for c in turns] == [False, False, False, True, False]


def test_once_runs_one_turn_over_what_changed_since_the_running_build(project: Project) -> None:
    main = project.root / "backend" / "main.py"
    main.write_text(main.read_text() + "\n# changed while nothing watched\n")
    run = project.ci("watch", "--once")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "backend  backend/main.py  built " in run.stdout and "verified" in run.stdout  # the files, not (catch-up)
    again = project.ci("watch", "--once")
    assert again.returncode == 0 and "nothing changed since the running build" in again.stdout
