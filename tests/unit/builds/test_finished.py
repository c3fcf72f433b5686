"""What a build leaves written down: each target's phases in one line."""

from __future__ import annotations

from ci.builds.bake import TargetBuild
from ci.builds.finished import phases_line


def test_the_phases_line_names_each_phase_in_a_builds_order_with_the_span() -> None:
    built = TargetBuild("backend", 2.8, 8, 6, 0.75, 100, ["[runtime 4/5] COPY backend/ ./backend/"],
                        phases={"steps": 0.15, "image_export": 0.05, "unpack": 0.77, "cache_export": 1.58})  # fmt: skip
    assert (
        phases_line(built) == "backend time: steps 0.1s, image export 0.1s, unpacking 0.8s, cache export 1.6s (of 2.8s)"
    )
    built.phases = {"cache_import": 0.02, "unpack": 0.04}  # a no-op build: nothing worth a line
    assert phases_line(built) == ""
