"""Every HTTP read bounded (ci/core/fetch.py), against a hostile server: each answer ends within its deadline and
within memory a few times its byte cap, whatever the server does; what is over the cap or late is named."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ci.core import fetch
from tests.hostile import MODES, Hostile

SECONDS = 1.0  # the deadline the tests give, for speed; the sessions' is fetch.ANSWER_SECONDS
SLACK = 1.0  # what a loaded machine may add to a deadline


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


OUTCOMES = {
    "escapes": "200",
    "endless": "TooLarge: an answer over 1048576 bytes, read no further",
    "bomb": "TooLarge: an answer over 1048576 bytes, read no further",
    "trickle": "TooLate: no full answer within 1s",
    "trickle-head": "TooLate: no full answer within 1s",
    "echo": "401",
    "deep": "200",
    "silent": "TooLate: no full answer within 1s",
    "stall": "TooLate: no full answer within 1s",
}


def test_every_mode_of_the_hostile_server_has_an_outcome() -> None:
    assert set(OUTCOMES) == set(MODES)


@pytest.mark.parametrize("mode", MODES)
def test_each_hostile_answer_ends_by_its_deadline_within_a_few_times_its_cap(hostile: Hostile, mode: str) -> None:
    tracemalloc.start()
    start = time.monotonic()
    try:
        outcome = str(fetch.get(hostile.url(mode), cap=fetch.BUILD_INFO_BYTES, seconds=SECONDS).status_code)
    except fetch.BadAnswer as err:
        outcome = f"{type(err).__name__}: {err}"
    finally:
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert outcome == OUTCOMES[mode]
    assert elapsed < SECONDS + SLACK
    assert peak < 4 * fetch.BUILD_INFO_BYTES, f"{peak} bytes at the peak"


def test_the_deadline_is_for_the_whole_answer_not_each_read(hostile: Hostile) -> None:
    # A byte a second never leaves a read waiting READ_SECONDS: only the whole answer's deadline ends it.
    start = time.monotonic()
    with pytest.raises(fetch.TooLate, match="no full answer within 2s"):
        fetch.get(hostile.url("trickle"), cap=fetch.BUILD_INFO_BYTES, seconds=2.0, read_seconds=1.5)
    assert 2.0 <= time.monotonic() - start < 2.0 + SLACK


def test_a_tls_handshake_trickled_a_byte_a_second_ends_at_the_deadline() -> None:
    # A TLS record header announcing 16 KiB, then a byte a second: no read is ever silent for long.
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            for byte in b"\x16\x03\x03\x40\x00" + b"\x02" * 64:
                if stop.wait(0.5):
                    return
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return

    threading.Thread(target=serve, daemon=True).start()
    start = time.monotonic()
    try:
        with pytest.raises(fetch.TooLate):
            fetch.get(f"https://127.0.0.1:{listener.getsockname()[1]}/", cap=1024, seconds=SECONDS)
        assert time.monotonic() - start < SECONDS + SLACK
    finally:
        stop.set()
        listener.close()


class KeepAlive(BaseHTTPRequestHandler):
    """/fast answers at once on a connection kept open; /trickle, on the same connection, a byte a second."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"{}" if self.path == "/fast" else b"x" * 100
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(len(body)):
            if self.path != "/fast" and i:
                time.sleep(0.5)
            try:
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, *args: object) -> None:
        pass


def test_a_connection_the_pool_kept_is_watched_for_the_next_answer_too() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with requests.Session() as session:
            fetch.mount(session, cap=1024, seconds=SECONDS)
            assert session.get(f"{base}/fast", timeout=3).json() == {}
            start = time.monotonic()
            with pytest.raises(fetch.TooLate):
                session.get(f"{base}/trickle", timeout=3)
            assert time.monotonic() - start < SECONDS + SLACK
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(b"hello " * 1000)),
        ("x-gzip", gzip.compress(b"hello " * 500) + gzip.compress(b"hello " * 500)),  # two members
        ("deflate", zlib.compress(b"hello " * 1000)),
        ("deflate", zlib.compress(b"hello " * 1000)[2:-4]),  # without zlib's header, as some servers send it
        ("identity", b"hello " * 1000),
        ("", b"hello " * 1000),
    ],
)
def test_a_body_within_the_cap_is_decoded_whole_in_small_chunks(encoding: str, body: bytes) -> None:
    decoder = fetch._Decoder(encoding)
    out = b"".join(decoder.feed(body[i : i + 7], 6000) for i in range(0, len(body), 7)) + decoder.end()
    assert out == b"hello " * 1000


def test_a_decoded_body_never_comes_out_larger_than_the_room_left() -> None:
    bomb = gzip.compress(bytes(50 << 20))
    assert len(fetch._Decoder("gzip").feed(bomb, 1000)) == 1001  # one more byte says it is over


@pytest.mark.parametrize(
    ("encoding", "body", "says"),
    [
        ("br", b"x", "an answer in Content-Encoding 'br': only gzip and deflate are read"),
        ("gzip, gzip", b"x", "Content-Encoding 'gzip, gzip'"),
        ("gzip", b"not gzip at all", "a corrupt gzip body"),
        ("gzip", gzip.compress(b"hello " * 100)[:-12], "a gzip body cut short"),
    ],
)
def test_an_encoding_not_read_or_a_corrupt_body_is_undecodable(encoding: str, body: bytes, says: str) -> None:
    with pytest.raises(fetch.Undecodable, match=says):
        decoder = fetch._Decoder(encoding)
        decoder.feed(body, 10_000)
        decoder.end()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:s3cret@stage.example/x", "https://***@stage.example/x"),
        ("http://tok3n@10.0.0.5:8000/build/info?a=b@c", "http://***@10.0.0.5:8000/build/info?a=b@c"),
        ("user:s3cret@stage.example", "***@stage.example"),  # no scheme: malformed, masked all the same
        ("http://user:s3cret@host:port/", "http://***@host:port/"),
        ("http:/user:s3cret@host/", "http:/***@host/"),
        ("http:user:s3cret@host", "***@host"),
        ("https://a@b:s3cret@host/x", "https://***@host/x"),
        ("https://stage.example/path@x", "https://stage.example/path@x"),
        ("https://stage.example", "https://stage.example"),
    ],
)
def test_a_url_is_shown_with_its_user_info_masked(url: str, shown: str) -> None:
    assert fetch.masked(url) == shown


def test_the_body_is_text_in_its_charset_else_utf8() -> None:
    response = requests.Response()
    response.headers["Content-Type"] = "text/plain; charset=latin-1"
    assert fetch._charset(response) == "iso8859-1"
    response.headers["Content-Type"] = "application/json"
    assert fetch._charset(response) == "utf-8"
    response.headers["Content-Type"] = "text/plain; charset=no-such-codec"
    assert fetch._charset(response) == "utf-8"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.255.0.9", True), ("::1", True),
        ("[::1]", True), ("127.evil.example", False), ("localhost.example", False), ("sub.localhost", False),
        ("10.0.0.1", False), ("", False),
    ],
)  # fmt: skip
def test_loopback_is_localhost_or_a_loopback_address_a_name_never_resolved(host: str, loopback: bool) -> None:
    assert fetch.is_loopback(host) is loopback
