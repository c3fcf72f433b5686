"""Build args: dev's fresh every run."""

from __future__ import annotations

from datetime import UTC, datetime

from ci.builds.buildargs import BUILD_INFO_ARGS, arg_digests, args_digest, changed_args, dev_build_args, shaping_args


def test_dev_build_args_are_fresh_epoch_seconds_and_iso_utc() -> None:
    now = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)
    assert dev_build_args(now, "abc1234") == {
        "CACHE_BUST": "1795428005",
        "BUILD_DATE": "2026-11-23T10:00:05Z",
        "GIT_COMMIT": "abc1234",
    }


# --- the build args that shape an image: part of its identity -------------------------------------------

ARGS = {"GIT_COMMIT": "abc", "BUILD_DATE": "d", "CACHE_BUST": "1", "SOURCE_DATE_EPOCH": "0", "SOURCE_DIGEST": "s",
        "SOURCE_URL": "https://x", "VITE_API_URL": "/api", "NODE_IMAGE": "node:20"}  # fmt: skip


def test_every_arg_shapes_the_image_but_the_suites_own_build_info() -> None:
    assert shaping_args(ARGS) == {"NODE_IMAGE": "node:20", "VITE_API_URL": "/api"}
    assert set(ARGS) - set(shaping_args(ARGS)) == BUILD_INFO_ARGS


def test_the_digest_follows_every_name_and_value_and_nothing_else() -> None:
    base = args_digest(shaping_args(ARGS))
    assert base == args_digest(shaping_args({**ARGS, "GIT_COMMIT": "def", "BUILD_DATE": "e"}))  # a dev rebuild
    assert base != args_digest(shaping_args({**ARGS, "VITE_API_URL": "https://api.example.test"}))
    assert base != args_digest(shaping_args({**ARGS, "EXTRA": ""}))  # a new arg, even empty
    assert args_digest({"A": "b=c"}) != args_digest({"A=b": "c"})  # names and values never run together
    assert base.startswith("sha256:") and len(base) == 71


def test_the_record_keeps_each_args_digest_never_its_value() -> None:
    digests = arg_digests({"NPM_TOKEN": "s3cret", "VITE_API_URL": "/api"})
    assert set(digests) == {"NPM_TOKEN", "VITE_API_URL"}
    assert "s3cret" not in str(digests) and all(len(d) == 64 for d in digests.values())


def test_the_args_that_changed_are_named_with_where_their_value_comes_from_now() -> None:
    built = arg_digests({"VITE_API_URL": "/api", "NODE_IMAGE": "node:20", "GONE": "x"})
    now = arg_digests({"VITE_API_URL": "https://api.example.test", "NODE_IMAGE": "node:20", "NEW": "y"})
    where = {"VITE_API_URL": ".env", "NEW": "exported"}
    assert changed_args(built, now, lambda name: where.get(name, "")) == [
        "GONE (no longer an arg)", "NEW (a new arg from exported)", "VITE_API_URL (now from .env)",
    ]  # fmt: skip
    assert changed_args(built, built, lambda name: "") == []
