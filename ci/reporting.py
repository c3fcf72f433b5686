"""The one place that writes reports: JUnit XML, JSON beside it, and tables on screen."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from ci.errors import CiError


@dataclass
class Check:
    """One step or check of a session: a JUnit testcase."""

    name: str
    status: str = "passed"  # passed | failed | skipped
    seconds: float = 0.0
    message: str = ""  # one line, shown in the table and as the failure message
    output: str = ""  # longer text: a log tail, a response excerpt


@dataclass
class Suite:
    name: str
    checks: list[Check] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


class Report:
    """What a session did, step by step. Steps run inside `with report.step(name):`."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.suites: list[Suite] = [Suite(session)]

    @property
    def main(self) -> Suite:
        return self.suites[0]

    @property
    def failed(self) -> bool:
        return any(c.status == "failed" for s in self.suites for c in s.checks)

    @contextmanager
    def step(self, name: str) -> Iterator[Check]:
        """Time a step; a CiError inside marks it failed (and propagates), anything else escaping too."""
        check = Check(name)
        self.main.checks.append(check)
        start = time.monotonic()
        try:
            yield check
        except CiError as err:
            check.status, check.message = "failed", str(err)
            check.output = check.output or err.output
            raise
        except BaseException as err:
            check.status, check.message = "failed", f"{type(err).__name__}: {err}"
            raise
        finally:
            check.seconds = time.monotonic() - start

    def skip(self, names: Sequence[str], why: str) -> None:
        done = {c.name for c in self.main.checks}
        for name in names:
            if name not in done:
                self.main.checks.append(Check(name, "skipped", message=why))


def write_junit(report: Report, path: Path) -> Path:
    """JUnit XML valid against the Jenkins xunit schema (shared/junit-10.xsd)."""
    xml = JUnitXml(f"mainza {report.session}")
    for suite in report.suites:
        ts = TestSuite(suite.name)
        for key, value in suite.properties.items():
            ts.add_property(key, value)
        for check in suite.checks:
            case = TestCase(check.name, classname=f"{report.session}.{suite.name}", time=round(check.seconds, 3))
            if check.status == "failed":
                failure = Failure(check.message or "failed", "failure")
                failure.text = check.output or check.message
                case.result = [failure]
            elif check.status == "skipped":
                case.result = [Skipped(check.message or "skipped")]
            elif check.output:
                case.system_out = check.output
            ts.add_testcase(case)
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


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=False)).rstrip(), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cells[1:]]
    return "\n".join(out)


def steps_table(report: Report) -> str:
    rows = [(c.name, c.status, f"{c.seconds:.1f}s", c.message) for s in report.suites for c in s.checks]
    return table(("step", "result", "time", "detail"), rows)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (job summaries)."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
