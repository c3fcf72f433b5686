"""What a person reads: tables that fit the terminal, and colour for pass, fail and warn on a terminal."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

ELLIPSIS = "…"
GAP = "  "
# ANSI colours by result word; none when the output is not a terminal or NO_COLOR is set (no-color.org).
COLOURS = {"passed": "32", "ok": "32", "healthy": "32", "warned": "33", "warn": "33", "starting": "33"}
COLOURS |= {"skipped": "2", "skip": "2", "unhealthy": "31"}
COLOURS |= dict.fromkeys(("failed", "fail", "error", "interrupted"), "31")


def width(environ: Mapping[str, str] | None = None, stream: TextIO = sys.stdout) -> int | None:
    """Columns to fit: COLUMNS when set, else the terminal's; None (no limit) when the output goes to a
    file or a CI log, where a cut detail would be lost."""
    env = os.environ if environ is None else environ
    raw = env.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) > 20:
        return int(raw)
    return shutil.get_terminal_size().columns if stream.isatty() else None


def colour_on(stream: TextIO = sys.stdout, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return "NO_COLOR" not in env and env.get("TERM") != "dumb" and stream.isatty()


def paint(text: str, result: str, *, on: bool) -> str:
    code = COLOURS.get(result)
    return f"\033[{code}m{text}\033[0m" if on and code else text


def shorten(text: str, room: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= room else flat[: max(room - 1, 0)] + ELLIPSIS


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    columns: int | None = None,
    results: int | None = None,
    colour: bool = False,
) -> str:
    """A plain-text table with aligned columns, no wider than COLUMNS (default: unlimited). The widest
    columns give way first, their cells shortened with an ellipsis; the full text belongs in the JSON and
    JUnit files. With COLOUR, the column RESULTS (an index) is painted by its word."""
    cells = [[" ".join(str(h).split()) for h in headers]] + [[" ".join(str(c).split()) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if columns:
        widths = _fit(widths, columns - len(GAP) * (len(headers) - 1))

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
