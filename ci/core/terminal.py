"""What a person reads: every line fits the terminal (one rule, `width`), tables too, colour for pass, fail and
warn on a terminal, and no text from outside acts on it.

Text from outside reaches the terminal inert (ci/core/inert.py): the streams a session prints to (`fitted`, and
`unfitted` for a tool's own output) make every line inert as it is written, so that whatever prints a
service's answer, a build's log or a file name shows its escape sequences instead of running them. The
frame's own colours, the only escape sequences it writes, go by `show`: `paint` and `table` make their text
visible first, then paint it, so an outside `\x1b[31m` stays text even beside them. Sanitising where each
outside text enters would miss the next print that forgets to; a stream that passed "only paint's
sequences" would pass an outside copy of them too.

Lines from another thread (watch's services' lines: `whole_line`) never land in the middle of one: a Fitted stream
writes whole lines, each batch under one lock with theirs, and flushes them (stdout and stderr often share one
pipe, where a line left half in stdout's buffer would be cut by stderr's next).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TextIO, cast

from ci.core import secrets
from ci.core.inert import inert, visible

ELLIPSIS = "..."  # marks a cut; the whole text stays in the JSON and JUnit files
# Output that is no terminal (a pipe, a CI log): a width every CI log viewer shows whole.
DEFAULT_WIDTH = 120
_ANSI = re.compile(r"\033\[[0-9;]*m")
_WRITING = threading.RLock()  # held while whole lines go to a stream, whichever thread writes them
GAP = "  "
# ANSI colours by result word; none when the output is not a terminal or NO_COLOR is set (no-color.org).
COLOURS = {"passed": "32", "ok": "32", "healthy": "32", "warned": "33", "warn": "33", "starting": "33"}
COLOURS |= {"skipped": "2", "skip": "2", "unhealthy": "31"}
COLOURS |= dict.fromkeys(("failed", "fail", "error", "interrupted"), "31")


def width(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> int:
    """Columns every printed line fits in: COLUMNS when set, else the terminal's, else DEFAULT_WIDTH."""
    env = os.environ if environ is None else environ
    raw = env.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) > 20:
        return int(raw)
    stream = sys.stdout if stream is None else stream
    return shutil.get_terminal_size().columns if stream.isatty() else DEFAULT_WIDTH


def fit(line: str, columns: int) -> str:
    """LINE cut to COLUMNS visible characters, the cut marked; colour codes count for nothing (a line cut
    loses its colour)."""
    if len(line) <= columns or len(_ANSI.sub("", line)) <= columns:
        return line
    plain = _ANSI.sub("", line)
    return plain[: max(columns - len(ELLIPSIS), 0)] + ELLIPSIS


def fit_middle(line: str, columns: int) -> str:
    """LINE cut to COLUMNS characters in its middle: for a last line, whose start says what failed and whose
    end says why (`... dial tcp: lookup HOST: no such host`); the whole line stays in the JSON."""
    if len(line) <= columns:
        return line
    room = max(columns - len(ELLIPSIS), 0)
    head = room // 2
    return line[:head] + ELLIPSIS + line[len(line) - (room - head) :]


def plural(count: int, word: str, many: str = "") -> str:
    """`1 turn`, `2 turns`; MANY for irregular plurals."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def fit_last(line: str, stream: TextIO) -> str:
    """LINE cut in its middle to the columns STREAM fits its lines in, if it fits them (`fitted`)."""
    return fit_middle(line, stream.columns) if isinstance(stream, Fitted) and stream.columns else line


class Fitted(io.TextIOBase):
    """A text stream whose every line is made inert (secrets redacted, control and bidi characters shown as
    escapes: ci/core/inert.py) and cut to COLUMNS (None: never cut) on its way to STREAM. Whatever is printed may
    hold text from outside (a service's answer, a tool's output, a file name), so nothing written here reaches
    the terminal as an escape sequence: the frame's own colours go through `show`, which writes text whose
    outside parts were made visible before it was painted."""

    def __init__(self, stream: TextIO, columns: int | None) -> None:
        self.stream, self.columns = stream, columns
        self._pending = ""  # print() writes a line and its newline in two calls

    def _line(self, line: str) -> str:
        shown = inert(line)
        return fit(shown, self.columns) if self.columns else shown

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        if lines:
            with _WRITING:
                for line in lines:
                    self.stream.write(self._line(line) + "\n")
                self.stream.flush()
        return len(text)

    def write_shown(self, text: str) -> None:
        """TEXT as it is, but cut to COLUMNS and redacted: this code's own, painted (see `show`)."""
        with _WRITING:  # reentrant: an unfinished line of its own and TEXT go as one
            self.close_line()
            for line in text.split("\n"):
                redacted = secrets.redact(line)
                self.stream.write((fit(redacted, self.columns) if self.columns else redacted) + "\n")
            self.stream.flush()

    def write_whole(self, line: str) -> None:
        """LINE, from another thread, made inert and cut as every line, written whole: what this stream holds of
        an unfinished line of its own stays held, and follows it."""
        with _WRITING:
            self.stream.write(self._line(line) + "\n")
            self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()

    def close_line(self) -> None:
        with _WRITING:
            if self._pending:
                self.stream.write(self._line(self._pending))
                self._pending = ""
            self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")


class _Whole(Fitted):
    """A tool's own output (a failing step's log, a traceback): made inert like every line, never cut. What a
    line left unfinished is written when flushed."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream, None)

    def flush(self) -> None:
        self.close_line()


def unfitted(stream: TextIO) -> TextIO:
    """The stream under a Fitted one, for a tool's own output, which is evidence and is never cut; made inert
    all the same (it is text from outside)."""
    return cast(TextIO, _Whole(stream.stream if isinstance(stream, Fitted) else stream))


def show(text: str, stream: TextIO | None = None) -> None:
    """Print TEXT, this code's own (a table, a last line) whose parts from outside were made visible before it
    was painted (`table`, `paint` do), on STREAM (sys.stdout) with its colours: each line cut to the columns
    STREAM fits lines in, if it fits them, and redacted."""
    stream = sys.stdout if stream is None else stream
    if isinstance(stream, Fitted):
        stream.write_shown(text)
    else:
        print(secrets.redact(text), file=stream, flush=True)


def whole_line(line: str, stream: TextIO | None = None) -> None:
    """LINE, text from outside written by another thread than the session's (a service's log line), on STREAM
    (sys.stdout): inert, cut as STREAM cuts its lines, and never in the middle of another line."""
    stream = sys.stdout if stream is None else stream
    if isinstance(stream, Fitted):
        stream.write_whole(line)
        return
    with _WRITING:
        stream.write(inert(line) + "\n")
        stream.flush()


@contextmanager
def fitted(columns: int | None = None) -> Iterator[int]:
    """Within the block, every line printed to stdout and stderr is made inert and fits COLUMNS (default:
    `width()`)."""
    columns = columns or width()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Fitted(saved[0], columns), Fitted(saved[1], columns)
    try:
        yield columns
    finally:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, Fitted):
                stream.close_line()
        sys.stdout, sys.stderr = saved


def colour_on(stream: TextIO = sys.stdout, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return "NO_COLOR" not in env and env.get("TERM") != "dumb" and stream.isatty()


def paint(text: str, result: str, *, on: bool) -> str:
    """TEXT made visible (ci/core/inert.py), in RESULT's colour when ON: the only escape sequences this code prints."""
    code = COLOURS.get(result)
    shown = visible(text)
    return f"\033[{code}m{shown}\033[0m" if on and code else shown


def shorten(text: str, room: int) -> str:
    """TEXT on one line, cut to ROOM characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= room else flat[: max(room - len(ELLIPSIS), 0)] + ELLIPSIS


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    columns: int | None = None,
    results: int | None = None,
    colour: bool = False,
) -> str:
    """A plain-text table with aligned columns, no wider than COLUMNS (default: `width()`). The widest
    columns give way first, their cells shortened with an ellipsis; the full text belongs in the JSON and
    JUnit files. Every cell is made inert (ci/core/inert.py); with COLOUR, the column RESULTS (an index) is painted
    by its word: print it with `show`."""
    cells = [[" ".join(inert(str(c)).split()) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    widths = _fit(widths, (columns or width()) - len(GAP) * (len(headers) - 1))

    def line(row: list[str], painted: bool) -> str:
        out = []
        for i, (cell, w) in enumerate(zip(row, widths, strict=False)):
            text = shorten(cell, w).ljust(w)
            out.append(paint(text, cell, on=painted and i == results))
        return GAP.join(out).rstrip()

    rule = GAP.join("-" * w for w in widths)
    return "\n".join([line(cells[0], False), rule, *(line(row, colour) for row in cells[1:])])


def _fit(widths: list[int], room: int) -> list[int]:
    """Narrow the widest columns until the row fits ROOM; no column below 8 characters."""
    widths = list(widths)
    while sum(widths) > room:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= 8:
            break
        widths[widest] -= max(1, min(widths[widest] - 8, sum(widths) - room))
    return widths
