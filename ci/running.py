"""Running the stack: host ports, compose up with health, and what is running."""

from __future__ import annotations

import re
import socket
import sys
from typing import TextIO

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from ci import docker as dk
from ci.config import Settings
from ci.errors import CiError

UP_TIMEOUT = 180  # seconds compose waits for healthy services


def port_variables(settings: Settings) -> dict[int, str]:
    return {settings.backend_port: "BACKEND_PORT", settings.frontend_port: "FRONTEND_PORT"}


def port_env(settings: Settings) -> dict[str, str]:
    """The ports as compose interpolates them."""
    return {"BACKEND_PORT": str(settings.backend_port), "FRONTEND_PORT": str(settings.frontend_port)}


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


def up_failure(docker: DockerClient, settings: Settings, err: DockerException) -> CiError:
    """A one-line reason for a failed `compose up`, with the unhealthy service's log tail on stderr."""
    text = err.stderr or ""
    taken = re.search(
        r"(?:0\.0\.0\.0|127\.0\.0\.1|\[::\]):(\d+).*(?:address already in use|port is already allocated)", text
    )
    if taken:
        port = int(taken.group(1))
        variable = port_variables(settings).get(port, "the port variable")
        return CiError(f"host port {port} is in use: free it or set {variable} to another port")
    for service, container in dk.service_containers(docker).items():
        health = container.state.health.status if container.state.health else None
        if health == "healthy" or (health is None and container.state.running):
            continue
        logs = dk.service_logs(docker, service)
        print(f"\n--- last log lines of {service} ---\n{logs.rstrip()}\n---", file=sys.stderr, flush=True)
        state = health or container.state.status
        return CiError(f"service {service} is {state} after `compose up`: its log tail is above")
    return CiError(f"compose up failed: {dk.docker_error_line(err)}")


def up(docker: DockerClient, settings: Settings, out: TextIO = sys.stdout) -> None:
    """Start the stack with forced recreation and wait until every service is healthy."""
    try:
        for line in dk.compose_up(docker, timeout=UP_TIMEOUT):
            if line:
                print(f"  {line}", file=out, flush=True)
    except DockerException as err:
        raise up_failure(docker, settings, err) from None


def status_rows(docker: DockerClient, services: tuple[str, ...]) -> list[dict[str, str]]:
    """Per service of the stack (not the cache registry beside it): container, image id, build date and
    commit (from the image's OCI labels), health."""
    rows = []
    for service, container in sorted(dk.service_containers(docker).items()):
        if service not in services:
            continue
        image = dk.inspect_image(docker, container.image)
        labels = (image.config.labels if image and image.config else None) or {}
        health = container.state.health.status if container.state.health else container.state.status
        rows.append(
            {
                "service": service,
                "container": container.name,
                "image_id": (image.id if image else container.image).removeprefix("sha256:")[:12],
                "build_date": labels.get("org.opencontainers.image.created", "?"),
                "commit": labels.get("org.opencontainers.image.revision", "?"),
                "health": str(health),
            }
        )
    return rows
