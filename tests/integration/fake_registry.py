"""A registry that misbehaves on purpose, on loopback: answers every request with an error, or answers
the /v2/ probe and then fails every read and write (a registry that breaks during the build)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REFUSAL = '{"errors":[{"code":"DENIED","message":"this test registry refuses everything"}]}'


@contextmanager
def fake_registry(mode: str) -> Iterator[str]:
    """Yield "localhost:PORT". mode "errors": HTTP 500 everywhere; "breaks": /v2/ answers 200, the rest 403."""

    class Handler(BaseHTTPRequestHandler):
        # Clients try TLS first; answering the TLS hello with a status line (not HTTP/0.9's bare body)
        # lets them see "HTTP response to HTTPS client" and retry in plain HTTP, as with a real registry.
        default_request_version = "HTTP/1.0"

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status = 200 if (mode == "breaks" and self.path == "/v2/") else (500 if mode == "errors" else 403)
            body = b"{}" if status == 200 else REFUSAL.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
