"""Registries: the registry cache of prod builds (which one, whether it answers, whether the builder can
export to it), and the one reachability check every session uses."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import requests
from packaging.version import Version

from ci import docker as dk
from ci.cache.registry_api import (
    Presence,
    Ref,
    Registry,
    RegistryError,
    host_of,
    is_loopback,
    manifest_blobs,
    trusted,
    untrusted,
)
from ci.core import fetch
from ci.core.errors import CiError, UsageError
from ci.core.settings import CacheVariables, Settings, buildx_builder
from ci.core.versions import HOST_MINIMUMS, parse_version

PROBE_TIMEOUT = 2.0  # seconds


def probe_url(registry: str) -> tuple[str, bool]:
    """(the registry's /v2/ URL, whether it is on loopback): loopback registries speak plain HTTP, as the
    engine and BuildKit allow them to; others HTTPS."""
    host = host_of(registry)
    loopback = is_loopback(host)
    return f"{'http' if loopback else 'https'}://{host}/v2/", loopback


@dataclass(frozen=True)
class Answer:
    """How a registry answered the v2 API: `problem` is None when it is up (HTTP 200, or 401: up and
    wanting the credentials the builder has)."""

    url: str
    status: int | None
    problem: str | None


def probe(registry: str, timeout: float = PROBE_TIMEOUT) -> Answer:
    """Whether the registry answers at all (no login sent: `login_problem` checks that), its whole answer
    within twice TIMEOUT (the time to connect and to read it, together)."""
    url, loopback = probe_url(registry)
    with nullcontext(True) if loopback else trusted(host_of(registry)) as verify:
        try:
            response = fetch.get(
                url,
                cap=fetch.REGISTRY_BYTES,
                seconds=2 * timeout,
                read_seconds=timeout,
                verify=verify,
                trust_env=not loopback,  # a proxy from the environment cannot reach this machine's loopback
            )
        except requests.exceptions.SSLError:
            return Answer(url, None, untrusted(host_of(registry)))
        except fetch.BadAnswer as err:
            return Answer(url, None, f"{url}: {err}")
        except requests.RequestException as err:
            reason = "connection refused" if "refused" in str(err).lower() else type(err).__name__
            return Answer(url, None, f"nothing answers at {url} ({reason})")
    if response.status_code in (200, 401):
        return Answer(url, response.status_code, None)
    return Answer(url, response.status_code, f"{url} answers HTTP {response.status_code}")


def login_problem(registry: str) -> str | None:
    """Why the registry does not take the login Docker has for it (none, a wrong one); None when it does."""
    try:
        with Registry(host_of(registry)) as remote:
            remote.ping()
    except CiError as err:
        return str(err)
    return None


def wait_for(registry: str, seconds: float = 15.0) -> str | None:
    deadline = time.monotonic() + seconds
    problem = probe(registry).problem
    while problem and time.monotonic() < deadline:
        time.sleep(0.3)
        problem = probe(registry).problem
    return problem


def registry_port(variables: CacheVariables) -> int:
    raw = variables.registry_port
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise UsageError(f"CACHE_REGISTRY_PORT={raw!r} is not a port number (1-65535)")
    return int(raw)


def cache_registry(variables: CacheVariables) -> tuple[str, bool]:
    """(registry, is_default): CACHE_REGISTRY, or the project's own on localhost:CACHE_REGISTRY_PORT (VARIABLES:
    the settings' `cache`, doctor's as prod's)."""
    chosen = variables.registry
    if chosen:
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?(/[a-z0-9._/-]+)?", chosen):
            raise UsageError(
                f"CACHE_REGISTRY={chosen!r} is not a registry host[:port][/path] (for example localhost:5000)"
            )
        return chosen, False
    return f"localhost:{registry_port(variables)}", True


@dataclass
class CachePlan:
    """What prod does with the registry cache, and why; `problems` go into the report."""

    registry: str
    import_cache: bool = True
    export_cache: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.import_cache and not self.export_cache:
            return "unavailable"
        return "degraded" if self.problems else "ok"

    def degrade(self, text: str, *, strict: bool) -> None:
        """A problem of the registry cache: the session's end with --strict-cache, else a warning now and a
        line in the report."""
        if strict:
            raise CiError(f"{text} (--strict-cache: not going on without the registry cache)")
        print(f"warning: {text}", flush=True)
        self.problems.append(text)

    def verdict(self) -> str:
        """`cache degraded: <the first reason>: <what to do>` for prod's last line; "" when it works."""
        if not self.problems:
            return ""
        first = short_reason(self.problems[0])
        fix = "" if re.search(r"\b(run|put) ", first) else ": fix the registry, or `--strict-cache` to fail on it"
        return f"cache degraded: {first}{fix}"


def short_reason(problem: str) -> str:
    """PROBLEM for a last line: the cause and what to do, without the details the warning and the report keep
    (what it is about, parentheses, that the build went on), so a line cut to the terminal still holds both."""
    short = re.sub(r"^(registry cache: )?(cache registry \S+ unavailable: )?", "", problem)
    short = re.sub(r" \([^()]*\)", "", short)
    return short.removesuffix("; building without registry cache")


@dataclass(frozen=True)
class BuilderInfo:
    name: str
    driver: str
    nodes: tuple[str, ...]
    containerd_store: bool

    @property
    def classic_store(self) -> bool:
        """A docker-driver builder on the classic image store: no cache export, no attestations kept."""
        return self.driver == "docker" and not self.containerd_store

    @property
    def export_problem(self) -> str | None:
        """Why this builder cannot export registry cache, with what to change; None when it can."""
        if self.classic_store:
            return (
                f"builder {self.name} (docker driver) cannot export cache: its engine does not use the containerd "
                'image store; set {"features": {"containerd-snapshotter": true}} in /etc/docker/daemon.json and '
                "restart dockerd, or choose another builder with --builder"
            )
        return None


def builder_name(name: str | None) -> str | None:
    """The builder the release sessions use: NAME (--builder), else BUILDX_BUILDER, else None (the current)."""
    name = name or buildx_builder() or None  # buildx's own: exported only
    # buildx's and docker's own rule for builder and context names: never an option of docker's (`-x`).
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        raise UsageError(f"builder {name!r} (--builder or BUILDX_BUILDER) is not a builder name: `docker buildx ls`")
    return name


def builder_info(builder: dk.BuilderFacts) -> BuilderInfo:
    """What BUILDER can do: a docker-driver builder exports cache and keeps attestations only when each node's
    engine runs the containerd image store."""
    endpoints = tuple(node.endpoint for node in builder.nodes)
    store = builder.driver == "docker" and all(dk.uses_containerd_store(e) for e in endpoints)
    return BuilderInfo(builder.name, builder.driver, endpoints, store)


def selected_builder(engine: dk.Engine, name: str | None) -> BuilderInfo:
    """The builder prod uses (--builder, else BUILDX_BUILDER, else the current one) and its capabilities."""
    name = builder_name(name)
    version = parse_version(dk.buildx_version_line(engine)) or Version("0")
    minimum = Version(HOST_MINIMUMS["buildx"].version)
    if version < minimum:
        raise CiError(f"buildx {version} is too old: prod needs buildx >= {minimum} (run `ci/provision` as root)")
    return builder_info(dk.inspect_builder(engine, name))


def plan_cache(settings: Settings, builder: BuilderInfo, *, strict: bool) -> CachePlan:
    """Decide the registry cache for this build (the settings' CACHE_REGISTRY, else the default); starts the
    project's registry when the default one is down. Non-strict: problems are recorded and the build goes on
    without what is missing."""
    registry, is_default = cache_registry(settings.cache)
    plan = CachePlan(registry)

    def problem(text: str) -> None:
        plan.degrade(text, strict=strict)

    reason = probe(registry).problem
    if reason and is_default:
        print(f"no registry at {registry}: starting the project's cache registry", flush=True)
        dk.start_cache_registry(dk.connect(settings, profiles=["cache"]))
        reason = wait_for(registry)
        if not reason:
            plan.notes.append(f"started the project's cache registry on {registry}")
    if reason:
        plan.import_cache = plan.export_cache = False
        problem(f"cache registry {registry} unavailable: {reason}; building without registry cache")
        return plan
    refused = login_problem(registry)
    if refused:  # BuildKit, with the same login, would neither import nor export
        plan.import_cache = plan.export_cache = False
        problem(f"{refused}; building without registry cache")
        return plan
    export_problem = builder.export_problem
    if export_problem:
        plan.export_cache = False
        problem(export_problem)
    return plan


def holds(refs: Iterable[str]) -> tuple[dict[str, Presence], str | None]:
    """Whether the registry has a manifest at each of REFS (`host/repository:tag`, one registry), and the
    first reason it did not say ("unknown": the caller must not count on it either way)."""
    refs = list(refs)
    found: dict[str, Presence] = dict.fromkeys(refs, "unknown")
    if not refs:
        return found, None
    try:
        with Registry(Ref.parse(refs[0]).host) as remote:
            for ref in refs:
                found[ref] = remote.presence(Ref.parse(ref))
    except CiError as err:
        return found, str(err)  # the rest would fail alike: one reason, not one per ref
    return found, None


def copy_tag(ref: str, tag: str) -> str | None:
    """Tag the manifest at REF (`host/repository:tag`) as TAG too, in the registry alone; the problem, or
    None when done."""
    source = Ref.parse(ref)
    try:
        with Registry(source.host) as remote:
            remote.tag(source, tag)
    except CiError as err:
        return f"cannot tag {ref} as {tag}: {err}"
    return None


@dataclass(frozen=True)
class CacheRef:
    """A cache manifest in the registry; its size counts the blobs it names (refs share many of them)."""

    ref: str
    size_bytes: int
    blobs: int
    digests: frozenset[tuple[str, int]] = frozenset()  # (digest, size) of each blob it names


def distinct_bytes(refs: Iterable[CacheRef]) -> int:
    """What REFS hold in the registry: each blob once, however many refs name it (bench: its growth)."""
    return sum(size for _, size in set().union(*(r.digests for r in refs)))


@dataclass(frozen=True)
class Listing:
    """The project's cache refs, and how they were found: `note` says when not from the catalog."""

    refs: list[CacheRef]
    note: str = ""


def cache_refs(registry: str, project: str, targets: Iterable[str] = ()) -> Listing:
    """Every manifest under REGISTRY/PROJECT/ (REGISTRY with its namespace): the repositories the catalog
    lists, or, from a registry that refuses the catalog (most hosted ones), those of TARGETS. CiError when
    neither can be read."""
    host, _, namespace = registry.partition("/")
    prefix = "/".join(p for p in (namespace, project) if p) + "/"
    note = ""
    found = []
    with Registry(host) as remote:
        try:
            repositories = sorted(r for r in remote.catalog() if r.startswith(prefix))
        except RegistryError as err:
            if not targets:
                raise CiError(f"cannot list the repositories of {host}: {err}") from None
            repositories = [prefix + t for t in sorted(targets)]
            note = f"read by target: {host} does not list its catalog (HTTP {err.status or '?'})"
        for repository in repositories:
            for tag in remote.tags(repository):
                ref = Ref(host, repository, tag)
                body, _ = remote.manifest(ref)
                try:
                    blobs = manifest_blobs(json.loads(body))
                except ValueError:
                    blobs = []
                digests = frozenset((str(b.get("digest", "")), int(b.get("size", 0))) for b in blobs)
                found.append(CacheRef(str(ref), sum(int(b.get("size", 0)) for b in blobs), len(blobs), digests))
    return Listing(found, note)


def delete_cache(repository: str, tag: str | None = None) -> int:
    """Delete the cache manifests of REPOSITORY (`host/namespace/project/target`; bench: an empty registry
    cache): TAG, else every tag. The number deleted."""
    host, _, path = repository.partition("/")
    with Registry(host) as remote:
        tags = [tag] if tag else remote.tags(path)
        return sum(remote.delete(Ref(host, path, name)) for name in tags)
