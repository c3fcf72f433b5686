"""Build args: dev's fresh every run."""

from __future__ import annotations

from datetime import UTC, datetime

from ci.buildargs import dev_build_args


def test_dev_build_args_are_fresh_epoch_seconds_and_iso_utc() -> None:
    now = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)
    assert dev_build_args(now, "abc1234") == {
        "CACHE_BUST": "1795428005",
        "BUILD_DATE": "2026-11-23T10:00:05Z",
        "GIT_COMMIT": "abc1234",
    }
