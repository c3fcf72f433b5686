"""Registries: the registry cache of prod builds (which one, whether it answers, whether the builder can
export to it), and the one reachability check every session uses."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import requests
from packaging.version import Version

from ci import docker as dk
from ci.errors import CiError, UsageError
from ci.settings import Settings
from ci.versions import HOST_MINIMUMS, parse_version

DEFAULT_REGISTRY_PORT = 5000
PROBE_TIMEOUT = 2.0  # seconds


def probe_url(registry: str) -> tuple[str, bool]:
    """(the registry's /v2/ URL, whether it is on loopback): loopback registries speak plain HTTP, as the
    engine and BuildKit allow them to; others HTTPS."""
    host = registry.split("/")[0]
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    loopback = name in ("localhost", "[::1]") or name.startswith("127.")
    return f"{'http' if loopback else 'https'}://{host}/v2/", loopback


@dataclass(frozen=True)
class Answer:
    """How a registry answered the v2 API: `problem` is None when it is up (HTTP 200, or 401: up and
    wanting the credentials the builder has)."""

    url: str
    status: int | None
    problem: str | None


def probe(registry: str, timeout: float = PROBE_TIMEOUT) -> Answer:
    url, loopback = probe_url(registry)
    with requests.Session() as session:
        session.trust_env = not loopback  # a proxy from the environment cannot reach this machine's loopback
        try:
            response = session.get(url, timeout=timeout)
        except requests.RequestException as err:
            reason = "connection refused" if "refused" in str(err).lower() else type(err).__name__
            return Answer(url, None, f"nothing answers at {url} ({reason})")
    if response.status_code in (200, 401):
        return Answer(url, response.status_code, None)
    return Answer(url, response.status_code, f"{url} answers HTTP {response.status_code}")


def wait_for(registry: str, seconds: float = 15.0) -> str | None:
    deadline = time.monotonic() + seconds
    problem = probe(registry).problem
    while problem and time.monotonic() < deadline:
        time.sleep(0.3)
        problem = probe(registry).problem
    return problem


def registry_port(environ: Mapping[str, str]) -> int:
    raw = environ.get("CACHE_REGISTRY_PORT", "").strip() or str(DEFAULT_REGISTRY_PORT)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise UsageError(f"CACHE_REGISTRY_PORT={raw!r} is not a port number (1-65535)")
    return int(raw)


def cache_registry(environ: Mapping[str, str]) -> tuple[str, bool]:
    """(registry, is_default): CACHE_REGISTRY, or the project's own on localhost:CACHE_REGISTRY_PORT."""
    chosen = environ.get("CACHE_REGISTRY", "").strip()
    if chosen:
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?(/[a-z0-9._/-]+)?", chosen):
            raise UsageError(
                f"CACHE_REGISTRY={chosen!r} is not a registry host[:port][/path] (for example localhost:5000)"
            )
        return chosen, False
    return f"localhost:{registry_port(environ)}", True


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


@dataclass(frozen=True)
class BuilderInfo:
    name: str
    driver: str
    nodes: tuple[str, ...]
    containerd_store: bool

    @property
    def export_problem(self) -> str | None:
        """Why this builder cannot export registry cache, with what to change; None when it can."""
        if self.driver == "docker" and not self.containerd_store:
            return (
                f"builder {self.name} (docker driver) cannot export cache: its engine does not use the containerd "
                'image store; set {"features": {"containerd-snapshotter": true}} in /etc/docker/daemon.json and '
                "restart dockerd, or choose another builder with --builder"
            )
        return None


def selected_builder(engine: dk.Engine, name: str | None) -> BuilderInfo:
    """The builder prod uses (--builder, else BUILDX_BUILDER, else the current one) and its capabilities."""
    name = name or os.environ.get("BUILDX_BUILDER") or None
    version = parse_version(dk.buildx_version_line(engine)) or Version("0")
    minimum = Version(HOST_MINIMUMS["buildx"].version)
    if version < minimum:
        raise CiError(f"buildx {version} is too old: prod needs buildx >= {minimum} (run `ci/provision` as root)")
    builder = dk.inspect_builder(engine, name)
    endpoints = tuple(node.endpoint for node in builder.nodes)
    store = builder.driver == "docker" and all(dk.uses_containerd_store(e) for e in endpoints)
    return BuilderInfo(builder.name, builder.driver, endpoints, store)


def plan_cache(settings: Settings, builder: BuilderInfo, environ: Mapping[str, str], *, strict: bool) -> CachePlan:
    """Decide the registry cache for this build; starts the project's registry when the default one is
    down. Non-strict: problems are recorded and the build goes on without what is missing."""
    registry, is_default = cache_registry(environ)
    plan = CachePlan(registry)

    def problem(text: str) -> None:
        if strict:
            raise CiError(f"{text} (strict cache: not building)")
        print(f"warning: {text}", flush=True)
        plan.problems.append(text)

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
    export_problem = builder.export_problem
    if export_problem:
        plan.export_cache = False
        problem(export_problem)
    return plan


# A cache manifest is an index (BuildKit's default) or an image manifest (image-manifest=true).
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
)
Presence = Literal["present", "absent", "unknown"]


def _session(registry: str) -> tuple[requests.Session, str]:
    url, loopback = probe_url(registry)
    session = requests.Session()
    session.trust_env = not loopback
    session.headers["Accept"] = MANIFEST_TYPES
    return session, url


def holds(registry: str, refs: Iterable[str]) -> dict[str, Presence]:
    """Whether REGISTRY has a manifest at each of REFS (`REGISTRY/repository:tag`); "unknown" when it does
    not say (a registry wanting a token, an error): the caller must not count on it either way."""
    session, url = _session(registry)
    found: dict[str, Presence] = {}
    with session:
        for ref in refs:
            repository, _, tag = ref.removeprefix(f"{registry}/").rpartition(":")
            try:
                status = session.head(f"{url}{repository}/manifests/{tag}", timeout=PROBE_TIMEOUT).status_code
            except requests.RequestException:
                status = 0
            found[ref] = "present" if status == 200 else "absent" if status == 404 else "unknown"
    return found


def copy_tag(registry: str, ref: str, tag: str) -> str | None:
    """Tag the manifest at REF (`REGISTRY/repository:tag`) as TAG too, in the registry alone; the problem,
    or None when done."""
    session, url = _session(registry)
    repository, _, source = ref.removeprefix(f"{registry}/").rpartition(":")
    with session:
        try:
            got = session.get(f"{url}{repository}/manifests/{source}", timeout=PROBE_TIMEOUT)
            got.raise_for_status()
            kind = got.headers.get("Content-Type", "application/vnd.oci.image.index.v1+json")
            put = session.put(
                f"{url}{repository}/manifests/{tag}", data=got.content, headers={"Content-Type": kind}, timeout=5
            )
            put.raise_for_status()
        except requests.RequestException as err:
            return f"cannot tag {ref} as {tag}: {type(err).__name__} ({err})"
    return None


@dataclass(frozen=True)
class CacheRef:
    """A cache manifest in the registry; its size counts the blobs it names (refs share many of them)."""

    ref: str
    size_bytes: int
    blobs: int


def cache_refs(registry: str, project: str) -> list[CacheRef]:
    """Every manifest under REGISTRY/PROJECT/ (the project's cache refs), by repository and tag. CiError when
    the registry does not list them."""
    session, url = _session(registry)
    found = []
    with session:
        try:
            catalog = session.get(f"{url}_catalog?n=1000", timeout=PROBE_TIMEOUT)
            catalog.raise_for_status()
            repositories = [r for r in catalog.json().get("repositories") or [] if r.startswith(f"{project}/")]
            for repository in sorted(repositories):
                listed = session.get(f"{url}{repository}/tags/list", timeout=PROBE_TIMEOUT)
                for tag in sorted(listed.json().get("tags") or [] if listed.ok else []):
                    manifest = session.get(f"{url}{repository}/manifests/{tag}", timeout=PROBE_TIMEOUT)
                    if manifest.ok:
                        body = manifest.json()
                        blobs = [
                            *(body.get("manifests") or body.get("layers") or []),
                            *([body["config"]] if "config" in body else []),
                        ]
                        size = sum(int(b.get("size", 0)) for b in blobs)
                        found.append(CacheRef(f"{registry}/{repository}:{tag}", size, len(blobs)))
        except (requests.RequestException, ValueError) as err:
            raise CiError(f"registry {registry} does not list its repositories: {type(err).__name__}") from None
    return found


def delete_cache(registry: str, repository: str, tag: str | None = None) -> int:
    """Delete the cache manifests of REPOSITORY (bench: an empty registry cache): TAG, else every tag. The
    number deleted."""
    session, url = _session(registry)
    deleted = 0
    with session:
        listed = session.get(f"{url}{repository}/tags/list", timeout=5)
        tags = [tag] if tag else (listed.json().get("tags") or [] if listed.ok else [])
        for name in tags:
            head = session.head(f"{url}{repository}/manifests/{name}", timeout=5)
            digest = head.headers.get("Docker-Content-Digest")
            if head.status_code == 200 and digest:
                deleted += session.delete(f"{url}{repository}/manifests/{digest}", timeout=5).status_code in (200, 202)
    return deleted
