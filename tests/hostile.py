"""A hostile HTTP server for the tests: a deployed service that answers whatever it likes. On 127.0.0.1, a
thread per request; `with Hostile() as server:` starts it and stops it (every answer still being written
ends within a second). `server.url(MODE)` is an address that answers as MODE says:

- `escapes`: build info whose git_commit and source_digest hold escape sequences, bidi overrides, `\\r`
  and characters XML forbids;
- `endless`: a 200 JSON body that never ends;
- `bomb`: a gzip bomb: about 1 MB sent (Content-Encoding: gzip), 1 GiB once decoded;
- `trickle`: a body a byte a second; `trickle-head`: the status line and headers a byte a second;
- `echo`: HTTP 401, a page echoing the bearer token (and the whole Authorization header);
- `deep`: JSON nested 100,000 deep;
- `silent`: headers, then a body that never starts; `stall`: no answer at all, the connection kept open.

`Hostile(default=MODE)` answers every other path as MODE (a registry's `/v2/...`).
"""

from __future__ import annotations

import json
import threading
import zlib
from contextlib import suppress
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

MODES = ("escapes", "endless", "bomb", "trickle", "trickle-head", "echo", "deep", "silent", "stall")
HOSTILE_TEXT = "abc\x1b[31m\x1b]8;;http://evil.example\x07\u202etxt.exe\r\x00\x0b\x1f\ufffe"
BOMB_GIB = 1
DEEP = 100_000


@cache
def bomb() -> bytes:
    """One gzip member, about 1 MB, that decodes to BOMB_GIB GiB of zeros: 1 MiB of zeros deflated and fully
    flushed is the same bytes every time, so it is written once and repeated."""
    zeros, mebibytes = bytes(1 << 20), BOMB_GIB << 10
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"
    size = (mebibytes << 20) & 0xFFFFFFFF
    return header + segment * mebibytes + deflate.flush() + crc.to_bytes(4, "little") + size.to_bytes(4, "little")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on an answer: what the tests want of it


class Hostile:
    def __init__(self, default: str = "") -> None:
        self.stop = threading.Event()
        stop = self.stop

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                mode = self.path.strip("/").split("/")[0]
                mode = mode if mode in MODES else default
                with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up: what is bounded does
                    getattr(self, "answer_" + mode.replace("-", "_"))()

            def head(self, status: int, kind: str = "application/json", **headers: str) -> None:
                self.close_connection = True  # one answer a connection, as verify asks
                self.send_response(status)
                self.send_header("Content-Type", kind)
                for key, value in headers.items():
                    self.send_header(key.replace("_", "-"), value)
                self.end_headers()

            def whole(self, status: int, body: bytes, kind: str = "application/json", **headers: str) -> None:
                self.head(status, kind, Content_Length=str(len(body)), **headers)
                self.wfile.write(body)

            def slowly(self, data: bytes) -> None:
                for byte in data:
                    if stop.wait(1.0):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

            def answer_escapes(self) -> None:
                info = {"source_digest": f"sha256:{HOSTILE_TEXT}", "git_commit": HOSTILE_TEXT,
                        "build_date": HOSTILE_TEXT}  # fmt: skip
                self.whole(200, json.dumps(info).encode())

            def answer_endless(self) -> None:
                self.head(200, Connection="close")
                chunk = b'{"git_commit": "' + b"a" * (64 << 10)
                while not stop.is_set():
                    self.wfile.write(chunk)

            def answer_bomb(self) -> None:
                self.whole(200, bomb(), Content_Encoding="gzip")

            def answer_trickle(self) -> None:
                self.head(200, Content_Length=str(1 << 20))
                self.slowly(b"{" * (1 << 20))

            def answer_trickle_head(self) -> None:
                self.slowly(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"x" * 4096)

            def answer_echo(self) -> None:
                given = self.headers.get("Authorization", "")
                bare = given.split(" ", 1)[-1]
                self.whole(401, f"denied: token {bare} is not valid (Authorization: {given})".encode(), "text/plain")

            def answer_deep(self) -> None:
                self.whole(200, b"[" * DEEP + b"]" * DEEP)

            def answer_silent(self) -> None:
                self.head(200, Content_Length="100")
                self.wfile.flush()
                stop.wait()

            def answer_stall(self) -> None:
                self.close_connection = True
                stop.wait()

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, mode: str) -> str:
        assert mode in MODES, mode
        return f"{self.base}/{mode}/"

    def __enter__(self) -> Hostile:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
