"""What a session did, step by step, and the files that say so: JUnit XML, and JSON beside it."""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from ci.core.errors import Exit, Foreseeable, interruption_exit, stopped_by
from ci.core.inert import inert

# passed and warned pass; failed is a foreseeable failure, error a bug, interrupted Ctrl-C.
Status = Literal["passed", "warned", "failed", "error", "interrupted", "skipped"]
FAILING: frozenset[str] = frozenset({"failed", "error", "interrupted"})
# What the reports keep of a text from outside (ci/core/inert.py): a check's output, a property's value and any
# other text of NAME.json up to OUTPUT_CAP characters; a check's name, message and advice up to MESSAGE_CAP.
OUTPUT_CAP = 64 * 1024
MESSAGE_CAP = 4 * 1024


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
    # The session's exit code when this is its first failure (a check that fails says it when it fails; the
    # reports give one that does not fail, passed or skipped, 0: check_dict).
    exit_code: Exit = Exit.FAILED
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

    def __init__(self, session: str, project: str = "") -> None:
        self.session = session
        self.project = project  # the compose project, once the settings name it: the JUnit root's name
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
            check.status, check.exit_code = "interrupted", interruption_exit(stop)
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


def shown(check: Check) -> Check:
    """CHECK as the reports keep it: its texts made inert and capped (ci/core/inert.py)."""
    return replace(
        check,
        name=inert(check.name, MESSAGE_CAP),
        message=inert(check.message, MESSAGE_CAP),
        output=inert(check.output, OUTPUT_CAP),
        advice=inert(check.advice, MESSAGE_CAP),
    )


def _testcase(report: Report, suite: Suite, raw: Check) -> TestCase:
    check = shown(raw)
    classname = inert(f"{report.session}.{suite.name}", MESSAGE_CAP)
    case = TestCase(check.name, classname=classname, time=round(check.seconds, 3))
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


def junit_bytes(report: Report) -> bytes:
    """REPORT as JUnit XML valid against the Jenkins xunit schema (tests/data/junit-10.xsd), whatever its
    texts hold."""
    xml = JUnitXml(inert(f"{report.project} {report.session}".strip(), MESSAGE_CAP))
    for suite in report.suites:
        ts = TestSuite(inert(suite.name, MESSAGE_CAP))
        ts.timestamp = report.started.strftime("%Y-%m-%dT%H:%M:%S")
        for key, value in suite.properties.items():
            ts.add_property(inert(key, MESSAGE_CAP), inert(value, OUTPUT_CAP))
        for check in suite.checks:
            ts.add_testcase(_testcase(report, suite, check))
        ts.time = round(sum(c.seconds for c in suite.checks), 3)
        xml.add_testsuite(ts)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    # The schema allows no `skipped` on <testsuites> (only on <testsuite>), which junitparser writes.
    xml._elem.attrib.pop("skipped", None)
    out = io.BytesIO()
    xml.write(out, pretty=True)
    return out.getvalue()


def write_junit(report: Report, path: Path) -> Path:
    return write_atomic(path, junit_bytes(report))


def safe(data: Any) -> Any:
    """DATA for a report: every text in it, keys too, made inert and capped to OUTPUT_CAP."""
    if isinstance(data, str):
        return inert(data, OUTPUT_CAP)
    if isinstance(data, dict):
        return {safe(str(key)): safe(value) for key, value in data.items()}
    if isinstance(data, list | tuple | set | frozenset):
        return [safe(item) for item in data]
    if data is None or isinstance(data, bool | int | float):
        return data
    return safe(str(data))


def write_json(data: Any, path: Path) -> Path:
    """A report in JSON (NAME.json, build-PROFILE.json): DATA's texts made safe, written whole or not at all."""
    return write_atomic(path, json.dumps(safe(data), indent=2, sort_keys=False) + "\n")


def write_data(data: Any, path: Path, *, private: bool = False) -> Path:
    """Data in JSON that this code or a tool reads back (the build record, bake's override, the ledger):
    exact, every character kept (JSON escapes them), written whole or not at all (PRIVATE: see
    write_atomic)."""
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", private=private)


@functools.cache
def _new_file_mode() -> int:
    """The mode open() gives a new file here: 0o666 less the umask (read by setting it, then put back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, content: str | bytes, *, private: bool = False) -> Path:
    """CONTENT in PATH, whole or not at all: written to a private temporary file in the same folder (no
    other user reads it half written, no planted name is followed), flushed to disk, given the mode a new
    file gets (PRIVATE: kept its user's alone), then renamed over PATH. A reader sees the old file or the
    new one; a failure leaves the old one as it was, and no temporary file."""
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if not private:
            os.chmod(name, _new_file_mode())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path


def check_dict(check: Check) -> dict[str, Any]:
    """CHECK as NAME.json keeps it: its exit code the session's for a check that fails it, else 0 (passed,
    warned, skipped, or failed without failing the session)."""
    return asdict(shown(check)) | {"exit_code": check.exit_code if check.failing else Exit.PASSED}


def report_dict(report: Report) -> dict[str, Any]:
    suites = [
        {"name": s.name, "checks": [check_dict(c) for c in s.checks], "properties": dict(s.properties)}
        for s in report.suites
    ]
    return {"session": report.session, "failed": report.failed, "suites": suites}


# Characters Markdown or HTML give a meaning to inside a table cell (escapes, code, emphasis, links and images,
# the cell's end, HTML and entities, strikethrough, math, autolinks and emoji, mentions), written in a job
# summary's cell as character references: shown as they are, never acted on.
MARKDOWN_ACTIVE = frozenset("\\`*_[]<>!|~$&:@")


def markdown_cell(value: object) -> str:
    """VALUE as an inert cell of a GitHub-flavoured Markdown table: redacted, made visible, capped, on one
    line, every character Markdown or HTML acts on written as a character reference (a pipe as GFM escapes it)."""
    text = " ".join(inert(str(value), MESSAGE_CAP).split())
    return "".join("\\|" if c == "|" else f"&#{ord(c)};" if c in MARKDOWN_ACTIVE else c for c in text)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (job summaries) whose cells are inert (markdown_cell)."""
    lines = ["| " + " | ".join(markdown_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
