"""BuildKit's progress as buildx streams it (`--progress=rawjson`): the stream decoded, its vertexes merged
into a trace, steps counted per target, the lines shown while a build runs, and what failed."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# A build step's vertex name: "[backend deps 3/3] RUN ..." with bake and several targets,
# "[deps 3/3] RUN ..." with one. Vertexes without the N/M counter ([internal] loads, cache
# import/export, "exporting to image") are not steps.
STEP_NAME = re.compile(r"^\[(?P<prefix>[^\]]*?)\s*(?P<n>\d+)/(?P<m>\d+)\]\s*(?P<command>.*)$", re.S)
LOG_TAIL_LINES = 25
# How a registry says there is no cache manifest yet: an empty cache, not a failing registry.
CACHE_MISS = re.compile(r"\bnot found\b|manifest unknown|NAME_UNKNOWN", re.I)


class RawJsonDecoder:
    """Splits buildx's --progress=rawjson stream (indented JSON objects, not one per line) from plain
    text lines (buildx writes errors found before building, such as a bad bake file, as text)."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, chunk: str) -> Iterator[dict[str, Any] | str]:
        self._buffer += chunk
        while True:
            text = self._buffer.lstrip()
            if not text:
                self._buffer = ""
                return
            if text.startswith("{"):
                try:
                    obj, end = self._decoder.raw_decode(text)
                except json.JSONDecodeError:
                    self._buffer = text  # an object still arriving
                    return
                self._buffer = text[end:]
                if isinstance(obj, dict):
                    yield obj
                continue
            line, newline, rest = text.partition("\n")
            if not newline:
                self._buffer = text  # wait for the end of the line
                return
            self._buffer = rest
            yield line.rstrip()

    def close(self) -> Iterator[str]:
        rest, self._buffer = self._buffer.strip(), ""
        if rest:
            yield from rest.splitlines()


def _seconds(started: str | None, completed: str | None) -> float:
    if not started or not completed:
        return 0.0
    return max(0.0, (_parse_time(completed) - _parse_time(started)))


def _parse_time(stamp: str) -> float:
    # BuildKit writes nanoseconds ("2026-11-23T21:09:59.233472741Z"); Python parses microseconds.
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?", stamp)
    if not match:
        return 0.0
    base = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return base + float(f"0.{match.group(2) or 0}")


@dataclass
class Vertex:
    digest: str
    name: str = ""
    started: str | None = None
    completed: str | None = None
    cached: bool = False
    error: str = ""
    target: str | None = None
    label: str = ""  # the name without the target prefix
    logs: list[bytes] = field(default_factory=list)
    transferred: int = 0  # bytes, for "load build context" vertexes

    @property
    def is_step(self) -> bool:
        return STEP_NAME.match(self.name) is not None

    @property
    def is_source(self) -> bool:
        """A FROM: a base image BuildKit resolves (or never needs), never one it reports as cached."""
        match = STEP_NAME.match(self.name)
        return match is not None and match.group("command").startswith("FROM ")

    @property
    def seconds(self) -> float:
        return _seconds(self.started, self.completed)


def split_step_name(name: str, targets: Iterable[str]) -> tuple[str | None, str]:
    """(target, name without the target) of a vertex name; target None when it cannot be told."""
    targets = list(targets)
    match = STEP_NAME.match(name)
    if match:
        words = match.group("prefix").split()
        if words and words[0] in targets:
            rest = " ".join([*words[1:], f"{match.group('n')}/{match.group('m')}"])
            return words[0], f"[{rest}] {match.group('command')}"
        return (targets[0] if len(targets) == 1 else None), name
    head = re.match(r"^\[([^\]\s]+)(?: ([^\]]*))?\]\s*(.*)", name, re.S)  # "[backend internal] x", "[backend] x"
    if head and head.group(1) in targets:
        inner = f"[{head.group(2)}] " if head.group(2) else ""
        return head.group(1), f"{inner}{head.group(3)}"
    return (targets[0] if len(targets) == 1 and not name.startswith("[internal]") else None), name


class BuildTrace:
    """Vertexes merged by digest (each arrives several times as it progresses), with their logs."""

    def __init__(self, targets: Iterable[str]) -> None:
        self.targets = list(targets)
        self.vertexes: dict[str, Vertex] = {}
        self.text: list[str] = []  # plain lines buildx printed (errors before the build)

    def add(self, obj: dict[str, Any]) -> list[tuple[str, Vertex]]:
        """Merge one rawjson object; returns the (event, vertex) pairs worth showing: started, done."""
        events: list[tuple[str, Vertex]] = []
        for raw in obj.get("vertexes") or []:
            vertex = self.vertexes.get(raw["digest"])
            if vertex is None:
                vertex = self.vertexes[raw["digest"]] = Vertex(raw["digest"])
            was_started, was_completed = vertex.started, vertex.completed
            vertex.name = raw.get("name", vertex.name)
            vertex.started = raw.get("started") or vertex.started
            vertex.completed = raw.get("completed") or vertex.completed
            vertex.cached = bool(raw.get("cached")) or vertex.cached
            vertex.error = raw.get("error") or vertex.error
            vertex.target, vertex.label = split_step_name(vertex.name, self.targets)
            if vertex.started and not was_started and not vertex.completed:
                events.append(("started", vertex))
            if vertex.completed and not was_completed:
                events.append(("done", vertex))
        for log in obj.get("logs") or []:
            vertex = self.vertexes.setdefault(log["vertex"], Vertex(log["vertex"]))
            vertex.logs.append(base64.b64decode(log.get("data") or ""))
        for status in obj.get("statuses") or []:
            if str(status.get("id", "")).startswith("transferring context") and status.get("vertex"):
                vertex = self.vertexes.setdefault(status["vertex"], Vertex(status["vertex"]))
                vertex.transferred = max(vertex.transferred, int(status.get("current") or 0))
        return events

    def steps(self, target: str) -> list[Vertex]:
        """The Dockerfile instructions BuildKit ran or took from cache for TARGET (FROMs are not counted)."""
        return [v for v in self.vertexes.values() if v.is_step and not v.is_source and v.target == target]

    def cache_errors(self) -> list[str]:
        """Registry cache import or export that failed: BuildKit goes on without it, so the build succeeds.
        An import that finds no cache yet (the first build to this registry) is a miss, not an error."""
        return [
            f"{v.name}: {v.error}"
            for v in self.vertexes.values()
            if v.error
            and (v.label.startswith("importing cache manifest") or v.label.startswith("exporting cache"))
            and not (v.label.startswith("importing") and CACHE_MISS.search(v.error))
        ]

    def context_bytes(self, target: str) -> int:
        """Bytes of build context sent for TARGET (BuildKit sends only what changed since its last build)."""
        return sum(
            v.transferred
            for v in self.vertexes.values()
            if v.name.endswith("load build context") and (v.target == target or len(self.targets) == 1)
        )

    def failed(self) -> list[Vertex]:
        """Failed vertexes, the cause first: when one target fails, BuildKit cancels the steps still
        running in the others, and those carry an error too ("context canceled")."""
        failed = [v for v in self.vertexes.values() if v.error]
        return sorted(failed, key=lambda v: ("context canceled" in v.error, not v.is_step))

    @staticmethod
    def log_tail(vertex: Vertex, lines: int = LOG_TAIL_LINES) -> list[str]:
        text = b"".join(vertex.logs).decode(errors="replace")
        return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]

    def target_figures(self, target: str) -> dict[str, Any]:
        steps = self.steps(target)
        cached = sum(1 for v in steps if v.cached)
        mine = [v for v in self.vertexes.values() if v.target == target and v.started]
        starts = [_parse_time(v.started) for v in mine if v.started]
        ends = [_parse_time(v.completed) for v in mine if v.completed]
        return {
            "wall_seconds": round(max(ends) - min(starts), 3) if starts and ends else 0.0,
            "steps": len(steps),
            "cached_steps": cached,
            "cache_hit_ratio": round(cached / len(steps), 3) if steps else 0.0,
            "context_transferred_bytes": self.context_bytes(target),
            "ran_steps": [" ".join(v.label.split())[:100] for v in steps if not v.cached],
        }


def progress_line(event: str, vertex: Vertex) -> str | None:
    """What the user sees for a step while bake runs; None for what is not worth a line."""
    if not vertex.is_step and not vertex.error:
        return None
    target = f"{vertex.target:<8} " if vertex.target else ""
    label = " ".join(vertex.label.split())  # multi-line RUN commands on one line
    if len(label) > 110:
        label = label[:107] + "..."
    if vertex.error:
        if label.startswith("importing cache manifest") and CACHE_MISS.search(vertex.error):
            # Not a failure: nothing was exported there yet.
            return f"{target}CACHE    registry cache empty so far ({label.split(' from ', 1)[-1]})"
        return f"{target}FAILED   {label}: {vertex.error[:160]}"
    if event == "started":
        # Only RUN steps take long enough to be worth announcing before they finish.
        command = STEP_NAME.match(vertex.label)
        return f"{target}  ...    {label}" if command and command.group("command").startswith("RUN") else None
    if vertex.cached:
        return f"{target}CACHED   {label}"
    return f"{target}{vertex.seconds:6.1f}s  {label}"
