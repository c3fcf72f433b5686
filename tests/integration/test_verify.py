"""`nox -s verify` on the real engine: it passes on what was just built and catches each way a running
stack can differ from the tree: an uncommitted edit (for the service it touches only), a container not
recreated (and `--up` recreates it from the latest build), a stopped service."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
import requests
from junitparser import JUnitXml
from python_on_whales import docker

from tests.conftest import Project, assert_junit_valid

pytestmark = pytest.mark.integration

NAME = "mainzatest-verify"
CHECKS = [
    "services",
    *("backend image", "backend build info", "backend source fingerprint", "backend startup log"),
    *("frontend image", "frontend build info", "frontend page", "frontend source fingerprint"),
]


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project(NAME)


def results(project: Project) -> dict[str, str]:
    """check -> passed | failed | skipped, read with a JUnit reader."""
    assert_junit_valid(project.reports / "junit-verify.xml")
    xml = JUnitXml.fromfile(str(project.reports / "junit-verify.xml"))
    out = {}
    for suite in xml:
        for case in suite:
            out[case.name] = "passed" if case.is_passed else "skipped" if case.is_skipped else "failed"
    return out


def failure_text(run: subprocess.CompletedProcess[str], check: str) -> str:
    [line] = [x for x in run.stdout.splitlines() if x.startswith(check) and " failed " in x]
    return line


def stack(project: Project) -> list[str]:
    return [c.name for c in docker.container.list(filters=[("label", f"com.docker.compose.project={project.name}")])]


@pytest.mark.first_pass  # verify's own checks of what runs, whichever plugins built it (CI's time)
def test_prod_then_verify_from_nothing_running_passes_and_down_stops_it(project: Project) -> None:
    assert not stack(project)
    run = project.nox("-s", "prod", "verify", "--", "--down")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the stack is down: starting it from prod build" in run.stdout
    assert results(project) == dict.fromkeys(CHECKS, "passed")
    assert not stack(project), "--down left containers running"


@pytest.mark.first_pass  # the fingerprint of the tree against the image's label: no plugin reads it
def test_uncommitted_edit_fails_on_the_fingerprint_naming_the_file_until_rebuilt(project: Project) -> None:
    assert project.nox("-s", "dev").returncode == 0
    source = project.root / "backend" / "main.py"
    source.write_text(source.read_text() + "\n# edited, not rebuilt\n")
    run = project.nox("-s", "verify")
    assert run.returncode != 0
    assert results(project)["backend source fingerprint"] == "failed"
    assert "modified backend/main.py" in failure_text(run, "backend source fingerprint")
    assert results(project)["backend image"] == "passed"
    assert results(project)["frontend source fingerprint"] == "passed"

    rebuilt = project.nox("-s", "dev", "verify")
    assert rebuilt.returncode == 0, rebuilt.stdout
    assert results(project) == dict.fromkeys(CHECKS, "passed")


@pytest.mark.first_pass  # the fingerprint of the tree against the image's label: no plugin reads it
def test_a_frontend_edit_fails_the_frontend_only_naming_the_file(project: Project) -> None:
    assert project.nox("-s", "dev").returncode == 0
    with project.edited("frontend/src/main.ts", lambda text: text + "\n// edited, not rebuilt\n"):
        run = project.nox("-s", "verify")
    assert run.returncode != 0
    found = results(project)
    assert [check for check, result in found.items() if result != "passed"] == ["frontend source fingerprint"]
    assert "modified frontend/src/main.ts" in failure_text(run, "frontend source fingerprint")
    assert "backend" not in failure_text(run, "frontend source fingerprint").split("failed", 1)[1]


@pytest.mark.first_pass  # .env is read by the suite and given to bake as variables, by every buildx alike
def test_a_build_arg_in_dotenv_is_in_the_image_and_its_change_makes_the_frontend_stale_naming_it(
    project: Project,
) -> None:
    """Issue 33: VITE_API_URL in .env was ignored by the build (the default URL baked), and verify, comparing
    sources alone, could not tell two frontends built with different URLs apart."""
    dotenv = project.root / ".env"
    dotenv.write_text("VITE_API_URL=http://api.example.test:9000/api\n")
    try:
        built = project.ci("dev")
        assert built.returncode == 0, built.stdout + built.stderr
        # In the image: Dockerfile.frontend puts the origin of an absolute API URL in the page's CSP.
        policy = requests.get(project.frontend_url + "/", timeout=10).headers["Content-Security-Policy"]
        assert "connect-src 'self' http://api.example.test:9000;" in policy
        dotenv.write_text("VITE_API_URL=http://api.example.test:9000/api-renamed\n")
        run = project.ci("verify")
    finally:
        dotenv.unlink()
    assert run.returncode == 1, run.stdout + run.stderr
    found = results(project)
    assert [check for check, result in found.items() if result != "passed"] == ["frontend source fingerprint"]
    assert "build args changed since the build: VITE_API_URL (now from .env)" in failure_text(
        run, "frontend source fingerprint"
    )
    assert "api-renamed" not in run.stdout + run.stderr  # the arg named, never its value


@pytest.mark.first_pass  # verify's own checks of what runs, whichever plugins built it (CI's time)
def test_rebuilt_image_with_the_old_container_still_running_fails_until_up_recreates_it(project: Project) -> None:
    assert project.nox("-s", "dev").returncode == 0
    assert project.nox("-s", "prod").returncode == 0  # new images; the dev containers stay
    run = project.nox("-s", "verify")
    assert run.returncode != 0
    assert results(project)["backend image"] == "failed" and results(project)["frontend image"] == "failed"
    assert "`nox -s verify -- --up`" in failure_text(run, "backend image")
    up = project.nox("-s", "verify", "--", "--up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "--up: starting it from prod build" in up.stdout
    assert results(project) == dict.fromkeys(CHECKS, "passed")


@pytest.mark.first_pass  # a container's state read through docker inspect, which no plugin is asked
def test_stopped_backend_fails_on_services_and_junit_is_still_written(project: Project) -> None:
    assert project.nox("-s", "dev").returncode == 0
    [backend] = docker.container.list(
        filters=[
            ("label", f"com.docker.compose.project={project.name}"),
            ("label", "com.docker.compose.service=backend"),
        ]
    )
    docker.container.stop(backend)
    (project.reports / "junit-verify.xml").unlink(missing_ok=True)
    run = project.nox("-s", "verify")
    assert run.returncode != 0
    assert "Traceback" not in run.stdout + run.stderr
    assert results(project)["services"] == "failed"
    assert "backend: exited" in failure_text(run, "services")


@pytest.mark.first_pass  # the page in chromium, whichever plugins built it: CI's second pass leaves it out (time)
def test_browser_sees_both_badges_and_the_backend_polled_again(project: Project) -> None:
    assert project.nox("-s", "dev").returncode == 0
    run = project.nox("-s", "verify", "--", "--browser")
    assert run.returncode == 0, run.stdout + run.stderr
    assert results(project)["browser"] == "passed"
    assert "backend polled" in run.stdout


@pytest.mark.first_pass  # nothing built, nothing running: no plugin is asked (time)
def test_no_stack_and_no_build_says_what_to_run_first(make_project: Callable[[str], Project]) -> None:
    empty = make_project(f"{NAME}-empty")
    run = empty.ci("verify")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = [x for x in run.stderr.splitlines() if x.startswith("error: ")]
    assert "run `nox -s dev` or `nox -s prod` first" in line
