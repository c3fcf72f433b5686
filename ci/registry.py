"""Registries: the registry cache of prod builds (which one, whether it answers, whether the builder can
export to it), and the one reachability check every session uses."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

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


def delete_cache(registry: str, repository: str, tag: str = "buildcache") -> bool:
    """Delete a cache manifest (bench: an empty registry cache). False when there was none."""
    url, _ = probe_url(registry)
    base = f"{url}{repository}/manifests"
    accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"
    head = requests.head(f"{base}/{tag}", headers={"Accept": accept}, timeout=5)
    digest = head.headers.get("Docker-Content-Digest")
    if head.status_code != 200 or not digest:
        return False
    return requests.delete(f"{base}/{digest}", timeout=5).status_code in (200, 202)
