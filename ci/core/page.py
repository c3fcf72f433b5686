"""What the suite's pictures share: one HTML file that opens offline (a build's timeline, ci/builds/timeline.py;
the bench's figures, ci/bench/picture.py). Inline CSS and bars drawn in HTML: no script, no font, nothing fetched
(POLICY forbids any). A row is a name, then bars on a time axis and a label where it fits; every text from
outside is made inert (ci/core/inert.py: secrets redacted, control characters shown as escapes, capped), then
HTML-escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable

from ci.core.inert import inert

NAME_CAP = 300  # a text as a page shows it (a row cuts a name to its width, its tooltip shows it)
# The axis' ticks: the first of these, in seconds, that cuts it into at most MAX_TICKS.
TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
MAX_TICKS = 10
# Where a row's label goes: after its bars when they end before LABEL_AFTER (% of the axis), else before them
# when they start after LABEL_BEFORE, else inside them.
LABEL_AFTER = 85.0
LABEL_BEFORE = 10.0

# Nothing is fetched or run: no script, no image, no font, no connection; inline style only.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

# The page, its headings, the rows (.r: a name .n, an axis .k with its bars i and label b), the axis row (.a),
# the legend and the table.
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .3em}h2 small{font-weight:normal;color:#555}
.r{display:flex;align-items:center;height:18px;font-size:12px}.r:hover{background:#f3f3f3}
.n{flex:0 0 34%;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding-right:8px;font-family:monospace}
.k{flex:1;position:relative;height:100%;
background:linear-gradient(to right,#e4e4e4 1px,transparent 1px) 0 0/var(--g) 100%}
.k i{position:absolute;top:3px;bottom:3px;min-width:2px;background:#3b7dd8;border-radius:2px}
.k b{position:absolute;font-weight:normal;color:#444;white-space:nowrap;margin-left:4px}
.k b.l{margin:0;transform:translateX(calc(-100% - 4px))}.k b.in{color:#fff}
.a{color:#666}.a .k{background:none}.a .k b{margin-left:0;transform:translateX(-50%)}
h3{font-size:12px;margin:.5em 0 .1em;color:#555;font-weight:normal}
.legend i{display:inline-block;width:1.5em;height:.8em;margin:0 .3em 0 1em;border-radius:2px;background:#3b7dd8}
table{border-collapse:collapse;margin-top:1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}td{font-family:monospace}
""".strip()


def document(title: str, style: str, body: Iterable[str]) -> str:
    """A page titled TITLE (from outside: made inert) with STYLE (this code's) and BODY (HTML this code made), as
    one document that needs nothing else."""
    return "\n".join([
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        f"<title>{text(title)}</title><style>{style}</style></head><body>",
        *body,
        "</body></html>\n",
    ])  # fmt: skip


def tick_for(span: float) -> float:
    """The axis' tick for SPAN seconds."""
    return next((s for s in TICKS if span / s <= MAX_TICKS), TICKS[-1])


def axis(span: float, tick: float) -> str:
    """The axis row: a label every TICK seconds of SPAN."""
    count = int(span / tick + 1e-9)
    ticks = "".join(f'<b style="left:{pct(i * tick, span)}%">{_tick(i * tick)}</b>' for i in range(count + 1))
    return f'<div class="r a"><span class="n"></span><span class="k">{ticks}</span></div>'


def row(kind: str, name: str, tip: str, drawn: str) -> str:
    """One line of a chart, of class KIND: NAME, then DRAWN (bars and label, this code's HTML) on the axis; TIP on
    hover."""
    return (
        f'<div class="{text(kind)}" title="{text(tip)}"><span class="n">{text(name)}</span>'
        f'<span class="k">{drawn}</span></div>'
    )


def bar(start: float, end: float, span: float, kind: str = "") -> str:
    """A bar from START to END seconds of SPAN (of class KIND)."""
    shown = f' class="{text(kind)}"' if kind else ""
    return f'<i{shown} style="left:{pct(start, span)}%;width:{pct(end - start, span)}%"></i>'


def label(said: str, start: float, end: float, span: float) -> str:
    """SAID beside the bars that run from START to END seconds of SPAN: after them, before them when they end near
    the axis' end, inside them when they span nearly all."""
    first, last = pct(start, span), pct(end, span)
    if last <= LABEL_AFTER:
        return f'<b style="left:{last}%">{text(said)}</b>'
    if first >= LABEL_BEFORE:
        return f'<b class="l" style="left:{first}%">{text(said)}</b>'
    return f'<b class="in" style="left:{first}%">{text(said)}</b>'


def pct(seconds: float, span: float) -> float:
    """SECONDS as a share of the axis, in percent (2 decimals), within it."""
    return round(min(max(seconds / span * 100, 0.0), 100.0), 2)


def duration(seconds: float) -> str:
    """`2.5s` under a minute, `1m05s` from one."""
    if seconds < 59.95:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def _tick(seconds: float) -> str:
    """An axis tick: `0.5s`, `30s`, `2m00s`."""
    return f"{round(seconds, 1):g}s" if seconds < 60 else duration(seconds)


def text(value: object) -> str:
    """VALUE as the page shows it: inert (secrets redacted, control characters as escapes, capped), escaped for
    HTML text and attribute values alike."""
    return html.escape(inert(str(value), NAME_CAP), quote=True)
