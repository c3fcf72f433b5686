"""The bench's goals: a figure against its limit (`Goal`), met or missed, and the maths of the sync turn's goals
(pure; ci/sessions/bench.py prints them): the sync turn against the same edit's rebuild turn and in seconds,
against compose watch's sync+restart of the same edit, and its proof at a percentile of the bench's sync turns."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SYNC_GOAL = 0.35  # a sync turn over the same edit's rebuild turn (`nox -s watch -- --no-sync`), medians
SYNC_LIMIT = 1.0  # seconds: a sync turn of the example app's backend, from the write to the proven line
COMPOSE_MARGIN = 0.15  # seconds a sync turn may take beyond compose watch's sync+restart of the same edit, medians
PROOF_LIMIT, PROOF_PERCENTILE = 0.100, 95  # seconds: a sync's proof, at that percentile of the bench's sync turns
# "Adds nothing to a turn" (issue 37), in seconds: what the live page open in chromium may add to a sync turn's
# median, and a rebuild turn's timeline may take to draw (the median's own resolution on this machine's turns)
NOTHING = 0.05


@dataclass
class Goal:
    case: str
    what: str
    value: float
    goal: float
    shown: str  # the figure as printed
    goal_shown: str = ""  # the goal as printed, when not a plain number

    @property
    def met(self) -> bool:
        return self.value <= self.goal

    def line(self) -> str:
        goal = self.goal_shown or f"{self.goal:g}"
        return f"{self.case}: {self.what} {self.shown} (goal at most {goal}: {'met' if self.met else 'missed'})"

    def data(self) -> dict[str, Any]:
        """As bench.json keeps it."""
        return {"what": self.what, "value": round(self.value, 3), "goal": self.goal, "shown": self.shown,
                "met": self.met}  # fmt: skip


def percentile(samples: Sequence[float], p: float) -> float:
    """The P-th percentile of SAMPLES by nearest rank: the smallest sample that at least P% of them are at or
    below, always one of them (of 10 samples, the 95th is the largest). ValueError when there are none."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def sync_goals(case: str, synced: Sequence[float], rebuilt: Sequence[float]) -> list[Goal]:
    """The sync turn (SYNCED: seconds from the write to the proven line) against the same edit's rebuild turn
    (REBUILT), medians; and in seconds."""
    ours, rebuild = statistics.median(synced), statistics.median(rebuilt)
    return [
        Goal(case, "over the rebuild turn", ours / rebuild, SYNC_GOAL,
             f"{ours:.2f}s / {rebuild:.2f}s = {ours / rebuild:.2f}"),
        Goal(case, "seconds", ours, SYNC_LIMIT, f"{ours:.2f}s", f"{SYNC_LIMIT:g}s"),
    ]  # fmt: skip


def compose_goal(case: str, ours: Sequence[float], compose: Sequence[float]) -> Goal:
    """The sync turn beyond compose watch's sync+restart of the same edit (to its container healthy again), medians."""
    mine, theirs = statistics.median(ours), statistics.median(compose)
    return Goal(case, "beyond compose watch", mine - theirs, COMPOSE_MARGIN,
                f"{mine:.2f}s - {theirs:.2f}s = {mine - theirs:+.2f}s", f"+{COMPOSE_MARGIN:g}s")  # fmt: skip


def proof_goal(case: str, proofs: Sequence[float]) -> Goal:
    """The proof's time (seconds, one per sync turn) at PROOF_PERCENTILE, with every sample."""
    found = percentile(proofs, PROOF_PERCENTILE)
    each = ", ".join(f"{p * 1000:.0f}" for p in proofs)
    shown = f"{found * 1000:.0f} ms of {len(proofs)} turns ({each} ms)"
    return Goal(case, f"proof p{PROOF_PERCENTILE}", found, PROOF_LIMIT, shown, f"{PROOF_LIMIT * 1000:.0f} ms")


def page_goal(case: str, paged: Sequence[float], unpaged: Sequence[float]) -> Goal:
    """The sync turn with watch's page open in chromium beyond the same turn without it, medians."""
    with_page, without = statistics.median(paged), statistics.median(unpaged)
    return Goal(case, "the page open adds", with_page - without, NOTHING,
                f"{with_page:.2f}s - {without:.2f}s = {with_page - without:+.2f}s", f"+{NOTHING:g}s")  # fmt: skip


def drawing_goal(case: str, drawn: Sequence[float], turns: Sequence[float]) -> Goal:
    """A rebuild turn's timeline: the median time its drawing took (its build record's), against the turn's."""
    found = statistics.median(drawn)
    shown = f"{found * 1000:.0f} ms of a {statistics.median(turns):.2f}s turn (median of {len(drawn)})"
    return Goal(case, "its timeline drawn in", found, NOTHING, shown, f"{NOTHING * 1000:.0f} ms")
