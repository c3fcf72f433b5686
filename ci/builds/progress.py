"""A bake's progress on screen and its failure in words: each step shown once, as it ends, in one line (its
logs too with --logs); a failed bake as the failing step's last log lines, one line naming the step and its exit
code, and what goes into the report; buildx's own error when no step failed."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from ci.builds.trace import LOG_TAIL_LINES, BuildTrace, RawJsonDecoder, Vertex
from ci.core import terminal
from ci.core.errors import DockerFailed

COMMAND_ROOM = 36  # characters of a step's command in a one-line failure: enough to know it


class Progress:
    """Feeds bake's stream into the trace and shows each step once, as it ends (OUT). A step cancelled by
    another's failure is shown after the stream, as cancelled, and only when the bake failed: BuildKit also
    cancels duplicate solves of steps that then complete."""

    def __init__(self, trace: BuildTrace, out: TextIO, show_logs: bool) -> None:
        self.trace, self.out, self.show_logs = trace, out, show_logs
        self.decoder = RawJsonDecoder()
        self.shown: set[tuple[str | None, str]] = set()
        self.cancelled: list[Vertex] = []

    def feed(self, chunk: str) -> None:
        self._consume(self.decoder.feed(chunk))

    def close(self, *, failed: bool = False) -> None:
        self._consume(self.decoder.close())
        for vertex in self.cancelled if failed else []:
            self._show(vertex)

    def _show(self, vertex: Vertex) -> None:
        key = (vertex.target, vertex.label)
        line = step_line(self.trace, vertex) or cache_note(vertex)
        if line and key not in self.shown:
            self.shown.add(key)
            print(line, file=self.out, flush=True)

    def _consume(self, items: Iterable[dict[str, Any] | str]) -> None:
        for item in items:
            if isinstance(item, str):
                self.trace.text.append(item)
                if not self.trace.failed():  # after a failed step, buildx's ERROR block repeats it: the report keeps it
                    print(item, file=self.out, flush=True)
                continue
            for vertex in self.trace.add(item):
                if vertex.cancelled:
                    self.cancelled.append(vertex)
                else:
                    self._show(vertex)
            if self.show_logs:
                raw = terminal.unfitted(self.out)  # the tool's own output, never cut
                for log in item.get("logs") or []:
                    text = base64.b64decode(log.get("data") or "").decode(errors="replace")
                    for row in text.splitlines():
                        print(f"         | {row}", file=raw, flush=True)


def step_line(trace: BuildTrace, vertex: Vertex) -> str | None:
    """The one line of a step that ended: its time, CACHED, FAILED (exit code) or cancelled; None for a
    vertex that is not a step (a FROM, a context load, a cache export)."""
    if not vertex.is_step or vertex.is_source:
        return None
    target = f"{vertex.target:<8} " if vertex.target else ""
    name = trace.step_name(vertex)
    if vertex.cancelled:
        return f"{target}cancelled {name}"
    if vertex.error:  # the exit code first: a cut to the terminal's width takes the end of the command
        code = vertex.exit_code
        return (
            f"{target}FAILED    exit {code}: {name}"
            if code is not None
            else f"{target}FAILED    {name}: {vertex.error}"
        )
    if trace.hit(vertex):
        return f"{target}CACHED    {name}"
    return f"{target}{vertex.seconds:6.1f}s   {name}"


def cache_note(vertex: Vertex) -> str | None:
    """A registry cache import that found nothing yet: worth a line, and not a failure."""
    if vertex.cache_miss:
        target = f"{vertex.target:<8} " if vertex.target else ""
        return f"{target}CACHE     registry cache empty so far ({vertex.label.split(' from ', 1)[-1]})"
    return None


def bake_error(err: DockerFailed) -> str:
    """buildx's own message: its ERROR line, else the last line of stderr."""
    lines = [line.strip() for line in err.stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR:"):
            return line.removeprefix("ERROR:").strip()
    return lines[-1] if lines else str(err)


def failure_message(trace: BuildTrace, err: DockerFailed) -> str:
    """One line: target, step, its command shortened once, the exit code; printed after the step's own
    output (its log's last lines, untouched), which with the whole error goes into the report."""
    failed = trace.failed()
    if not failed:
        detail = next((t.removeprefix("ERROR:").strip() for t in reversed(trace.text) if t.startswith("ERROR")), "")
        return f"bake failed: {detail or bake_error(err)}"
    vertex = failed[0]
    where = f"{vertex.target} " if vertex.target else ""
    step = trace.step_name(vertex, COMMAND_ROOM)
    tail = trace.log_tail(vertex)
    if tail:
        print(f"\n--- the last lines of {where}{step.split(']')[0]}] ---", file=sys.stderr)
        raw = terminal.unfitted(sys.stderr)
        for line in tail:
            print(line, file=raw)
        print("---", file=sys.stderr, flush=True)
    code = vertex.exit_code
    # The error whole: the last line is cut in its middle on screen, and its end is the cause.
    why = f" (exit {code})" if code is not None else f": {' '.join(vertex.error.split())}"
    return f"{where}{step} failed{why}"


def failing_step_output(trace: BuildTrace) -> str:
    failed = trace.failed()
    if not failed:
        return "\n".join(trace.text[-LOG_TAIL_LINES:])
    return "\n".join([failed[0].name, failed[0].error, *trace.log_tail(failed[0]), *trace.text[-LOG_TAIL_LINES:]])
