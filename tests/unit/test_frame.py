"""The frame every session runs in: whatever the body does, the JUnit and JSON files are written, the last
line says what happened, and the exit code is the documented one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from ci import frame, sessions
from ci.core.errors import CiError, EngineUnreachable, Exit, Stopped, UsageError
from ci.core.report import Check
from ci.core.session import Run, Session
from ci.core.settings import load_settings
from tests.conftest import ROOT, junit_results

STEPS = ("first", "second", "third")


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("BACKEND_PORT", raising=False)
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    return tmp_path / "reports"


def session(second: BaseException | None) -> Session:
    def body(run: Run) -> None:
        with run.step("first") as check:
            check.message = "fine"
        with run.step("second"):
            if second is not None:
                raise second
        with run.step("third"):
            pass
        run.verdict = "all three done"

    return Session("fake", "a session for the frame's tests", STEPS, body)


def cases(reports: Path) -> dict[str, str]:
    return junit_results(reports / "junit-fake.xml")


def test_passing_session_exits_0_with_its_verdict_and_details(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frame.run(session(None), []) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "fake: all three done"
    assert cases(reports) == dict.fromkeys(STEPS, "passed")
    root = etree.parse(str(reports / "junit-fake.xml")).getroot()
    first = root.find(".//testcase[@name='first']")
    assert first is not None and first.findtext("system-out") == "fine"
    assert root.find("testsuite").get("timestamp")  # type: ignore[union-attr]
    assert json.loads((reports / "fake.json").read_text())["status"] == "passed"


def test_project_error_fails_its_step_skips_the_rest_and_exits_with_its_code(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frame.run(session(EngineUnreachable("no engine here: run this")), []) == 3
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error: ")] == ["error: no engine here: run this"]
    assert "Traceback" not in err
    assert cases(reports) == {"first": "passed", "second": "failure", "third": "skipped"}
    data = json.loads((reports / "fake.json").read_text())
    assert (data["status"], data["exit_code"]) == ("no engine", 3)


def test_the_reports_name_the_project_and_give_the_checks_that_did_not_fail_exit_code_0(
    reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "trial5")
    assert frame.run(session(UsageError("bad value")), []) == 2
    assert etree.parse(str(reports / "junit-fake.xml")).getroot().get("name") == "trial5 fake"
    checks = json.loads((reports / "fake.json").read_text())["report"]["suites"][0]["checks"]
    assert [(c["name"], c["status"], c["exit_code"]) for c in checks] == [
        ("first", "passed", 0),
        ("second", "failed", 2),
        ("third", "skipped", 0),
    ]


def test_a_bug_shows_its_traceback_and_still_writes_junit_marking_the_step_as_an_error(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frame.run(session(ZeroDivisionError("division by zero")), []) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err
    assert err.splitlines()[-1].startswith("error: internal error")
    assert cases(reports) == {"first": "passed", "second": "error", "third": "skipped"}
    assert json.loads((reports / "fake.json").read_text())["status"] == "error"


def test_ctrl_c_exits_130_saying_interrupted_and_marks_the_step(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frame.run(session(KeyboardInterrupt()), []) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "interrupted (SIGINT)"
    assert "context canceled" not in err and "Traceback" not in err
    assert cases(reports) == {"first": "passed", "second": "error", "third": "skipped"}
    root = etree.parse(str(reports / "junit-fake.xml")).getroot()
    error = root.find(".//testcase[@name='second']/error")
    assert error is not None and error.get("type") == "interrupted"


def test_bad_argument_prints_the_usage_error_alone_and_rewrites_the_junit_file(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frame.run(session(None), []) == 0  # a passing report first: it must not survive
    capsys.readouterr()
    assert frame.run(session(None), ["--bogus"]) == 2
    out, err = capsys.readouterr()
    assert "step" not in out and "skipped" not in out  # no table of steps that never ran
    [line] = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "unrecognized arguments: --bogus" in line
    assert cases(reports)["arguments"] == "failure"
    assert json.loads((reports / "fake.json").read_text())["status"] == "usage error"


def test_bad_setting_rewrites_the_junit_file_with_the_failure(
    reports: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frame.run(session(None), []) == 0
    monkeypatch.setenv("COLUMNS", "400")  # the last line whole
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "Not A Name")  # a setting of every app, not a port of the example's
    assert frame.run(session(None), []) == 2
    assert "COMPOSE_PROJECT_NAME='Not A Name' is not a valid project name" in capsys.readouterr().err
    found = cases(reports)
    assert found["settings"] == "failure" and found["first"] == "skipped"


def test_failed_checks_without_an_exception_fail_with_the_first_one_named(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body(run: Run) -> None:
        for name in STEPS:
            try:
                with run.step(name):
                    if name != "first":
                        raise CiError(f"{name} is wrong")
            except CiError:
                pass

    assert frame.run(Session("fake", "checks", STEPS, body), []) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "error: second: second is wrong (and 1 more failing: third)"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (CiError("a step failed"), "failed", 1),
        (UsageError("bad arguments"), "usage error", 2),
        (EngineUnreachable("no engine"), "no engine", 3),
        (KeyboardInterrupt(), "interrupted", 130),
        (Stopped(signal.SIGINT), "interrupted", 130),
        (Stopped(signal.SIGTERM), "interrupted", 143),
        (Stopped(signal.SIGHUP), "interrupted", 129),
        (ZeroDivisionError("a bug"), "error", 1),
    ],
)
def test_what_ended_a_session_gives_its_status_and_exit_code(error: BaseException, status: str, code: int) -> None:
    assert frame.classify(error) == (status, code)


@pytest.mark.parametrize(("code", "status"), [(1, "failed"), (2, "failed"), (3, "no engine"), (130, "failed")])
def test_a_failing_check_without_an_exception_names_the_status_by_its_exit_code_alone_for_no_engine(
    reports: Path, code: int, status: str
) -> None:
    def body(run: Run) -> None:
        run.report.add(Check("x", "failed", message="bad", exit_code=Exit(code)))

    assert frame.run(Session("fake", "checks", STEPS, body), []) == code
    data = json.loads((reports / "fake.json").read_text())
    assert (data["status"], data["exit_code"]) == (status, code)


def test_pipeline_sessions_let_each_others_options_pass_and_refuse_unknown_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    prod = sessions.load("prod")
    args = frame.parse_arguments(prod, ["--push", "--down", "--builder", "node2", "--browser"])
    assert args.push
    capsys.readouterr()
    with pytest.raises(UsageError):
        frame.parse_arguments(prod, ["--push", "--down", "--bogus"])
    assert capsys.readouterr().out == ""  # the usage error alone, no notes


def test_another_sessions_option_passes_with_a_note_as_the_first_line(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert frame.run(session(None), ["--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "note: --dry-run is prune's option: fake ignores it"
    assert out[-1] == "fake: all three done"


def test_each_ignored_option_has_one_note_naming_every_session_that_owns_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    frame.parse_arguments(sessions.load("prod"), ["--down", "--up", "--down", "--dry-run", "--until", "1h"])
    assert capsys.readouterr().out.splitlines() == [
        "note: --down is verify's and watch's option: prod ignores it",
        "note: --up is verify's option: prod ignores it",
        "note: --dry-run is prune's option: prod ignores it",
        "note: --until is prune's option: prod ignores it",
    ]
    assert frame.ignored_note("dev", "--keep", ["bench", "prune", "watch"]) == (
        "note: --keep is bench's, prune's and watch's option: dev ignores it"
    )


def test_an_option_a_session_gains_is_known_to_the_others_from_the_registry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The registry's table of options, from which the frame makes each session's parser too."""
    brand_new = sessions.Option(("--brand-new",), ("verify",), "a new address", metavar="URL")
    monkeypatch.setattr(sessions, "OPTION_TABLE", (*sessions.OPTION_TABLE, brand_new))
    args = frame.parse_arguments(sessions.load("prod"), ["--brand-new", "http://127.0.0.1:8000", "--push"])
    assert args.push
    assert capsys.readouterr().out.splitlines() == ["note: --brand-new is verify's option: prod ignores it"]
    assert frame.parse_arguments(sessions.load("verify"), ["--brand-new", "http://x"]).brand_new == "http://x"
    assert "--brand-new URL" in frame.parser(sessions.load("verify")).format_help()


IMPORTED_SESSIONS = """
import importlib, json, multiprocessing, pkgutil, sys
import ci.__main__
from ci import sessions

# What is below the sessions imported once, then each session run in a fork of its own: only its own imports.
for module in pkgutil.walk_packages(ci.__path__, "ci."):
    if not module.name.startswith("ci.sessions."):
        try:
            importlib.import_module(module.name)
        except ImportError:  # a session's own requirement (playwright)
            pass
assert not [m for m in sys.modules if m.startswith("ci.sessions.")]


def run(name):
    code = ci.__main__.main([name, *sys.argv[1:]])
    return name, code, sorted(m for m in sys.modules if m == "ci.sessions" or m.startswith("ci.sessions."))


with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
    print(json.dumps({name: [code, imported] for name, code, imported in pool.map(run, sessions.names())}))
"""


def test_the_frame_imports_the_session_it_runs_and_no_other(tmp_path: Path) -> None:
    """Other sessions' options pass (and an unknown one fails) without their modules: no session pays for
    the others' imports, nor needs their requirements."""
    others = ["--down", "--until", "1h", "--header", "X: y", "--bogus"]
    env = {**os.environ, "REPORTS_DIR": str(tmp_path), "COLUMNS": "400"}
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTED_SESSIONS, *others], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {
        name: [2, ["ci.sessions", f"ci.sessions.{name}"]] for name in sessions.names()
    }
    assert proc.stderr.count("error: unrecognized arguments: --bogus (") == len(sessions.names()), proc.stderr


def test_every_note_fits_120_columns() -> None:
    for name in sessions.names():
        for option, other in frame.foreign_options(name).items():
            assert len(frame.ignored_note(name, option, other.owners)) <= 120


@pytest.mark.parametrize("kind", ["proc", "a regular file"])
@pytest.mark.parametrize("argv", [[], ["--bogus"]], ids=["good arguments", "bad arguments"])
def test_reports_dir_that_cannot_be_written_exits_2_with_one_line_before_the_session_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str, argv: list[str]
) -> None:
    folder = Path("/proc/nope") if kind == "proc" else tmp_path / "file"
    if kind != "proc":
        folder.write_text("not a folder\n")
    monkeypatch.setenv("REPORTS_DIR", str(folder))
    started = []
    assert frame.run(Session("fake", "started?", STEPS, started.append), argv) == 2
    out, err = capsys.readouterr()
    assert started == [] and out == ""
    [line] = err.splitlines()  # no traceback, no table
    assert line.startswith(f"error: REPORTS_DIR={folder} cannot be written (")
    assert line.endswith("): set REPORTS_DIR to a writable folder")
    assert list(tmp_path.iterdir()) == ([] if kind == "proc" else [folder])  # no reports anywhere else


def test_settings_load_for_the_frame(tmp_path: Path) -> None:
    assert load_settings({}, root=tmp_path).reports_dir == tmp_path / "reports"


def test_a_session_refused_by_the_projects_lock_writes_no_report_over_the_holders(
    reports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reports folder is the holder's while it runs: the refused session says who holds the project and
    leaves the files alone; the body never ran."""
    from ci.core.lock import held, holder_here, lock_file

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("LOCK_WAIT", "0")
    monkeypatch.setenv("COLUMNS", "400")  # the last line whole
    ran: list[str] = []
    locking = Session("fake", "a locking session", STEPS, lambda run: ran.append("body"), locks=lambda args: True)
    reports.mkdir(parents=True)
    (reports / "junit-fake.xml").write_text("the holder's\n")
    holder = holder_here("dev", ROOT)
    with held(lock_file(tmp_path / "state" / "mainza" / "locks", "mainza"), holder, 0):
        assert frame.run(locking, []) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: `nox -s dev` (pid {os.getpid()}, since {holder.since}, in {ROOT}) holds")
    assert ran == []
    assert (reports / "junit-fake.xml").read_text() == "the holder's\n"
    assert not (reports / "fake.json").exists()
    assert frame.run(locking, []) == 0  # free once the holder has ended
    assert ran == ["body"]


def test_a_session_that_changes_nothing_takes_no_lock(
    reports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci.core.lock import held, holder_here, lock_file

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("LOCK_WAIT", "0")
    with held(lock_file(tmp_path / "state" / "mainza" / "locks", "mainza"), holder_here("dev", ROOT), 0):
        assert frame.run(session(None), []) == 0


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--hedaer", "Authorization: Bearer s3cret"], "unrecognized arguments: --hedaer and 1 value, not shown ("),
        (["--hedaer=Authorization: Bearer s3cret"], "unrecognized arguments: --hedaer ("),
        (["s3cret", "--bogus"], "unrecognized arguments: --bogus and 1 value, not shown ("),
        (["s3cret"], "unrecognized arguments: 1 value, not shown ("),
        (["--head=Authorization: Bearer s3cret"], "ambiguous option: --head=... could match --header, --header-env ("),
    ],
)
def test_a_mistyped_option_is_named_and_its_value_never_shown(argv: list[str], says: str) -> None:
    with pytest.raises(UsageError) as refused:
        frame.parse_arguments(sessions.load("verify"), ["--url", "http://127.0.0.1:1", *argv])
    assert str(refused.value).startswith(says) and "s3cret" not in str(refused.value)


# What a hostile service's answer or a failing step's colours bring: every C0 control, DEL, C1, escape
# sequences, a lone CR, bidi overrides and isolates, lone surrogates, noncharacters.
HOSTILE = (
    "".join(chr(c) for c in range(0x20)) + "\x7f" + "".join(chr(c) for c in range(0x80, 0xA0))
    + "\x1b[31mFAILED\x1b[0m\rpassed \u202e\u2066\u200f\ud800\ufffe"
)  # fmt: skip


def stopping(signum: int) -> Session:
    """A session stopped by SIGNUM, sent to this process in its second step, as a CI runner or a closed
    terminal sends it."""

    def body(run: Run) -> None:
        with run.step("first"):
            pass
        with run.step("second"):
            os.kill(os.getpid(), signum)
            time.sleep(5)

    return Session("fake", "stopped", STEPS, body)


def hostile(run: Run) -> None:
    with run.step("first") as check:
        check.message, check.output = f"git_commit {HOSTILE}", HOSTILE * 1000
    with run.step(f"second {HOSTILE}"):
        raise CiError(f"answered {HOSTILE}", output=HOSTILE)


def internal_error(run: Run) -> None:
    with run.step("first"):
        raise ZeroDivisionError(f"division by zero {HOSTILE}")


@pytest.mark.parametrize(
    ("ending", "status", "code", "second"),
    [
        (Session("fake", "a bug", STEPS, internal_error), "error", 1, "skipped"),
        (Session("fake", "hostile text", STEPS, hostile), "failed", 1, "skipped"),
        (stopping(signal.SIGTERM), "interrupted", 143, "error"),
        (stopping(signal.SIGHUP), "interrupted", 129, "error"),
        (stopping(signal.SIGINT), "interrupted", 130, "error"),
    ],
    ids=["internal error", "forbidden characters", "SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_previous_pass_on_disk_gives_way_to_this_runs_valid_reports_however_it_ends(
    reports: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ending: Session,
    status: str,
    code: int,
    second: str,
) -> None:
    monkeypatch.setenv("COLUMNS", "4000")  # the last line whole
    assert frame.run(session(None), []) == 0
    capsys.readouterr()
    assert frame.run(ending, []) == code
    out, err = capsys.readouterr()
    found = cases(reports)  # schema-valid
    assert "passed" not in {found.get("second"), found.get("third")} and found["third"] == "skipped"
    data = json.loads((reports / "fake.json").read_bytes().decode("utf-8"))
    assert (data["status"], data["exit_code"]) == (status, code)
    assert "\x1b" not in out + err and "\u202e" not in out + err
    assert err.splitlines()[-1] == data["line"]
    if code == 1:
        assert "\\x1b[31mFAILED\\x1b[0m\\x0dpassed \\u202e" in data["line"]
    if status == "interrupted":
        name = signal.Signals(code - 128).name
        assert data["line"] == f"interrupted ({name})" and data["signal"] == name and found["second"] == second
        [check] = [c for c in data["report"]["suites"][0]["checks"] if c["name"] == "second"]
        assert check["message"] == f"interrupted ({name})"
    assert sorted(p.name for p in reports.iterdir()) == ["fake.json", "junit-fake.xml"]  # no temporary file left


def test_a_stop_between_steps_still_leaves_an_error_testcase(reports: Path) -> None:
    """An interrupted run's JUnit is never green: verify --url asks its deployment outside any step."""

    def body(run: Run) -> None:
        for name in STEPS:
            with run.step(name):
                pass
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    assert frame.run(Session("fake", "between steps", STEPS, body), []) == 143
    found = cases(reports)
    assert found["interrupted"] == "error" and [found[s] for s in STEPS] == ["passed"] * 3


def test_a_report_that_cannot_be_written_leaves_the_other_the_table_and_the_line_and_fails(
    reports: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    assert frame.run(session(None), []) == 0  # a passing report on disk first
    capsys.readouterr()

    def broken(report: object, path: Path) -> Path:
        raise ValueError("All strings must be XML compatible")

    monkeypatch.setattr(frame, "write_junit", broken)
    assert frame.run(session(None), []) == 1
    out, err = capsys.readouterr()
    assert "step" in out and "third" in out  # the table
    assert not (reports / "junit-fake.xml").exists()  # the earlier pass is gone, not left standing
    data = json.loads((reports / "fake.json").read_text())
    assert (data["status"], data["exit_code"]) == ("error", 1)
    assert data["line"] == err.splitlines()[-1]
    assert (
        data["line"].startswith("error: ")
        and "junit-fake.xml could not be written (ValueError: All strings" in data["line"]
    )


def test_a_json_report_that_cannot_be_written_fails_a_session_that_failed_already_with_its_own_code(
    reports: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(data: object, path: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(frame, "write_json", broken)
    monkeypatch.setenv("COLUMNS", "400")
    assert frame.run(session(EngineUnreachable("no engine here")), []) == 3
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith("error: no engine here; ") and "fake.json could not be written" in line
    assert cases(reports)["second"] == "failure" and not (reports / "fake.json").exists()
