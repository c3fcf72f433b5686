"""watch's services' own lines, as `docker compose up` shows them: each `SERVICE | line` (the service padded to the
longest name), on stdout, as they come, from a thread of its own started once the stack is up and stopped as the
loop ends (`--no-logs`: none). Each line is text from outside: inert and capped as every message (secrets
redacted, escape sequences shown, not run), written whole and never inside another line
(ci/core/terminal.py's `whole_line`). watch's own lines (a turn's, `stack: ...`) never start with `NAME | `, as
compose's own never do: a reader of watch's output tells them apart by that alone (`dk.is_service_line`), whatever
a service prints.

compose follows a recreated or restarted container by itself (2.26 and 2.40); 2.26's follower ends once none of
the services' containers runs (a stack that did not come up, a turn that stopped the last one), so after each turn
an ended one follows again, from the last line it showed: none lost of a container that ran meanwhile, none twice.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from ci import docker as dk
from ci.core import terminal
from ci.core.errors import CiError
from ci.core.inert import inert
from ci.core.report import MESSAGE_CAP

STOP_SECONDS = 5.0  # how long stopping waits for the thread, once its compose is ended


def shown(line: dk.LogLine, width: int) -> str:
    """LINE as watch prints it: `SERVICE | text`, the service padded to WIDTH, the text inert and capped, on one
    line (a newline in it shown as its escape: no line of it goes without the prefix)."""
    text = inert(line.text, MESSAGE_CAP).replace("\n", "\\x0a")
    return dk.LogLine(line.service, text, line.cut).shown(width)


class Follower:
    """The lines of every service of ENGINE's stack printed on OUT (sys.stdout) while it follows them (`start`,
    `resume` after each turn, `stop`), padded to the longest of NAMES (the services it expects; a longer one that
    comes widens it, as compose's own padding does). Its compose runs as a child of the main thread, which
    starts it. LISTENER: also given each line as it comes (service, text, cut), on that thread: the live
    page's board. QUIET: nothing printed (`--no-logs` with the page open: its lines for the page alone)."""

    def __init__(
        self,
        engine: dk.Engine,
        names: Sequence[str],
        out: TextIO | None = None,
        listener: Callable[[str, str, bool], None] | None = None,
        *,
        quiet: bool = False,
    ) -> None:
        self.engine = engine
        self.listener = listener
        self.quiet = quiet
        self.width = max(map(len, names), default=0)
        self.out = out
        self.last = 0.0  # when the last line came (time.time()), or following began: where a resumed one starts
        self._logs: dk.ServiceLogs | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Follow from now on."""
        self.last = time.time()
        self._follow()

    def resume(self) -> None:
        """After a turn: follow again from the last line shown, if compose's follower ended meanwhile."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._follow()

    def _follow(self) -> None:
        try:
            self._logs = dk.ServiceLogs(self.engine, (), self.last)
        except OSError as err:  # no docker client: the turns say what matters
            self.said(f"logs: cannot follow the services' lines: {err}")
            return
        self._thread = threading.Thread(target=self._show, args=(self._logs,), name="watch-logs", daemon=True)
        self._thread.start()

    def _show(self, logs: dk.ServiceLogs) -> None:
        try:
            for line in logs.lines():
                self.last = time.time()
                self.width = max(self.width, len(line.service))
                if not self.quiet:
                    terminal.whole_line(shown(line, self.width), self.out)
                if self.listener:
                    self.listener(line.service, line.text, line.cut)
        except KeyboardInterrupt:  # a stop signal reached compose too: the loop is ending
            return
        except CiError as err:
            self.said(f"logs: {err}; following them again after the next turn")

    def said(self, text: str) -> None:
        if not self.quiet:  # the page's lines alone: their follower's troubles are not the terminal's
            terminal.whole_line(text, sys.stderr)

    def stop(self) -> None:
        """Ends compose's follower and waits for the lines it had."""
        if self._logs is not None:
            self._logs.close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_SECONDS)
