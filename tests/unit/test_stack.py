"""Host ports: a taken port is named with the variable that moves it; the stack's own ports are not taken."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ci.errors import CiError
from ci.services import Port
from ci.settings import Settings
from ci.stack import port_free, require_free_ports


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
