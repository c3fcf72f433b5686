"""ci/bench/goals.py: a goal met or missed as printed, the percentile, and the sync turn's goals' maths."""

from __future__ import annotations

import pytest

from ci.bench.goals import (
    COMPOSE_MARGIN,
    NOTHING,
    PROOF_LIMIT,
    SYNC_GOAL,
    SYNC_LIMIT,
    Goal,
    compose_goal,
    drawing_goal,
    page_goal,
    percentile,
    proof_goal,
    sync_goals,
)


def test_a_goal_says_its_figure_its_limit_and_whether_it_was_met() -> None:
    goal = Goal("H2 fresh runner, backend commit", "seconds", 56.3, 60.0, "56.3s", "60s")
    assert goal.line() == "H2 fresh runner, backend commit: seconds 56.3s (goal at most 60s: met)"
    assert Goal("c", "ratio", 0.36, 0.35, "0.36").line() == "c: ratio 0.36 (goal at most 0.35: missed)"
    assert Goal("c", "ratio", 0.35, 0.35, "0.35").met  # at the limit: met, as "at most" says


def test_the_percentile_is_by_nearest_rank_always_one_of_the_samples() -> None:
    ten = [0.05, 0.01, 0.02, 0.03, 0.04, 0.06, 0.07, 0.08, 0.09, 0.30]
    assert percentile(ten, 95) == 0.30  # of ten, the 95th is the largest: one slow proof is not averaged away
    assert percentile(ten, 90) == 0.09
    assert percentile(ten, 50) == 0.05
    assert percentile([0.2], 95) == 0.2
    assert percentile(list(range(1, 21)), 95) == 19  # 20 samples: the 19th
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0  # never below the first rank
    with pytest.raises(ValueError):
        percentile([], 95)


def test_the_sync_turn_is_held_to_the_rebuild_turns_median_and_to_a_second() -> None:
    ratio, seconds = sync_goals("7s", [0.6, 0.7, 0.5, 0.9, 0.6], [2.0, 1.9, 2.1, 2.2, 1.8])
    assert ratio.value == pytest.approx(0.6 / 2.0) and ratio.goal == SYNC_GOAL and ratio.met
    assert ratio.shown == "0.60s / 2.00s = 0.30"
    assert seconds.value == 0.6 and seconds.goal == SYNC_LIMIT and seconds.met
    slow, over = sync_goals("7s", [1.2, 1.1, 1.3], [3.0, 3.0, 3.0])
    assert not slow.met and not over.met  # 0.37 of the rebuild, and over a second


def test_the_sync_turn_against_compose_is_a_difference_of_medians_within_the_margin() -> None:
    goal = compose_goal("7s against 7c", [0.70, 0.72, 0.69], [0.60, 0.55, 0.58])
    assert goal.value == pytest.approx(0.70 - 0.58) and goal.goal == COMPOSE_MARGIN and goal.met
    assert goal.shown == "0.70s - 0.58s = +0.12s" and goal.goal_shown == "+0.15s"
    assert not compose_goal("7s", [0.9], [0.7]).met
    faster = compose_goal("7s", [0.4], [0.6])
    assert faster.met and faster.shown.endswith("= -0.20s")


def test_the_proof_goal_shows_its_percentile_and_every_sample_in_milliseconds() -> None:
    goal = proof_goal("7s", [0.012, 0.015, 0.011, 0.013, 0.140, 0.012, 0.014, 0.011, 0.012, 0.013])
    assert goal.value == 0.140 and goal.goal == PROOF_LIMIT and not goal.met
    assert goal.line() == (
        "7s: proof p95 140 ms of 10 turns (12, 15, 11, 13, 140, 12, 14, 11, 12, 13 ms) (goal at most 100 ms: missed)"
    )
    assert goal.data() == {"what": "proof p95", "value": 0.14, "goal": PROOF_LIMIT, "shown": goal.shown, "met": False}


def test_the_page_open_adds_at_most_the_medians_resolution_to_a_sync_turn() -> None:
    goal = page_goal("7p against 7s", [1.24, 1.20, 1.30], [1.21, 1.19, 1.25])
    assert goal.value == pytest.approx(1.24 - 1.21) and goal.goal == NOTHING and goal.met
    assert goal.shown == "1.24s - 1.21s = +0.03s" and goal.goal_shown == "+0.05s"
    assert not page_goal("7p", [1.4], [1.2]).met


def test_a_timelines_drawing_is_its_median_against_the_turns() -> None:
    goal = drawing_goal("7 and 8", [0.004, 0.006, 0.120], [2.0, 3.0, 4.0])
    assert goal.value == 0.006 and goal.met
    assert goal.line() == "7 and 8: its timeline drawn in 6 ms of a 3.00s turn (median of 3) (goal at most 50 ms: met)"
