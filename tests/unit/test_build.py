"""The build phase: a dev build's values, the same for dev and watch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ci.git import Commit
from ci.phases.build import TAG, dev_values
from ci.settings import load_settings


def test_a_dev_build_is_given_fresh_values_from_one_moment_and_no_registry_cache(tmp_path: Path) -> None:
    settings = load_settings({}, root=tmp_path)  # not a git tree: the commit is unknown
    values = dev_values(settings, datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    fresh = {"CACHE_BUST": "1795428000", "BUILD_DATE": "2026-11-23T10:00:00Z"}
    assert TAG == "dev"
    assert values.variables == {
        "PROJECT": settings.project, "TAG": "dev", "REGISTRY_CACHE": "false", **fresh, "GIT_COMMIT": "unknown",
    }  # fmt: skip
    dirty = Commit("abc1234", "abc1234" + "0" * 33, 0, True)
    assert values.build_args(dirty) == {**fresh, "GIT_COMMIT": "abc1234-dirty"}
    assert values.build_args(None) == {**fresh, "GIT_COMMIT": "unknown"}
