"""The doctor session: its report of the checks (ci/doctor/checks.py) and its run in the frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci import docker as dk
from ci import frame
from ci.core.report import write_junit
from ci.core.settings import Settings
from ci.core.versions import HOST_MINIMUMS
from ci.doctor.checks import Finding
from ci.sessions import doctor
from ci.sessions.doctor import to_report
from tests.conftest import assert_junit_valid
from tests.unit.doctor import test_checks
from tests.unit.doctor.test_checks import Host

host, tree = test_checks.host, test_checks.tree  # the made-up host and tree: fixtures


def test_report_is_schema_valid_junit(tmp_path: Path) -> None:
    findings = [
        Finding("engine", "ok", "26.1.5", facts={"engine_version": "26.1.5"}),
        Finding("disk", "warn", "build cache 12 GB", "run `nox -s prune`"),
        Finding("context", "fail", "12 MB", "exclude it", "  12 MB  big.bin"),
        Finding("builder", "skip", "the engine does not answer"),
    ]
    settings = Settings(root=tmp_path, project="p", reports_dir=tmp_path, ports={})
    report = to_report(findings, settings)
    document = assert_junit_valid(write_junit(report, tmp_path / "junit-doctor.xml"))
    cases = {c.get("name"): c for c in document.getroot().iter("testcase")}
    assert cases["context"].find("failure").get("message") == "12 MB (exclude it)"  # type: ignore[union-attr]
    assert cases["builder"].find("skipped") is not None
    assert "WARN: build cache 12 GB" in (cases["disk"].findtext("system-out") or "")
    properties = {p.get("name"): p.get("value") for p in document.getroot().iter("property")}
    assert properties["engine_version"] == "26.1.5"
    assert properties["minimum_engine"] == HOST_MINIMUMS["engine"].version
    assert (properties["fail_checks"], properties["warn_checks"]) == ("1", "1")


def test_main_prints_the_table_and_one_error_line(
    host: Host, tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "app" / "model.bin").write_bytes(b"\0" * 6_000_000)
    settings = Settings(root=tree, project="p", reports_dir=tree / "reports", ports={})
    monkeypatch.setattr(frame, "load_settings", lambda: settings)
    monkeypatch.setenv("REPORTS_DIR", str(settings.reports_dir))  # the frame's own, checked before the settings
    monkeypatch.setattr(dk, "connect", lambda _: object())
    code = frame.run(doctor.SESSION, [])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.splitlines() == [err.strip()]
    # On screen the line is cut in its middle (what failed, and what to do); the JSON keeps it whole.
    assert err.startswith("error: context: ") and err.strip().endswith("or raise --context-budget-mb")
    assert "app/model.bin" in json.loads((tree / "reports" / "doctor.json").read_text())["line"]
    assert "check" in out.splitlines()[0] and "advice" in out.splitlines()[0]
    assert (tree / "reports" / "junit-doctor.xml").is_file() and (tree / "reports" / "doctor.json").is_file()
    assert frame.run(doctor.SESSION, ["--context-budget-mb", "10"]) == 0
