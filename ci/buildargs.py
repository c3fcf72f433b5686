"""The build args a target is given, from its identity: dev's fresh every run, prod's those of the commit
that last changed its inputs (the same for every build of it); the build date as ISO 8601 UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ci.git import Commit


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dev_build_args(now: datetime, commit: str) -> dict[str, str]:
    """Fresh values every run: a dev build never reuses the build-info layers."""
    return {"CACHE_BUST": str(int(now.timestamp())), "BUILD_DATE": utc_iso(now), "GIT_COMMIT": commit}


def prod_build_args(commit: Commit | None, now: datetime) -> dict[str, str]:
    """The same values for every build of a clean commit, so that its builds hit the cache all the way
    and give the same image ids: the commit's time as build date and SOURCE_DATE_EPOCH, its hash as
    cache bust. A dirty tree gets the time of the build and `-dirty` marks, never the commit's values."""
    if commit is None:
        moment = int(now.timestamp())
        return {
            "GIT_COMMIT": "unknown",
            "CACHE_BUST": f"unknown-{moment}",
            "BUILD_DATE": utc_iso(now),
            "SOURCE_DATE_EPOCH": str(moment),
        }
    if commit.dirty:
        moment = int(now.timestamp())
        return {
            "GIT_COMMIT": commit.label,
            "CACHE_BUST": f"{commit.full}-dirty-{moment}",
            "BUILD_DATE": utc_iso(now),
            "SOURCE_DATE_EPOCH": str(moment),
        }
    return {
        "GIT_COMMIT": commit.short,
        "CACHE_BUST": commit.full,
        "BUILD_DATE": utc_iso(datetime.fromtimestamp(commit.epoch, UTC)),
        "SOURCE_DATE_EPOCH": str(commit.epoch),
    }


# The build values of one target (GIT_COMMIT, BUILD_DATE, CACHE_BUST, SOURCE_DATE_EPOCH) from its identity:
# dev_build_args or prod_build_args.
BuildArgs = Callable[[Commit | None], dict[str, str]]


def dev_args(now: datetime) -> BuildArgs:
    """Dev: fresh values every run, the target's own commit label."""
    return lambda commit: dev_build_args(now, commit.label if commit else "unknown")


def prod_args(now: datetime) -> BuildArgs:
    """Prod: the values of the commit that last changed the target's inputs, so that a commit leaving them
    alone leaves the image alone."""
    return lambda commit: prod_build_args(commit, now)
