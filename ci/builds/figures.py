"""Each target's figures from a bake's trace (ci/builds/trace.py): its steps and cache use, its own span on the
engine's clock, where its time went phase by phase, the bytes of build context it sent and of blobs it pulled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci.builds.trace import BLOB, BuildTrace, Vertex, parse_time

# Where a target's time goes, in the order a build meets them, and how each is said on screen.
PHASES = {
    "cache_import": "cache import",
    "pull": "pulling",
    "steps": "steps",
    "image_export": "image export",
    "unpack": "unpacking",
    "push": "push",
    "cache_export": "cache export",
}


def target_figures(trace: BuildTrace, target: str, limit: float | None = None) -> dict[str, Any]:
    """TARGET's steps and cache use, and its own span: from its first to its last vertex that ran in this
    bake, never more than LIMIT (the bake's seconds)."""
    steps = trace.steps(target)
    cached = sum(1 for v in steps if trace.hit(v))
    _, begin, end = own_span(trace, target, limit)
    return {
        "wall_seconds": round(end - begin, 3),
        "steps": len(steps),
        "cached_steps": cached,
        "cache_hit_ratio": round(cached / len(steps), 3) if steps else 0.0,
        "context_transferred_bytes": context_bytes(trace, target),
        "ran_steps": [trace.step_name(v)[:100] for v in steps if not trace.hit(v)],
        "phases": phases(trace, target, limit),
        "pulled_bytes": pulled_bytes(trace, target),
    }


def own_span(trace: BuildTrace, target: str, limit: float | None = None) -> tuple[list[Vertex], float, float]:
    """TARGET's vertexes that ran in this bake, and its span: from the first one's start to the last one's
    end, never more than LIMIT seconds; ([], 0, 0) when none ran."""
    mine = [v for v in trace.vertexes.values() if v.target == target and v.started and not trace.reused(v)]
    starts = [parse_time(v.started) for v in mine if v.started]
    if not starts:
        return [], 0.0, 0.0
    begin = min(starts)
    end = max([parse_time(v.completed) for v in mine if v.completed], default=begin)
    if limit is not None:
        end = min(end, begin + limit)
    return mine, begin, end


def context_bytes(trace: BuildTrace, target: str) -> int:
    """Bytes of build context sent for TARGET (BuildKit sends only what changed since its last build)."""
    return sum(
        v.transferred
        for v in trace.vertexes.values()
        if v.name.endswith("load build context") and (v.target == target or len(trace.targets) == 1)
    )


def pulled_bytes(trace: BuildTrace, target: str) -> int:
    """Bytes TARGET fetched from registries in this bake (base image layers, cache blobs), each blob once."""
    blobs: dict[str, int] = {}
    for v in trace.vertexes.values():
        if v.target == target:
            blobs.update(v.pulled)
    return sum(blobs.values())


def phases(trace: BuildTrace, target: str, limit: float | None = None) -> dict[str, float]:
    """Where TARGET's time went, phase by phase (PHASES), from BuildKit's own records of this bake: each
    the union of its intervals, so parallel steps count once, within the target's span as
    target_figures measures it (never more than LIMIT). A phase that took no time is left out."""
    found = {
        phase: sum(stop - start for start, stop in spans) for phase, spans in phase_spans(trace, target, limit).items()
    }
    return {phase: round(seconds, 3) for phase, seconds in found.items() if seconds >= 0.001}


def phase_spans(trace: BuildTrace, target: str, limit: float | None = None) -> dict[str, list[tuple[float, float]]]:
    """TARGET's phases (PHASES, in their order) as intervals on the engine's clock: each phase's own merged
    (overlaps once) and cut to the target's span (never more than LIMIT); a phase with none left out."""
    mine, begin, end = own_span(trace, target, limit)
    spans: dict[str, list[tuple[float, float]]] = {}
    for v in mine:
        if v.is_step and not v.is_source and not trace.hit(v):
            spans.setdefault("steps", []).append(_interval(v.started, v.completed))
        elif v.label.startswith("importing cache manifest"):
            spans.setdefault("cache_import", []).append(_interval(v.started, v.completed))
        elif v.label.startswith("exporting cache"):
            spans.setdefault("cache_export", []).append(_interval(v.started, v.completed))
        for task, (started, completed) in v.tasks.items():
            phase = task_phase(task)
            if phase:
                spans.setdefault(phase, []).append(_interval(started, completed))
    found = {phase: _union(spans.get(phase, []), begin, end) for phase in PHASES}
    return {phase: merged for phase, merged in found.items() if merged}


def phases_text(phases: Mapping[str, float]) -> str:
    """`steps 0.2s, image export 0.1s, unpacking 0.8s`: the phases that show at a tenth of a second."""
    return ", ".join(
        f"{PHASES.get(phase, phase)} {seconds:.1f}s" for phase, seconds in phases.items() if seconds >= 0.05
    )


def task_phase(task: str) -> str | None:
    """The phase of a sub-task: downloading a layer, compressing and writing the image ("exporting layers", its
    manifest and config), unpacking layers or the image into the store (or sending it as a tarball to be
    loaded), pushing it."""
    if BLOB.match(task):
        return "pull"  # a layer's download: a base image's, or the registry cache's for a cached step
    if task.startswith(("unpacking to", "sending tarball", "loading layer", "extracting sha256:")):
        return "unpack"
    if task.startswith("pushing"):
        return "push"
    if task.startswith(("exporting layers", "exporting manifest", "exporting config", "exporting attestation")):
        return "image_export"
    return None


def _interval(started: str | None, completed: str | None) -> tuple[float, float]:
    """An interval on the engine's clock; one never started is empty, one never completed ends at once."""
    if not started:
        return 0.0, 0.0
    begin = parse_time(started)
    return begin, (parse_time(completed) if completed else begin)


def _union(spans: list[tuple[float, float]], begin: float, end: float) -> list[tuple[float, float]]:
    """SPANS within [BEGIN, END], merged: each stretch of the clock once, in order."""
    merged: list[tuple[float, float]] = []
    reached = begin
    for start, stop in sorted(spans):
        start, stop = max(start, reached), min(stop, end)
        if stop > start:
            if merged and merged[-1][1] == start:
                merged[-1] = (merged[-1][0], stop)
            else:
                merged.append((start, stop))
            reached = stop
    return merged
