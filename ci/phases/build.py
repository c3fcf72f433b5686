"""Build, the phase: bake a group and record what it produced (dev, prod, watch: one request in, the build
out); and what a dev build is given, the same for dev and watch (their stack is a dev stack): the dev group's
targets as watch reads them, and watch's rebuild of some of them from the local cache."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TextIO

from ci import docker as dk
from ci.builds.bake import BakeFailed, BakeRequest, PerTarget, bake, plan_build, resolve_targets, target_build
from ci.builds.bakefile import ResolvedTarget
from ci.builds.buildargs import BuildArgs, dev_args, dev_build_args
from ci.builds.finished import (
    Build,
    last_record,
    record_build,
    target_record,
    write_failed_timeline,
    write_timeline,
)
from ci.builds.record import BuildRecord
from ci.core.errors import CiError
from ci.core.report import write_data
from ci.core.settings import Settings
from ci.sources.git import commit_label

TAG = "dev"  # a dev stack's images: compose's default tag
PUBLISHED_PROFILE = "prod"  # the one whose images leave this machine (`nox -s prod -- --push`)


@dataclass(frozen=True)
class DevValues:
    """A dev build's bake variables and its build args per target: fresh values, from one moment."""

    variables: dict[str, str]
    build_args: BuildArgs


def dev_values(settings: Settings, now: datetime) -> DevValues:
    return DevValues(
        {
            "PROJECT": settings.project,
            "TAG": TAG,
            # No registry cache: dev bakes with --no-cache (nothing to import, nothing worth exporting), watch
            # from the local cache, the fast one; the registry's is prod's.
            "REGISTRY_CACHE": "false",
            **dev_build_args(now, commit_label(settings.root)),
        },
        dev_args(now),
    )


def dev_targets(engine: dk.Engine, settings: Settings) -> dict[str, ResolvedTarget]:
    """The dev group's targets as the bake file resolves them with fresh dev values (watch's definitions)."""
    return resolve_targets(engine, settings, "dev", dev_values(settings, datetime.now(UTC)).variables)


@dataclass(frozen=True, kw_only=True)
class BuildRequest:
    """A build of PROFILE (the bake group, and the name of its files in reports/) with VARIABLES (TAG among
    them), each target given BUILD_ARGS from its identity. ENGINE runs bake, STORE is the engine the images
    land in; BUILDER: a buildx builder by name; TAG_IDENTITY: each image tagged `:TAG` is also tagged with its
    own identity's label (prod). TARGETS: only these (resolved already), the others of PREVIOUS kept in the
    record as they were. OUT: where the steps show (sys.stdout). PER_TARGET: more bake fields per target,
    decided once identities are known (prod's cache refs)."""

    settings: Settings
    profile: str
    variables: dict[str, str]
    build_args: BuildArgs
    engine: dk.Engine
    store: dk.Engine
    no_cache: bool
    show_logs: bool
    builder: str | None = None
    tag_identity: bool = False
    targets: dict[str, ResolvedTarget] | None = None
    previous: BuildRecord | None = None
    out: TextIO | None = None
    per_target: PerTarget | None = None
    # A tag (prod's `latest`) that bake does not give: each image gets it once the build is recorded, so that
    # an interrupted or failed build never moves it to an image no record names.
    after_record: str = ""


def build_group(request: BuildRequest) -> Build:
    """Fingerprint and identify each target's inputs, bake the profile with their build values, and record
    the build: last-build.json for verify. The record also keeps the build each target replaces (the
    request's PREVIOUS, else the record found), for a rollback. The tags ending in `:AFTER_RECORD` move only
    then; a build that is not recorded puts the tags bake moved back (put_tags_back)."""
    settings, profile, variables = request.settings, request.profile, request.variables
    earlier = request.previous or last_record(settings)
    resolved = request.targets or resolve_targets(request.engine, settings, profile, variables)
    plan = plan_build(settings, resolved, request.build_args, variables["TAG"] if request.tag_identity else None)
    later = {name: [t for t in tags if is_later(t, request.after_record)] for name, tags in plan.tags.items()}
    baked = replace(
        plan, tags={name: tuple(t for t in tags if t not in later[name]) for name, tags in plan.tags.items()}
    )
    override = settings.reports_dir / f"bake-override-{profile}.json"
    write_data(baked.override(request.per_target(plan, resolved) if request.per_target else None), override)
    refs = [ref for tags in baked.tags.values() for ref in tags]
    before = dk.tagged(request.store, refs)
    try:
        result = bake(
            BakeRequest(
                engine=request.engine,
                settings=settings,
                group="" if request.targets else profile,
                variables=variables,
                no_cache=request.no_cache,
                metadata_file=settings.reports_dir / f"bake-metadata-{profile}.json",
                show_logs=request.show_logs,
                builder=request.builder,
                resolved=resolved,
                override=override,
                # Provenance for the images that are published; dev's and watch's record their commit themselves.
                git_info=profile == PUBLISHED_PROFILE,
                out=request.out,
            )
        )
        built = [target_build(request.store, result, t, plan) for t in result.targets]
        records = {**(request.previous.targets if request.previous else {})} | {
            t.target: target_record(t, resolved[t.target], plan) for t in built
        }
        record = record_build(settings, profile, variables, records, earlier)
    except BaseException as err:
        put_tags_back(request.store, before, refs)
        if isinstance(err, BakeFailed):  # the timeline of what ran, the cause on top
            write_failed_timeline(settings, profile, err)
        raise
    for t in built:
        for ref in later[t.target] if t.image_id else ():
            dk.tag_image(request.store, t.image_id, ref)
    return Build(profile, variables, result.seconds, built, record, result.trace)


def put_tags_back(store: dk.Engine, before: dict[str, str], refs: list[str]) -> None:
    """After a build that was not recorded (it failed, or a stop signal ended it, its cache export say), each of
    REFS that bake moved on the image it named BEFORE; where that image is gone (its last tag was the one
    moved) or it named none, on no image: no tag is left on an image no record names."""
    try:
        now = dk.tagged(store, refs)
    except (CiError, KeyboardInterrupt) as err:  # a command failing after a stop signal is said as one (ci/docker)
        print(f"could not put back the tags of the unrecorded build: {err.__cause__ or err}", file=sys.stderr)
        return
    for ref in [r for r in refs if r in now and now[r] != before.get(r)]:
        if not (ref in before and retagged(store, before[ref], ref)):
            dk.remove_image(store, ref)


def retagged(store: dk.Engine, image_id: str, ref: str) -> bool:
    """Whether REF names IMAGE_ID again (False: the engine has it no more)."""
    try:
        dk.tag_image(store, image_id, ref)
    except (CiError, KeyboardInterrupt):
        return False
    return True


def is_later(tag: str, after_record: str) -> bool:
    """Whether TAG is one the build gives only once recorded (`NAME:AFTER_RECORD`)."""
    return bool(after_record) and tag.endswith(f":{after_record}")


def rebuild(
    settings: Settings,
    engine: dk.Engine,
    profile: str,
    targets: dict[str, ResolvedTarget],
    previous: BuildRecord | None,
    *,
    show_logs: bool,
    out: TextIO | None,
) -> Build:
    """TARGETS of a dev stack rebuilt from the local cache with fresh dev values (watch's turns and start), the
    others of PREVIOUS kept in the record as they were; its timeline written (reports/build-PROFILE.html)."""
    values = dev_values(settings, datetime.now(UTC))
    built = build_group(
        BuildRequest(
            settings=settings, profile=profile, variables=values.variables, build_args=values.build_args,
            engine=engine, store=engine, no_cache=False, show_logs=show_logs, targets=targets, previous=previous,
            out=out,
        )
    )  # fmt: skip
    write_timeline(settings, built)  # reports/build-watch.html, each turn's over the last
    return built
