"""`nox -s doctor` against the real engine, on a copy of the project: a healthy host passes; no engine, or a
10 MB file in the build context, fails with one line and still writes a schema-valid JUnit file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.builds.bakefile import SBOM_SCANNER
from ci.sign import cosign
from tests.conftest import Project, assert_junit_valid

pytestmark = pytest.mark.integration

CHECKS = {
    "engine",
    "buildx",
    "compose",
    "builder",
    "attestations",  # what the builder can do for a release: a line each
    "sbom",
    "cosign",
    "signing key",
    "public key",
    "cache registry",
    "disk",
    "bake file",
    "compose file",
    "context backend",  # a check per target: each has its own inputs
    "context frontend",
    "dockerignore",
    "base images",
    "service images",
}


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project("mainzatest-doctor")


def error_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in run.stderr + run.stdout
    return [line for line in run.stderr.splitlines() if line.startswith("error: ")]


def junit_cases(project: Project) -> dict[str, str]:
    """testcase name -> passed | failed | skipped, from a schema-valid junit-doctor.xml."""
    root = assert_junit_valid(project.reports / "junit-doctor.xml").getroot()
    return {
        case.get("name", ""): "failed"
        if case.find("failure") is not None
        else "skipped"
        if case.find("skipped") is not None
        else "passed"
        for case in root.iter("testcase")
    }


def test_healthy_host_passes(project: Project) -> None:
    run = project.nox("-s", "doctor")
    assert run.returncode == 0, run.stderr
    assert error_lines(run) == []
    cases = junit_cases(project)
    assert set(cases) == CHECKS
    assert {name for name, status in cases.items() if status != "passed"} == set()
    assert "the 10 largest" in run.stdout and "backend/main.py" in run.stdout
    found = {c["name"]: c for c in json.loads((project.reports / "doctor.json").read_text())["checks"]}
    assert (found["builder"]["level"], found["attestations"]["level"], found["cosign"]["level"]) == ("ok",) * 3
    # Docker's SBOM scanner comes from Docker Hub: a host without it is told so, with advice, and still passes
    assert found["sbom"]["level"] == "ok" or (SBOM_SCANNER in found["sbom"]["detail"] and found["sbom"]["advice"])


@pytest.mark.first_pass  # cosign and its key: no plugin is asked, CI's second pass leaves it out (time)
def test_a_signing_key_that_opens_and_its_public_half_pass_and_no_secret_is_shown(
    project: Project, tmp_path: Path
) -> None:
    """cosign's own key pair: the key opens with its password and COSIGN_PUBLIC_KEY is its public half, as
    cosign prints it (another pair's warns: tests/unit/doctor/test_checks.py)."""
    password = "doctor-pw-9c1e"
    key, public_key = cosign.generate_key_pair(tmp_path, password)
    keys = {"COSIGN_KEY": str(key), "COSIGN_PUBLIC_KEY": str(public_key)}
    run = project.ci("doctor", env={**keys, "COSIGN_PASSWORD": password})
    assert run.returncode == 0, run.stderr
    found = {c["name"]: c for c in json.loads((project.reports / "doctor.json").read_text())["checks"]}
    assert found["signing key"]["level"] == "ok" and "opens with COSIGN_PASSWORD" in found["signing key"]["detail"]
    assert found["public key"]["level"] == "ok" and "own public half" in found["public key"]["detail"]
    said = run.stdout + run.stderr + "".join(p.read_text() for p in project.reports.glob("*doctor*"))
    assert password not in said and "ENCRYPTED" not in said


@pytest.mark.first_pass  # no engine at all, so no plugin is asked: CI's second pass leaves it out (time)
def test_no_engine_fails_with_one_line_and_writes_junit(project: Project, tmp_path: Path) -> None:
    socket = f"unix://{tmp_path}/no-such.sock"
    run = project.ci("doctor", env={"DOCKER_HOST": socket, "COLUMNS": "120"})
    assert run.returncode == 3
    [line] = error_lines(run)
    whole = json.loads((project.reports / "doctor.json").read_text())["line"]  # printed cut to the width
    assert whole.startswith(f"error: engine: no Docker engine answers at {socket}: run `ci/provision` as root")
    # printed cut in its middle: what failed at its start, what to do at its end
    head, _, tail = line.partition("...")
    assert whole.startswith(head) and whole.endswith(tail) and len(line) <= 120
    cases = junit_cases(project)
    assert cases["engine"] == "failed"
    assert {name for name, status in cases.items() if status == "failed"} == {"engine"}
    assert {"builder", "disk", "base images"} <= {name for name, status in cases.items() if status == "skipped"}


@pytest.mark.first_pass  # the context's size, measured by the suite itself: no plugin is asked (time)
def test_ten_megabyte_file_in_the_context_fails_the_budget_naming_it(project: Project) -> None:
    big = project.root / "backend" / "weights.bin"  # backend/ is in the backend's allowlist, .dockerignore
    big.write_bytes(b"\0" * 10 * 1024 * 1024)
    try:
        run = project.ci("doctor")
    finally:
        big.unlink()
    assert run.returncode == 1
    [line] = error_lines(run)
    assert line.startswith("error: context backend: ")
    assert "over the 5.0 MB budget" in line
    assert "backend/weights.bin 10.5 MB" in line
    assert junit_cases(project)["context backend"] == "failed"
    assert junit_cases(project)["context frontend"] == "passed"  # not in the frontend's inputs
    assert "10.5 MB  backend/weights.bin" in run.stdout  # first of the ten largest
