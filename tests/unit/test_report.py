"""Reports: JUnit valid against the shared schema, tables aligned."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from ci.errors import CiError, Terminated
from ci.report import Check, Report, Suite, write_junit

# A copy of shared/junit-10.xsd (the Jenkins xunit plugin schema, MIT), so a bare clone can validate.
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"


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


@pytest.mark.parametrize(("stop", "says"), [(KeyboardInterrupt(), "Ctrl-C"), (Terminated(), "SIGTERM")])
def test_an_interrupted_step_says_what_stopped_it(stop: KeyboardInterrupt, says: str) -> None:
    report = Report("watch")
    with pytest.raises(KeyboardInterrupt), report.step("turns"):
        raise stop
    [check] = report.main.checks
    assert (check.status, check.message, check.exit_code) == ("interrupted", f"interrupted ({says})", 130)
