"""watch's live page over HTTP, on 127.0.0.1 alone: the page, its script and style (files shipped in
ci/watch/page/, nothing fetched from elsewhere), and its updates as Server-Sent Events from the board
(ci/watch/board.py). Python's own ThreadingHTTPServer in a daemon thread, a thread per client.

Read-only and for this host's browser alone: GET only (any other method 405), the Host header must name the
page's own address (`127.0.0.1:PORT` or `localhost:PORT`; another is a page reached through a DNS name that
now points here, 421), and every answer carries a Content-Security-Policy that lets the page run its own
script and style and connect to itself, nothing else. At most `CLIENTS` event streams at once (the others
503), each writing with a deadline (`SEND_SECONDS`), so a client that stops reading frees its thread.

Events: `state` (the whole state but the log lines, JSON, whenever it changes), `logs` (the lines since the
last sent, JSON); a client that connects, or reconnects, gets the state and every line the rings hold first.
"""

from __future__ import annotations

import errno
import json
import threading
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ci.watch.board import Board, Seen

HOST = "127.0.0.1"
PAGE = Path(__file__).parent / "page"
# The page's files by path: what it may load, and nothing else is served.
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
CLIENTS = 16  # event streams at once
SEND_SECONDS = 10.0  # a write to a client that does not read gives up after this
RETRY_MS = 1000  # how soon a browser reconnects after the stream ends
POLL_SECONDS = 0.1  # how soon the server notices it is stopped


def frame(event: str, data: str) -> bytes:
    """One Server-Sent Event: DATA, one line of JSON (a newline in it would end the field; JSON has none)."""
    assert "\n" not in data and "\r" not in data
    return f"event: {event}\ndata: {data}\n\n".encode()


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "mainza-watch"
    sys_version = ""

    def do_GET(self) -> None:
        if not self.host_allowed():
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST, "this page answers at 127.0.0.1 or localhost alone")
            return
        path = self.path.split("?", 1)[0]
        if path == "/events":
            self.stream()
        elif path == "/state":
            self.send_body(self.server.board.state.json().encode(), "application/json")
        elif path in FILES:
            name, kind = FILES[path]
            self.send_body((PAGE / name).read_bytes(), kind)
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def __getattr__(self, name: str) -> Any:
        """Any other method (HEAD, POST, PUT, DELETE, OPTIONS, made-up ones): 405, the page is read-only."""
        if name.startswith("do_"):
            return self.refuse
        raise AttributeError(name)

    def refuse(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def host_allowed(self) -> bool:
        port = self.server.server_address[1]
        return self.headers.get("Host", "").lower() in (f"{HOST}:{port}", f"localhost:{port}")

    def end_headers(self) -> None:
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def send_body(self, body: bytes, kind: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self) -> None:
        """The board's changes as events until the client goes, the loop ends or the page is stopped."""
        if not self.server.slots.acquire(blocking=False):
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, f"{CLIENTS} pages are open already")
            return
        try:
            self.connection.settimeout(SEND_SECONDS)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(f"retry: {RETRY_MS}\n\n".encode())
            self.wfile.flush()
            self.follow(self.server.board)
        except OSError:  # gone, or not reading (the deadline): its thread ends, nothing else waits on it
            pass
        finally:
            self.server.slots.release()

    def follow(self, board: Board) -> None:
        seen = Seen()
        while True:
            state, lines, seen = board.since(seen)
            out = b""
            if state is not None:
                out += frame("state", state.json())
            if lines:
                out += frame("logs", json.dumps([asdict(line) for line in lines], separators=(",", ":")))
            self.wfile.write(out or b": still here\n\n")  # a keepalive finds a client gone
            self.wfile.flush()
            if state is not None and state.closed:
                return
            board.wait(seen)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: watch's output is its turns and the services' lines."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # a port another process listens on is in use, whatever its socket options

    def __init__(self, board: Board, port: int) -> None:
        self.board = board
        self.slots = threading.BoundedSemaphore(CLIENTS)
        super().__init__((HOST, port), Handler)


class Page:
    """The page served from a daemon thread (`start`) until `stop`."""

    def __init__(self, board: Board, port: int) -> None:
        """Bound to 127.0.0.1:PORT (0: any free port); OSError when it cannot be (in use, not allowed)."""
        self.board = board
        self.server = Server(board, port)
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(POLL_SECONDS,), name="watch-page", daemon=True
        )

    @property
    def address(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """The clients told the loop ended (the page keeps what it showed; each stream ends on it), then the
        server closed."""
        self.board.close()
        self.server.shutdown()
        self.server.server_close()


def open_page(board: Board, port: int) -> Page | str:
    """The page started on PORT, or why it cannot be (one line)."""
    try:
        page = Page(board, port)
    except OSError as err:
        reason = "is in use" if err.errno == errno.EADDRINUSE else f"cannot be bound ({err.strerror or err})"
        return f"page: {HOST}:{port} {reason}: watching without it (--port, WATCH_PORT)"
    page.start()
    return page
