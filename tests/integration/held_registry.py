"""A registry on loopback that passes every request to the local one (127.0.0.1:5000) but holds each write
(a blob or manifest pushed: a cache export) until released: a test sees the export begin, and stops the
session while it runs."""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = ("127.0.0.1", 5000)
HOLD_SECONDS = 60.0
WRITES = ("PUT", "PATCH", "POST")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Held:
    """The registry's address (`localhost:PORT`), set when the first write arrives; `release` lets them on."""

    address: str
    writing: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


def _body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()  # the empty line after the last chunk
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


@contextmanager
def held_registry() -> Iterator[Held]:
    held = Held("")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Clients try TLS first: a status line back (not HTTP/0.9's bare body) has them retry in plain HTTP.
        default_request_version = "HTTP/1.0"

        def relay(self) -> None:
            body = _body(self)
            if self.command in WRITES:
                held.writing.set()
                held.released.wait(HOLD_SECONDS)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream = http.client.HTTPConnection(*UPSTREAM, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body if body or self.command in WRITES else None,
                                 headers=headers)  # fmt: skip
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def handle(self) -> None:
            with contextlib.suppress(OSError):  # the client went away (the stopped session's buildx)
                super().handle()

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = relay

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    held.address = f"localhost:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield held
    finally:
        held.released.set()
        server.shutdown()
        server.server_close()
