"""Case 11's figure: what signing and the attestations add to a warm push, medians against medians."""

from __future__ import annotations

from ci.bench.release import GOAL, PushCase


def test_the_time_added_is_the_signed_pushes_median_less_the_bare_ones() -> None:
    case = PushCase(bare=[10.0, 30.0, 11.0], signed=[19.0, 18.0, 60.0])
    assert case.added == 19.0 - 11.0
    goal = case.goal()
    assert goal.met and goal.goal == GOAL
    assert goal.shown == "+8.0s (19.0s against 11.0s)"
    assert "goal at most 10s: met" in goal.line()


def test_more_than_ten_seconds_added_misses_the_goal() -> None:
    assert not PushCase(bare=[5.0], signed=[15.5]).goal().met
