"""`nox -s dev` on bad input: one actionable line, a non-zero exit, no traceback, JUnit still written."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Project, assert_junit_valid

pytestmark = pytest.mark.integration


def error_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in run.stderr + run.stdout
    return [line for line in run.stderr.splitlines() if line.startswith("error: ")]


def junit_cases(project: Project) -> dict[str, str]:
    """testcase name -> passed | failed | skipped, from a schema-valid junit-dev.xml."""
    root = assert_junit_valid(project.reports / "junit-dev.xml").getroot()
    result = {}
    for case in root.findall(".//testcase"):
        result[case.get("name", "")] = (
            "failed"
            if case.find("failure") is not None
            else "skipped"
            if case.find("skipped") is not None
            else "passed"
        )
    return result


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project("mainzatest-errors")


@pytest.mark.first_pass  # no engine at all, so no plugin is asked (time)
def test_no_engine_is_one_line_naming_the_fix(project: Project, tmp_path: Path) -> None:
    run = project.ci("dev", env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert run.returncode == 3
    [line] = error_lines(run)
    line = json.loads((project.reports / "dev.json").read_text())["line"]  # whole: printed cut to the width
    assert f"no Docker engine answers at unix://{tmp_path}/no-such.sock" in line
    assert "ci/provision" in line
    assert junit_cases(project) == {s: ("failed" if s == "engine" else "skipped") for s in junit_steps()}


def junit_steps() -> list[str]:
    return ["engine", "preflight", "ports", "bake", "up", "clean", "status"]


def test_host_port_in_use_names_the_port_and_its_variable(project: Project) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        run = project.ci("dev", env={"FRONTEND_PORT": str(port)})
    assert run.returncode == 1
    [line] = error_lines(run)
    assert line == f"error: host port {port} is in use on 127.0.0.1: free it or set FRONTEND_PORT to another port"
    assert junit_cases(project)["ports"] == "failed"


def test_a_base_image_on_an_unreachable_registry_ends_the_line_with_the_cause(project: Project) -> None:
    image = "unreachable.mainza.invalid/library/python:3.11-slim"  # .invalid never resolves (RFC 2606)
    run = project.ci("dev", env={"PYTHON_IMAGE": image, "COLUMNS": "100"})
    assert run.returncode == 1
    [line] = error_lines(run)
    whole = json.loads((project.reports / "dev.json").read_text())["line"]
    assert "unreachable.mainza.invalid" in whole and len(whole) > 100, whole  # the JSON keeps it whole
    # Cut in its middle on screen: its start says what failed, its end why.
    assert len(line) == 100 and "..." in line, line
    assert line.startswith(whole[:30]) and line.endswith(whole[-30:]), (line, whole)


def test_malformed_bake_file_shows_buildx_message(project: Project) -> None:
    with project.edited("docker-bake.hcl", lambda text: text + '\ntarget "broken" {\n  tags = [\n'):
        run = project.ci("dev")
    assert run.returncode == 1
    [line] = error_lines(run)
    assert re.match(r"error: docker-bake\.hcl:\d+,\d+-\d+: Missing expression", line), line
    assert junit_cases(project)["preflight"] == "failed"  # the definitions resolved before anything is built


def test_missing_dev_group_is_named(project: Project) -> None:
    with project.edited("docker-bake.hcl", lambda text: re.sub(r'group "dev" \{.*?\n\}\n', "", text, flags=re.S)):
        run = project.ci("dev")
    assert run.returncode == 1
    [line] = error_lines(run)
    assert line == "error: docker-bake.hcl: failed to find target dev", line


def test_failing_dockerfile_step_shows_the_step_and_its_log_tail(project: Project) -> None:
    failing = "FROM base AS runtime\nRUN echo sentinel-output-of-the-failing-step && exit 3\n"
    with project.edited("Dockerfile", lambda text: text.replace("FROM base AS runtime\n", failing)):
        run = project.ci("dev")
    assert run.returncode == 1
    [line] = error_lines(run)
    assert line == "error: backend [runtime 1/6] RUN echo sentinel-output-of-the-f... failed (exit 3)"
    assert (
        "sentinel-output-of-the-failing-step" in run.stderr.split("--- the last lines of backend [runtime 1/6] ---")[1]
    )
    assert junit_cases(project)["bake"] == "failed"
    failure = assert_junit_valid(project.reports / "junit-dev.xml").getroot().find(".//testcase[@name='bake']/failure")
    assert failure is not None and "sentinel-output-of-the-failing-step" in (failure.text or "")
