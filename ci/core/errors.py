"""Foreseeable failures: one actionable line and an exit code, never a traceback; the exit codes and how a
session ended (its status), which the frame reports and the modules below it name; a stop signal as an
exception (Stopped)."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from enum import IntEnum, StrEnum


class Exit(IntEnum):
    """The exit codes of `python -m ci SESSION` (docs/sessions.md quotes them)."""

    PASSED = 0
    FAILED = 1  # a step or check failed; also a bug (the traceback is shown)
    USAGE = 2  # bad arguments or variables: nothing was done
    NO_ENGINE = 3  # no Docker engine answers
    # Stopped by a signal: 128 and its number, as a shell reports a process the signal ended.
    HUNG_UP = 129  # SIGHUP: the terminal closed
    INTERRUPTED = 130  # SIGINT: Ctrl-C
    TERMINATED = 143  # SIGTERM: a process manager's or CI runner's stop


class SessionStatus(StrEnum):
    """How a session ended, as NAME.json's `status` says it."""

    PASSED = "passed"
    FAILED = "failed"
    USAGE_ERROR = "usage error"
    NO_ENGINE = "no engine"
    INTERRUPTED = "interrupted"
    ERROR = "error"  # a bug


class Stopped(KeyboardInterrupt):
    """A stop signal, raised by the frame's handler (ci/core/signals.py): SIGINT (Ctrl-C), SIGTERM (a process
    manager's or CI runner's stop) or SIGHUP (the terminal closed), each ended as cleanly as Ctrl-C and
    said by its name. A bare KeyboardInterrupt is Ctrl-C."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# The stop signals this process received, the first first: ci/core/signals.py's handler notes each. A library that
# catches the handler's Stopped and raises a bare KeyboardInterrupt instead (watchfiles does) loses its type, not
# which signal it was.
_stops: list[int] = []


def note_stop(signum: int) -> None:
    _stops.append(signum)


def forget_stops() -> None:
    _stops.clear()


def received() -> int | None:
    """The first stop signal the process received (while the frame handles them), or None."""
    return _stops[0] if _stops else None


def stop_signal(stop: KeyboardInterrupt) -> int:
    """The signal STOP stands for: its own, else the first received, else SIGINT (Python's own Ctrl-C)."""
    return stop.signum if isinstance(stop, Stopped) else received() or signal.SIGINT


def stopped_by(stop: KeyboardInterrupt) -> str:
    """`SIGINT` (Ctrl-C, or a CI runner's cancel), `SIGTERM`, `SIGHUP`: what stopped the session, as the reports
    and its last line name it."""
    return signal.Signals(stop_signal(stop)).name


def interruption_exit(stop: KeyboardInterrupt) -> Exit:
    """The exit code of a session STOP ended: 128 and the signal's number."""
    codes: dict[int, Exit] = {signal.SIGHUP: Exit.HUNG_UP, signal.SIGTERM: Exit.TERMINATED}
    return codes.get(stop_signal(stop), Exit.INTERRUPTED)


class Foreseeable(Exception):
    """A foreseeable failure: `str(err)` is the one line shown; `output` is the longer evidence (a failing
    step's log tail) that goes into the report; `exit_code` is the session's. A step and the frame catch it
    (ci/core/report.py, ci/frame.py); code that goes on past a failure catches CiError, which a lost engine is not."""

    exit_code = Exit.FAILED

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class CiError(Foreseeable):
    """A failure the user can act on, which a session may go on past: a failed check, a turn of watch."""


class UsageError(CiError):
    """Bad arguments or variables."""

    exit_code = Exit.USAGE


class EngineUnreachable(Foreseeable):
    """No Docker engine answers: nothing that follows can work, so it ends the session (doctor reports it)."""

    exit_code = Exit.NO_ENGINE


class DockerFailed(CiError):
    """A docker, buildx or compose command exited non-zero. The message is its last meaningful line;
    stdout and stderr stay for the callers that read more of them (bake's ERROR line, a taken port)."""

    def __init__(self, message: str, *, command: Sequence[str] = (), stdout: str = "", stderr: str = "") -> None:
        super().__init__(message, output=stderr)
        self.command = tuple(command)
        self.stdout = stdout
        self.stderr = stderr
