"""`nox -s verify -- --url` against a deployed service that answers whatever it likes (tests/hostile.py): an
endless body, a gzip bomb, a body trickled a byte a second or that never starts, headers trickled, no answer
at all, a 401 page echoing the bearer token, JSON nested 100,000 deep, escapes in the build info. Each run
ends in bounded time and memory with exit 1 and the reports of that run, the token in none of its output.
The engine's client reads the definitions (no daemon is asked); nothing is built."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci.core import fetch
from tests.conftest import Project, junit_results
from tests.hostile import Hostile

# first_pass: verify --url reads over HTTP from Python, whichever plugins are installed (test_verify_url.py).
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-hostile"
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # proof that no engine is asked
TOKEN = "h0stile-t0ken-value"
# Each service's answers: at most one whole answer's deadline (a late one is not asked again), and the
# start of python and of the docker client reading the definitions.
BOUND = 2 * fetch.ANSWER_SECONDS + 15
MEMORY_KIB = 400 * 1024  # the largest process of the run, docker's client included; unbounded reads take GBs
# The child's peak memory, and that of its own children, C allocations included.
MEASURED = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project(NAME)


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    peak_kib: int
    summary: str

    @property
    def texts(self) -> list[str]:
        return [self.out, self.err, self.summary]


def verify(project: Project, tmp_path: Path, *args: str) -> Run:
    """`python -m ci verify ARGS` with the token in Authorization, its time and peak memory measured; killed
    (its whole process group) should it outlive the bound."""
    for old in project.reports.glob("*verify*"):
        old.unlink()
    rss, summary = tmp_path / "rss", tmp_path / "summary.md"
    env = {**os.environ, **project.env, **NO_ENGINE, "VERIFY_AUTHORIZATION": f"Bearer {TOKEN}",
           "GITHUB_STEP_SUMMARY": str(summary)}  # fmt: skip
    env.pop("VIRTUAL_ENV", None)
    command = [sys.executable, "-c", MEASURED, str(rss), sys.executable, "-m", "ci", "verify", *args,
               "--header-env", "Authorization=VERIFY_AUTHORIZATION"]  # fmt: skip
    start = time.monotonic()
    child = subprocess.Popen(command, cwd=project.root, env=env, text=True, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        out, err = child.communicate(timeout=3 * BOUND)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail(f"verify {' '.join(args)} still ran after {3 * BOUND:.0f}s")
    seconds = time.monotonic() - start
    print(f"$ verify {' '.join(args)}  -> {child.returncode} in {seconds:.1f}s\n{out}\n{err}")
    text = summary.read_text() if summary.is_file() else ""
    return Run(child.returncode, out, err, seconds, int(rss.read_text()), text)


@pytest.mark.parametrize(
    ("backend", "frontend", "says"),
    [
        ("trickle", "bomb", ["backend unreachable", "frontend no build info"]),
        ("endless", "silent", ["backend no build info", "frontend unreachable"]),
        ("echo", "deep", ["backend no build info", "frontend no build info"]),
        ("trickle-head", "stall", ["backend unreachable", "frontend unreachable"]),
    ],
)
def test_hostile_answers_end_in_bounded_time_and_memory_with_this_runs_reports_and_no_token(
    project: Project, hostile: Hostile, tmp_path: Path, backend: str, frontend: str, says: list[str]
) -> None:
    run = verify(project, tmp_path, "--url", f"backend={hostile.url(backend)}", "--url",
                 f"frontend={hostile.url(frontend)}")  # fmt: skip
    assert run.code == 1 and "Traceback" not in run.err
    assert run.seconds < BOUND, f"{run.seconds:.1f}s"
    assert 0 < run.peak_kib < MEMORY_KIB, f"{run.peak_kib} KiB at the peak"
    last = run.err.strip().splitlines()[-1]
    assert last.startswith("error: 2 addresses does not run") and all(s in last for s in says), last
    data = json.loads((project.reports / "verify.json").read_text())
    assert data["status"] == "failed" and data["exit_code"] == 1
    results = junit_results(project.reports / "junit-verify.xml")
    assert results["backend build info"] == results["frontend build info"] == "failure"
    reports = [p.read_text() for p in project.reports.glob("*verify*")]
    for text in [*run.texts, *reports]:
        assert TOKEN not in text
    if backend == "echo":  # the token went, and came back: masked
        assert "denied: token *** is not valid" in json.dumps(data)


def test_escapes_in_the_build_info_end_in_bounded_time_with_this_runs_valid_reports_shown_never_acted_on(
    project: Project, hostile: Hostile, tmp_path: Path
) -> None:
    """Escape sequences, bidi overrides, \r and characters XML forbids in git_commit and source_digest: the
    run fails in bounded time, its JUnit valid and its JSON saying so, and what the service sent reaches
    the terminal, the reports and the job summary as visible escapes, never raw."""
    run = verify(project, tmp_path, "--url", f"backend={hostile.url('escapes')}")
    assert run.code == 1 and "Traceback" not in run.err
    assert run.seconds < BOUND and run.peak_kib < MEMORY_KIB
    data = json.loads((project.reports / "verify.json").read_text())
    assert data["status"] == "failed" and data["exit_code"] == 1
    assert junit_results(project.reports / "junit-verify.xml")["backend commit"] == "failure"  # valid, or fails
    reports = [p.read_text() for p in project.reports.glob("*verify*")]
    for text in [*run.texts, *reports]:
        assert TOKEN not in text
        assert not any(raw in text for raw in ("\x1b", "\x00", "\u202e", "\r")), repr(text[:300])
    assert "\\x1b[" in run.out  # shown: the escape's own characters


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_while_a_deployment_trickles_its_answer_is_interrupted_never_green(
    project: Project, hostile: Hostile, signum: int, code: int
) -> None:
    """verify --url stopped mid-answer (a CI runner's cancel): its exit code names the signal, and its JUnit,
    this run's, has the interruption as an error, never 0 failures."""
    for old in project.reports.glob("*verify*"):
        old.unlink()
    env = {**os.environ, **project.env, **NO_ENGINE}
    env.pop("VIRTUAL_ENV", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "ci", "verify", "--url", f"backend={hostile.url('trickle')}", "--wait", "5m"],
        cwd=project.root, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(3)  # the definitions read, the answer trickling
    os.killpg(child.pid, signum)  # as a terminal's Ctrl-C or a runner's stop reaches the whole group
    out, err = child.communicate(timeout=60)
    print(out, err)
    assert child.returncode == code
    assert err.strip().splitlines()[-1] == f"interrupted ({signal.Signals(signum).name})"
    data = json.loads((project.reports / "verify.json").read_text())
    assert data["status"] == "interrupted" and data["exit_code"] == code
    results = junit_results(project.reports / "junit-verify.xml")
    assert "error" in results.values(), results
