"""The door to Docker against the real engine, where python-on-whales is bypassed: the event stream that
watch and dev wait on for health, and container logs read in one call."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from ci import docker as dk
from ci.core.settings import HOST_ENV, Settings, read_env_file

pytestmark = pytest.mark.integration

BASE = read_env_file(HOST_ENV).get("PYTHON_IMAGE") or "localhost:5000/mirror/python:3.11-slim"


def project_engine(tmp_path: Path) -> tuple[dk.Engine, str]:
    project = f"events-{uuid.uuid4().hex[:8]}"
    return dk.connect(Settings(tmp_path, project, tmp_path, {})), project


def run(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def wait_for(events: dk.ContainerEvents, container: str, action: str, within: float = 60.0) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        event = events.next(timeout=0.5)
        if event and event.container_id == container and event.action == action:
            return
    pytest.fail(f"no `{action}` event of {container[:12]} within {within:.0f}s")


@pytest.mark.first_pass  # the engine's events and logs, through the docker CLI: no plugin is asked (time)
@pytest.mark.usefixtures("engine")
def test_container_events_report_health_and_death_of_the_projects_containers_only(tmp_path: Path) -> None:
    engine, project = project_engine(tmp_path)
    with dk.container_events(engine, ("health_status", "die")) as events:
        ours = run("run", "-d", "--label", f"{dk.COMPOSE_PROJECT_LABEL}={project}",
                   "--health-cmd", "true", "--health-interval", "200ms", BASE, "sleep", "600")  # fmt: skip
        other = run("run", "-d", BASE, "sleep", "600")
        try:
            wait_for(events, ours, "health_status: healthy")
            run("kill", ours)
            run("kill", other)
            wait_for(events, ours, "die")
            time.sleep(0.5)
            assert all(e.container_id == ours for e in iter(lambda: events.next(timeout=0.2), None))
        finally:
            run("rm", "-f", ours, other)


@pytest.mark.first_pass  # the engine's events, through the docker CLI: no plugin is asked (time)
@pytest.mark.usefixtures("engine")
def test_container_events_replay_what_happened_while_the_stream_connected(tmp_path: Path) -> None:
    engine, project = project_engine(tmp_path)
    with dk.container_events(engine, ("die",)) as events:
        ours = run("run", "-d", "--label", f"{dk.COMPOSE_PROJECT_LABEL}={project}", BASE, "true")
        try:
            wait_for(events, ours, "die")
        finally:
            run("rm", "-f", ours)


@pytest.mark.first_pass  # the engine's logs, through the docker CLI: no plugin is asked (time)
@pytest.mark.usefixtures("engine")
def test_container_logs_keep_the_order_of_stdout_and_stderr_lines(tmp_path: Path) -> None:
    engine, _ = project_engine(tmp_path)
    script = "echo one; sleep 0.05; echo two >&2; sleep 0.05; echo three; sleep 0.05; echo four >&2"
    container = run("run", "-d", BASE, "sh", "-c", script)
    try:
        run("wait", container)
        assert dk.container_logs(engine, container).splitlines() == ["one", "two", "three", "four"]
        assert dk.container_logs(engine, container, tail=2).splitlines() == ["three", "four"]
    finally:
        run("rm", "-f", container)
    assert dk.container_logs(engine, container) == ""
