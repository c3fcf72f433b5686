"""Host ports: a taken port is named with the variable that moves it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ci.errors import CiError
from ci.settings import load_settings
from ci.stack import port_free, require_free_ports


def test_a_bound_port_is_not_free_and_is_named_with_its_variable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_free(port)
        settings = load_settings({"BACKEND_PORT": str(port), "FRONTEND_PORT": str(port + 1)}, root=tmp_path)
        with pytest.raises(CiError, match=f"host port {port} is in use on 127.0.0.1: free it or set BACKEND_PORT"):
            require_free_ports(settings)


def test_equal_ports_are_refused(tmp_path: Path) -> None:
    settings = load_settings({"BACKEND_PORT": "18000", "FRONTEND_PORT": "18000"}, root=tmp_path)
    with pytest.raises(CiError, match="give them different ports"):
        require_free_ports(settings)
