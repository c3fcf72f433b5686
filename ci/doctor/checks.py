"""The checks of `nox -s doctor`: the build guide's troubleshooting pages as checks of this host and tree.

Each check ends ok, warn or fail (or skip, when what it needs is missing) with one line of detail and one
line of advice. They only read: nothing is built, pulled, started or removed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from packaging.version import Version

from ci import docker as dk
from ci.builds.bakefile import SBOM_SCANNER, bake_environment, bake_groups, outside, resolved_targets
from ci.cache.refs import BRANCH_TAG, IDENTITY_TAG
from ci.cache.registry import BuilderInfo, builder_info, builder_name, cache_refs, cache_registry, login_problem
from ci.cache.registry import probe as registry_probe
from ci.core.errors import CiError, EngineUnreachable, Exit, Foreseeable
from ci.core.settings import HOST_VARIABLES, Settings, signing
from ci.core.terminal import plural
from ci.core.units import human
from ci.core.versions import HOST_MINIMUMS, TESTED, Minimum, parse_version, tool_version
from ci.prune.plan import DEFAULT_UNTIL, cache_records, parse_duration, select_cache
from ci.sign import cosign
from ci.sources import build_context as ctx
from ci.sources.dockerfile import base_images, copy_sources, expand_source
from ci.sources.git import tracked_files
from ci.stack import preflight
from ci.stack.services import ComposeService

FREE_DISK_WARN_GB = 10.0
FREE_DISK_FAIL_GB = 2.0  # below this, builds fail half-way with "no space left on device"
LARGEST_SHOWN = 10

Level = Literal["ok", "warn", "fail", "skip"]
T = TypeVar("T")


@dataclass
class Finding:
    name: str
    level: Level
    detail: str
    advice: str = ""
    output: str = ""  # longer evidence: the largest files, every COPY source, each base image
    seconds: float = 0.0
    exit_code: Exit = Exit.FAILED  # the session's exit code when this is the first failure
    facts: dict[str, str] = field(default_factory=dict)  # JUnit properties


# --- pure helpers ------------------------------------------------------------------------------------


def version_finding(name: str, raw: str, minimum: Minimum, advice: str) -> Finding:
    found = parse_version(raw)
    oldest, newest = TESTED[name]
    facts = {f"{name}_version": raw, f"{name}_minimum": minimum.version, f"{name}_tested": f"{oldest}..{newest}"}
    if found is None:
        return Finding(name, "warn", f"cannot read a version from {raw!r}", advice, facts=facts)
    if found < Version(minimum.version):
        return Finding(
            name, "fail", f"{raw} is older than {minimum.version}, needed for {minimum.why}", advice, facts=facts
        )
    if found > Version(newest):
        detail = f"{raw} is newer than the newest tested, {newest} (tested {oldest} to {newest})"
        return Finding(name, "warn", detail, "it should work; if something breaks, say which version", facts=facts)
    return Finding(name, "ok", f"{raw} (>= {minimum.version}; tested {oldest} to {newest})", facts=facts)


# --- the checks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    context: Path
    dockerfile: Path
    args: dict[str, str]


class Facts:
    """What several checks read (the engine's answer, `docker info`, `docker system df`, the resolved bake
    definition), each asked once, as futures: the checks run in parallel and wait only for what they need.
    `start()` sets them going; nothing runs before it."""

    def __init__(
        self,
        settings: Settings,
        engine: dk.Engine,
        *,
        budget_bytes: float,
        cache_warn_bytes: float,
        builder: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.builder_given = builder  # --builder; else BUILDX_BUILDER, else the current, as prod picks it
        self.budget_bytes = budget_bytes
        self.cache_warn_bytes = cache_warn_bytes
        self.bake_text = settings.bake_file.read_text() if settings.bake_file.is_file() else ""
        self.pool = ThreadPoolExecutor(max_workers=12)

    def start(self) -> None:
        self.engine_check: Future[Finding | list[Finding]] = self.pool.submit(self._timed, "engine", check_engine)
        self.definition: Future[dict[str, Any] | str] = self.pool.submit(self._bake_definition)
        self.host: Future[dk.EngineFacts] = self.pool.submit(self._after_engine, dk.engine_facts)
        self.disk: Future[dict[str, dk.DiskUse]] = self.pool.submit(self._after_engine, dk.disk_use)
        self.disk_detail = self.pool.submit(self._after_engine, dk.disk_usage_detail)
        self.compose: Future[dict[str, ComposeService] | Foreseeable] = self.pool.submit(self._compose)
        self.ready: Future[preflight.Ready | Finding] = self.pool.submit(self._preflight)
        self.builder: Future[tuple[dk.BuilderFacts, BuilderInfo] | Finding] = self.pool.submit(release_builder, self)

    def run(self, checks: list[tuple[str, Callable[[Facts], Finding | list[Finding]]]]) -> list[Finding]:
        self.start()
        futures = [self.engine_check] + [self.pool.submit(self._timed, name, check) for name, check in checks]
        findings: list[Finding] = []
        for future in futures:
            result = future.result()
            findings.extend(result if isinstance(result, list) else [result])
        self.pool.shutdown()
        return findings

    def _timed(self, name: str, check: Callable[[Facts], Finding | list[Finding]]) -> Finding | list[Finding]:
        start = time.monotonic()
        try:
            result = check(self)
        except Foreseeable as err:
            result = Finding(name, "fail", str(err), exit_code=err.exit_code)
        except Exception as err:  # one broken check must not hide the others' answers
            first = (str(err).strip().splitlines() or [""])[0]
            result = Finding(name, "fail", f"{type(err).__name__}: {first}", output=str(err))
        seconds = time.monotonic() - start
        for finding in result if isinstance(result, list) else [result]:
            finding.seconds = seconds
        return result

    def _engine_ok(self) -> bool:
        engine = self.engine_check.result()
        return isinstance(engine, Finding) and "engine_version" in engine.facts

    def _after_engine(self, fact: Callable[[dk.Engine], T]) -> T:
        """A fact more than one check reads, asked once the engine answered (its checks skip otherwise)."""
        self.engine_check.result()
        return fact(self.engine)

    def _skip_without_engine(self, name: str) -> Finding:
        return Finding(name, "skip", "the engine does not answer (see engine)")

    def _bake_definition(self) -> dict[str, Any] | str:
        """The definition of every group of the bake file, or buildx's error line, or the target that reads
        outside the project."""
        if not self.bake_text:
            return f"no bake file at {self.settings.bake_file}"
        groups = bake_groups(self.bake_text) or ["default"]
        try:
            # PROJECT as the sessions give it: the targets' tags then name the images compose runs.
            variables = {**bake_environment(self.settings), "PROJECT": self.settings.project}
            definition = dk.bake_definition(self.engine, self.settings.bake_file, groups, variables)
        except CiError as err:
            return f"{self.settings.bake_file.name}: {str(err).removeprefix('ERROR: ')}"
        # As the sessions refuse it, before any check reads (and hashes) a folder outside the project.
        escapes = outside(self.settings.root, resolved_targets(definition).values())
        return f"{self.settings.bake_file.name}: {escapes}" if escapes else definition

    def _compose(self) -> dict[str, ComposeService] | Foreseeable:
        """compose.yaml resolved as the sessions resolve it (preflight), or why not."""
        try:
            return preflight.resolve(self.engine)
        except Foreseeable as err:
            return err

    def _preflight(self) -> preflight.Ready | Finding:
        """What the sessions' preflight finds of the definitions (the targets of every group), or the finding
        that it could not run (the compose file, bake file or engine check says why) or failed."""
        name = "service images"
        compose, definition = self.compose.result(), self.definition.result()
        if isinstance(compose, Foreseeable):
            return Finding(name, "skip", "compose.yaml does not resolve (see compose file)")
        if isinstance(definition, str):
            return self._skip_without_bake(name)
        if not self._engine_ok():
            return self._skip_without_engine(name)
        try:
            return preflight.check(self.engine, compose, resolved_targets(definition))
        except CiError as err:  # no service runs an image a target builds
            return Finding(name, "fail", str(err), "name a bake target's image in compose.yaml (docs/services.md)")

    def targets(self) -> list[Target] | str:
        definition = self.definition.result()
        if isinstance(definition, str):
            return definition
        targets = []
        for target in resolved_targets(definition).values():
            dockerfile = target.dockerfile_path(self.settings.root)
            if dockerfile is None:
                continue  # remote contexts and inline Dockerfiles: nothing on this disk to check
            targets.append(Target(target.name, target.context_path(self.settings.root), dockerfile, target.args))
        return targets

    def _skip_without_bake(self, name: str) -> Finding:
        return Finding(name, "skip", "the bake file does not resolve (see bake file)")

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.settings.root.resolve())) or "."
        except ValueError:
            return str(path)

    def cache_registry(self) -> str:
        """The registry prod caches in, as prod finds it (registry.cache_registry: CACHE_REGISTRY, else
        localhost:CACHE_REGISTRY_PORT), from the same settings."""
        return cache_registry(self.settings.cache)[0]


def check_engine(shared: Facts) -> Finding:
    try:
        version = dk.require_engine(shared.engine)
    except EngineUnreachable as err:
        detail, sep, advice = str(err).partition(": run ")
        return Finding("engine", "fail", detail, f"run {advice}" if sep else "", exit_code=err.exit_code)
    finding = version_finding(
        "engine", version, HOST_MINIMUMS["engine"], "upgrade Docker Engine (`ci/provision` as root on Debian 12)"
    )
    finding.detail = f"{finding.detail} at {dk.engine_location()}"
    return finding


def check_buildx(shared: Facts) -> Finding:
    raw = tool_version(dk.buildx_version_line(shared.engine))
    return version_finding(
        "buildx", raw, HOST_MINIMUMS["buildx"], "install a newer docker-buildx plugin (`ci/provision` as root)"
    )


def check_compose(shared: Facts) -> Finding:
    raw = tool_version(dk.compose_version_line(shared.engine))
    return version_finding(
        "compose", raw, HOST_MINIMUMS["compose"], "install a newer docker compose plugin (`ci/provision` as root)"
    )


def release_builder(shared: Facts) -> tuple[dk.BuilderFacts, BuilderInfo] | Finding:
    """The builder prod would use, as buildx describes it and what it can do; or the builder check's finding
    when it cannot be asked (no engine: skip; an unknown or bad name: fail)."""
    if not shared._engine_ok():
        return shared._skip_without_engine("builder")
    try:
        found = dk.inspect_builder(shared.engine, builder_name(shared.builder_given))
    except Foreseeable as err:
        return Finding("builder", "fail", str(err), "name a builder `docker buildx ls` lists", exit_code=err.exit_code)
    return found, builder_info(found)


def builder_can(shared: Facts, name: str) -> BuilderInfo | Finding:
    """What the builder can do, for the release check NAME; a skip naming the builder check otherwise."""
    found = shared.builder.result()
    if isinstance(found, Finding):
        return Finding(name, "skip", f"no builder to ask (see builder: {found.detail})")
    return found[1]


def check_builder(shared: Facts) -> Finding:
    """The builder prod uses (--builder, BUILDX_BUILDER, else the current), its nodes, and whether it exports
    the registry cache: the first of the release checks."""
    found = shared.builder.result()
    if isinstance(found, Finding):
        return found
    builder, info = found
    facts = {"builder": builder.name, "builder_driver": builder.driver}
    nodes = ", ".join(builder.statuses) or "no nodes"
    # inactive and stopped nodes are started by the next build; anything else (error) is broken.
    if any(s not in ("running", "inactive", "stopped") for s in builder.statuses) or not builder.statuses:
        return Finding(
            "builder",
            "fail",
            f"{builder.name} ({builder.driver} driver): nodes {nodes}",
            f"`docker buildx inspect --bootstrap {builder.name}` shows why; or `docker buildx use default`",
            facts=facts,
        )
    if builder.driver != "docker":
        return Finding(
            "builder", "ok", f"{builder.name} ({builder.driver} driver): exports registry cache", facts=facts
        )
    facts["containerd_image_store"] = str(info.containerd_store).lower()
    if not info.classic_store:
        detail = f"{builder.name} (docker driver, containerd image store): exports registry cache"
        return Finding("builder", "ok", detail, facts=facts)
    return Finding(
        "builder",
        "warn",
        f"{builder.name} (docker driver, classic image store): cannot export registry cache",
        CONTAINERD_ADVICE,
        facts=facts,
    )


CONTAINERD_ADVICE = (
    'enable the containerd image store: {"features": {"containerd-snapshotter": true}} in /etc/docker/daemon.json, '
    "then restart dockerd (`ci/provision` as root does it); or --builder a builder of another driver"
)


def check_attestations(shared: Facts) -> Finding:
    """Whether the builder keeps the provenance attestation (mode=max) prod --push attaches: not a docker-driver
    builder on the classic image store."""
    info = builder_can(shared, "attestations")
    if isinstance(info, Finding):
        return info
    if info.classic_store:
        detail = f"{info.name} (docker driver, classic image store): keeps no attestations, prod --push has none"
        return Finding("attestations", "warn", detail, CONTAINERD_ADVICE)
    return Finding("attestations", "ok", f"{info.name}: prod --push attaches provenance (mode=max)")


def check_sbom(shared: Facts) -> Finding:
    """Whether prod --push can attach an SBOM: the builder keeps attestations and resolves the SBOM generator
    (SBOM_GENERATOR: the host's own, which ci/provision builds; else BuildKit's, from Docker Hub, which some hosts
    never reach): prod then pushes without one and says so."""
    info = builder_can(shared, "sbom")
    if isinstance(info, Finding):
        return info
    if info.classic_store:
        return Finding("sbom", "warn", f"{info.name} keeps no attestations (see attestations)", CONTAINERD_ADVICE)
    generator = shared.settings.sbom_generator
    why = dk.image_resolvable(shared.engine, generator)
    if why is None:
        return Finding("sbom", "ok", f"{info.name} resolves {generator}: prod --push attaches an SBOM")
    cause = dk.refusal(generator, why).why.split(":", 1)[0]
    advice = "prod pushes without one and says so; `ci/provision` (as root) builds the host's own generator"
    if generator == SBOM_SCANNER:  # Docker Hub's: reached through a mirror, or another builder
        advice += (
            " and names it in /etc/mainza/host.env, or serve Docker Hub to the engine through a mirror "
            "(`registry-mirrors` in /etc/docker/daemon.json) or --builder a builder that reaches it"
        )
    else:
        advice += f" and pushes it to its registry again (SBOM_GENERATOR={generator})"
    return Finding(
        "sbom",
        "warn",
        f"the SBOM generator {generator} cannot be had here ({cause}): prod --push attaches no SBOM",
        advice,
    )


def check_cosign(shared: Facts) -> Finding:
    """cosign, which prod --sign and verify --signed run: installed, and of the major version they are made for."""
    where = cosign.available()
    advice = f"run `ci/provision` as root (Debian trixie's cosign {cosign.MAJOR}.x)"
    if where is None:
        return Finding("cosign", "warn", "not installed: prod --sign and verify --signed cannot run", advice)
    raw = cosign.version()
    facts = {"cosign_version": raw}
    found = parse_version(raw)
    if found is None:
        return Finding("cosign", "warn", f"{where}: its version cannot be read ({raw!r})", advice, facts=facts)
    if found.major != cosign.MAJOR:
        detail = f"{raw} at {where}: the suite signs and verifies offline with cosign {cosign.MAJOR}.x"
        why = "cosign 3 asks Sigstore's trust data over the network by default: " if found.major > cosign.MAJOR else ""
        return Finding("cosign", "warn", detail, why + advice, facts=facts)
    return Finding("cosign", "ok", f"{raw} at {where}", facts=facts)


def check_signing_key(shared: Facts) -> Finding:
    """COSIGN_KEY, which prod --sign signs with: set, readable, and opening with COSIGN_PASSWORD (asked of cosign,
    offline). Neither the key nor the password is ever shown."""
    keys = signing(shared.settings.env)
    make = "`cosign generate-key-pair` makes a pair (docs/deployment.md)"
    if not keys.key:
        detail = "COSIGN_KEY is not set: prod -- --push --sign cannot sign"
        return Finding(
            "signing key", "warn", detail, f"set COSIGN_KEY (a path, or env://NAME) and COSIGN_PASSWORD; {make}"
        )
    problem = cosign.key_problem(keys.key, keys)
    if problem:
        return Finding("signing key", "warn", f"COSIGN_KEY: {problem}", f"point COSIGN_KEY at the private key; {make}")
    password = "COSIGN_PASSWORD set" if keys.has_password else "COSIGN_PASSWORD empty"
    if cosign.available() is None:
        return Finding("signing key", "ok", f"COSIGN_KEY set, {password} (not opened: no cosign)")
    try:
        cosign.public_half(keys)
    except CiError as err:
        return Finding("signing key", "warn", f"COSIGN_KEY does not open: {err}", "set the key's own COSIGN_PASSWORD")
    return Finding("signing key", "ok", f"COSIGN_KEY set and opens with COSIGN_PASSWORD ({password})")


def check_public_key(shared: Facts) -> Finding:
    """COSIGN_PUBLIC_KEY, which verify --signed checks with: set, readable, and COSIGN_KEY's own public half when
    both are here (else every image this host signs fails its verify)."""
    keys = signing(shared.settings.env)
    if not keys.public_key:
        detail = "COSIGN_PUBLIC_KEY is not set: verify -- --signed cannot check signatures"
        return Finding("public key", "warn", detail, "set COSIGN_PUBLIC_KEY to the public key's path (cosign.pub)")
    problem = cosign.key_problem(keys.public_key, keys)
    if problem:
        return Finding("public key", "warn", f"COSIGN_PUBLIC_KEY: {problem}", "point it at the public key (cosign.pub)")
    held = cosign.key_text(keys.public_key, keys)
    if not keys.key or held is None or cosign.available() is None or cosign.key_problem(keys.key, keys):
        return Finding("public key", "ok", "COSIGN_PUBLIC_KEY set")
    try:
        pair = cosign.same_key(cosign.public_half(keys), held)
    except CiError:
        return Finding("public key", "ok", "COSIGN_PUBLIC_KEY set (COSIGN_KEY does not open: see signing key)")
    if not pair:
        detail = "COSIGN_PUBLIC_KEY is not COSIGN_KEY's public half: verify -- --signed fails what prod --sign signs"
        return Finding("public key", "warn", detail, "`cosign public-key --key KEY` prints the right one")
    return Finding("public key", "ok", "COSIGN_PUBLIC_KEY set, COSIGN_KEY's own public half")


def check_registry(shared: Facts) -> Finding:
    registry = shared.cache_registry()  # a bad CACHE_REGISTRY or CACHE_REGISTRY_PORT fails, named, as in prod
    facts = {"cache_registry": registry}
    advice = (
        "start it (`ci/provision` as root serves one on 127.0.0.1:5000) or set CACHE_REGISTRY; "
        "until then prod builds share no cache"
    )
    answer = registry_probe(registry)
    if answer.status is None:
        reason = (answer.problem or "").rsplit("(", 1)[-1].rstrip(")")
        return Finding("cache registry", "warn", f"{registry}: {reason} ({answer.url})", advice, facts=facts)
    if answer.problem is None:  # 200, or 401: it answers, and wants a `docker login`
        detail = f"{registry} answers ({answer.url} HTTP {answer.status})"
        refused = login_problem(registry)  # as prod asks it: BuildKit, with that login, would get no cache
        if refused:
            advice = "until then prod builds without the registry cache (`--strict-cache`: fails)"
            return Finding("cache registry", "warn", f"{detail}, but {refused}", advice, facts=facts)
        definition = shared.definition.result()
        targets = [] if isinstance(definition, str) else list(resolved_targets(definition))
        listed, output = project_cache_refs(registry, shared.settings.project, targets)
        return Finding("cache registry", "ok", f"{detail}; {listed}", output=output, facts=facts)
    detail = f"{registry}: {answer.url} answered HTTP {answer.status}"
    return Finding("cache registry", "warn", detail, advice, facts=facts)


def project_cache_refs(registry: str, project: str, targets: list[str]) -> tuple[str, str]:
    """(a summary, a line per ref with its size) of the project's cache refs in REGISTRY (with its
    namespace), read by TARGETS' repositories when the registry refuses the catalog. Only the refs the
    builds write count: a target's repository right under the project, an identity or branch tag
    (ci/cache/refs.py); an image pushed there by hand (a stand-in base image) is named apart."""
    try:
        listing = cache_refs(registry, project, targets)
    except CiError as err:
        return f"its cache refs unlisted ({err})", ""
    refs = [r for r in listing.refs if is_cache_ref(r.ref, registry, project)]
    others = [r.ref for r in listing.refs if r not in refs]
    notes = [listing.note] if listing.note else []
    if others:
        notes.append(f"{plural(len(others), 'other image')} there not counted: {', '.join(others[:3])}")
    note = f" ({'; '.join(notes)})" if notes else ""
    if not refs:
        return f"no cache refs of {project} yet{note}", ""
    # Refs share most of their blobs: the sum is what they would take apart, not what the registry stores.
    summary = f"{plural(len(refs), 'cache ref')} of {project}, {human(sum(r.size_bytes for r in refs))} named{note}"
    return summary, "\n".join(f"{human(r.size_bytes):>10}  {r.ref}" for r in refs)


def is_cache_ref(ref: str, registry: str, project: str) -> bool:
    """Whether REF is one the builds write: `REGISTRY/PROJECT/<target>:id-...` or `:branch-...`."""
    repository, _, tag = ref.rpartition(":")
    parent, _, target = repository.rpartition("/")
    return parent == f"{registry}/{project}" and bool(target) and tag.startswith((IDENTITY_TAG, BRANCH_TAG))


def check_disk(shared: Facts) -> Finding:
    if not shared._engine_ok():
        return shared._skip_without_engine("disk")
    engine = shared.host.result()
    cache = shared.disk.result()["build_cache"]["size"]
    # What `nox -s prune` would free of it with its defaults: the figure a warning can act on.
    records = cache_records(shared.disk_detail.result().get("BuildCache", []))
    prunable = sum(r.size for r in select_cache(records, datetime.now(UTC), parse_duration(DEFAULT_UNTIL), 0))
    facts = {"build_cache_bytes": str(cache), "build_cache_prunable_bytes": str(prunable)}
    parts = [f"build cache {human(prunable)} that prune frees (unused for {DEFAULT_UNTIL}) of {human(cache)} in all"]
    level: Level = "ok"
    advice = ""
    local = dk.engine_location().startswith("unix://") and Path(engine.root_dir).is_dir()
    if local:
        free = shutil.disk_usage(engine.root_dir).free
        facts["free_bytes"] = str(free)
        parts.insert(0, f"{human(free)} free on {engine.root_dir}")
        if free < FREE_DISK_FAIL_GB * 1e9:
            level, advice = "fail", "builds will fail with no space left: run `nox -s prune`, then free disk"
        elif free < FREE_DISK_WARN_GB * 1e9:
            level, advice = "warn", "little space left for builds: run `nox -s prune`"
    else:
        parts.insert(0, "free disk unknown (the engine is not on this machine)")
    if prunable > shared.cache_warn_bytes and level == "ok":
        level = "warn"
        advice = f"over {human(shared.cache_warn_bytes)} of build cache unused for {DEFAULT_UNTIL}: run `nox -s prune`"
    return Finding("disk", level, "; ".join(parts), advice, facts=facts)


def check_bake_file(shared: Facts) -> Finding:
    definition = shared.definition.result()
    if isinstance(definition, str):
        return Finding("bake file", "fail", definition, "fix the bake file: `nox -s lint` resolves every group")
    groups, targets = definition.get("group") or {}, definition.get("target") or {}
    return Finding("bake file", "ok", f"{shared.settings.bake_file.name}: {len(groups)} groups, {len(targets)} targets")


def check_compose_file(shared: Facts) -> Finding:
    """compose.yaml resolved as the sessions' preflight resolves it: a required variable nothing sets fails
    with the sessions' exit code, 2."""
    name, compose = "compose file", shared.compose.result()
    if isinstance(compose, dk.MissingVariables):
        detail = f"{shared.settings.compose_file.name} does not resolve: {compose.problem}"
        return Finding(name, "fail", detail, compose.fix, compose.output, exit_code=compose.exit_code)
    if isinstance(compose, Foreseeable):
        advice = "fix it: `docker compose config` shows it resolved, or why not"
        return Finding(name, "fail", str(compose), advice, compose.output, exit_code=compose.exit_code)
    return Finding(
        name, "ok", f"{shared.settings.compose_file.name}: {plural(len(compose), 'service')} ({', '.join(compose)})"
    )


def check_contexts(shared: Facts) -> list[Finding]:
    targets = shared.targets()
    if isinstance(targets, str):
        return [shared._skip_without_bake("context")]
    # Targets with the same context folder and ignore file send the same files: one check for them.
    by_context: dict[tuple[Path, Path | None], list[Target]] = {}
    for target in targets:
        by_context.setdefault((target.context, ctx.ignore_file(target.context, target.dockerfile)), []).append(target)
    findings = [_context_finding(shared, t, len(by_context) > 1) for t in by_context.values()]
    return findings or [Finding("context", "skip", "no bake target has a local context")]


def _context_finding(shared: Facts, targets: list[Target], several: bool) -> Finding:
    first = targets[0]
    name = f"context {first.name}" if several else "context"
    # The files a build reads, measured as the builds measure them (fingerprint): the same figures.
    files = ctx.input_files(first.context, first.dockerfile)
    sizes = sorted(((os.lstat(first.context / f).st_size, f) for f in files), key=lambda s: (-s[0], s[1]))
    total = sum(size for size, _ in sizes)
    ignore = ctx.ignore_file(first.context, first.dockerfile)
    ignore_name = ignore.name if ignore else ".dockerignore"
    where = shared._relative(first.context)
    missing = "" if ignore else f"no .dockerignore in {where}, every file there is sent: "
    largest = "\n".join(f"{human(size):>9}  {path}" for size, path in sizes[:LARGEST_SHOWN])
    heading = ignore_name if ignore else "no ignore file"
    output = (
        f"build context {where} of {', '.join(t.name for t in targets)} ({heading}): "
        f"{len(files)} files, {human(total)}; the {min(LARGEST_SHOWN, len(files))} largest:\n{largest}"
    )
    key = name.replace(" ", "_")
    facts = {f"{key}_bytes": str(total), f"{key}_files": str(len(files))}
    budget = human(shared.budget_bytes)
    over = ctx.over_budget(total, len(files), shared.budget_bytes)
    if over:
        big = ", ".join(f"{path} {human(size)}" for size, path in sizes[:3])
        advice = (
            f"leave what the images do not need out of the context in {ignore_name}, or raise --context-budget-mb"
            if ignore
            else f"add a .dockerignore to {where} (an allowlist: `*`, then `!src/` for what the image needs)"
        )
        detail = f"{missing}{over}; largest: {big}"
        return Finding(name, "fail", detail, advice, output, facts=facts)
    detail = f"{missing}{human(total)} in {len(files)} files (budget {budget}) for {plural(len(targets), 'target')}"
    return Finding(name, "ok", detail, output=output, facts=facts)


@dataclass
class CopyAudit:
    """What the COPY and ADD sources of the Dockerfiles find in their build contexts."""

    problems: list[str] = field(default_factory=list)  # fail: a named source left out, or a folder sending nothing
    missing: list[str] = field(default_factory=list)  # fail: a named source not in the tree at all
    doubts: list[str] = field(default_factory=list)  # warn: tracked files left out of a copied folder
    lines: list[str] = field(default_factory=list)
    count: int = 0

    def audit(self, target: Target, dockerfile: str) -> None:
        """TARGET's COPY and ADD sources, each named by DOCKERFILE (its path in the project) and line."""
        included = set(ctx.context_files(target.context, target.dockerfile))
        tracked = tracked_files(target.context) or set()
        ignore = ctx.ignore_file(target.context, target.dockerfile)
        ignore_name = ignore.name if ignore else "no ignore file"
        for src in copy_sources(target.dockerfile.read_text()):
            self.count += 1
            where = f"{dockerfile}:{src.line} {src.keyword} {src.source}"
            if "$" in src.source:
                self.lines.append(f"{where}: uses a variable, not checked")
                continue
            files, dirs = expand_source(target.context, src.source)
            if not files and not dirs:
                self.missing.append(f"{where}: does not exist")
            self.problems += [f"{where}: {path} is excluded by {ignore_name}" for path in files if path not in included]
            for folder in dirs:
                prefix = f"{folder}/" if folder else ""
                sent = [p for p in included if p.startswith(prefix)]
                if not sent:
                    self.problems.append(
                        f"{where}: everything in {folder or 'the context'} is excluded by {ignore_name}"
                    )
                left_out = sorted(p for p in tracked if p.startswith(prefix) and p not in included)
                if left_out:
                    self.doubts.append(f"{where}: tracked {', '.join(left_out[:3])} excluded by {ignore_name}")
                self.lines.append(f"{where}: {len(sent)} files")
            if files and all(p in included for p in files):
                self.lines.append(f"{where}: {len(files)} files")


def check_dockerignore(shared: Facts) -> Finding:
    targets = shared.targets()
    if isinstance(targets, str):
        return shared._skip_without_bake("dockerignore")
    found = CopyAudit()
    for target in {(t.context, t.dockerfile): t for t in targets if t.dockerfile.is_file()}.values():
        found.audit(target, shared._relative(target.dockerfile))
    output = "\n".join(found.missing + found.problems + found.doubts + found.lines)
    failing = found.missing + found.problems
    if failing:
        more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        # Only a file the ignore rules leave out is the ignore file's business; a deleted one is not.
        advice = (
            "restore it or change the COPY"
            if found.missing
            else "re-include it with a `!path` line in the ignore file (the last matching line wins)"
        )
        return Finding("dockerignore", "fail", failing[0] + more, advice, output)
    if found.doubts:
        advice = "if the image needs them, add `!path` lines; if not, nothing to do"
        return Finding("dockerignore", "warn", found.doubts[0], advice, output)
    detail = f"all {found.count} COPY/ADD sources are in the build context"
    return Finding("dockerignore", "ok", detail, output=output)


def check_base_images(shared: Facts) -> Finding:
    if not shared._engine_ok():
        return shared._skip_without_engine("base images")
    targets = shared.targets()
    if isinstance(targets, str):
        return shared._skip_without_bake("base images")
    named: dict[str, str] = {}
    for target in targets:
        if target.dockerfile.is_file():
            for image, how in base_images(target.dockerfile.read_text(), target.args):
                named.setdefault(image, how)
    results = dict(zip(named, shared.pool.map(lambda image: _resolve_image(shared, image), named), strict=True))
    output = "\n".join(f"{named[image]:<16} {image}: {how}" for image, how in results.items())
    missing = [image for image, how in results.items() if how.startswith("not ")]
    if missing:
        return Finding(
            "base images",
            "fail",
            f"{named[missing[0]]}={missing[0]}: {results[missing[0]]}"
            + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""),
            base_image_advice(missing[0], named[missing[0]]),
            output,
        )
    where = {how.split()[0] for how in results.values()}
    return Finding("base images", "ok", f"{len(results)} resolvable ({', '.join(sorted(where))})", output=output)


def base_image_advice(image: str, named: str) -> str:
    """What to do about a base image this host cannot resolve: its registry named; a variable suggested only
    where the Dockerfile has one, `ci/provision` only where it builds a stand-in for that variable."""
    registry = dk.image_registry(image)
    variable = named[2:-1] if named.startswith("${") and named.endswith("}") else named.lstrip("$")
    has_variable = named.startswith("$") and variable.isidentifier()
    ways = []
    if has_variable and variable in HOST_VARIABLES:
        ways.append(f"run `ci/provision` as root (it provides a stand-in for {variable})")
    if has_variable:
        ways.append(f"set {variable} to a copy of it on a registry this host reaches (a mirror)")
    else:
        ways.append("copy it to a registry this host reaches and name that copy in the FROM")
    ways.append(f"or, if {registry} wants a login, `docker login {registry}`")
    return f"{registry} does not give it to this host: " + "; ".join(ways)


def _resolve_image(shared: Facts, image: str) -> str:
    if image.startswith("-"):  # a reference never starts so; docker would read it as an option
        return "not an image reference"
    if dk.image_exists(shared.engine, image):
        return "local"
    error = dk.image_resolvable(shared.engine, image)
    return "registry" if error is None else f"not local, and the registry says: {error}"


def check_service_images(shared: Facts) -> Finding:
    """The images of the services no target builds, found as the sessions' preflight finds them."""
    ready = shared.ready.result()
    if isinstance(ready, Finding):
        return ready
    output = "\n".join(f.line for f in ready.images)
    missing = ready.missing
    if missing:
        more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
        return Finding("service images", "fail", missing[0].problem + more, output=output)
    found = ", ".join(f"{f.service} {f.where}" for f in ready.images)
    detail = found or "none to find: every service runs an image a bake target builds"
    return Finding("service images", "ok", detail, output=output)


CHECKS: list[tuple[str, Callable[[Facts], Finding | list[Finding]]]] = [
    ("buildx", check_buildx),
    ("compose", check_compose),
    ("builder", check_builder),
    ("attestations", check_attestations),
    ("sbom", check_sbom),
    ("cosign", check_cosign),
    ("signing key", check_signing_key),
    ("public key", check_public_key),
    ("cache registry", check_registry),
    ("disk", check_disk),
    ("bake file", check_bake_file),
    ("compose file", check_compose_file),
    ("context", check_contexts),
    ("dockerignore", check_dockerignore),
    ("base images", check_base_images),
    ("service images", check_service_images),
]


def diagnose(
    settings: Settings, engine: dk.Engine, *, budget_bytes: float, cache_warn_bytes: float, builder: str | None = None
) -> list[Finding]:
    """Every check's finding, the engine's first; BUILDER: the release checks' (--builder)."""
    facts = Facts(settings, engine, budget_bytes=budget_bytes, cache_warn_bytes=cache_warn_bytes, builder=builder)
    return facts.run(CHECKS)


CHECK_NAMES = ("engine", *(name for name, _ in CHECKS))
