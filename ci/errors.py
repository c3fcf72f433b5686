"""Foreseeable failures: one actionable line and an exit code, never a traceback; the exit codes and how a
session ended (its status), which the frame reports and the modules below it name."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum, StrEnum


class Exit(IntEnum):
    """The exit codes of `python -m ci SESSION` (docs/sessions.md quotes them)."""

    PASSED = 0
    FAILED = 1  # a step or check failed; also a bug (the traceback is shown)
    USAGE = 2  # bad arguments or variables: nothing was done
    NO_ENGINE = 3  # no Docker engine answers
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class SessionStatus(StrEnum):
    """How a session ended, as NAME.json's `status` says it."""

    PASSED = "passed"
    FAILED = "failed"
    USAGE_ERROR = "usage error"
    NO_ENGINE = "no engine"
    INTERRUPTED = "interrupted"
    ERROR = "error"  # a bug


class Terminated(KeyboardInterrupt):
    """SIGTERM (a process manager's stop), raised by the sessions that catch it: ended as cleanly as Ctrl-C,
    and said as such."""


def terminate(signum: int, frame: object) -> None:
    """The SIGTERM handler of the sessions that catch it (`signal.signal(signal.SIGTERM, terminate)`)."""
    raise Terminated


def stopped_by(stop: KeyboardInterrupt) -> str:
    return "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C"


class Foreseeable(Exception):
    """A foreseeable failure: `str(err)` is the one line shown; `output` is the longer evidence (a failing
    step's log tail) that goes into the report; `exit_code` is the session's. A step and the frame catch it
    (ci/report.py, ci/frame.py); code that goes on past a failure catches CiError, which a lost engine is not."""

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
