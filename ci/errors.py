"""Foreseeable failures: one actionable line and an exit code, never a traceback."""

from __future__ import annotations


class CiError(Exception):
    """A failure the user can act on. `str(err)` is the one line shown; `output` is the longer evidence
    (a failing step's log tail) that goes into the report."""

    exit_code = 1

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class UsageError(CiError):
    """Bad arguments or variables."""

    exit_code = 2


class EngineUnreachable(CiError):
    """No Docker engine answers."""

    exit_code = 3
