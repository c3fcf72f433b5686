"""The running stack: host ports, compose up with health, what runs, and clearing the project away."""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from ci import docker as dk
from ci.errors import CiError, DockerFailed
from ci.settings import Settings

UP_TIMEOUT = 180  # seconds compose waits for healthy services
STARTING_GRACE = 30.0  # seconds waited for a starting service beyond its healthcheck's start period
# Services that outlive a rebuild: the project's cache registry (compose profile "cache").
KEEP_SERVICES = frozenset({"registry"})


def port_variables(settings: Settings) -> dict[int, str]:
    return {settings.backend_port: "BACKEND_PORT", settings.frontend_port: "FRONTEND_PORT"}


def compose_env(settings: Settings, tag: str) -> dict[str, str]:
    """What compose interpolates beyond the host's defaults: the images' tag and the host ports."""
    return {"TAG": tag, **{variable: str(port) for port, variable in port_variables(settings).items()}}


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_ports(settings: Settings) -> None:
    if settings.backend_port == settings.frontend_port:
        raise CiError(f"BACKEND_PORT and FRONTEND_PORT are both {settings.backend_port}: give them different ports")
    for port, variable in port_variables(settings).items():
        if not port_free(port):
            raise CiError(f"host port {port} is in use on 127.0.0.1: free it or set {variable} to another port")


def remove_project(engine: dk.Engine, project: str) -> tuple[int, int]:
    """Stop and remove the project's containers (their volumes stay) but the cache registry, then remove
    the project's images. Returns the counts."""
    containers = [c.id for c in dk.project_containers(engine, project) if c.service not in KEEP_SERVICES]
    try:
        dk.remove_containers(engine, containers)
        images = dk.project_image_ids(engine, project)
        dk.remove_images(engine, images)
    except DockerFailed as err:
        raise CiError(f"could not remove the previous {project} containers and images: {err}") from None
    return len(containers), len(images)


def up_failure(engine: dk.Engine, settings: Settings, err: DockerFailed) -> CiError:
    """A one-line reason for a failed `compose up`, with the unhealthy service's log tail on stderr."""
    taken = re.search(
        r"(?:0\.0\.0\.0|127\.0\.0\.1|\[::\]):(\d+).*(?:address already in use|port is already allocated)", err.stderr
    )
    if taken:
        port = int(taken.group(1))
        variable = port_variables(settings).get(port, "the port variable")
        return CiError(f"host port {port} is in use: free it or set {variable} to another port")
    for service, container in dk.service_containers(engine).items():
        if container.health == "healthy" or (container.health is None and container.running):
            continue
        logs = dk.service_logs(engine, service)
        print(f"\n--- last log lines of {service} ---\n{logs.rstrip()}\n---", file=sys.stderr, flush=True)
        return CiError(f"service {service} is {container.state} after `compose up`: its log tail is above")
    return CiError(f"compose up failed: {err}")


def up(engine: dk.Engine, settings: Settings, out: TextIO = sys.stdout) -> None:
    """Start the stack with forced recreation and wait until every service is healthy."""
    try:
        for line in dk.compose_up(engine, timeout=UP_TIMEOUT):
            if line:
                print(f"  {line}", file=out, flush=True)
    except DockerFailed as err:
        raise up_failure(engine, settings, err) from None


def wait_while_starting(
    engine: dk.Engine, services: tuple[str, ...], clock: Callable[[], float] = time.monotonic
) -> dict[str, dk.ContainerInfo]:
    """The stack's containers, once none is `starting` any more (a `compose up -d` without --wait a
    moment ago): each is waited for up to its healthcheck's start period plus a bound, with one line."""
    start = clock()
    announced = False
    while True:
        containers = {s: c for s, c in dk.service_containers(engine).items() if s in services}
        starting = [c for c in containers.values() if c.running and c.health == "starting"]
        if not starting or clock() - start > max(c.start_period for c in starting) + STARTING_GRACE:
            return containers
        if not announced:
            print(f"waiting for {', '.join(c.service for c in starting)} to finish starting", flush=True)
            announced = True
        time.sleep(0.5)


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    container: str
    image_id: str  # short
    build_date: str
    commit: str
    health: str


def status(engine: dk.Engine, services: tuple[str, ...]) -> list[ServiceStatus]:
    """Per service of the stack (not the cache registry beside it): container, image id, build date and
    commit (from the image's OCI labels), health."""
    rows = []
    for service, container in sorted(dk.service_containers(engine).items()):
        if service not in services:
            continue
        image = dk.inspect_image(engine, container.image)
        labels = image.labels if image else {}
        rows.append(
            ServiceStatus(
                service=service,
                container=container.name,
                image_id=(image.id if image else container.image).removeprefix("sha256:")[:12],
                build_date=labels.get("org.opencontainers.image.created", "?"),
                commit=labels.get("org.opencontainers.image.revision", "?"),
                health=container.state,
            )
        )
    return rows
