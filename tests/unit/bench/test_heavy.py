"""ci/bench/heavy.py: the heavy bench's figures as printed (the cases themselves run in `nox -s bench -- --heavy`)."""

from __future__ import annotations

from ci.bench.heavy import HeavyBuild


def test_a_heavy_build_says_where_each_targets_time_went_on_a_line_of_its_own() -> None:
    found = HeavyBuild("H1 cold prod", 270.6, [
        {"target": "backend", "phases": {"steps": 145.6, "image_export": 68.7, "unpack": 28.6}},
        {"target": "frontend", "phases": {"steps": 42.7, "cache_export": 17.3}},
    ])  # fmt: skip
    assert found.phases() == [
        "  backend: steps 145.6s, image export 68.7s, unpacking 28.6s",
        "  frontend: steps 42.7s, cache export 17.3s",
    ]
    assert found.steps_seconds == 145.6 + 42.7 and found.outside_seconds == 68.7 + 28.6 + 17.3
