"""What a session is: its declaration (`Session`: name, steps, body; its options are the registry's), which
`ci/sessions/NAME.py` makes, and what its body works with (`Run`), which the frame (ci/frame.py) gives it. Here,
beneath both, so that the sessions import nothing of the frame, which imports them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ci.core.report import Report
from ci.core.settings import Settings


@dataclass(frozen=True)
class Session:
    name: str
    summary: str  # one line: the --help description
    steps: tuple[str, ...]  # in order; those that do not run are reported as skipped
    body: Callable[[Run], None]
    # Checks the parsed arguments beyond argparse (a duration, a size); raises UsageError.
    check_args: Callable[[argparse.Namespace], None] = lambda args: None
    steps_table: bool = True  # False: the session prints a table of its steps itself
    # True for the arguments with which it changes the stack: the body runs holding the project's lock.
    locks: Callable[[argparse.Namespace], bool] = lambda args: False


@dataclass
class Run:
    """What a session's body works with, and what it leaves for the frame to report."""

    session: Session
    args: argparse.Namespace
    settings: Settings
    report: Report
    verdict: str = ""  # the last line when the session passes: what it did, and what to run next
    data: dict[str, Any] = field(default_factory=dict)  # the session's own figures, in NAME.json
    # False: the failed checks are reported as such but do not fail the session (a loop's turns: what it
    # saw, not its verdict; the loop itself ends well on Ctrl-C).
    report_decides: bool = True

    def step(self, name: str) -> Any:
        return self.report.step(name)
