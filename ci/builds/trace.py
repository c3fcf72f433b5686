"""BuildKit's progress as buildx streams it (`--progress=rawjson`): the stream decoded, its vertexes merged
into a trace, each target's steps, what BuildKit reused, what failed, a step's name as the figures count it.
Each target's figures from it: ci/builds/figures.py; the lines shown while a build runs: ci/builds/progress.py."""

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
# How BuildKit ends the steps it stops because another one failed (or a duplicate solve it dropped).
CANCELLED = re.compile(r"\bcancell?ed\b", re.I)
EXIT_CODE = re.compile(r"exit code: (\d+)")
# RUN's own flags (--mount=..., --network=none): how the step runs, not what it runs.
RUN_FLAGS = re.compile(r"^RUN(?:\s+--\S+)+\s+")
# The vertexes BuildKit runs anew in every bake (a source of this session): when it began, on the engine's clock.
FRESH = ("[internal] load local bake definitions", "[internal] load build definition")
# A status that is a blob's download: BuildKit names it by the blob's digest.
BLOB = re.compile(r"^sha256:[0-9a-f]{64}$")


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
    return max(0.0, (parse_time(completed) - parse_time(started)))


def parse_time(stamp: str) -> float:
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
    # Its sub-tasks as BuildKit reports them (an export's "exporting layers", "unpacking to ..."), by id:
    # (started, completed).
    tasks: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    pulled: dict[str, int] = field(default_factory=dict)  # bytes of each blob it fetched (a layer, a cache blob)

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

    @property
    def cancelled(self) -> bool:
        """Stopped by BuildKit, not failed: the cause is another step's error."""
        return bool(self.error) and CANCELLED.search(self.error) is not None

    @property
    def cache_miss(self) -> bool:
        """A registry cache import that found nothing yet (the first build to it): not a failure."""
        return (
            bool(self.error)
            and self.label.startswith("importing cache manifest")
            and bool(CACHE_MISS.search(self.error))
        )

    @property
    def exit_code(self) -> int | None:
        match = EXIT_CODE.search(self.error)
        return int(match.group(1)) if match else None


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

    def __init__(self, targets: Iterable[str], *, no_cache: bool = False) -> None:
        self.targets = list(targets)
        self.no_cache = no_cache  # --no-cache: no step could hit a cache
        self.vertexes: dict[str, Vertex] = {}
        self.text: list[str] = []  # plain lines buildx printed (errors before the build)
        self._image_stages: set[tuple[str | None, str]] = set()  # (target, stage) starting FROM an image

    def add(self, obj: dict[str, Any]) -> list[Vertex]:
        """Merge one rawjson object; returns the vertexes it ended (completed or failed), each once."""
        ended: list[Vertex] = []
        for raw in obj.get("vertexes") or []:
            vertex = self.vertexes.get(raw["digest"])
            if vertex is None:
                vertex = self.vertexes[raw["digest"]] = Vertex(raw["digest"])
            was_ended = bool(vertex.completed or vertex.error)
            vertex.name = raw.get("name", vertex.name)
            vertex.started = raw.get("started") or vertex.started
            vertex.completed = raw.get("completed") or vertex.completed
            vertex.cached = bool(raw.get("cached")) or vertex.cached
            vertex.error = raw.get("error") or vertex.error
            vertex.target, vertex.label = split_step_name(vertex.name, self.targets)
            if vertex.is_source:
                self._image_stages.add((vertex.target, _stage(vertex.label)))
            if (vertex.completed or vertex.error) and not was_ended:
                ended.append(vertex)
        for log in obj.get("logs") or []:
            vertex = self.vertexes.setdefault(log["vertex"], Vertex(log["vertex"]))
            vertex.logs.append(base64.b64decode(log.get("data") or ""))
        for status in obj.get("statuses") or []:
            if not status.get("vertex"):
                continue
            vertex = self.vertexes.setdefault(status["vertex"], Vertex(status["vertex"]))
            task = str(status.get("id", ""))
            if task.startswith("transferring context"):
                vertex.transferred = max(vertex.transferred, int(status.get("current") or 0))
            else:
                if BLOB.match(task):  # a blob fetched from a registry, by its digest, as BuildKit counts it
                    size = max(int(status.get("total") or 0), int(status.get("current") or 0))
                    vertex.pulled[task] = max(vertex.pulled.get(task, 0), size)
                was = vertex.tasks.get(task, (None, None))
                vertex.tasks[task] = (status.get("started") or was[0], status.get("completed") or was[1])
        return ended

    def steps(self, target: str) -> list[Vertex]:
        """The Dockerfile instructions BuildKit ran or took from cache for TARGET (FROMs are not counted), each
        once: BuildKit also reports the vertexes of other builds on the engine that solve the same step (with
        their own times), and then this build's, under another digest."""
        found: dict[str, Vertex] = {}
        for v in (v for v in self.vertexes.values() if v.is_step and not v.is_source and v.target == target):
            if v.label not in found or (self.reused(found[v.label]) and not self.reused(v)):
                found[v.label] = v
        return list(found.values())

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

    def failed(self) -> list[Vertex]:
        """Failed vertexes, the cause first: when one target fails, BuildKit cancels the steps still
        running in the others, and those carry an error too ("context canceled")."""
        failed = [v for v in self.vertexes.values() if v.error and not v.cache_miss]
        return sorted(failed, key=lambda v: (v.cancelled, not v.is_step))

    @staticmethod
    def log_tail(vertex: Vertex, lines: int = LOG_TAIL_LINES) -> list[str]:
        text = b"".join(vertex.logs).decode(errors="replace")
        return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]

    @property
    def began(self) -> float | None:
        """When this bake began on the engine's clock: its first vertex that BuildKit never reuses."""
        starts = [parse_time(v.started) for v in self.vertexes.values() if v.started and v.label.startswith(FRESH)]
        return min(starts, default=None)

    def reused(self, vertex: Vertex) -> bool:
        """A vertex another build ran (an earlier one, or one beside this on the engine), which BuildKit hands
        on with that build's times and often no cached mark."""
        began = self.began
        return began is not None and vertex.started is not None and parse_time(vertex.started) < began

    def hit(self, vertex: Vertex) -> bool:
        """Whether the step came from a cache; under --no-cache none could."""
        return not self.no_cache and (vertex.cached or self.reused(vertex))

    def step_name(self, vertex: Vertex, room: int | None = None) -> str:
        """`[runtime 5/5] RUN python -c '...'`: numbered within its stage as the figures count (a FROM is no
        step), RUN's flags left out, on one line; the command cut to ROOM characters."""
        label = " ".join(vertex.label.split())
        match = STEP_NAME.match(label)
        if not match:
            return label
        stage, n, m = match.group("prefix"), int(match.group("n")), int(match.group("m"))
        if (vertex.target, stage) in self._image_stages and not vertex.is_source:
            n, m = n - 1, m - 1
        command = RUN_FLAGS.sub("RUN ", match.group("command"))
        if room is not None and len(command) > room:
            command = command[: room - 3].rstrip() + "..."
        return f"[{' '.join([*stage.split(), f'{n}/{m}'])}] {command}"


def _stage(label: str) -> str:
    match = STEP_NAME.match(label)
    return match.group("prefix") if match else ""
