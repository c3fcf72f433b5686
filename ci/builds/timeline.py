"""A build as a picture, finished or failed: reports/build-PROFILE.html, one file that opens offline. Inline CSS
and bars drawn here in HTML: no script, no font, nothing fetched (its Content-Security-Policy forbids any). Per
target, its steps on the bake's time axis (run or cached, each one's time; a failed build's failing step red,
with its error, the cause on top), where its time went phase by phase (PHASES, as ci/builds/figures.py
measures them), and below, the table the terminal shows. Every text from outside (a
target's or a step's name, a table cell) is made inert (ci/core/inert.py: secrets redacted, control characters
shown as escapes, capped), then HTML-escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ci.builds.bake import TargetBuild
from ci.builds.figures import PHASES, own_span, phase_spans
from ci.builds.trace import BuildTrace, parse_time
from ci.core.inert import inert

NAME_CAP = 300  # a text as the page shows it (a step's name: the row cuts it to its width, its tooltip shows it)
# The axis' ticks: the first of these, in seconds, that cuts it into at most MAX_TICKS.
TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
MAX_TICKS = 10
# Where a row's time goes: after its bars when they end before LABEL_AFTER (% of the axis), else before them
# when they start after LABEL_BEFORE, else inside them.
LABEL_AFTER = 85.0
LABEL_BEFORE = 10.0


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
        state = f"failed at {trace.step_name(failed)}" if failed else (
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

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .3em}h2 small{font-weight:normal;color:#555}
.r{display:flex;align-items:center;height:18px;font-size:12px}.r:hover{background:#f3f3f3}
.n{flex:0 0 34%;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding-right:8px;font-family:monospace}
.k{flex:1;position:relative;height:100%;
background:linear-gradient(to right,#e4e4e4 1px,transparent 1px) 0 0/var(--g) 100%}
.k i{position:absolute;top:3px;bottom:3px;min-width:2px;background:#3b7dd8;border-radius:2px}
.c .k i{background:repeating-linear-gradient(45deg,#bbb 0 3px,#ddd 3px 6px)}
.x .k i{background:#c62828}.x .n{color:#c62828}
.f{border-left:4px solid #c62828;background:#fdecea;padding:.5em .8em;font-family:monospace;white-space:pre-wrap}
.k b{position:absolute;font-weight:normal;color:#444;white-space:nowrap;margin-left:4px}
.k b.l{margin:0;transform:translateX(calc(-100% - 4px))}.k b.in{color:#fff}
.a{color:#666}.a .k{background:none}.a .k b{margin-left:0;transform:translateX(-50%)}
.p .n{font-family:inherit;color:#333}
.ph-cache_import i{background:#8e6bbf}.ph-pull i{background:#d08c2e}.ph-image_export i{background:#2e9e6b}
.ph-unpack i{background:#c4553b}.ph-push i{background:#b5478f}.ph-cache_export i{background:#6b7fa0}
h3{font-size:12px;margin:.5em 0 .1em;color:#555;font-weight:normal}
.legend i{display:inline-block;width:1.5em;height:.8em;margin:0 .3em 0 1em;border-radius:2px;background:#3b7dd8}
.legend .c i{background:repeating-linear-gradient(45deg,#bbb 0 3px,#ddd 3px 6px)}
table{border-collapse:collapse;margin-top:1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}td{font-family:monospace}
""".strip()

# Nothing is fetched or run: no script, no image, no font, no connection; inline style only.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def page(t: Timeline) -> str:
    """T as one HTML document that needs nothing else."""
    tick = next((s for s in TICKS if t.span / s <= MAX_TICKS), TICKS[-1])
    title = _text(f"build {t.profile}")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        f"<title>{title}</title><style>{STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        *([f'<p class="f">failed: {_text(t.failure)}</p>'] if t.failure else []),
        f"<p>{len(t.lanes)} target{'' if len(t.lanes) == 1 else 's'}, baked in {t.seconds:.1f}s; the axis: seconds "
        "since the bake began, on the "
        'engine\'s clock.<span class="legend"><i></i>ran<span class="c"><i></i>cached</span></span></p>',
    ]
    grid = f"--g:{_pct(tick, t.span)}%"
    for lane in t.lanes:
        parts += _lane_html(lane, t.span, tick, grid)
    parts.append(_table(t.table))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _lane_html(lane: Lane, span: float, tick: float, grid: str) -> list[str]:
    cached = sum(1 for s in lane.steps if s.cached)
    head = f"{lane.seconds:.1f}s, {len(lane.steps)} steps, {cached} cached"
    parts = [f'<section style="{grid}"><h2>{_text(lane.target)} <small>{head}</small></h2>', _axis(span, tick)]
    for step in lane.steps:
        said = "cached" if step.earlier else f"{'cached' if step.cached else 'ran'} {step.bar.seconds:.2f}s"
        tip = f"{step.name}\n{said}" + ("" if step.earlier else f", from {step.bar.start:.2f}s to {step.bar.end:.2f}s")
        label = "cached" if step.cached else _seconds(step.bar.seconds)
        kind = "r s c" if step.cached else "r s"
        if step.error:
            tip, kind = f"{tip}\n{step.error}", "r s x"
            label = "cancelled" if step.error == "cancelled" else f"failed after {_seconds(step.bar.seconds)}"
        parts.append(_row(kind, step.name, tip, [step.bar], label, span))
    parts.append("<h3>phases</h3>")
    for phase in lane.phases:
        name = PHASES[phase.key]
        tip = f"{name} {phase.seconds:.2f}s: " + ", ".join(f"{b.start:.2f}s to {b.end:.2f}s" for b in phase.bars)
        parts.append(_row(f"r p ph-{phase.key}", name, tip, phase.bars, _seconds(phase.seconds), span))
    parts.append("</section>")
    return parts


def _row(kind: str, name: str, tip: str, bars: list[Bar], label: str, span: float) -> str:
    """One line of the chart, of class KIND: NAME, then BARS on the axis and LABEL where it fits: after the
    last bar, before the first when that ends near the axis' end, inside it when it spans nearly all; TIP on
    hover."""
    drawn = "".join(f'<i style="left:{_pct(b.start, span)}%;width:{_pct(b.seconds, span)}%"></i>' for b in bars)
    start, end = (_pct(bars[0].start, span), _pct(bars[-1].end, span)) if bars else (0.0, 0.0)
    if end <= LABEL_AFTER:
        said = f'<b style="left:{end}%">'
    elif start >= LABEL_BEFORE:
        said = f'<b class="l" style="left:{start}%">'
    else:
        said = f'<b class="in" style="left:{start}%">'
    return (
        f'<div class="{_text(kind)}" title="{_text(tip)}"><span class="n">{_text(name)}</span>'
        f'<span class="k">{drawn}{said}{_text(label)}</b></span></div>'
    )


def _axis(span: float, tick: float) -> str:
    count = int(span / tick + 1e-9)
    ticks = "".join(f'<b style="left:{_pct(i * tick, span)}%">{_tick(i * tick)}</b>' for i in range(count + 1))
    return f'<div class="r a"><span class="n"></span><span class="k">{ticks}</span></div>'


def _table(table: Table) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in table.headers)
    rows = "".join("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _pct(seconds: float, span: float) -> float:
    """SECONDS as a share of the axis, in percent (2 decimals), within it."""
    return round(min(max(seconds / span * 100, 0.0), 100.0), 2)


def _seconds(seconds: float) -> str:
    """`2.5s` under a minute, `1m05s` from one."""
    if seconds < 59.95:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def _tick(seconds: float) -> str:
    """An axis tick: `0.5s`, `30s`, `2m00s`."""
    return f"{round(seconds, 1):g}s" if seconds < 60 else _seconds(seconds)


def _text(value: object) -> str:
    """VALUE as the page shows it: inert (secrets redacted, control characters as escapes, capped), escaped for
    HTML text and attribute values alike."""
    return html.escape(inert(str(value), NAME_CAP), quote=True)
