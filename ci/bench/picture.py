"""The bench's figures as a picture: reports/bench.html, one file that opens offline, drawn as a build's timeline
is (ci/core/page.py: inline CSS, no script, nothing fetched, every outside text inert then escaped). Per case,
its samples as dots on its own axis (the median marked) and where its time went as stacked bars: a turn's parts
(watch.json's, ci/bench/watched.py `where_time_went`; compose watch's lines), a prod build's phases per target
(its build JSON's); then each goal as a bar against its limit, green when met, red when missed."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci.bench.goals import Goal
from ci.bench.loop import ComposeCase, LoopCase
from ci.bench.watched import where_time_went
from ci.builds.figures import PHASES
from ci.core import page as html_page
from ci.core.page import pct, text
from ci.core.report import write_atomic

NAME = "bench.html"  # in the reports folder, beside bench.json
PARTS = 7  # colours of a stack's parts, by position (p0 to p6); a part beyond takes the last
READ_BACK = "of which read back"  # where_time_went's part inside the proof: said, not stacked
HEADROOM = 1.1  # a case's axis: its longest sample or stack, and a tenth more for the label
GOAL_HEADROOM = 1.4  # a goal's axis: its value or its limit, whichever is further, and room for the label

STYLE = (
    html_page.STYLE
    + "\n"
    + """
.k i.m{top:0;bottom:0;min-width:2px;width:0;background:#222;border-radius:0}
.d .k i{min-width:9px;height:9px;top:4px;bottom:auto;margin-left:-4px;border-radius:50%;background:#3b7dd8;opacity:.75}
.d .k i.m{min-width:2px;height:auto;top:0;bottom:0;margin-left:0;border-radius:0;background:#222;opacity:1}
.k i.p0{background:#3b7dd8}.k i.p1{background:#2e9e6b}.k i.p2{background:#d08c2e}.k i.p3{background:#8e6bbf}
.k i.p4{background:#c4553b}.k i.p5{background:#6b7fa0}.k i.p6{background:#b5478f}
.s .k i{border-radius:0}.legend{font-size:12px;color:#444;margin:0 0 .4em 34%}.legend i.p0{background:#3b7dd8}
.legend i.p1{background:#2e9e6b}.legend i.p2{background:#d08c2e}.legend i.p3{background:#8e6bbf}
.legend i.p4{background:#c4553b}.legend i.p5{background:#6b7fa0}.legend i.p6{background:#b5478f}
.g .k i{background:#2e7d32}.g.no .k i{background:#c62828}.g .k i.m{background:#222}.g .k i.z{background:#999}
.g .n{font-family:inherit;font-weight:bold;color:#2e7d32}.g.no .n{color:#c62828}
h3.gl{color:#222;font-family:monospace;margin-top:.8em}.note{color:#555;font-size:12px;margin:.2em 0 0 34%}
""".strip()
)


@dataclass(frozen=True)
class Part:
    name: str
    seconds: float


@dataclass(frozen=True)
class Stack:
    """Where a case's time went, as one bar of parts end to end: a turn's (medians), a target's phases."""

    name: str
    parts: list[Part]

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.parts)


@dataclass(frozen=True)
class Figure:
    """A case: its samples (seconds, one per run; the median is its figure) and where its time went."""

    name: str
    samples: list[float]
    stacks: list[Stack] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Picture:
    title: str
    about: str  # the machine, the day
    figures: list[Figure]
    goals: list[Goal]


def turn_stack(case: LoopCase) -> Stack | None:
    """Where CASE's turns went (watch.json's parts, medians); None when watch.json's turns were not read."""
    parts = where_time_went(case.samples, case.turns)
    if not parts:
        return None
    return Stack("each part's median", [Part(n, max(s, 0.0)) for n, s in parts if n != READ_BACK])


def compose_stack(case: ComposeCase) -> Stack | None:
    """Where compose watch's turns went, from the write (medians): until its `Syncing` line, on to its `restarted`
    line, on to the container healthy again."""
    if not case.marks:
        return None
    steps = [
        ("until `Syncing`", [m.syncing for m in case.marks]),
        ("to `restarted`", [m.restarted - m.syncing for m in case.marks]),
        ("to healthy", [m.healthy - m.restarted for m in case.marks]),
    ]
    return Stack("each part's median", [Part(n, max(statistics.median(v), 0.0)) for n, v in steps])


def loop_figures(cases: Sequence[LoopCase], composed: ComposeCase) -> list[Figure]:
    """The loop cases (6, 7, 8, 7s; 7c) as figures: their samples and their turns' parts."""
    found = []
    for case in cases:
        stack = turn_stack(case)
        read = [t.proof_seconds for t in case.turns if t.proof_seconds is not None]
        median = statistics.median(read) * 1000 if read else 0.0
        note = f"of the proof, the read-back and comparison: median {median:.0f} ms" if read else ""
        found.append(Figure(case.name, case.samples, [stack] if stack else [], note))
    if composed.samples:
        stack = compose_stack(composed)
        found.append(Figure(composed.name, composed.samples, [stack] if stack else []))
    else:
        found.append(Figure(composed.name, [], note=f"not measured: {composed.refused}"))
    return found


def phase_stacks(targets: Sequence[Mapping[str, Any]]) -> list[Stack]:
    """A build's phases per target, from its build JSON's targets (`phases`: seconds by PHASES key)."""
    stacks = []
    for t in targets:
        phases = t.get("phases") or {}
        parts = [Part(PHASES.get(k, str(k)), float(s)) for k, s in phases.items() if float(s) > 0]
        stacks.append(Stack(str(t.get("target", "")), parts))
    return stacks


def build_figure(name: str, seconds: float, targets: Sequence[Mapping[str, Any]]) -> Figure:
    """A prod build (one sample) with its targets' phases, which overlap (steps pull and export beside others)."""
    note = "a target's phases overlap one another and the other target's: they can add up to more than the time"
    return Figure(name, [seconds], phase_stacks(targets), note if targets else "")


def page(p: Picture) -> str:
    """P as one HTML document that needs nothing else."""
    met = sum(1 for g in p.goals if g.met)
    parts = [
        f"<h1>{text(p.title)}</h1>",
        f"<p>{text(p.about)}. Each case on its own axis (seconds): its samples as dots, the median as a line, "
        f"and where its time went; then each goal against its limit: {met} of {len(p.goals)} met.</p>",
    ]
    for figure in p.figures:
        parts += _figure(figure)
    if p.goals:
        parts.append("<h2>goals <small>the figure as a bar, the limit as a line</small></h2>")
        for goal in p.goals:
            parts += _goal(goal)
    return html_page.document(p.title, STYLE, parts)


def write(reports: Path, p: Picture) -> Path:
    """reports/bench.html."""
    return write_atomic(reports / NAME, page(p))


def _figure(f: Figure) -> list[str]:
    longest = max([*f.samples, *(s.seconds for s in f.stacks), 0.0])
    span = max(longest * HEADROOM, 0.001)
    tick = html_page.tick_for(span)
    said = f"median {statistics.median(f.samples):.2f}s of {len(f.samples)}" if f.samples else "no sample"
    parts = [f'<section style="--g:{pct(tick, span)}%"><h2>{text(f.name)} <small>{text(said)}</small></h2>']
    if f.samples or f.stacks:
        parts.append(html_page.axis(span, tick))
    if f.samples:
        median = statistics.median(f.samples)
        dots = "".join(html_page.bar(s, s, span) for s in f.samples) + html_page.bar(median, median, span, "m")
        tip = "samples: " + ", ".join(f"{s:.2f}s" for s in f.samples) + f"; median {median:.2f}s"
        shown = f"{median:.2f}s" if len(f.samples) == 1 else f"median {median:.2f}s"
        parts.append(html_page.row("r d", "samples", tip, dots + html_page.label(shown, 0, max(f.samples), span)))
    for stack in f.stacks:
        parts += _stack(stack, span)
    if f.note:
        parts.append(f'<p class="note">{text(f.note)}</p>')
    parts.append("</section>")
    return parts


def _stack(stack: Stack, span: float) -> list[str]:
    at, drawn, legend = 0.0, [], []
    for n, part in enumerate(stack.parts):
        kind = f"p{min(n, PARTS - 1)}"
        drawn.append(html_page.bar(at, at + part.seconds, span, kind))
        legend.append(f'<i class="{kind}"></i>{text(part.name)} {part.seconds:.2f}s')
        at += part.seconds
    tip = f"{stack.name}: " + ", ".join(f"{p.name} {p.seconds:.2f}s" for p in stack.parts)
    label = html_page.label(f"{stack.seconds:.2f}s", 0, stack.seconds, span)
    return [html_page.row("r s", stack.name, tip, "".join(drawn) + label), f'<p class="legend">{"".join(legend)}</p>']


def _goal(goal: Goal) -> list[str]:
    low = min(0.0, goal.value, goal.goal)
    high = max(0.0, goal.value, goal.goal)
    span = (high - low) * GOAL_HEADROOM or 1.0
    zero, value, limit = -low, goal.value - low, goal.goal - low
    drawn = html_page.bar(min(zero, value), max(zero, value), span) + html_page.bar(limit, limit, span, "m")
    if low < 0:  # a figure below zero (a margin beaten): zero marked
        drawn += html_page.bar(zero, zero, span, "m z")
    said = f"limit {goal.goal_shown or f'{goal.goal:g}'}"
    verdict = "met" if goal.met else "missed"
    row = html_page.row(
        f"r g {'ok' if goal.met else 'no'}", verdict, goal.line(),
        drawn + html_page.label(said, min(zero, value, limit), max(value, limit, zero), span),
    )  # fmt: skip
    return [f'<h3 class="gl">{text(goal.line())}</h3>', row]
