"""`python -m ci NAME` returns the documented exit codes, and every outcome rewrites the session's JUnit and
JSON files: a CI that publishes them never shows an earlier run's pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ci import sessions
from tests.conftest import Project, assert_junit_valid

# The exit codes and reports are the frame's, whichever plugins bake and compose with: CI runs these on the
# host's plugins only (.ci/run's second pass leaves them out, to keep the run under 30 minutes).
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project("mainzatest-exits")


def stale_pass(project: Project, session: str) -> None:
    """What a previous, passing run left behind."""
    project.reports.mkdir(parents=True, exist_ok=True)
    (project.reports / f"junit-{session}.xml").write_text(
        '<?xml version="1.0"?>\n<testsuites><testsuite name="old" tests="1">'
        '<testcase name="old"/></testsuite></testsuites>\n'
    )
    (project.reports / f"{session}.json").write_text('{"status": "passed"}\n')


def outcome(project: Project, session: str) -> tuple[str, dict[str, str]]:
    """(the JSON report's status, testcase -> failure | error | skipped | passed) of the files written."""
    root = assert_junit_valid(project.reports / f"junit-{session}.xml").getroot()
    cases = {}
    for case in root.iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        cases[case.get("name", "")] = kinds[0] if kinds else "passed"
    return json.loads((project.reports / f"{session}.json").read_text())["status"], cases


@pytest.mark.parametrize(
    ("env", "args", "step", "says"),
    [
        ({"BACKEND_PORT": "99999"}, (), "settings", "BACKEND_PORT='99999' is not a port number"),
        ({"COMPOSE_PROJECT_NAME": "Bad_Name"}, (), "settings", "is not a valid project name"),
        ({}, ("--bogus",), "arguments", "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_exits_2_and_rewrites_the_stale_junit_file_with_the_failure(
    project: Project, env: dict[str, str], args: tuple[str, ...], step: str, says: str
) -> None:
    stale_pass(project, "dev")
    run = project.ci("dev", *args, env=env)
    assert run.returncode == 2
    [line] = [x for x in run.stderr.splitlines() if x.startswith("error: ")]
    assert says in line
    assert "step" not in run.stdout.split()  # the usage error alone, no table of steps that never ran
    status, cases = outcome(project, "dev")
    assert status == "usage error"
    assert cases[step] == "failure" and cases["bake"] == "skipped" and "old" not in cases
    failure = (
        assert_junit_valid(project.reports / "junit-dev.xml").getroot().find(f".//testcase[@name='{step}']/failure")
    )
    assert failure is not None and says in failure.get("message", "")


@pytest.fixture(scope="module")
def read_only_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder nobody can write into, root included: root passes permission bits, so for root a read-only
    bind mount of it on itself (mounting needs CAP_SYS_ADMIN; without it the tests of it are skipped)."""
    folder = tmp_path_factory.mktemp("read-only")
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", folder, folder], capture_output=True, text=True)
    try:
        if mounted.returncode != 0:
            pytest.skip(f"cannot make a read-only folder for root: mount --bind: {mounted.stderr.strip()}")
        subprocess.run(["mount", "-o", "remount,ro,bind", folder], check=True, capture_output=True)
        with pytest.raises(OSError, match="Read-only file system"):
            (folder / "probe").write_text("")
        yield folder
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", folder], check=True)


@pytest.fixture(params=["/proc/nope", "a regular file", "a read-only folder"])
def unwritable(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "a regular file":
        (tmp_path / "reports").write_text("a file, not a folder\n")
        return tmp_path / "reports"
    if request.param == "a read-only folder":
        folder: Path = request.getfixturevalue("read_only_folder")
        return folder
    return Path(request.param)


@pytest.mark.parametrize("session", sessions.names())
def test_a_reports_dir_that_cannot_be_written_exits_2_naming_it_before_anything_runs(
    project: Project, session: str, unwritable: Path
) -> None:
    before = unwritable.read_text() if unwritable.is_file() else None
    run = project.ci(session, env={"REPORTS_DIR": str(unwritable)}, timeout=60)
    assert run.returncode == 2
    assert "Traceback" not in run.stdout + run.stderr
    [line] = [x for x in run.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: REPORTS_DIR={unwritable} cannot be written (")
    assert line.endswith("set REPORTS_DIR to a writable folder")
    assert run.stdout == ""  # nothing built, started or checked: no table, no step
    if before is not None:
        assert unwritable.read_text() == before
    elif unwritable.is_dir():
        assert list(unwritable.iterdir()) == []


def test_unknown_session_exits_2(project: Project) -> None:
    run = project.ci("no-such-session")
    assert run.returncode == 2 and "usage: python -m ci" in run.stderr


def test_no_engine_exits_3_and_says_so_in_the_json_report(project: Project, tmp_path: Path) -> None:
    stale_pass(project, "prune")
    run = project.ci("prune", "--dry-run", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert run.returncode == 3
    status, cases = outcome(project, "prune")
    assert status == "no engine" and cases["engine"] == "failure"


def test_a_failed_check_exits_1_and_a_pass_exits_0(project: Project) -> None:
    failed = project.ci("verify")  # nothing built yet
    assert failed.returncode == 1 and outcome(project, "verify")[0] == "failed"
    passed = project.ci("prune", "--dry-run")
    assert passed.returncode == 0, passed.stderr
    assert outcome(project, "prune")[0] == "passed"
    assert passed.stdout.splitlines()[-1].startswith("prune: would free ")


def test_ctrl_c_during_the_build_exits_130_saying_interrupted(project: Project) -> None:
    env = {**os.environ, **project.env}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ci", "dev"],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until bake runs
        if line.startswith("baking dev"):
            break
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole group
    out, err = proc.communicate(timeout=120)
    print(out, err)
    assert proc.returncode == 130
    assert err.splitlines()[-1] == "interrupted (SIGINT)"
    assert "Traceback" not in err
    status, cases = outcome(project, "dev")
    assert status == "interrupted" and cases["bake"] == "error" and cases["up"] == "skipped"
