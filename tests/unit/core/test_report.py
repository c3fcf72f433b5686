"""Reports: JUnit valid against the shared schema whatever the text, JSON valid, both capped and redacted,
written whole or not at all; job summary cells inert."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from ci.core import secrets
from ci.core.errors import CiError, Exit, Stopped
from ci.core.inert import visible
from ci.core.report import (
    MESSAGE_CAP,
    OUTPUT_CAP,
    Check,
    Report,
    Suite,
    markdown_table,
    report_dict,
    write_atomic,
    write_json,
    write_junit,
)
from tests.conftest import assert_junit_valid

# A copy of shared/junit-10.xsd (the Jenkins xunit plugin schema, MIT), so a bare clone can validate.
SCHEMA = Path(__file__).resolve().parents[2] / "data" / "junit-10.xsd"


def validate(path: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    document = etree.parse(str(path))
    assert schema.validate(document), schema.error_log


def test_junit_with_passed_failed_skipped_and_properties_is_schema_valid(tmp_path: Path) -> None:
    report = Report("dev")
    with report.step("engine") as check:
        check.message = "engine 26.1"
    with pytest.raises(CiError), report.step("bake"):
        raise CiError("build failed at backend: [deps 3/3] RUN pip", output="tail line 1\ntail line 2")
    report.skip(["engine", "bake", "up"], "an earlier step failed")
    report.suites.append(Suite("backend", properties={"steps": "9", "cache_hit_ratio": "0.5"}))
    path = write_junit(report, tmp_path / "junit-dev.xml")
    validate(path)
    root = etree.parse(str(path)).getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["engine", "bake", "up"]
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message", "").startswith("build failed at backend")
    assert "tail line 2" in (failure.text or "")
    assert cases[2].find("skipped") is not None
    props = {p.get("name"): p.get("value") for p in root.findall(".//testsuite[@name='backend']//property")}
    assert props == {"steps": "9", "cache_hit_ratio": "0.5"}
    assert report.failed


def test_a_step_that_ran_as_several_checks_is_not_also_skipped() -> None:
    report = Report("doctor")
    report.add(Check("context backend"))
    report.add(Check("context frontend"))
    report.skip(["context", "disk"], "not run")
    assert [(c.name, c.status) for c in report.main.checks] == [
        ("context backend", "passed"),
        ("context frontend", "passed"),
        ("disk", "skipped"),
    ]


@pytest.mark.parametrize(
    ("stop", "says", "code"),
    [
        (KeyboardInterrupt(), "SIGINT", 130),
        (Stopped(signal.SIGTERM), "SIGTERM", 143),
        (Stopped(signal.SIGHUP), "SIGHUP", 129),
    ],
)
def test_an_interrupted_step_says_what_stopped_it(stop: KeyboardInterrupt, says: str, code: int) -> None:
    report = Report("watch")
    with pytest.raises(KeyboardInterrupt), report.step("turns"):
        raise stop
    [check] = report.main.checks
    assert (check.status, check.message, check.exit_code) == ("interrupted", f"interrupted ({says})", code)


def test_the_json_gives_a_check_that_does_not_fail_the_session_exit_code_0_and_one_that_does_its_own() -> None:
    report = Report("prod")
    report.add(Check("engine"))  # created passing: no failure, whatever the field's default
    report.add(Check("doctor-like", "passed", exit_code=Exit.FAILED))  # a finding's default, passed
    report.add(Check("warned", "warned"))
    report.add(Check("skipped", "skipped"))
    report.add(Check("cache", "failed", blocking=False))  # shown failed, never the session's failure
    report.add(Check("commit", "failed", exit_code=Exit.USAGE))
    report.add(Check("bake", "failed"))
    with pytest.raises(KeyboardInterrupt), report.step("push"):
        raise Stopped(signal.SIGTERM)
    codes = {c["name"]: c["exit_code"] for c in report_dict(report)["suites"][0]["checks"]}
    assert codes == {
        "engine": 0, "doctor-like": 0, "warned": 0, "skipped": 0, "cache": 0, "commit": 2, "bake": 1, "push": 143,
    }  # fmt: skip
    assert '"exit_code": 0' in json.dumps(report_dict(report))  # a number, not an enum's name


@pytest.mark.parametrize(("project", "root"), [("trial5", "trial5 dev"), ("", "dev")])
def test_the_junit_root_is_named_after_the_project_and_the_session(tmp_path: Path, project: str, root: str) -> None:
    """The compose project's name, never the suite's own: a team's CI shows its project; before the settings
    are read (a bad argument), the session's alone."""
    report = Report("dev", project)
    report.add(Check("engine"))
    junit = write_junit(report, tmp_path / "junit-dev.xml")
    assert etree.parse(str(junit)).getroot().get("name") == root
    validate(junit)


# Every C0 control but tab and newline, DEL, every C1 control, escape sequences, a lone CR, bidi overrides and
# isolates, marks, lone surrogates, noncharacters, the line and paragraph separators.
HOSTILE = (
    "".join(chr(c) for c in range(0x20))
    + "\x7f"
    + "".join(chr(c) for c in range(0x80, 0xA0))
    + "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J\rpassed"
    + "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\ufeff"
    + "\ud800\udfff\ufffe\uffff\u2028\u2029 git_commit=abc\x1b[0m"
)
TOKEN = 'tok-3n\\value"quoted'


def hostile_report() -> Report:
    report = Report("verify")
    report.add(Check(f"page {HOSTILE}", "failed", message=f"said {HOSTILE} {TOKEN}", output=HOSTILE * 3,
                     advice=f"see {HOSTILE}"))  # fmt: skip
    report.add(Check("passing", "passed", message=HOSTILE, output=f"Authorization: Bearer {TOKEN}"))
    report.add(Check("skipped", "skipped", message=HOSTILE))
    report.add(Check("warned", "warned", message=HOSTILE, advice=HOSTILE))
    report.add(Check("stopped", "interrupted", message=HOSTILE))
    report.suites.append(Suite(f"target {HOSTILE}", [Check(HOSTILE, "error", message=HOSTILE)],
                               {f"key {HOSTILE}": f"value {HOSTILE} {TOKEN}"}))  # fmt: skip
    return report


@pytest.fixture
def token() -> Iterator[str]:
    secrets.register(TOKEN)
    yield TOKEN
    secrets.forget()


def test_a_report_of_hostile_text_is_schema_valid_junit_and_valid_json_every_character_shown(
    tmp_path: Path, token: str
) -> None:
    report = hostile_report()
    junit = write_junit(report, tmp_path / "junit-verify.xml")
    assert_junit_valid(junit)
    text = junit.read_text(encoding="utf-8")
    assert "\\x1b[31mred\\x1b[0m" in text and "\\u202e" in text and "\\x0dpassed" in text
    assert "\x1b" not in text and "\u202e" not in text
    path = write_json({"line": HOSTILE, HOSTILE: [HOSTILE], "report": report_dict(report)}, tmp_path / "verify.json")
    raw = path.read_bytes()
    data = json.loads(raw.decode("utf-8"))  # strict UTF-8: no lone surrogate written
    assert data["line"] == visible(HOSTILE)
    shown = json.dumps(data, ensure_ascii=False)
    assert all(c.isprintable() or c in "\t\n" for c in shown)
    for kept in (text, raw.decode()):
        assert token not in kept and "tok-3n" not in kept and "***" in kept


def test_a_10_mb_output_is_capped_in_both_files_with_the_cut_said(tmp_path: Path) -> None:
    report = Report("dev")
    output = "start of the log\n" + "\x1b[32mstep\x1b[0m ok\n" * 600_000 + "the cause, at the end\n"
    assert len(output) > 10_000_000
    report.add(Check("bake", "failed", message="x" * 100_000, output=output))
    junit = write_junit(report, tmp_path / "junit-dev.xml")
    assert_junit_valid(junit)
    assert junit.stat().st_size < 2 * OUTPUT_CAP * 4 + 2 * MESSAGE_CAP * 4
    [check] = report_dict(report)["suites"][0]["checks"]
    assert check["output"].startswith("start of the log") and check["output"].endswith("the cause, at the end\n")
    assert f"[cut: {len(output) - OUTPUT_CAP} more characters]" in check["output"]
    assert f"[cut: {100_000 - MESSAGE_CAP} more characters]" in check["message"]
    assert "[cut: " in junit.read_text()
    assert write_json(report_dict(report), tmp_path / "dev.json").stat().st_size < 2 * (OUTPUT_CAP + MESSAGE_CAP) * 4


def test_an_atomic_write_leaves_the_old_file_whole_when_the_new_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "verify.json"
    write_atomic(path, '{"status": "passed"}\n')

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_json({"status": "failed", "output": "x" * 100_000}, path)
    assert path.read_text() == '{"status": "passed"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verify.json"]  # no temporary file left


def test_a_report_that_cannot_be_rendered_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = write_atomic(tmp_path / "junit-dev.xml", "<testsuites/>\n")
    report = Report("dev")
    report.suites.append(Suite("broken", properties={"key": object()}))  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        write_junit(report, path)
    assert path.read_text() == "<testsuites/>\n" and len(list(tmp_path.iterdir())) == 1


def test_an_atomic_write_is_private_while_written_and_gets_a_new_files_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    replace = os.replace

    def looking(src: str, dst: Path) -> None:
        seen.append(os.stat(src).st_mode & 0o777)
        replace(src, dst)

    (tmp_path / "x.json").symlink_to(tmp_path / "elsewhere")  # a planted link: replaced, not followed
    monkeypatch.setattr(os, "replace", looking)
    path = write_atomic(tmp_path / "x.json", "{}\n")
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask and not path.is_symlink()
    assert not (tmp_path / "elsewhere").exists()
    assert seen == [0o666 & ~umask]  # the mode set before the rename, on a file mkstemp made 0600


def test_a_job_summary_cell_is_inert_markdown(token: str) -> None:
    rows = [("page", "failed", f"<img src=x onerror=alert(1)> ![p](http://e/p.png) [a](http://e) `code` *b* _i_ "
                               f"~~s~~ $x$ a|b &amp; @team https://e\nnext line \x1b[31m {token}")]  # fmt: skip
    table = markdown_table(("check", "result", "detail"), rows)
    lines = table.splitlines()
    assert len(lines) == 3 and lines[2].count(" | ") == 2  # one row, three cells: the pipe inside is escaped
    cell = lines[2].split(" | ")[2].removesuffix(" |")
    assert not set(cell) & set("<>`*_[]!~$&") - {"&"}
    assert "&#60;img src=x onerror=alert(1)&#62;" in cell and "a\\|b" in cell and "&#38;amp;" in cell
    assert "next line" in cell and "&#92;x1b&#91;31m" in cell and token not in cell and "&#42;&#42;&#42;" in cell
