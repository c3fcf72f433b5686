"""The frame every session runs in: its arguments (the pipeline rule included), its settings, its steps,
the JUnit and JSON files written on every outcome, the table, the last line and the exit code.

A session module declares a `Session` (name, steps, body), the registry (ci/sessions/__init__.py) its options;
`run` does the rest. The files are written whatever happens, bad arguments, a bug and a stop signal (SIGINT,
SIGTERM, SIGHUP: ci/core/signals.py) included, each whole or not at all, so no earlier run's result is left
standing.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from ci import sessions
from ci.core import lock, signals, terminal
from ci.core.errors import Exit, Foreseeable, SessionStatus, UsageError, interruption_exit, stopped_by
from ci.core.inert import inert
from ci.core.report import Check, Report, Status, report_dict, write_json, write_junit
from ci.core.session import Run, Session
from ci.core.settings import Settings, load_settings, writable_reports_dir


@dataclass
class Outcome:
    status: SessionStatus = SessionStatus.PASSED
    exit_code: Exit = Exit.PASSED
    line: str = ""  # the last line
    table: bool = True  # a session that fails on its arguments prints the usage error, not its steps
    stop: str = ""  # the signal that interrupted it: SIGINT, SIGTERM, SIGHUP


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse quotes an abbreviation that could be two options whole, `--head=VALUE` with its value
        message = re.sub(r"^(ambiguous option: [^=\s]*)=.*( could match )", r"\1=...\2", message, flags=re.S)
        raise UsageError(f"{message} (`{self.prog} --help` lists the arguments)")


def parser(session: Session) -> argparse.ArgumentParser:
    """SESSION's parser, made from the registry's table: its options in the table's order, each in its group."""
    p = _Parser(prog=f"nox -s {session.name} --", description=session.summary)
    groups: dict[str, argparse._ActionsContainer] = {"": p}
    for option in sessions.options_of(session.name):
        if option.group not in groups:
            groups[option.group] = p.add_argument_group(option.group)
        groups[option.group].add_argument(*option.flags, **_declared(option, session.name))
    return p


def _declared(option: sessions.Option, session: str) -> dict[str, Any]:
    """OPTION as argparse's add_argument takes it: what the table leaves out, argparse's own default."""
    declared: dict[str, Any] = {"action": option.action, "help": option.help_in(session)}
    if option.action == "append":
        declared["default"] = []  # a list whether given or not; argparse copies it before appending
    elif option.default is not None:
        declared["default"] = option.default
    if option.type is not None:
        declared["type"] = option.type
    if option.metavar:
        declared["metavar"] = option.metavar
    return declared


@dataclass
class Foreign:
    """An option of other sessions than the one running."""

    values: int  # how many values it takes
    owners: list[str] = field(default_factory=list)  # the sessions whose option it is


def foreign_options(name: str) -> dict[str, Foreign]:
    """The options of the other sessions, from the registry's table (no other session's module is
    imported): `nox -s prod verify -- --down` gives every session of the pipeline the same arguments, and
    each lets the others' pass. An option two sessions own takes the values of the first by name."""
    served = [(other, option) for option in sessions.OPTION_TABLE for other in option.sessions if other != name]
    found: dict[str, Foreign] = {}
    for other, option in sorted(served, key=lambda pair: pair[0]):  # stable: a session's own in the table's order
        for flag in option.flags:
            found.setdefault(flag, Foreign(option.values)).owners.append(other)
    return found


def ignored_note(session: str, option: str, owners: list[str]) -> str:
    """`note: --dry-run is prune's option: verify ignores it`, the owners as `prune's and watch's`."""
    whose = [f"{owner}'s" for owner in owners]
    owned = whose[0] if len(whose) == 1 else f"{', '.join(whose[:-1])} and {whose[-1]}"
    return f"note: {option} is {owned} option: {session} ignores it"


def parse_arguments(session: Session, argv: list[str]) -> argparse.Namespace:
    """The session's arguments; another session's options pass (a pipeline's sessions share them), each
    with a note that this session ignores it, and any other is a usage error."""
    p = parser(session)
    args, rest = p.parse_known_args(argv)
    foreign = foreign_options(session.name) if rest else {}
    unknown = []
    values = 0  # of the arguments not understood, the values: never shown (a header's may be a token)
    ignored: dict[str, list[str]] = {}
    while rest:
        option, _, inline = rest.pop(0).partition("=")
        other = foreign.get(option)
        if other is None:
            if option.startswith("-"):
                unknown.append(option)
            else:
                values += 1
            continue
        ignored[option] = other.owners
        if other.values and not inline:
            del rest[: other.values]
    if unknown or values:
        hidden = [f"{terminal.plural(values, 'value')}, not shown"] if values else []
        p.error(f"unrecognized arguments: {' and '.join([' '.join(unknown), *hidden] if unknown else hidden)}")
    for option, owners in ignored.items():
        print(ignored_note(session.name, option, owners), flush=True)
    session.check_args(args)
    return args


@contextmanager
def _phase(report: Report, name: str) -> Iterator[None]:
    """Arguments and settings: a testcase only when they fail."""
    try:
        yield
    except Foreseeable as err:
        report.add(Check(name, "failed", message=str(err), exit_code=err.exit_code))
        raise


def run(session: Session, argv: list[str]) -> int:
    """Run SESSION with ARGV; returns the exit code. Every line it prints fits the terminal (`terminal.width`),
    the whole text in the reports. They go to REPORTS_DIR whatever happens, so it is proven writable first:
    a folder that is not ends the session with a usage error before anything runs, printed whole (no report
    can keep it). SIGINT, SIGTERM and SIGHUP end it as an interruption (ci/core/signals.py)."""
    try:
        directory = writable_reports_dir()
    except UsageError as err:
        return last_line(Outcome(*classify(err), f"error: {err}", table=False), terminal.colour_on())
    with signals.handled(), terminal.fitted():
        return _run(session, argv, directory)


def _run(session: Session, argv: list[str], directory: Path) -> int:
    report = Report(session.name)
    outcome = Outcome()
    context: Run | None = None
    try:
        with _phase(report, "arguments"):
            args = parse_arguments(session, argv)
        with _phase(report, "settings"):
            settings = load_settings()
        report.project = settings.project  # the JUnit root names it
        with holding(session, args, settings):
            context = Run(session, args, settings, report)
            session.body(context)
    except lock.Refused as err:  # the reports folder is the holder's: nothing is written
        signals.hold()
        return last_line(Outcome(*classify(err), f"error: {err}", table=False), terminal.colour_on())
    except Foreseeable as err:
        signals.hold()  # the session has ended: a signal from here on must not stop its reports
        outcome = Outcome(*classify(err), f"error: {err}")
        outcome.table = not any(c.name in ("arguments", "settings") for c in report.main.checks)
    except KeyboardInterrupt as stop:
        outcome = Outcome(*classify(stop), f"interrupted ({stopped_by(stop)})")
        outcome.stop = stopped_by(stop)
    except Exception as err:  # a bug: the traceback is for us, the report still tells CI
        signals.hold()
        traceback.print_exc(file=terminal.unfitted(sys.stderr))  # evidence: never cut
        outcome = Outcome(*classify(err), f"error: internal error, a bug ({type(err).__name__}: {err})")
    return finished(session, report, outcome, context, directory).exit_code


@contextmanager
def holding(session: Session, args: argparse.Namespace, settings: Settings) -> Iterator[None]:
    """The project's lock around the body, when SESSION changes the stack with ARGS (ci/core/lock.py)."""
    if not session.locks(args):
        yield
        return
    me = lock.holder_here(session.name, settings.root)
    with lock.held(lock.lock_file(settings.lock_dir, settings.project), me, settings.lock_wait):
        yield


def classify(err: BaseException) -> tuple[SessionStatus, Exit]:
    """The status and exit code of a session that ERR ended: a project's error by its exit code (bad
    arguments or variables, no engine, or a failure), a stop signal interrupted (128 and its number),
    anything else a bug."""
    if isinstance(err, KeyboardInterrupt):
        return SessionStatus.INTERRUPTED, interruption_exit(err)
    if isinstance(err, Foreseeable):
        status = {Exit.USAGE: SessionStatus.USAGE_ERROR, Exit.NO_ENGINE: SessionStatus.NO_ENGINE}
        return status.get(err.exit_code, SessionStatus.FAILED), err.exit_code
    return SessionStatus.ERROR, Exit.FAILED


def failure(checks: list[Check]) -> tuple[str, Exit] | None:
    """One line for the failing checks, the first named with its advice, and its exit code; None if none."""
    failing = [c for c in checks if c.failing]
    if not failing:
        return None
    first = failing[0]
    line = f"{first.name}: {first.message}" + (f": {first.advice}" if first.advice else "")
    if len(failing) > 1:
        line += f" (and {len(failing) - 1} more failing: {', '.join(c.name for c in failing[1:])})"
    return line, first.exit_code


def never_green(report: Report, outcome: Outcome) -> None:
    """A session that did not pass has a failing testcase: the step it ended in has one already; else (an
    interruption or a bug between steps, a failure raised after its checks) one is added saying how it ended."""
    if outcome.status == SessionStatus.PASSED or any(c.failing for c in report.checks):
        return
    statuses: dict[SessionStatus, Status] = {SessionStatus.INTERRUPTED: "interrupted", SessionStatus.ERROR: "error"}
    status = statuses.get(outcome.status, "failed")
    report.add(Check(str(outcome.status), status, message=outcome.line, exit_code=outcome.exit_code))


def finished(session: Session, report: Report, outcome: Outcome, context: Run | None, directory: Path) -> Outcome:
    """Skip what did not run, settle the outcome from the checks, write the files into DIRECTORY, print
    table and line. A stop signal from here on is recorded, not raised: the files are written."""
    signals.hold()
    why = {SessionStatus.INTERRUPTED: "interrupted", SessionStatus.PASSED: "not run"}
    report.skip(session.steps, why.get(outcome.status, "an earlier step failed"))
    failed = failure(report.checks) if context is None or context.report_decides else None
    if outcome.status == SessionStatus.PASSED and failed:
        line, code = failed
        # A failing check says no engine by its exit code; any other (2 included) fails the session.
        status = SessionStatus.NO_ENGINE if code == Exit.NO_ENGINE else SessionStatus.FAILED
        outcome = Outcome(status, code, f"error: {line}")
    elif outcome.status == SessionStatus.PASSED:
        outcome.line = f"{session.name}: {(context.verdict if context else '') or 'passed'}"
    outcome.line = " ".join(outcome.line.split("\n"))  # one line, whatever a message from outside holds
    never_green(report, outcome)
    junit = directory / f"junit-{session.name}.xml"
    unwritten = write_reports(report, outcome, context, directory / f"{session.name}.json", junit)
    colour = terminal.colour_on()
    if outcome.table and session.steps_table:
        rows = [(c.name, c.status, f"{c.seconds:.1f}s", c.message) for c in report.main.checks]
        steps = terminal.table(
            ("step", "result", "time", "detail"), rows, columns=terminal.width(), results=1, colour=colour
        )
        terminal.show(f"\n{steps}")
    if outcome.table and junit not in unwritten:
        print(f"\nJUnit: {junit}", flush=True)
    last_line(outcome, colour)
    return outcome


def write_reports(report: Report, outcome: Outcome, context: Run | None, json_path: Path, junit: Path) -> list[Path]:
    """The JUnit file, then the JSON one, each whole or not at all (ci/core/report.py); returns those that could not
    be written. Either failing (a full disk, a bug) leaves the other written and no earlier run's file in its
    place, and fails the session: OUTCOME gets exit 1 at least, its line saying which file and why."""

    def json_report() -> None:
        data = {"status": outcome.status, "exit_code": outcome.exit_code, "line": outcome.line}
        data |= ({"signal": outcome.stop} if outcome.stop else {}) | (context.data if context else {})
        write_json({**data, "report": report_dict(report)}, json_path)

    unwritten: list[Path] = []
    for path, write in ((junit, lambda: write_junit(report, junit)), (json_path, json_report)):
        try:
            write()
        except Exception as err:  # whatever it is, the other file, the table and the line follow
            unwritten.append(path)
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # an earlier run's file must not stand for this run
            why = f"{path} could not be written ({type(err).__name__}: {err})"
            if outcome.exit_code == Exit.PASSED:
                outcome.status, outcome.exit_code, outcome.line = SessionStatus.ERROR, Exit.FAILED, f"error: {why}"
            else:
                outcome.line += f"; {why}"
    return unwritten


def last_line(outcome: Outcome, colour: bool) -> int:
    """Print the session's last line, on stderr when it failed; returns its exit code."""
    stream = sys.stdout if outcome.exit_code == Exit.PASSED else sys.stderr
    result = "passed" if outcome.exit_code == Exit.PASSED else "failed"
    text = terminal.fit_last(" ".join(inert(outcome.line).split("\n")), stream)
    terminal.show(terminal.paint(text, result, on=colour and stream.isatty()), stream)
    return outcome.exit_code
