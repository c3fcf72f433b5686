"""Host ports: a taken port is named with the variable that moves it; the stack's own ports are not taken. Why a
container is not ready, in the one health rule's words."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ci import docker as dk
from ci.errors import CiError
from ci.services import Port
from ci.settings import Settings
from ci.stack import port_free, ready, require_free_ports, unready


def test_a_bound_port_is_not_free_and_is_named_with_its_variable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_free(port)
        settings = Settings(root=tmp_path, project="p", reports_dir=tmp_path, ports={port: "BACKEND_PORT"})
        with pytest.raises(CiError, match=f"host port {port} is in use on 127.0.0.1: free it or set BACKEND_PORT"):
            require_free_ports(settings, [Port(port, 8000)])
        require_free_ports(settings, [Port(port, 8000)], held=[port])  # the running stack's own: replaced by up


def test_why_a_container_is_not_ready_is_said_in_the_one_health_rules_words() -> None:
    def container(status: str = "running", health: str | None = "healthy", **kw: object) -> dk.ContainerInfo:
        fields: dict[str, object] = {"running": status == "running", "exit_code": 3, **kw}
        return dk.ContainerInfo(id="c", name="p-db-1", service="db", image="sha256:x", status=status, health=health,
                                **fields)  # fmt: skip

    cases = [
        (container(), ""),
        (container(health=None), ""),  # no healthcheck: running is ready
        (container("exited", None), "exited (exit code 3)"),
        (container("restarting"), "restarting (exit code 3)"),
        (container(restarts=1), "restarted 1 time by its restart policy"),
        (container(health="unhealthy"), "unhealthy"),
        (container(health="starting"), "starting"),
    ]
    for found, says in cases:
        assert unready(found) == says
        assert ready(found) == (says == "")
