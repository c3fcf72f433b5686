"""Baking a group of the bake file: the targets it resolves to, the plan (each target's fingerprint, identity,
build values and tags, given to bake in an override file), the bake call itself with its step progress
(ci/builds/progress.py), and each built target's figures. The build phase (ci/phases/build.py) puts them together."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ci import docker as dk
from ci.builds.bakefile import ResolvedTarget, bake_environment, outside, resolved_targets
from ci.builds.buildargs import BuildArgs, arg_digests, args_digest, shaping_args
from ci.builds.figures import target_figures
from ci.builds.progress import Progress, bake_error, failing_step_output, failure_message
from ci.builds.trace import BuildTrace
from ci.core.errors import CiError, DockerFailed
from ci.core.settings import Settings
from ci.sources.build_context import over_budget
from ci.sources.fingerprint import Fingerprint, fingerprint
from ci.sources.git import Commit
from ci.sources.identity import Inputs, identity


@dataclass
class BakeResult:
    targets: list[str]
    trace: BuildTrace
    metadata: dict[str, Any]
    seconds: float


@dataclass(frozen=True, kw_only=True)
class BakeRequest:
    """A bake of GROUP with VARIABLES on ENGINE (BUILDER: a buildx builder by name), its metadata written to
    METADATA_FILE and its step progress streamed to OUT (sys.stdout; every step's output with SHOW_LOGS).
    RESOLVED: the targets to bake, from resolve_targets (GROUP's, or some of them: those are baked by name);
    OVERRIDE: a bake file merged after the project's (per-target build values); GIT_INFO: buildx records the
    repository in the build's provenance; CLOCK: what times it."""

    engine: dk.Engine
    settings: Settings
    group: str
    variables: dict[str, str]
    no_cache: bool
    metadata_file: Path
    show_logs: bool = False
    builder: str | None = None
    resolved: dict[str, ResolvedTarget] | None = None
    override: Path | None = None
    git_info: bool = True
    out: TextIO | None = None
    clock: Callable[[], float] = time.monotonic


# containerd can remove a layer's snapshot, left unreferenced by an image just deleted, while an export unpacks
# the next layer onto it (containerd/containerd#10835, open; seen here once in a CI run): the build is sound, and
# a second export extracts the layer again.
SNAPSHOT_RACE = re.compile(r"failed to prepare extraction snapshot .*parent snapshot \S+ does not exist")


def snapshot_race(trace: BuildTrace, err: DockerFailed) -> bool:
    """Whether the bake failed on containerd's race above, and on nothing else (the steps it cancelled aside)."""
    errors = [v.error for v in trace.failed() if not v.cancelled] or [err.stderr]
    return all(SNAPSHOT_RACE.search(" ".join(e.split())) for e in errors)


def bake(request: BakeRequest) -> BakeResult:
    """Bake the request's group into the image store (--load, or the outputs the bake file declares),
    streaming step progress. Raises CiError with the failing step. A bake that failed on containerd's
    snapshot race alone (SNAPSHOT_RACE) is run once more, and says so."""
    resolved = request.resolved or resolve_targets(request.engine, request.settings, request.group, request.variables)
    start = request.clock()
    try:
        try:
            trace = _bake(request, resolved)
        except _Raced:
            print("the engine lost a layer's snapshot while exporting (containerd#10835): baking again", flush=True)
            trace = _bake(request, resolved, last=True)
    except BakeFailed as err:
        err.seconds = request.clock() - start
        raise
    metadata_file = request.metadata_file
    metadata = json.loads(metadata_file.read_text()) if metadata_file.exists() else {}
    return BakeResult(list(resolved), trace, metadata, request.clock() - start)


class _Raced(Exception):
    """A bake that failed on containerd's snapshot race alone."""


class BakeFailed(CiError):
    """A bake that failed: its message names the failing step; TRACE: what ran until then, SECONDS: how long
    (the failed build's timeline draws them)."""

    def __init__(self, message: str, trace: BuildTrace, output: str = "", seconds: float = 0.0) -> None:
        super().__init__(message, output=output)
        self.trace = trace
        self.seconds = seconds


def _bake(request: BakeRequest, resolved: dict[str, ResolvedTarget], *, last: bool = False) -> BuildTrace:
    """One bake of RESOLVED, its progress streamed; its trace. _Raced (unless LAST) or CiError when it fails."""
    settings, metadata_file = request.settings, request.metadata_file
    trace = BuildTrace(list(resolved), no_cache=request.no_cache)
    # sys.stdout as the frame set it: lines fit
    progress = Progress(trace, request.out or sys.stdout, request.show_logs)
    call = dk.BakeCall(
        bake_files=[settings.bake_file, *([request.override] if request.override else [])],
        targets=[request.group] if request.group else list(resolved),
        variables={**bake_environment(settings), **request.variables},
        no_cache=request.no_cache,
        metadata_file=metadata_file,
        builder=request.builder,
        git_info=request.git_info,
        # --load replaces a declared output: the bake file's own (its compression) wins where every
        # target has one; an app whose bake file declares none is loaded as before.
        load=not all(t.output for t in resolved.values()),
    )
    metadata_file.parent.mkdir(parents=True, exist_ok=True)
    metadata_file.unlink(missing_ok=True)
    try:
        for chunk in dk.bake_stream(request.engine, call):
            progress.feed(chunk)
    except DockerFailed as err:
        progress.close(failed=True)
        if not last and snapshot_race(trace, err):
            raise _Raced from None
        raise BakeFailed(failure_message(trace, err), trace, output=failing_step_output(trace)) from None
    progress.close()
    return trace


def resolve_targets(
    engine: dk.Engine, settings: Settings, group: str, variables: dict[str, str]
) -> dict[str, ResolvedTarget]:
    """The targets GROUP expands to, with their resolved definitions, from `bake --print`; a bad bake file,
    an unknown group or a target reading outside the project fails here, before anything is built."""
    if not settings.bake_file.is_file():
        raise CiError(f"bake file not found: {settings.bake_file}")
    try:
        given = {**bake_environment(settings), **variables}
        definition = dk.bake_definition(engine, settings.bake_file, [group], given)
    except DockerFailed as err:
        message = bake_error(err).replace(f"{settings.root}/", "")
        if not message.startswith(settings.bake_file.name):
            message = f"{settings.bake_file.name}: {message}"
        raise CiError(message) from None
    targets = resolved_targets(definition)
    escapes = outside(settings.root, targets.values())
    if escapes:  # before anything is fingerprinted or granted to buildx
        raise CiError(escapes)
    return targets


def source_fingerprints(settings: Settings, targets: dict[str, ResolvedTarget]) -> dict[str, Fingerprint]:
    """Each target's fingerprint, from its context and Dockerfile as bake resolved them."""
    prints = {}
    for name, target in targets.items():
        context = settings.root / target.context
        prints[name] = fingerprint(context, context / target.dockerfile)
    return prints


def target_inputs(root: Path, targets: dict[str, ResolvedTarget]) -> dict[str, Inputs]:
    """Where each target's inputs are, by its context and Dockerfile; none for a remote context."""
    return {name: Inputs.of(root / t.context, Path(t.dockerfile)) for name, t in targets.items() if not t.remote}


def warn_over_budget(prints: dict[str, Fingerprint]) -> None:
    """Before building: a context over the budget is sent whole to BuildKit on every build."""
    for name, sources in prints.items():
        over = over_budget(sources.size, len(sources.files))
        if over:
            print(
                f"warning: the build context of {name} is {over}: `nox -s doctor` lists its largest files", flush=True
            )


# --- what a build produced -----------------------------------------------------------------------------


@dataclass
class TargetBuild:
    """One target of a build: its steps and cache use (from the trace), its image, its sources."""

    target: str
    wall_seconds: float
    steps: int
    cached_steps: int
    cache_hit_ratio: float
    context_transferred_bytes: int
    ran_steps: list[str]
    phases: dict[str, float] = field(default_factory=dict)  # where its time went (ci/builds/figures.py PHASES)
    pulled_bytes: int = 0  # fetched from registries: base image layers, cache blobs
    image: str = ""
    image_id: str = ""
    digest: str = ""
    size_bytes: int = 0
    source_digest: str = ""
    context_bytes: int = 0
    git_commit: str = ""  # the target's identity: the commit that last changed its inputs (-dirty: edited)
    inputs_commit: str = ""  # that commit in full
    build_args_digest: str = ""  # and the build args that shape its image (label mainza.build-args)
    build_args: dict[str, str] = field(default_factory=dict, repr=False)  # each of them: name -> its value's sha256
    tags: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict, repr=False)
    cache: dict[str, Any] = field(default_factory=dict)  # prod: the registry refs read and written (ci/cache/refs.py)

    @property
    def steps_rerun(self) -> int:
        return self.steps - self.cached_steps

    def figures(self) -> dict[str, Any]:
        """Everything but the file list (and an empty cache): build-PROFILE.json and the JUnit properties."""
        found = {k: v for k, v in asdict(self).items() if k not in ("files", "build_args") and (k != "cache" or v)}
        return found | {"steps_rerun": self.steps_rerun}


def target_build(store: dk.Engine, result: BakeResult, target: str, plan: Plan) -> TargetBuild:
    """Figures of one built target: steps and cache from the trace, image from metadata and STORE (the
    engine the images were loaded into), identity and sources from the plan."""
    meta = result.metadata.get(target, {})
    name = str(meta.get("image.name", "")).split(",")[0]
    image = dk.inspect_image(store, name) if name else None
    sources = plan.prints[target]
    commit = plan.identities.get(target)
    return TargetBuild(
        target=target,
        **target_figures(result.trace, target, limit=result.seconds),
        image=name,
        image_id=image.id if image else "",
        digest=meta.get("containerimage.digest", ""),
        size_bytes=image.size if image else 0,
        source_digest=sources.digest,
        context_bytes=sources.size,
        git_commit=plan.args[target]["GIT_COMMIT"],
        inputs_commit=commit.full if commit else "",
        build_args_digest=args_digest(plan.shaping[target]),
        build_args=arg_digests(plan.shaping[target]),
        tags=plan.tags[target],
        files=sources.files,
    )


@dataclass(frozen=True)
class Plan:
    """What each target of a build is given beyond the bake file: its identity (the commit of its inputs, and
    the build args that shape its image), build values, tags."""

    prints: dict[str, Fingerprint]
    identities: dict[str, Commit | None]
    args: dict[str, dict[str, str]]  # the build-info args (buildargs.BUILD_INFO_ARGS), from its identity
    tags: dict[str, tuple[str, ...]]
    # The other build args, as bake resolved them (the bake file with the environment view, .env's values too).
    shaping: dict[str, dict[str, str]] = field(default_factory=dict)

    def override(self, extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """A bake file, merged after docker-bake.hcl, giving each target its own build args, its labels (source
        digest, build date, commit: whatever its Dockerfile says), its tags (as docker/metadata-action's bake
        file does), and EXTRA's fields. The args that shape the image are given as planned, so that what is baked
        is what its label says, whatever bake would resolve now (watch plans once, bakes on every turn)."""
        targets = {}
        for name, args in self.args.items():
            shaping = self.shaping.get(name, {})
            targets[name] = {
                "args": {**shaping, **args, "SOURCE_DIGEST": self.prints[name].digest},
                "labels": {
                    dk.SOURCE_DIGEST_LABEL: self.prints[name].digest,
                    dk.BUILD_ARGS_LABEL: args_digest(shaping),
                    dk.CREATED_LABEL: args["BUILD_DATE"],
                    dk.REVISION_LABEL: args["GIT_COMMIT"],
                },
                "tags": list(self.tags[name]),
                **(extra or {}).get(name, {}),
            }
        return {"target": targets}


def identity_tags(tags: Iterable[str], tag: str, label: str) -> tuple[str, ...]:
    """TAGS, and beside each one ending in `:TAG` the same name tagged LABEL (the target's own identity)."""
    found = list(tags)
    found += [t.removesuffix(f":{tag}") + f":{label}" for t in found if t.endswith(f":{tag}") and label != tag]
    return tuple(dict.fromkeys(found))


def plan_build(settings: Settings, resolved: dict[str, ResolvedTarget], build_args: BuildArgs, tag: str | None) -> Plan:
    """Fingerprint and identify each target's inputs; its build args follow from its identity. With TAG
    (prod), each image tagged `:TAG` is also tagged with its own identity's label."""
    prints = source_fingerprints(settings, resolved)
    warn_over_budget(prints)
    identities: dict[str, Commit | None] = {}
    for name, target in resolved.items():
        context = settings.root / target.context
        identities[name] = (
            None if target.remote else identity(Inputs.of(context, Path(target.dockerfile)), prints[name])
        )
    args = {name: build_args(commit) for name, commit in identities.items()}
    tags = {name: identity_tags(t.tags, tag, args[name]["GIT_COMMIT"]) if tag else t.tags
            for name, t in resolved.items()}  # fmt: skip
    return Plan(prints, identities, args, tags, {name: shaping_args(t.args) for name, t in resolved.items()})


def shaping_now(
    engine: dk.Engine, settings: Settings, targets: Iterable[str], variables: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The build args that shape each of TARGETS' images as the definitions resolve them now (the bake file,
    VARIABLES: a build's own, over the environment view), for verify to compare with what runs. CiError
    naming the bake file when it does not resolve."""
    names = list(targets)
    if not names:
        return {}
    try:
        definition = dk.bake_definition(engine, settings.bake_file, names, {**bake_environment(settings), **variables})
    except DockerFailed as err:
        raise CiError(f"{settings.bake_file.name} does not resolve: {bake_error(err)}") from None
    return {name: shaping_args(t.args) for name, t in resolved_targets(definition).items()}


# Bake fields per target from the plan and the resolved targets: bake-override-<profile>.json gets them.
PerTarget = Callable[[Plan, dict[str, ResolvedTarget]], Mapping[str, Mapping[str, Any]]]
