"""The one place that talks to Docker, through python-on-whales."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from python_on_whales import Container, DockerClient, Image
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException

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


def buildx_version(docker: DockerClient) -> str:
    """buildx's version ("github.com/docker/buildx 0.13.1+ds1 ..." -> "0.13.1+ds1")."""
    words = docker.buildx.version().split()
    return words[1] if len(words) > 1 else "0"


def inspect_builder(docker: DockerClient, name: str | None) -> tuple[str, str, list[str]]:
    """(name, driver, node endpoints) of a buildx builder; the current one when NAME is None."""
    try:
        builder = docker.buildx.inspect(name)
    except (DockerException, ValueError):
        raise CiError(f"unknown builder {name!r}: `docker buildx ls` lists the builders") from None
    nodes = [str(node.endpoint) for node in (builder.nodes or [])]
    return str(builder.name), str(builder.driver), nodes


def uses_containerd_store(context: str) -> bool:
    """Whether the engine behind a docker context (a builder node's endpoint) uses the containerd
    image store, without which the docker driver cannot export cache."""
    engine = DockerClient(context=context) if context != "default" else DockerClient()
    try:
        status = engine.system.info().driver_status or []
    except DockerException:
        return False
    return any(pair[:2] == ["driver-type", "io.containerd.snapshotter.v1"] for pair in status)


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
