"""The check phase's pure parts, and a backend that answers garbage or not at all: a failed check, never a crash."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from ci import fetch
from ci.errors import CiError
from ci.phases import check as checking
from ci.record import BuildRecord, TargetRecord
from ci.services import Checks, Endpoint, Port, Service
from ci.settings import load_settings


def test_epoch_ms_is_utc() -> None:
    assert checking.epoch_ms("2026-11-23T10:00:00Z") == 1795428000000
    assert checking.epoch_ms("yesterday") is None


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A 'backend' on loopback that answers garbage, or too late."""
    mode = request.param

    info = {"build_date": "2026-11-23T10:00:00Z", "git_commit": "abc", "cache_bust": "1", "source_digest": "sha256:x"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if mode == "slow":
                time.sleep(1.5)
            body = b"<html>502 Bad Gateway from somewhere</html>"
            if mode in ("extra", "missing"):
                answer = {**info, "greeting": "hello"} if mode == "extra" else {**info, "cache_bust": None}
                body = json.dumps({k: v for k, v in answer.items() if v is not None}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def context_for(port: int, tmp_path: Path, keys: str = "") -> tuple[checking.Context, Service]:
    settings = load_settings({}, root=tmp_path)
    target = TargetRecord(image="", image_id="", source_digest="sha256:x", git_commit="abc",
                          build_date="2026-11-23T10:00:00Z", cache_bust="1")  # fmt: skip
    build = BuildRecord(
        profile="dev", project="mainza", tag="dev", finished="now",
        variables={"GIT_COMMIT": "abc", "BUILD_DATE": "2026-11-23T10:00:00Z", "CACHE_BUST": "1"},
        targets={"backend": target},
    )  # fmt: skip
    checks = Checks(build_info=Endpoint(8000, "/build/info"), build_info_keys=frozenset(keys.split()))
    service = Service("backend", "backend", "mainza-backend:dev", (Port(port, 8000),), checks)
    return checking.Context(settings, cast(Any, None), build, [service], {}), service


@pytest.mark.parametrize("server", ["garbage"], indirect=True)
def test_a_service_answering_garbage_is_a_failed_check_with_an_excerpt(server: int, tmp_path: Path) -> None:
    with pytest.raises(
        CiError, match=r"nor `window.BUILD_INFO = \{...\}`: '<html>502 Bad Gateway from somewhere</html>'"
    ):
        checking.build_info(*context_for(server, tmp_path))


@pytest.mark.parametrize("server", ["slow"], indirect=True)
def test_a_service_timing_out_is_a_failed_check(server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "READ_SECONDS", 0.3)
    with pytest.raises(CiError, match=r"/build/info did not answer within"):
        checking.build_info(*context_for(server, tmp_path))


def test_nothing_listening_is_a_failed_check(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CiError, match=r"ConnectionError"):
        checking.build_info(*context_for(port, tmp_path))


KEYS = "build_date git_commit cache_bust source_digest"


@pytest.mark.parametrize("server", ["extra"], indirect=True)
def test_a_build_info_key_beyond_the_label_passes_and_is_listed_as_extra(server: int, tmp_path: Path) -> None:
    ctx, service = context_for(server, tmp_path, KEYS)
    assert checking.build_info(ctx, service).endswith("; extra keys: greeting")
    assert ctx.extra_keys == {"backend": ["greeting"]}


@pytest.mark.parametrize("server", ["missing"], indirect=True)
def test_a_missing_build_info_key_names_the_label_to_edit(server: int, tmp_path: Path) -> None:
    with pytest.raises(
        CiError, match=r"keys \['cache_bust'\] missing: the label mainza.verify.build-info.keys of backend"
    ):
        checking.build_info(*context_for(server, tmp_path, KEYS))
