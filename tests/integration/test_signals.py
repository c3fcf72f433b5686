"""A stop signal on the real engine, as a CI runner (SIGTERM, to the session alone) or a terminal (Ctrl-C, to
its whole process group) sends it, during a bake, during prod's cache export and during `compose up`: the
session ends `interrupted` with the signal's exit code and names it, its reports are this run's, nothing it
started runs on, the stack runs what it ran before, and no tag is left on an image no build record names.

One project and its builds serve every test, in order: a prod build running (verify --up), then each stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from python_on_whales import docker

from tests.conftest import Project, junit_results
from tests.integration.held_registry import held_registry

# The stops are the frame's and the start phase's, whichever plugins bake and compose with: CI's first pass.
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-signals"
# A runner's SIGTERM goes to the session alone (it must stop buildx and compose itself); Ctrl-C to the group.
STOPS = [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)]
STOP_IDS = ["SIGTERM to the session", "Ctrl-C to its group"]


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project(NAME)


@dataclass(frozen=True)
class Running:
    """What the stack runs, and what the engine's tags and the build record name."""

    containers: dict[str, tuple[str, str, str]]  # service -> (container id, image id, state)
    tags: dict[str, str]  # every tag of the project's images -> image id
    recorded: frozenset[str]  # the image ids the build record names (its builds and those they replaced)


def running(project: Project) -> Running:
    found = docker.container.list(all=True, filters=[("label", f"com.docker.compose.project={project.name}")])
    containers = {c.config.labels["com.docker.compose.service"]: (c.id, c.image, c.state.status) for c in found}
    images = docker.image.list(filters=[("label", f"mainza.project={project.name}")])
    tags = {tag: str(image.id) for image in images for tag in image.repo_tags or ()}
    record = json.loads((project.reports / "last-build.json").read_text())
    targets = [*record["targets"].values(), *(record.get("previous") or {}).values()]
    return Running(containers, tags, frozenset(t["image_id"] for t in targets))


def started(project: Project, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, **project.env, **(env or {})}
    full.pop("VIRTUAL_ENV", None)
    return subprocess.Popen(
        [sys.executable, "-m", "ci", *args], cwd=project.root, env=full, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def stopped(
    proc: subprocess.Popen[str], when: Callable[[str], bool] | threading.Event, signum: int, group: bool
) -> list[str]:
    """PROC's lines, sent SIGNUM (to its group: Ctrl-C) once it printed a line WHEN wants, or WHEN is set; it has
    ended."""
    assert proc.stdout is not None
    lines: list[str] = []
    ready = when if isinstance(when, threading.Event) else threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if not isinstance(when, threading.Event) and when(line):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while not ready.wait(0.1):
        if proc.poll() is not None:
            reader.join(5)
            pytest.fail(f"ended ({proc.returncode}) before the moment to stop it:\n" + "\n".join(lines))
    (os.killpg if group else os.kill)(proc.pid, signum)
    began = time.monotonic()
    proc.wait(timeout=120)
    reader.join(10)
    print("\n".join(lines), f"\n(ended {time.monotonic() - began:.1f}s after the signal)")
    return lines


def assert_interrupted(project: Project, session: str, lines: list[str], signum: int, code: int, step: str) -> None:
    """The run's own reports say interrupted, naming the signal, in STEP; nothing it started runs on."""
    name = signal.Signals(signum).name
    assert lines[-1] == f"interrupted ({name})" and "Traceback" not in "\n".join(lines)
    data = json.loads((project.reports / f"{session}.json").read_text())
    assert (data["status"], data["exit_code"], data["signal"]) == ("interrupted", code, name)
    assert junit_results(project.reports / f"junit-{session}.xml")[step] == "error"
    mine = subprocess.run(["pgrep", "-f", str(project.reports)], capture_output=True, text=True).stdout.split()
    assert mine == [], "a docker command the session started runs on"


def assert_no_unrecorded_tag(now: Running) -> None:
    unrecorded = {tag: image for tag, image in now.tags.items() if image not in now.recorded}
    assert unrecorded == {}, "tags left on images no build record names"


def commit_an_edit(project: Project) -> None:
    """A commit changing the backend's sources as no build has seen them: its last steps run again, and prod
    exports their cache (it exports none for uncommitted edits)."""
    main = project.root / "backend" / "main.py"
    main.write_text(main.read_text() + f"\n# edited at {time.time_ns()}\n")
    project.commit("an edit of the backend")


@pytest.fixture(scope="module")
def first(project: Project) -> Running:
    """A prod build, running: what each stop must leave as it was."""
    assert project.ci("prod").returncode == 0
    assert project.ci("verify", "--up").returncode == 0
    return running(project)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_during_a_bake_leaves_the_stack_the_tags_and_the_record_as_they_were(
    project: Project, first: Running, signum: int
) -> None:
    record = (project.reports / "last-build.json").read_bytes()
    proc = started(project, "dev")
    # At once, to the session alone: the bake it started is stopped by the session itself.
    lines = stopped(proc, lambda line: line.startswith("baking dev"), signum, group=False)
    assert proc.returncode == 128 + signum
    assert_interrupted(project, "dev", lines, signum, 128 + signum, "bake")
    assert junit_results(project.reports / "junit-dev.xml")["up"] == "skipped"
    now = running(project)
    assert now.containers == first.containers and (project.reports / "last-build.json").read_bytes() == record
    assert_no_unrecorded_tag(now)


@pytest.mark.parametrize(("signum", "group", "code"), STOPS, ids=STOP_IDS)
def test_a_stop_during_prods_cache_export_moves_no_tag_and_leaves_the_record(
    project: Project, first: Running, signum: int, group: bool, code: int
) -> None:
    record = (project.reports / "last-build.json").read_bytes()
    commit_an_edit(project)
    with held_registry() as registry:  # the local registry, each write held: the export runs, and waits
        proc = started(project, "prod", env={"CACHE_REGISTRY": registry.address})
        lines = stopped(proc, registry.writing, signum, group)
    assert proc.returncode == code
    assert_interrupted(project, "prod", lines, signum, code, "bake")
    now = running(project)
    assert now.tags[f"{NAME}-backend:latest"] == first.tags[f"{NAME}-backend:latest"]
    assert_no_unrecorded_tag(now)  # the images were loaded, their tags moved: put back, or gone
    assert (project.reports / "last-build.json").read_bytes() == record
    assert now.containers == first.containers


def recreating(line: str) -> bool:
    """compose up has begun replacing a container."""
    return " Container " in line and "Recreate" in line


@pytest.mark.parametrize(("signum", "group", "code"), STOPS, ids=STOP_IDS)
def test_a_stop_during_compose_up_brings_the_previous_build_back(
    project: Project, first: Running, signum: int, group: bool, code: int
) -> None:
    built = project.ci("prod")  # the edited backend, recorded: what verify --up starts
    assert built.returncode == 0
    newer = json.loads((project.reports / "last-build.json").read_text())["targets"]["backend"]["image_id"]
    assert newer != first.containers["backend"][1]
    proc = started(project, "verify", "--up")
    lines = stopped(proc, recreating, signum, group)
    assert proc.returncode == code
    assert_interrupted(project, "verify", lines, signum, code, "services")
    assert "interrupted: bringing back the previous build of backend, frontend" in lines
    now = running(project)
    assert {s: (image, state) for s, (_, image, state) in now.containers.items()} == {
        s: (image, "running") for s, (_, image, _) in first.containers.items()
    }  # the previous build runs again, compose's half-made containers gone
    record = json.loads((project.reports / "last-build.json").read_text())
    assert {t: r["image_id"] for t, r in record["targets"].items()} == {
        s: image for s, (_, image, _) in first.containers.items()
    }  # and the record says so
    for service, (_, image, _) in now.containers.items():  # as does the reference compose runs it by
        assert now.tags[f"{NAME}-{service}:{record['tag']}"] == image
