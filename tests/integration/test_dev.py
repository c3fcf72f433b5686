"""`nox -s dev` end to end on the real engine: from a stack that is down to both services serving the
current commit, then a source edit and a second run that serves the edited code, then a rebuild that
fails while the stack keeps serving."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from python_on_whales import docker

from ci.sources.git import git
from tests.conftest import Project, assert_junit_valid, junit_results

pytestmark = pytest.mark.integration

BUILD_INFO_KEYS = {
    "build_date", "git_commit", "cache_bust", "source_digest", "python_version", "container_started", "status",
}  # fmt: skip
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def first_run(make_project: Callable[[str], Project]) -> tuple[Project, subprocess.CompletedProcess[str]]:
    """A copy of the project whose stack is down, then `nox -s dev` in it."""
    project = make_project("mainzatest")
    assert not docker.container.list(all=True, filters=[("label", "com.docker.compose.project=mainzatest")])
    return project, project.nox("-s", "dev")


@pytest.fixture
def project(first_run: tuple[Project, subprocess.CompletedProcess[str]]) -> Project:
    assert first_run[1].returncode == 0, "the first `nox -s dev` failed"
    return first_run[0]


def build_info_js(project: Project) -> dict[str, object]:
    response = requests.get(f"{project.frontend_url}/build-info.js", timeout=5)
    response.raise_for_status()
    match = re.fullmatch(r"\s*window\.BUILD_INFO\s*=\s*(\{.*\})\s*;?\s*", response.text, re.S)
    assert match, response.text
    # A JS object literal with bare keys: quote the keys to read it as JSON.
    return json.loads(re.sub(r"([{,]\s*)(\w+)\s*:", r'\1"\2":', match.group(1)))


def test_dev_from_a_stopped_stack_succeeds_and_prints_what_runs(
    first_run: tuple[Project, subprocess.CompletedProcess[str]],
) -> None:
    project, run = first_run
    assert run.returncode == 0, run.stderr
    commit = git(project.root, "rev-parse", "--short", "HEAD")
    table = run.stdout[run.stdout.index("service   image id") :]
    assert re.search(rf"backend\s+[0-9a-f]{{12}}\s+\S+Z\s+{commit}\s+healthy", table), table
    assert re.search(rf"frontend\s+[0-9a-f]{{12}}\s+\S+Z\s+{commit}\s+healthy", table), table


def test_devs_last_line_stops_this_project_by_name_never_another(
    first_run: tuple[Project, subprocess.CompletedProcess[str]],
) -> None:
    project, run = first_run
    last = run.stdout.strip().splitlines()[-1]
    # A bare `docker compose down`, without COMPOSE_PROJECT_NAME exported, stops another stack.
    assert last.endswith(f"stop with `docker compose -p {project.env['COMPOSE_PROJECT_NAME']} down`"), last


def test_backend_build_info_has_exactly_the_keys_and_the_current_commit(project: Project) -> None:
    commit = git(project.root, "rev-parse", "--short", "HEAD")
    info = requests.get(f"{project.backend_url}/build/info", timeout=5).json()
    assert set(info) == BUILD_INFO_KEYS
    assert info["git_commit"] == commit
    assert info["status"] == "healthy"
    assert ISO_UTC.match(info["build_date"]) and ISO_UTC.match(info["container_started"])
    assert info["cache_bust"].isdigit()
    assert info["python_version"].startswith("3.")


def test_frontend_build_info_agrees_with_the_backend(project: Project) -> None:
    backend = requests.get(f"{project.backend_url}/build/info", timeout=5).json()
    frontend = build_info_js(project)
    assert frontend["gitCommit"] == backend["git_commit"]
    assert frontend["buildDate"] == backend["build_date"]
    assert frontend["cacheBust"] == backend["cache_bust"]
    assert frontend["buildTimestamp"] == int(backend["cache_bust"]) * 1000


def test_frontend_serves_no_cache_build_info_security_headers_and_the_api_proxy(project: Project) -> None:
    info = requests.get(f"{project.frontend_url}/build-info.js", timeout=5)
    assert "no-cache" in info.headers["Cache-Control"]
    page = requests.get(f"{project.frontend_url}/some/client/route", timeout=5)
    assert page.status_code == 200 and "build-info.js" in page.text  # SPA fallback to index.html
    for response in (info, page):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"]
    proxied = requests.get(f"{project.frontend_url}/api/build/info", timeout=5).json()
    assert set(proxied) == BUILD_INFO_KEYS


def test_backend_startup_log_carries_the_build_lines(project: Project) -> None:
    info = requests.get(f"{project.backend_url}/build/info", timeout=5).json()
    [container] = docker.container.list(
        filters=[("label", "com.docker.compose.project=mainzatest"), ("label", "com.docker.compose.service=backend")]
    )
    logs = docker.container.logs(container)
    assert f"Cache bust: {info['cache_bust']}" in logs
    assert f"Build date: {info['build_date']}" in logs
    assert f"Git commit: {info['git_commit']}" in logs


def test_dev_writes_schema_valid_junit_with_one_case_per_step(project: Project) -> None:
    document = assert_junit_valid(project.reports / "junit-dev.xml")
    cases = document.getroot().findall("testsuite[@name='dev']/testcase")
    assert [c.get("name") for c in cases] == ["engine", "preflight", "ports", "bake", "up", "clean", "status"]
    assert all(suite.findall("testcase") for suite in document.getroot().findall("testsuite"))  # none empty
    assert all(c.find("failure") is None and c.find("skipped") is None for c in cases)
    targets = {s.get("name") for s in document.getroot().findall("testsuite")}
    assert {"backend", "frontend"} <= targets
    build = json.loads((project.reports / "build-dev.json").read_text())
    assert {t["target"] for t in build["targets"]} == {"backend", "frontend"}
    timeline = (project.reports / build["timeline"]).read_text()  # build-dev.html, beside it
    assert build["timeline"] == "build-dev.html"
    assert "<h2>backend <small>" in timeline and "<h2>frontend <small>" in timeline


@pytest.mark.first_pass  # the file in chromium, whichever plugins built it: CI's second pass leaves it out (time)
def test_devs_timeline_opens_in_chromium_fetching_nothing_and_showing_both_targets(project: Project) -> None:
    from ci.probe import browser  # playwright: the tests' session installs verify --browser's requirement

    path = project.reports / "build-dev.html"
    url = path.as_uri()
    with browser.opened() as page:
        said: list[str] = []
        page.on("console", lambda message: said.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda err: said.append(str(err)))
        page.on("request", lambda request: said.append(request.url) if request.url != url else None)
        page.goto(url, wait_until="load")
        headings = page.locator("h2").all_inner_texts()
    assert said == [] and [h.split()[0] for h in headings] == ["backend", "frontend"]
    # as the bench weighs and opens the heavy profile's (ci/bench/heavy.py)
    print(f"build-dev.html: {path.stat().st_size} bytes, opened in {browser.load_seconds(path):.3f}s")


def test_second_dev_after_a_source_edit_serves_the_edited_code(project: Project) -> None:
    old_images = {i.id for i in docker.image.list(filters=[("label", "mainza.project=mainzatest")])}
    main = project.root / "backend" / "main.py"
    main.write_text(
        main.read_text() + '\n\n@app.get("/edited")\ndef edited() -> dict[str, str]:\n    return {"edited": "yes"}\n'
    )
    page = project.root / "frontend" / "index.html"
    page.write_text(page.read_text().replace("</body>", "<!-- edited-marker --></body>"))
    commit = project.commit("edit the backend and the page")

    run = project.nox("-s", "dev")
    assert run.returncode == 0, run.stderr
    assert requests.get(f"{project.backend_url}/edited", timeout=5).json() == {"edited": "yes"}
    assert requests.get(f"{project.backend_url}/build/info", timeout=5).json()["git_commit"] == commit
    assert "edited-marker" in requests.get(f"{project.frontend_url}/", timeout=5).text
    assert build_info_js(project)["gitCommit"] == commit
    new_images = {i.id for i in docker.image.list(filters=[("label", "mainza.project=mainzatest")])}
    assert len(new_images) == 2 and not (old_images & new_images), "the previous images were not removed"


def test_a_failing_rebuild_leaves_the_running_stack_serving_and_says_so(project: Project) -> None:
    before = requests.get(f"{project.backend_url}/build/info", timeout=5).json()
    failing = "FROM base AS runtime\nRUN echo a typo in the Dockerfile && exit 3\n"
    with project.edited("Dockerfile", lambda text: text.replace("FROM base AS runtime\n", failing)):
        run = project.ci("dev")
    assert run.returncode == 1
    [line] = [x for x in run.stderr.splitlines() if x.startswith("error: ")]
    step = "backend [runtime 1/6] RUN echo a typo in the Dockerfile..."
    assert line == f"error: {step} failed (exit 3); the previous build still serves"
    assert requests.get(f"{project.backend_url}/build/info", timeout=5).json() == before
    assert requests.get(f"{project.frontend_url}/build-info.js", timeout=5).status_code == 200


@pytest.mark.first_pass  # the lock is the frame's, whichever plugins bake and compose
def test_two_devs_at_once_one_runs_the_other_is_refused_naming_it_and_the_stack_is_whole(
    project: Project, tmp_path: Path
) -> None:
    """A second dev on the project while the first builds: refused in one line naming the first, nothing
    done, no report written over the first's; the first passes and its stack is whole and proven."""
    env = {**os.environ, **project.env, "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("VIRTUAL_ENV", None)
    lock = tmp_path / "state" / "mainza" / "locks" / f"{project.name}.lock"
    first = subprocess.Popen(
        [sys.executable, "-m", "ci", "dev"], cwd=project.root, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (lock.is_file() and f'"pid": {first.pid}' in lock.read_text()):
            assert first.poll() is None and time.monotonic() < deadline, "the first dev never held the lock"
            time.sleep(0.1)
        second = project.ci("dev", env={"XDG_STATE_HOME": env["XDG_STATE_HOME"], "LOCK_WAIT": "0"})
        out, _ = first.communicate(timeout=600)
    finally:
        first.kill()
    print(out)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1].startswith(f"error: `nox -s dev` (pid {first.pid}, since ")
    assert "nothing was done" in second.stderr
    assert first.returncode == 0, out
    assert json.loads((project.reports / "dev.json").read_text())["status"] == "passed"
    assert junit_results(project.reports / "junit-dev.xml")["status"] == "passed"
    verify = project.ci("verify")
    assert verify.returncode == 0, verify.stderr
