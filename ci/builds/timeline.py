"""A build as a picture, finished or failed: reports/build-PROFILE.html, one file that opens offline. Inline CSS
and bars drawn here in HTML: no script, no font, nothing fetched (its Content-Security-Policy forbids any). Per
target, its steps on the bake's time axis (run or cached, each one's time; a failed build's failing step red,
with its error, the cause on top), where its time went phase by phase (PHASES, as ci/builds/figures.py
measures them), and below, the table the terminal shows. Every text from outside (a
target's or a step's name, a table cell) is made inert (ci/core/inert.py: secrets redacted, control characters
shown as escapes, capped), then HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ci.builds.bake import TargetBuild
from ci.builds.figures import PHASES, own_span, phase_spans
from ci.builds.trace import BuildTrace, parse_time
from ci.core import page as html_page
from ci.core.page import duration, pct, text

STATE_ROOM = 60  # a failed step's command in the table of a failed build: its row above shows it whole


@dataclass(frozen=True)
class Bar:
    """A stretch of the time axis, in seconds since the bake began."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Step:
    """A step of a target: run in this bake, or taken from a cache. EARLIER: BuildKit handed it on from an
    earlier build, with that build's times (or gave it none): drawn at the target's start, with no time."""

    name: str
    bar: Bar
    cached: bool
    earlier: bool = False
    error: str = ""  # the step failed (its error, as BuildKit said it), or was cancelled by another's failure


@dataclass(frozen=True)
class Phase:
    key: str  # one of PHASES
    bars: list[Bar]

    @property
    def seconds(self) -> float:
        return sum(b.seconds for b in self.bars)


@dataclass(frozen=True)
class Lane:
    """A target: its own span's seconds (the table's time), its steps in the order they began, its phases."""

    target: str
    seconds: float
    steps: list[Step]
    phases: list[Phase]


@dataclass(frozen=True)
class Table:
    """The table of targets the terminal shows after a build (ci/builds/finished.py)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Timeline:
    profile: str
    seconds: float  # the bake's, as the session timed it
    span: float  # the axis: from the bake's start to its last target's end, on the engine's clock
    lanes: list[Lane]
    table: Table
    failure: str = ""  # a failed build's cause, as the session said it: the page opens with it


def timeline(profile: str, trace: BuildTrace, targets: Sequence[TargetBuild], seconds: float, table: Table) -> Timeline:
    """The timeline of a bake of PROFILE that took SECONDS: each of TARGETS' steps and phases from TRACE, within
    its span as its figures measure it (never more than SECONDS), on one axis from the bake's start."""
    return _timeline(profile, trace, [(t.target, t.wall_seconds) for t in targets], seconds, table)


def failed_timeline(profile: str, trace: BuildTrace, seconds: float, cause: str) -> Timeline:
    """The timeline of a bake of PROFILE that failed after SECONDS with CAUSE: each target's steps as far as
    they went (the failing one marked with its error, those it cancelled too), its phases, a table of what
    each target got to."""
    walls = []
    for name in trace.targets:
        _, begin, end = own_span(trace, name, seconds)
        walls.append((name, end - begin))
    rows = []
    for name, wall in walls:
        steps = trace.steps(name)
        failed = next((v for v in steps if v.error and not v.cancelled), None)
        state = f"failed at {trace.step_name(failed, STATE_ROOM)}" if failed else (
            "cancelled" if any(v.cancelled for v in steps) else "done" if steps else "not started")  # fmt: skip
        rows.append((name, f"{wall:.1f}s", len(steps), sum(1 for v in steps if trace.hit(v)), state))
    table = Table(("target", "time", "steps", "cached", "state"), rows)
    return replace(_timeline(profile, trace, walls, seconds, table), failure=cause)


def _timeline(
    profile: str, trace: BuildTrace, walls: list[tuple[str, float]], seconds: float, table: Table
) -> Timeline:
    spans = [own_span(trace, name, seconds) for name, _ in walls]
    began = [b for mine, b, _ in spans if mine] + ([trace.began] if trace.began is not None else [])
    origin = min(began, default=0.0)
    end = max((e for mine, _, e in spans if mine), default=origin)
    lanes = [_lane(trace, name, wall, origin, seconds) for name, wall in walls]
    return Timeline(profile, seconds, max(end - origin, 0.001), lanes, table)


def _lane(trace: BuildTrace, target: str, wall: float, origin: float, limit: float) -> Lane:
    _, begin, _ = own_span(trace, target, limit)
    first = max(begin - origin, 0.0)
    steps = []
    for v in trace.steps(target):
        name = trace.step_name(v)
        error = ("cancelled" if v.cancelled else v.error) if v.error else ""
        if (trace.reused(v) or not v.started) and not error:
            steps.append(Step(name, Bar(first, first), cached=trace.hit(v), earlier=True))
            continue
        start = parse_time(v.started) - origin if v.started else first
        end = parse_time(v.completed) - origin if v.completed else start
        steps.append(Step(name, Bar(start, max(start, end)), cached=trace.hit(v), error=error))
    steps.sort(key=lambda s: (s.bar.start, s.bar.end))
    phases = [
        Phase(key, [Bar(a - origin, b - origin) for a, b in found])
        for key, found in phase_spans(trace, target, limit).items()
    ]
    return Lane(target, wall, steps, phases)


# --- the page -------------------------------------------------------------------------------------------

# The timeline's own, beyond the page's (ci/core/page.py): a step cached or failed, the phases' colours.
STYLE = (
    html_page.STYLE
    + "\n"
    + """
.c .k i{background:repeating-linear-gradient(45deg,#bbb 0 3px,#ddd 3px 6px)}
.x .k i{background:#c62828}.x .n{color:#c62828}
.f{border-left:4px solid #c62828;background:#fdecea;padding:.5em .8em;font-family:monospace;white-space:pre-wrap}
.p .n{font-family:inherit;color:#333}
.ph-cache_import i{background:#8e6bbf}.ph-pull i{background:#d08c2e}.ph-image_export i{background:#2e9e6b}
.ph-unpack i{background:#c4553b}.ph-push i{background:#b5478f}.ph-cache_export i{background:#6b7fa0}
.legend .c i{background:repeating-linear-gradient(45deg,#bbb 0 3px,#ddd 3px 6px)}
""".strip()
)


def page(t: Timeline) -> str:
    """T as one HTML document that needs nothing else."""
    tick = html_page.tick_for(t.span)
    title = f"build {t.profile}"
    parts = [
        f"<h1>{text(title)}</h1>",
        *([f'<p class="f">failed: {text(t.failure)}</p>'] if t.failure else []),
        f"<p>{len(t.lanes)} target{'' if len(t.lanes) == 1 else 's'}, baked in {t.seconds:.1f}s; the axis: seconds "
        "since the bake began, on the "
        'engine\'s clock.<span class="legend"><i></i>ran<span class="c"><i></i>cached</span></span></p>',
    ]
    grid = f"--g:{pct(tick, t.span)}%"
    for lane in t.lanes:
        parts += _lane_html(lane, t.span, tick, grid)
    parts.append(_table(t.table))
    return html_page.document(title, STYLE, parts)


def _lane_html(lane: Lane, span: float, tick: float, grid: str) -> list[str]:
    cached = sum(1 for s in lane.steps if s.cached)
    head = f"{lane.seconds:.1f}s, {len(lane.steps)} steps, {cached} cached"
    parts = [f'<section style="{grid}"><h2>{text(lane.target)} <small>{head}</small></h2>', html_page.axis(span, tick)]
    for step in lane.steps:
        said = "cached" if step.earlier else f"{'cached' if step.cached else 'ran'} {step.bar.seconds:.2f}s"
        tip = f"{step.name}\n{said}" + ("" if step.earlier else f", from {step.bar.start:.2f}s to {step.bar.end:.2f}s")
        label = "cached" if step.cached else duration(step.bar.seconds)
        kind = "r s c" if step.cached else "r s"
        if step.error:
            tip, kind = f"{tip}\n{step.error}", "r s x"
            label = "cancelled" if step.error == "cancelled" else f"failed after {duration(step.bar.seconds)}"
        parts.append(_row(kind, step.name, tip, [step.bar], label, span))
    parts.append("<h3>phases</h3>")
    for phase in lane.phases:
        name = PHASES[phase.key]
        tip = f"{name} {phase.seconds:.2f}s: " + ", ".join(f"{b.start:.2f}s to {b.end:.2f}s" for b in phase.bars)
        parts.append(_row(f"r p ph-{phase.key}", name, tip, phase.bars, duration(phase.seconds), span))
    parts.append("</section>")
    return parts


def _row(kind: str, name: str, tip: str, bars: list[Bar], label: str, span: float) -> str:
    """One line of the chart: BARS on the axis and LABEL where it fits (ci/core/page.py)."""
    drawn = "".join(html_page.bar(b.start, b.end, span) for b in bars)
    start, end = (bars[0].start, bars[-1].end) if bars else (0.0, 0.0)
    return html_page.row(kind, name, tip, drawn + html_page.label(label, start, end, span))


def _table(table: Table) -> str:
    head = "".join(f"<th>{text(h)}</th>" for h in table.headers)
    rows = "".join("<tr>" + "".join(f"<td>{text(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
