"""What a session did, step by step, and the files that say so: JUnit XML, and JSON beside it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from ci.errors import Exit, Foreseeable, stopped_by

# passed and warned pass; failed is a foreseeable failure, error a bug, interrupted Ctrl-C.
Status = Literal["passed", "warned", "failed", "error", "interrupted", "skipped"]
FAILING: frozenset[str] = frozenset({"failed", "error", "interrupted"})


class Findings(Protocol):
    """What a session's body leaves beside its checks (ci/frame.py's Run): its own figures, in NAME.json, and
    its last line when it passes. The shared modules that fill them take this, not the frame above them."""

    data: dict[str, Any]
    verdict: str


@dataclass
class Check:
    """One step or check of a session: a JUnit testcase."""

    name: str
    status: Status = "passed"
    seconds: float = 0.0
    message: str = ""  # one line, shown in the table and as the failure message
    output: str = ""  # longer text: a log tail, a response excerpt
    advice: str = ""  # what to do about a failure or warning
    exit_code: Exit = Exit.FAILED  # the session's exit code when this is its first failure
    # False: a failed check that the JUnit file shows as failed, but that does not fail the session (prod's
    # degraded cache, unless --strict-cache).
    blocking: bool = True

    @property
    def failing(self) -> bool:
        return self.status in FAILING and self.blocking


@dataclass
class Suite:
    name: str
    checks: list[Check] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


class Report:
    """A session's steps (the main suite) and any further suites (a build's targets). Steps run inside
    `with report.step(name):`, which times them and records how they ended."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.started = datetime.now(UTC)
        self.suites: list[Suite] = [Suite(session)]

    @property
    def main(self) -> Suite:
        return self.suites[0]

    @property
    def checks(self) -> list[Check]:
        return [c for s in self.suites for c in s.checks]

    @property
    def failed(self) -> bool:
        return any(c.failing for c in self.checks)

    @contextmanager
    def step(self, name: str) -> Iterator[Check]:
        """Time a step; whatever escapes it marks it: a foreseeable failure failed, Ctrl-C interrupted, anything
        else an error (a bug). The exception propagates."""
        check = Check(name)
        self.main.checks.append(check)
        start = time.monotonic()
        try:
            yield check
        except Foreseeable as err:
            check.status, check.message, check.exit_code = "failed", str(err), err.exit_code
            check.output = check.output or err.output
            raise
        except KeyboardInterrupt as stop:
            check.status, check.exit_code = "interrupted", Exit.INTERRUPTED
            check.message = f"interrupted ({stopped_by(stop)})"
            raise
        except BaseException as err:
            check.status, check.message = "error", f"{type(err).__name__}: {err}"
            raise
        finally:
            check.seconds = time.monotonic() - start

    def add(self, check: Check) -> Check:
        self.main.checks.append(check)
        return check

    def skip(self, names: Sequence[str], why: str) -> None:
        """Record the steps in NAMES that did not run, so that every declared step is a testcase. A step that
        ran as several checks (`context backend`, `context frontend` for `context`) ran."""
        done = {c.name for c in self.main.checks}
        for name in names:
            if name not in done and not any(d.startswith(f"{name} ") for d in done):
                self.main.checks.append(Check(name, "skipped", message=why))


def property_value(value: object) -> str:
    """A JUnit property value: lists and mappings as JSON (readable by any CI), the rest as text."""
    return json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)


def _testcase(report: Report, suite: Suite, check: Check) -> TestCase:
    case = TestCase(check.name, classname=f"{report.session}.{suite.name}", time=round(check.seconds, 3))
    detail = check.message + (f" ({check.advice})" if check.advice else "")
    if check.status == "failed":
        failure = Failure(detail or "failed", "failure")
        failure.text = check.output or detail
        case.result = [failure]
    elif check.status in ("error", "interrupted"):
        error = Error(detail or check.status, check.status)
        error.text = check.output or detail
        case.result = [error]
    elif check.status == "skipped":
        case.result = [Skipped(detail or "skipped")]
    else:
        text = f"WARN: {detail}" if check.status == "warned" else detail
        case.system_out = "\n".join(part for part in (text, check.output) if part) or "passed"
    return case


def write_junit(report: Report, path: Path) -> Path:
    """JUnit XML valid against the Jenkins xunit schema (shared/junit-10.xsd)."""
    xml = JUnitXml(f"mainza {report.session}")
    for suite in report.suites:
        ts = TestSuite(suite.name)
        ts.timestamp = report.started.strftime("%Y-%m-%dT%H:%M:%S")
        for key, value in suite.properties.items():
            ts.add_property(key, value)
        for check in suite.checks:
            ts.add_testcase(_testcase(report, suite, check))
        ts.time = round(sum(c.seconds for c in suite.checks), 3)
        xml.add_testsuite(ts)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    # The schema allows no `skipped` on <testsuites> (only on <testsuite>), which junitparser writes.
    xml._elem.attrib.pop("skipped", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path), pretty=True)
    return path


def write_json(data: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return path


def report_dict(report: Report) -> dict[str, Any]:
    return {"session": report.session, "failed": report.failed, "suites": [asdict(s) for s in report.suites]}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (job summaries)."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
