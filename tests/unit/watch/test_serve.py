"""watch's live page over HTTP, as a browser, a hostile page in another tab and a client that stops reading
would meet it: the Host check, GET alone, the CSP on every answer, the event stream's framing, text from
outside inert in it, a port in use, and a client that does not read holding nothing up."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ci.core import secrets
from ci.stack.services import Checks, Service
from ci.watch import board as b
from ci.watch import serve
from ci.watch.turns import Turn

SERVICES = [
    Service("backend", "backend", "b:dev", (), Checks()),
    Service("frontend", "frontend", "f:dev", (), Checks()),
]


@pytest.fixture
def page() -> Iterator[serve.Page]:
    board = b.Board("mainza")
    board.define(SERVICES)
    opened = serve.open_page(board, 0)
    assert isinstance(opened, serve.Page)
    yield opened
    opened.stop()
    secrets.forget()


def port_of(page: serve.Page) -> int:
    return int(page.server.server_address[1])


def ask(page: serve.Page, method: str = "GET", path: str = "/", host: str | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(serve.HOST, port_of(page), timeout=5)
    conn.putrequest(method, path, skip_host=True)
    conn.putheader("Host", host if host is not None else f"127.0.0.1:{port_of(page)}")
    conn.endheaders()
    return conn.getresponse()


def test_the_page_its_script_and_style_are_served_with_a_strict_csp(page: serve.Page) -> None:
    assert page.address == f"http://127.0.0.1:{port_of(page)}/"
    for path, kind in (("/", "text/html"), ("/page.js", "text/javascript"), ("/page.css", "text/css")):
        answer = ask(page, path=path)
        body = answer.read()
        assert answer.status == 200 and answer.headers["Content-Type"].startswith(kind), path
        assert (
            answer.headers["Content-Security-Policy"] == serve.CSP
            and answer.headers["X-Content-Type-Options"] == "nosniff"
        )
        assert b"http://" not in body and b"https://" not in body, path  # nothing fetched from elsewhere
    assert "default-src 'none'" in serve.CSP and "script-src 'self'" in serve.CSP and "unsafe" not in serve.CSP
    js = (serve.PAGE / "page.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js
    state = json.loads(ask(page, path="/state").read())
    assert [s["name"] for s in state["services"]] == ["backend", "frontend"]


@pytest.mark.parametrize(
    "host", ["", "evil.example:80", "evil.example", "127.0.0.1", "127.0.0.1:1", "localhost.evil:1"]
)
def test_a_request_naming_another_host_is_refused_as_a_rebinding_page_would_send_it(
    page: serve.Page, host: str
) -> None:
    answer = ask(page, host=host.replace(":1", ":1" + str(port_of(page))) if host.endswith(":1") else host)
    assert answer.status == 421 and answer.headers["Content-Security-Policy"] == serve.CSP
    assert b"{" not in answer.read()  # no state in it


def test_localhost_is_its_own_name_too(page: serve.Page) -> None:
    assert ask(page, host=f"localhost:{port_of(page)}").status == 200
    assert ask(page, host=f"LOCALHOST:{port_of(page)}").status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "BREW"])
def test_every_method_but_get_is_405(page: serve.Page, method: str) -> None:
    answer = ask(page, method)
    assert answer.status == 405 and answer.headers["Allow"] == "GET"


def test_anything_but_the_pages_files_is_404(page: serve.Page) -> None:
    for path in ("/index.html/../../board.py", "/../board.py", "/page", "/%2e%2e/serve.py", "//etc/passwd"):
        assert ask(page, path=path).status == 404, path


def events(sock: socket.socket, wanted: int, within: float = 3.0) -> list[tuple[str, str]]:
    """The first WANTED events read from SOCK: (event, data)."""
    sock.settimeout(within)
    buffer = b""
    found: list[tuple[str, str]] = []
    while len(found) < wanted:
        chunk = sock.recv(65536)
        assert chunk, "the stream ended"
        buffer += chunk
        *blocks, buffer = buffer.split(b"\n\n")
        for block in blocks:
            fields = dict(line.split(": ", 1) for line in block.decode().split("\n") if ": " in line)
            if "event" in fields:
                found.append((fields["event"], fields["data"]))
    return found


def subscribe(page: serve.Page) -> socket.socket:
    sock = socket.create_connection((serve.HOST, port_of(page)), timeout=5)
    sock.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port_of(page)}\r\n\r\n".encode())
    return sock


def test_the_event_stream_sends_the_state_then_each_change_framed_as_server_sent_events(page: serve.Page) -> None:
    sock = subscribe(page)
    sock.settimeout(3)
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.0 200 ") and b"Content-Type: text/event-stream" in head
    assert b"Content-Security-Policy: " in head
    rest = head.split(b"\r\n\r\n", 1)[1]
    sock.settimeout(0.5)
    while b"event: state" not in rest:
        rest += sock.recv(4096)
    assert rest.startswith(b"retry: 1000\n\n")
    secrets.register("hunter2-secret-value")
    page.board.log("backend", "</script><img src=x onerror=alert(1)>\x1b[2J\r\n\u202e hunter2-secret-value")
    page.board.end(
        Turn(1, ["backend/main.py"], ["backend"], ["backend"], result="build failed", detail="step 3: exit 1")
    )
    got = events(sock, 2)  # the line and the turn: two events, in the order the client's thread found them
    assert sorted(kind for kind, _ in got) == ["logs", "state"], got
    logs = json.loads(next(data for kind, data in got if kind == "logs"))
    assert json.loads(next(data for kind, data in got if kind == "state"))["turns"][0]["result"] == "build failed"
    [line] = logs
    assert line["service"] == "backend" and "</script>" in line["text"]  # text the page inserts as text
    for bad in ("\x1b", "\r", "\u202e", "hunter2-secret-value"):
        assert bad not in line["text"]
    sock.close()


def test_a_client_that_reconnects_gets_the_current_state_and_the_lines_held(page: serve.Page) -> None:
    page.board.log("backend", "before it came")
    page.board.end(Turn(1, ["backend/main.py"], ["backend"], ["backend"]))
    sock = subscribe(page)
    got = events(sock, 2)
    sock.close()
    state = json.loads(next(d for k, d in got if k == "state"))
    assert state["turns"][0]["number"] == 1 and state["services"][0]["state"] == b.BUILT
    assert json.loads(next(d for k, d in got if k == "logs"))[0]["text"] == "before it came"


def test_a_client_that_stops_reading_blocks_neither_the_loop_nor_the_others(
    page: serve.Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve, "SEND_SECONDS", 0.5)
    stuck = subscribe(page)  # never reads again
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(0.2)
    began = time.perf_counter()
    for i in range(3000):
        page.board.log("backend", f"{i} " + "x" * 2000)
    spent = time.perf_counter() - began
    assert spent < 1.5, spent  # the loop's side: the ring and a notify, whoever reads
    other = subscribe(page)
    assert [k for k, _ in events(other, 2)] == ["state", "logs"]
    other.close()
    time.sleep(1.0)  # the stuck one's write gave up: its slot is free again
    assert page.server.slots.acquire(blocking=False)
    page.server.slots.release()
    stuck.close()


def test_more_streams_than_it_serves_are_503_not_a_thread_each(
    page: serve.Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page.server, "slots", threading.BoundedSemaphore(1))
    first = subscribe(page)
    events(first, 1)
    assert ask(page, path="/events").status == 503
    first.close()


def test_the_page_stopped_tells_its_clients_the_loop_ended_and_lets_them_go(page: serve.Page) -> None:
    sock = subscribe(page)
    events(sock, 1)
    began = time.monotonic()
    page.stop()
    closed = json.loads(events(sock, 1)[0][1])
    assert closed["closed"] is True and time.monotonic() - began < 2
    sock.settimeout(2)
    assert sock.recv(4096) == b""  # and the stream ends


def test_a_port_in_use_is_one_line_and_no_page() -> None:
    holder = socket.socket()
    holder.bind((serve.HOST, 0))
    holder.listen()
    port = holder.getsockname()[1]
    said = serve.open_page(b.Board("mainza"), port)
    holder.close()
    assert said == f"page: 127.0.0.1:{port} is in use: watching without it (--port, WATCH_PORT)" and len(said) < 80
