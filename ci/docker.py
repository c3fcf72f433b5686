"""The one place that talks to Docker, through python-on-whales."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from python_on_whales import Container, DockerClient, Image
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from ci.config import Settings
from ci.errors import CiError, EngineUnreachable

PROJECT_LABEL = "mainza.project"  # set on every image by the bake file's _common target
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


def client(settings: Settings, compose_env: Mapping[str, str] | None = None) -> DockerClient:
    """A client bound to this project's compose file and name.

    python-on-whales runs `docker compose` with this process's environment and has no per-call env,
    so the values compose interpolates (TAG, ports, base images) are set here, once.
    """
    os.environ.update(settings.host_defaults)
    os.environ["COMPOSE_PROJECT_NAME"] = settings.project
    os.environ.update(compose_env or {})
    return DockerClient(compose_files=[settings.compose_file], compose_project_name=settings.project)


def engine_location() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def require_engine(docker: DockerClient) -> str:
    """The engine's version, or EngineUnreachable with what to do about it."""
    try:
        return str(docker.version().server.version)  # type: ignore[union-attr]
    except ClientNotFoundError:
        raise EngineUnreachable(
            "the docker client is not installed: run `sudo ci/provision` (Debian 12) or install Docker"
        ) from None
    except (DockerException, AttributeError):
        raise EngineUnreachable(
            f"no Docker engine answers at {engine_location()}: "
            "run `sudo ci/provision` (Debian 12), or start Docker, or fix DOCKER_HOST"
        ) from None


def docker_error_line(err: DockerException) -> str:
    """The last meaningful line of a failed docker command's stderr."""
    lines = [line.strip() for line in (err.stderr or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"`{' '.join(err.docker_command)}` exited with {err.return_code}"


def bake_stream(
    docker: DockerClient,
    bake_file: Path,
    targets: list[str],
    *,
    variables: Mapping[str, str],
    no_cache: bool,
    metadata_file: Path,
    builder: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run bake with buildx's machine-readable progress and yield its output as it comes.

    The bake file is always named: with none, buildx would merge compose.yaml from the same folder.
    "rawjson" is accepted by buildx 0.13 although its --help and python-on-whales' type hint do not list it.
    Raises DockerException when bake fails, after the whole stream was yielded.
    """
    stream = docker.buildx.bake(
        targets=targets,
        files=[bake_file],
        load=True,
        cache=not no_cache,
        progress=cast(Any, "rawjson"),
        set=dict(overrides or {}),
        variables=dict(variables),
        metadata_file=metadata_file,
        builder=builder,
        stream_logs=True,
    )
    yield from cast(Iterator[str], stream)


def project_images(docker: DockerClient, project: str) -> list[Image]:
    return docker.image.list(filters=[("label", f"{PROJECT_LABEL}={project}")])


def project_containers(docker: DockerClient, project: str) -> list[Container]:
    """Every container of the compose project, running or not."""
    return docker.container.list(all=True, filters=[("label", f"{COMPOSE_PROJECT_LABEL}={project}")])


# Services that outlive a rebuild: the project's cache registry (compose profile "cache").
KEEP_SERVICES = frozenset({"registry"})


def remove_project(docker: DockerClient, project: str) -> tuple[int, int]:
    """Stop and remove the project's containers (their volumes stay) but the cache registry, then remove
    the project's images. Returns the counts."""
    containers = [
        c
        for c in project_containers(docker, project)
        if (c.config.labels or {}).get("com.docker.compose.service") not in KEEP_SERVICES
    ]
    try:
        if containers:
            docker.container.stop(containers, time=10)
            docker.container.remove(containers, force=True, volumes=False)
        images = project_images(docker, project)
        if images:
            docker.image.remove(images, force=True)
    except DockerException as err:
        raise CiError(
            f"could not remove the previous {project} containers and images: {docker_error_line(err)}"
        ) from None
    return len(containers), len(images)


def compose_up(docker: DockerClient, *, timeout: int) -> Iterator[str]:
    """`compose up --wait --force-recreate`, yielding its output lines; raises DockerException on failure."""
    stream = docker.compose.up(
        detach=True, wait=True, wait_timeout=timeout, force_recreate=True, pull="never", stream_logs=True
    )
    for _, line in stream:
        yield line.decode(errors="replace").rstrip()


def service_containers(docker: DockerClient) -> dict[str, Container]:
    return {(c.config.labels or {}).get("com.docker.compose.service", c.name): c for c in docker.compose.ps(all=True)}


def service_logs(docker: DockerClient, service: str, tail: int = 20) -> str:
    try:
        return str(docker.compose.logs(services=[service], tail=str(tail), no_log_prefix=True))
    except DockerException:
        return ""


def inspect_image(docker: DockerClient, ref: str) -> Image | None:
    try:
        return docker.image.inspect(ref)
    except DockerException:
        return None


# --- builders, cache registry and pushes (prod) ---------------------------------------------------


@dataclass(frozen=True)
class NodeFacts:
    endpoint: str  # a docker context name for the docker driver
    status: str  # running, inactive, stopped, error...
    version: str | None  # BuildKit's, when the node reports it


@dataclass(frozen=True)
class BuilderFacts:
    name: str
    driver: str
    nodes: tuple[NodeFacts, ...]

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(node.status for node in self.nodes)


def inspect_builder(docker: DockerClient, name: str | None = None) -> BuilderFacts:
    """A buildx builder: NAME, else the one bake would use (BUILDX_BUILDER or the selected one)."""
    try:
        builder = docker.buildx.inspect(name)
    except (DockerException, ValueError) as err:
        if name:
            raise CiError(f"unknown builder {name!r}: `docker buildx ls` lists the builders") from None
        line = docker_error_line(err) if isinstance(err, DockerException) else str(err)
        raise CiError(f"cannot inspect the current builder: {line}") from None
    nodes = tuple(NodeFacts(str(n.endpoint), str(n.status), n.version) for n in builder.nodes or [])
    return BuilderFacts(str(builder.name), str(builder.driver), nodes)


def uses_containerd_store(context: str) -> bool:
    """Whether the engine behind a docker context (a builder node's endpoint) uses the containerd
    image store, without which the docker driver cannot export cache."""
    try:
        return engine_facts(DockerClient(context=context) if context != "default" else DockerClient()).containerd_store
    except CiError:
        return False


def start_cache_registry(settings: Settings) -> None:
    """The project's own registry (compose service `registry`, profile `cache`, named volume)."""
    docker = DockerClient(
        compose_files=[settings.compose_file], compose_project_name=settings.project, compose_profiles=["cache"]
    )
    try:
        docker.compose.up(services=["registry"], detach=True, pull="missing", quiet=True)
    except DockerException as err:
        raise CiError(f"could not start the project's cache registry: {docker_error_line(err)}") from None


def engine_for_builder(driver: str, nodes: list[str] | tuple[str, ...]) -> DockerClient:
    """The engine a builder loads images into: a docker-driver builder's own node (a docker context),
    else the current engine."""
    if driver == "docker" and nodes and nodes[0] != "default":
        return DockerClient(context=nodes[0])
    return DockerClient()


def image_resolvable(docker: DockerClient, ref: str) -> bool:
    try:
        docker.buildx.imagetools.inspect(ref)
    except DockerException:
        return False
    return True


def push_image(docker: DockerClient, ref: str) -> None:
    try:
        docker.image.push(ref, quiet=True)
    except DockerException as err:
        raise CiError(f"push of {ref} refused: {docker_error_line(err)}") from None


def container_logs(docker: DockerClient, container: Container) -> str:
    try:
        return str(docker.container.logs(container))
    except DockerException:
        return ""


def stop_services(docker: DockerClient, services: list[str]) -> None:
    """Stop and remove the stack's containers (verify --down); volumes and the cache registry stay."""
    try:
        docker.compose.rm(services=services, stop=True, volumes=False)
    except DockerException as err:
        raise CiError(f"could not stop the stack: {docker_error_line(err)}") from None


def forget_images_and_cache(docker: DockerClient, refs: list[str]) -> None:
    """Make this engine a fresh runner (bench): remove REFS where present, and all its build cache."""
    present = [ref for ref in refs if docker.image.exists(ref)]
    if present:
        docker.image.remove(present, force=True)
    docker.buildx.prune(all=True)


# --- prune: facts about this project's garbage, removal, build cache, disk figures ----------------

# Only containers in these states are garbage; "created" may be a compose up about to start it.
STOPPED_STATES = frozenset({"exited", "dead"})


@dataclass(frozen=True)
class ContainerFacts:
    id: str
    name: str
    image: str  # image id
    status: str
    labels: dict[str, str]
    volumes: tuple[str, ...]  # every volume it mounts
    anonymous_volumes: tuple[str, ...]  # those `docker rm --volumes` would remove with it


@dataclass(frozen=True)
class ImageFacts:
    id: str
    tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: datetime


def _cli(docker: DockerClient, *args: str) -> str:
    """`docker ARGS` with the client's own base command (host, context, config), for what python-on-whales
    0.81 lacks: `buildx prune` has no --keep-storage/--reserved-space/--max-used-space, `system df` no
    verbose mode (and its parser fails on negative sizes), and its objects re-inspect on every attribute
    read (10 ms cache), so a snapshot of every container would cost one `docker inspect` per attribute
    instead of one in all. Raises DockerException."""
    return str(run([*docker.client_config.docker_cmd, *args]))


def _inspect(docker: DockerClient, kind: str, ids: list[str]) -> list[dict[str, Any]]:
    """Bulk inspect; an object removed meanwhile is left out (docker still prints the others)."""
    if not ids:
        return []
    try:
        out = _cli(docker, kind, "inspect", *ids)
    except DockerException as err:
        out = err.stdout or ""
        if "No such" not in (err.stderr or ""):
            raise CiError(f"could not inspect {kind}s: {docker_error_line(err)}") from None
    return cast(list[dict[str, Any]], json.loads(out or "[]"))


def anonymous_volumes(inspect: Mapping[str, Any]) -> tuple[str, ...]:
    """A container's volumes that were not named when it was created (`-v /data`, an image VOLUME, a
    compose volume without a name): those the engine removes with `docker rm --volumes`."""
    host = inspect.get("HostConfig") or {}
    named = {bind.split(":", 1)[0] for bind in host.get("Binds") or [] if not bind.startswith("/")}
    named |= {m.get("Source") for m in host.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Source")}
    return tuple(
        m["Name"] for m in inspect.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Name") not in named
    )


def container_facts(docker: DockerClient) -> list[ContainerFacts]:
    """Every container on the engine, running or not: which images and volumes are in use."""
    try:
        ids = [c.id for c in docker.container.list(all=True)]
    except DockerException as err:
        raise CiError(f"could not list containers: {docker_error_line(err)}") from None
    return [
        ContainerFacts(
            id=c["Id"],
            name=c.get("Name", "").lstrip("/"),
            image=c.get("Image", ""),
            status=(c.get("State") or {}).get("Status", ""),
            labels=dict((c.get("Config") or {}).get("Labels") or {}),
            volumes=tuple(m["Name"] for m in c.get("Mounts") or [] if m.get("Type") == "volume"),
            anonymous_volumes=anonymous_volumes(c),
        )
        for c in _inspect(docker, "container", ids)
    ]


def _created(text: str) -> datetime:
    # RFC 3339 with nanoseconds: Python reads at most microseconds.
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00")))


def project_image_facts(docker: DockerClient, project: str) -> list[ImageFacts]:
    """The images labelled with the project, tagged or dangling."""
    try:
        ids = [i.id for i in project_images(docker, project)]
    except DockerException as err:
        raise CiError(f"could not list the {project} images: {docker_error_line(err)}") from None
    return [
        ImageFacts(i["Id"], tuple(i.get("RepoTags") or ()), tuple(i.get("RepoDigests") or ()), _created(i["Created"]))
        for i in _inspect(docker, "image", ids)
    ]


def disk_summary(docker: DockerClient) -> list[dict[str, Any]]:
    """`docker system df`, one row per type (Type, TotalCount, Active, Size, Reclaimable as docker prints
    them). Read here, not with python-on-whales' disk_free: its parser fails on the negative sizes docker
    prints while an image is being written ("-3.228e+06B")."""
    try:
        out = _cli(docker, "system", "df", "--format", "{{json .}}")
    except DockerException as err:
        raise CiError(f"`docker system df` failed: {docker_error_line(err)}") from None
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def disk_usage_detail(docker: DockerClient) -> dict[str, list[dict[str, Any]]]:
    """`docker system df --verbose`: each image, container, volume and build cache record with its size."""
    try:
        detail = json.loads(_cli(docker, "system", "df", "--verbose", "--format", "{{json .}}"))
    except DockerException as err:
        raise CiError(f"`docker system df --verbose` failed: {docker_error_line(err)}") from None
    return {key: list(detail.get(key) or []) for key in ("Images", "Containers", "Volumes", "BuildCache")}


def volume_names(docker: DockerClient) -> set[str]:
    try:
        return {v.name for v in docker.volume.list()}
    except DockerException as err:
        raise CiError(f"could not list volumes: {docker_error_line(err)}") from None


def remove_container(docker: DockerClient, container_id: str, *, volumes: bool) -> str | None:
    """Remove a stopped container, never forced (a container started meanwhile stays): None, or why not.
    With VOLUMES the engine also removes its anonymous volumes, never named ones, nor one still in use."""
    try:
        docker.container.remove(container_id, force=False, volumes=volumes)
    except DockerException as err:
        return docker_error_line(err)
    return None


def remove_image(docker: DockerClient, ref: str) -> str | None:
    """Remove an image reference, never forced (the engine refuses one a container uses): None, or why not."""
    try:
        docker.image.remove(ref, force=False, prune=True)
    except DockerException as err:
        return docker_error_line(err)
    return None


def prune_build_cache(docker: DockerClient, *, until: str, space_flag: str, keep_bytes: int) -> str:
    """`buildx prune` of cache unused for UNTIL, down to KEEP_BYTES when not 0; returns buildx's output."""
    args = ["buildx", "prune", "--force", "--filter", f"until={until}"]
    if keep_bytes:
        args += [space_flag, str(keep_bytes)]
    try:
        return _cli(docker, *args)
    except DockerException as err:
        raise CiError(f"`docker {' '.join(args)}` failed: {docker_error_line(err)}") from None


# --- doctor and lint: what the host has, read-only ------------------------------------------------


def buildx_version_line(docker: DockerClient) -> str:
    """`docker buildx version`, e.g. "github.com/docker/buildx v0.16.2 abc"; CiError when buildx is missing."""
    try:
        return docker.buildx.version().strip()
    except DockerException as err:
        raise CiError(f"docker buildx does not answer: {docker_error_line(err)}") from None


def compose_version_line(docker: DockerClient) -> str:
    """`docker compose version`, e.g. "Docker Compose version v2.29.1"; CiError when compose is missing."""
    try:
        return docker.compose.version().strip()
    except DockerException as err:
        raise CiError(f"docker compose does not answer: {docker_error_line(err)}") from None


@dataclass(frozen=True)
class EngineFacts:
    containerd_store: bool  # images in containerd: the docker driver can then export registry cache
    root_dir: str  # the engine's data root, on the engine's machine


def engine_facts(docker: DockerClient) -> EngineFacts:
    """From `docker info`."""
    try:
        info = docker.system.info()
    except DockerException as err:
        raise CiError(f"`docker info` failed: {docker_error_line(err)}") from None
    status = {pair[0]: pair[1] for pair in info.driver_status or [] if len(pair) == 2}
    return EngineFacts(
        containerd_store=status.get("driver-type") == "io.containerd.snapshotter.v1",
        root_dir=str(info.docker_root_dir or ""),
    )


_SIZE = re.compile(r"^\s*(-?[0-9.]+(?:e[+-]?[0-9]+)?)\s*([kMGTP]?)i?B\s*$", re.I)


def parse_size(text: str) -> int:
    """Bytes of a size as the docker CLI prints it ("583MB", "1.547GB", "14B", "8.706e+07B"), decimal units."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    scale = 1000 ** " KMGTP".index((match.group(2) or " ").upper())
    return int(float(match.group(1)) * scale)


def build_cache_bytes(docker: DockerClient) -> int:
    """The build cache's size from `docker system df`. Read here rather than through python-on-whales'
    DiskFreeResult, whose model rejects the negative "Reclaimable" values engines 26.x print for images
    sharing layers in the containerd store ("-8.706e+07B")."""
    from python_on_whales.utils import run as run_cli

    try:
        out = run_cli([*docker.client_config.docker_cmd, "system", "df", "--format", "{{json .}}"])
    except DockerException as err:
        raise CiError(f"`docker system df` failed: {docker_error_line(err)}") from None
    for line in str(out).splitlines():
        row = json.loads(line) if line.strip().startswith("{") else {}
        if row.get("Type") == "Build Cache":
            return max(0, parse_size(str(row.get("Size") or "0B")))
    return 0


def bake_definition(
    docker: DockerClient, bake_file: Path, targets: list[str], variables: Mapping[str, str]
) -> dict[str, Any]:
    """`bake --print TARGETS`: the resolved groups and targets. CiError with buildx's message when it fails."""
    try:
        definition = docker.buildx.bake(targets=targets, files=[bake_file], print=True, variables=dict(variables))
    except DockerException as err:
        raise CiError(f"{bake_file.name}: {docker_error_line(err).removeprefix('ERROR: ')}") from None
    return definition if isinstance(definition, dict) else {}


def bake_check(docker: DockerClient, bake_file: Path, targets: list[str], variables: Mapping[str, str]) -> str:
    """`bake --check TARGETS` (buildx >= 0.16): the build checks of each target, building nothing.
    python-on-whales 0.81 has no --check, so the client's own base command is run. Raises DockerException."""
    from python_on_whales.utils import run as run_cli

    cmd = [*docker.client_config.docker_cmd, "buildx", "bake", "--file", str(bake_file), "--check", *targets]
    out, err = run_cli(cmd, env=dict(variables), return_stderr=True)
    return "\n".join(part for part in (out, err) if part)


def image_present(docker: DockerClient, ref: str) -> bool:
    """Whether the engine has REF locally (the docker driver builds FROM a local image without pulling)."""
    try:
        return bool(docker.image.exists(ref))
    except DockerException:
        return False


def registry_manifest_error(docker: DockerClient, ref: str) -> str | None:
    """None when a registry serves REF's manifest, else why not (one line)."""
    try:
        docker.buildx.imagetools.inspect(ref)
    except DockerException as err:
        return docker_error_line(err).removeprefix("ERROR: ")
    except ValueError:
        return None  # served, in a manifest shape python-on-whales does not model
    return None
