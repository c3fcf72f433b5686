"""The registry cache of prod builds: which registry, whether it answers, whether the builder can use it."""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
from packaging.version import Version
from python_on_whales import DockerClient

from ci import docker as dk
from ci.config import Settings
from ci.errors import CiError, UsageError
from ci.versions import parse_version

# buildx: --progress=rawjson and --metadata-file with bake, cache-to ignore-error.
MIN_BUILDX = Version("0.13")
DEFAULT_REGISTRY_PORT = 5000


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


def is_local(registry: str) -> bool:
    host = registry.split("/")[0].rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probe_registry(registry: str, timeout: float = 2.0) -> str | None:
    """None when the registry answers the v2 API; else a short reason. Loopback registries speak plain
    HTTP (the engine and BuildKit allow it there); any other is asked over HTTPS."""
    host = registry.split("/")[0]
    url = f"{'http' if is_local(registry) else 'https'}://{host}/v2/"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as err:
        reason = type(err).__name__.replace("Error", " error").replace("Connection error", "connection refused")
        return f"nothing answers at {url} ({reason})"
    if response.status_code in (200, 401):  # 401: up, and wants credentials (the builder has them)
        return None
    return f"{url} answers HTTP {response.status_code}: {response.text.strip()[:120]}"


def wait_for_registry(registry: str, seconds: float = 15.0) -> str | None:
    deadline = time.monotonic() + seconds
    problem = probe_registry(registry)
    while problem and time.monotonic() < deadline:
        time.sleep(0.3)
        problem = probe_registry(registry)
    return problem


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


def selected_builder(docker: DockerClient, name: str | None) -> BuilderInfo:
    """The builder prod uses (--builder, else BUILDX_BUILDER, else the current one) and its capabilities."""
    name = name or os.environ.get("BUILDX_BUILDER") or None
    version = parse_version(dk.buildx_version_line(docker)) or Version("0")
    if version < MIN_BUILDX:
        raise CiError(f"buildx {version} is too old: prod needs buildx >= {MIN_BUILDX} (run `sudo ci/provision`)")
    builder = dk.inspect_builder(docker, name)
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

    reason = probe_registry(registry)
    if reason and is_default:
        print(f"no registry at {registry}: starting the project's cache registry", flush=True)
        dk.start_cache_registry(settings)
        reason = wait_for_registry(registry)
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
    base = f"{'http' if is_local(registry) else 'https'}://{registry.split('/')[0]}/v2/{repository}/manifests"
    accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"
    head = requests.head(f"{base}/{tag}", headers={"Accept": accept}, timeout=5)
    digest = head.headers.get("Docker-Content-Digest")
    if head.status_code != 200 or not digest:
        return False
    return requests.delete(f"{base}/{digest}", timeout=5).status_code in (200, 202)
