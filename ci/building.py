"""Baking the images: build args, buildx's rawjson progress, per-target figures and failures."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from ci import docker as dk
from ci.config import Settings
from ci.errors import CiError

# A build step's vertex name: "[backend deps 3/3] RUN ..." with bake and several targets,
# "[deps 3/3] RUN ..." with one. Vertexes without the N/M counter ([internal] loads, cache
# import/export, "exporting to image") are not steps.
STEP_NAME = re.compile(r"^\[(?P<prefix>[^\]]*?)\s*(?P<n>\d+)/(?P<m>\d+)\]\s*(?P<command>.*)$", re.S)
LOG_TAIL_LINES = 25


# --- build args -----------------------------------------------------------------------------------


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit(root: Path) -> str:
    """Short HEAD, with `-dirty` when the tree has uncommitted changes; `unknown` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def dev_build_args(now: datetime, commit: str) -> dict[str, str]:
    """Fresh values every run: a dev build never reuses the build-info layers."""
    return {"CACHE_BUST": str(int(now.timestamp())), "BUILD_DATE": utc_iso(now), "GIT_COMMIT": commit}


# --- rawjson -------------------------------------------------------------------------------------


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

    @property
    def is_step(self) -> bool:
        return STEP_NAME.match(self.name) is not None

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
    head = re.match(r"^\[(\S+) (.*)", name)
    if head and head.group(1) in targets:
        return head.group(1), f"[{head.group(2)}"
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
        return events

    def steps(self, target: str) -> list[Vertex]:
        return [v for v in self.vertexes.values() if v.is_step and v.target == target]

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
        }


# --- running bake -----------------------------------------------------------------------------------


def progress_line(event: str, vertex: Vertex) -> str | None:
    """What the user sees for a step while bake runs; None for what is not worth a line."""
    if not vertex.is_step and not vertex.error:
        return None
    target = f"{vertex.target:<8} " if vertex.target else ""
    label = " ".join(vertex.label.split())  # multi-line RUN commands on one line
    if len(label) > 110:
        label = label[:107] + "..."
    if vertex.error:
        return f"{target}FAILED   {label}"
    if event == "started":
        # Only RUN steps take long enough to be worth announcing before they finish.
        command = STEP_NAME.match(vertex.label)
        return f"{target}  ...    {label}" if command and command.group("command").startswith("RUN") else None
    if vertex.cached:
        return f"{target}CACHED   {label}"
    return f"{target}{vertex.seconds:6.1f}s  {label}"


@dataclass
class BakeResult:
    targets: list[str]
    trace: BuildTrace
    metadata: dict[str, Any]
    seconds: float


def bake(
    docker: DockerClient,
    settings: Settings,
    group: str,
    *,
    variables: dict[str, str],
    no_cache: bool,
    metadata_file: Path,
    show_logs: bool = False,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] | None = None,
) -> BakeResult:
    """Bake GROUP with --load, streaming step progress to OUT. Raises CiError with the failing step."""
    clock = clock or time.monotonic
    targets = resolve_targets(docker, settings, group, variables)
    trace = BuildTrace(targets)
    decoder = RawJsonDecoder()
    metadata_file.parent.mkdir(parents=True, exist_ok=True)
    metadata_file.unlink(missing_ok=True)
    start = clock()

    def consume(items: Iterable[dict[str, Any] | str]) -> None:
        for item in items:
            if isinstance(item, str):
                trace.text.append(item)
                print(item, file=out, flush=True)
                continue
            for event, vertex in trace.add(item):
                line = progress_line(event, vertex)
                if line:
                    print(line, file=out, flush=True)
            if show_logs:
                for log in item.get("logs") or []:
                    text = base64.b64decode(log.get("data") or "").decode(errors="replace")
                    for row in text.splitlines():
                        print(f"         | {row}", file=out, flush=True)

    try:
        for chunk in dk.bake_stream(
            docker,
            settings.bake_file,
            [group],
            variables={**settings.host_defaults, **variables},
            no_cache=no_cache,
            metadata_file=metadata_file,
        ):
            consume(decoder.feed(chunk))
    except DockerException as err:
        consume(decoder.close())
        raise CiError(failure_message(trace, err), output=failing_step_output(trace)) from None
    consume(decoder.close())
    metadata = json.loads(metadata_file.read_text()) if metadata_file.exists() else {}
    return BakeResult(targets, trace, metadata, clock() - start)


def resolve_targets(docker: DockerClient, settings: Settings, group: str, variables: dict[str, str]) -> list[str]:
    """The targets GROUP expands to, from `bake --print`; a bad bake file or name fails here, early."""
    if not settings.bake_file.is_file():
        raise CiError(f"bake file not found: {settings.bake_file}")
    try:
        definition = docker.buildx.bake(
            targets=[group], files=[settings.bake_file], print=True, variables={**settings.host_defaults, **variables}
        )
    except DockerException as err:
        message = bake_error(err).replace(f"{settings.root}/", "")
        if not message.startswith(settings.bake_file.name):
            message = f"{settings.bake_file.name}: {message}"
        raise CiError(message) from None
    return sorted(cast_dict(definition).get("target", {}))


def cast_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def bake_error(err: DockerException) -> str:
    """buildx's own message: its ERROR line, else the last line of stderr."""
    lines = [line.strip() for line in (err.stderr or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR:"):
            return line.removeprefix("ERROR:").strip()
    return lines[-1] if lines else f"bake exited with {err.return_code}"


def failure_message(trace: BuildTrace, err: DockerException) -> str:
    """One line naming the failing step, after its log tail was printed to stderr."""
    failed = trace.failed()
    if not failed:
        detail = next((t.removeprefix("ERROR:").strip() for t in reversed(trace.text) if t.startswith("ERROR")), "")
        return f"bake failed: {detail or bake_error(err)}"
    vertex = failed[0]
    tail = trace.log_tail(vertex)
    where = f"{vertex.target}: " if vertex.target else ""
    print(f"\n--- last lines of the failing step {where}{vertex.label} ---", file=sys.stderr)
    for line in tail:
        print(f"  {line}", file=sys.stderr)
    print("---", file=sys.stderr, flush=True)
    return f"build failed at {where}{' '.join(vertex.label.split())[:160]}: {vertex.error}"


def failing_step_output(trace: BuildTrace) -> str:
    failed = trace.failed()
    if not failed:
        return "\n".join(trace.text[-LOG_TAIL_LINES:])
    return "\n".join([failed[0].name, failed[0].error, *trace.log_tail(failed[0])])


def image_figures(docker: DockerClient, result: BakeResult, target: str) -> dict[str, Any]:
    """Figures of one built target: steps and cache from the trace, image from metadata and the store."""
    meta = result.metadata.get(target, {})
    name = str(meta.get("image.name", "")).split(",")[0]
    image = dk.inspect_image(docker, name) if name else None
    return {
        "target": target,
        **result.trace.target_figures(target),
        "image": name,
        "image_id": image.id if image else "",
        "digest": meta.get("containerimage.digest", ""),
        "size_bytes": image.size if image else 0,
    }
