"""The build args a target is given, from its identity: dev's fresh every run, prod's those of the commit
that last changed its inputs (the same for every build of it); the build date as ISO 8601 UTC. And the other
build args, those that shape the image (a base image, the API URL a frontend bundles): part of its identity,
each by its digest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from ci.sources.fingerprint import of_files
from ci.sources.git import Commit

# The suite's own build-info args, which the sessions give each target (what a build says of itself: its commit,
# date, cache bust, sources, repository); every other build arg shapes the image, and is part of its identity.
BUILD_INFO_ARGS = frozenset(
    {"GIT_COMMIT", "BUILD_DATE", "CACHE_BUST", "SOURCE_DATE_EPOCH", "SOURCE_DIGEST", "SOURCE_URL"}
)


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


# --- the build args that shape an image ---------------------------------------------------------------


def shaping_args(args: Mapping[str, str]) -> dict[str, str]:
    """ARGS (a target's, as bake resolved them) but the suite's build-info args, sorted by name."""
    return {name: args[name] for name in sorted(args) if name not in BUILD_INFO_ARGS}


def arg_digests(args: Mapping[str, str]) -> dict[str, str]:
    """Each arg's value as the sha256 of it: what the build record keeps, so that it never holds a value (a
    team may pass a token as a build arg) and still names the arg that changed."""
    return {name: hashlib.sha256(value.encode(errors="surrogateescape")).hexdigest() for name, value in args.items()}


def args_digest(args: Mapping[str, str]) -> str:
    """The digest of shaping ARGS, names and values: the image's label mainza.build-args."""
    return of_files(arg_digests(args))


def changed_args(built: Mapping[str, str], now: Mapping[str, str], source: Callable[[str], str]) -> list[str]:
    """The args whose digests differ between a build (BUILT) and the definitions now (NOW), each named with
    where its value comes from now (SOURCE: the environment view's words, "" for the bake file's own)."""
    found = []
    for name in sorted(built.keys() | now.keys()):
        if built.get(name) == now.get(name):
            continue
        where = source(name) or "the bake file"
        if name not in now:
            found.append(f"{name} (no longer an arg)")
        else:
            found.append(f"{name} ({'now' if name in built else 'a new arg'} from {where})")
    return found
