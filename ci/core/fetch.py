"""Every HTTP read the sessions make, bounded: a cap on the bytes of an answer's body, counted after
decompression (a gzip bomb stops at the cap), and a deadline for the whole answer (connecting, the headers,
the body), not per read as requests' own timeout is: a server that trickles a byte a second, or never
starts its body, is cut at the deadline. Over the cap or past the deadline is an answer of its own
(`TooLarge`, `TooLate`), never a crash nor a hang; what the limits are lives here.

requests reads through urllib3, whose sockets time out per read only. The adapter here (`mount`) reads the
body itself, in chunks against the cap, and a watchdog shuts the connection's socket down when the deadline
comes: that ends whatever read is in flight, a TLS handshake's and the headers' included. Not bounded: a
host name's resolution (the system's resolver has its own timeouts).
"""

from __future__ import annotations

import codecs
import ipaddress
import os
import re
import socket
import threading
import time
import zlib
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

READ_SECONDS = 3.0  # to connect, and the longest silence within an answer
# A whole answer: what connecting and reading had each before, together, so that no answer that came in
# time then is late now, and a trickle ends there.
ANSWER_SECONDS = 2 * READ_SECONDS
BUILD_INFO_BYTES = 1 << 20  # build info is a few hundred bytes: 1 MiB is thousands of times that
# The local checks read build info and a page of the app through one function: a server-rendered page may
# be larger than build info, and the stack is the project's own.
PAGE_BYTES = 8 << 20
REGISTRY_BYTES = 4 << 20  # the registry API's largest answer is a manifest, which registries cap at 4 MiB
CHUNK = 64 << 10  # bytes read from the socket at once
ACCEPTED = "gzip, deflate"  # the encodings decoded here (requests would also offer br and zstd when installed)


def is_loopback(host: str) -> bool:
    """Whether HOST (a name or an address, no port; an IPv6 one in brackets or not) is this machine:
    `localhost`, or an address in 127.0.0.0/8 or ::1. A name is judged as written, never resolved:
    `127.example.com` is somebody's machine, and what goes to it in plain text crosses the network."""
    name = host.strip().removeprefix("[").removesuffix("]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class BadAnswer(requests.RequestException):
    """An answer not read to its end: why, in one line (str)."""


class TooLarge(BadAnswer):
    """A body over the cap."""


class TooLate(BadAnswer):
    """No full answer by the deadline."""


class Undecodable(BadAnswer):
    """A body in an encoding not read here, or corrupt."""


def seconds_shown(seconds: float) -> str:
    return f"{round(seconds, 1):g}s"


def masked(url: str) -> str:
    """URL as shown: its user info (a user, a password, a token) replaced by `***`, even in a malformed one
    (`http:/user:pw@host`, `user:pw@host`)."""
    url = url.strip()
    start, info = _user_info(url)
    return url[:start] + "***" + url[start + len(info) :] if info else url


def user_info(url: str) -> str:
    """URL's user info (`user:password`, as written), '' when it has none: all before the authority's last `@`,
    after `scheme:/` (malformed URLs too)."""
    return _user_info(url.strip())[1]


def _user_info(url: str) -> tuple[int, str]:
    scheme = re.match(r"[A-Za-z][\w+.-]*:/+", url)
    start = scheme.end() if scheme else 0
    authority = re.split(r"[/?#]", url[start:], maxsplit=1)[0]
    return start, authority[: authority.rindex("@")] if "@" in authority else ""


def get(
    url: str,
    *,
    cap: int,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    verify: str | bool = True,
    trust_env: bool = True,
    read_seconds: float | None = None,
) -> requests.Response:
    """One GET of URL on a connection of its own, redirects not followed, its body read whole (`content`,
    `text`) within CAP bytes and SECONDS for the whole answer, READ_SECONDS (at most) of silence; raises
    BadAnswer (TooLarge, TooLate, Undecodable) or requests' own errors (no connection, TLS)."""
    with requests.Session() as session:
        session.trust_env = trust_env
        mount(session, cap, seconds)
        return session.get(
            url,
            headers=dict(headers or {}),
            timeout=READ_SECONDS if read_seconds is None else read_seconds,
            allow_redirects=False,
            verify=verify,
        )


def mount(session: requests.Session, cap: int, seconds: float) -> None:
    """Every answer SESSION reads from now on is bounded: CAP bytes, SECONDS each."""
    adapter = Bounded(cap, seconds)
    session.mount("http://", adapter)
    session.mount("https://", adapter)


# --- the deadline: a watchdog over the connection's socket ------------------------------------------------


class _Watch:
    """The sockets one answer is read from, shut down when its deadline comes, which ends a read in flight.
    Each is watched through a duplicate of its descriptor: the same connection, which a TLS wrap does not
    close under us and which no other connection can reuse."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._deadline = time.monotonic() + seconds
        self._timer.start()

    def left(self) -> float:
        return self._deadline - time.monotonic()

    def add(self, sock: socket.socket) -> None:
        try:
            watched = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:
            return  # closed already: nothing to read from it
        with self._lock:
            if self._done:
                watched.close()
                return
            self._sockets.append(watched)
            if self.expired:
                _shut(watched)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for watched in self._sockets:
                _shut(watched)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            for watched in self._sockets:
                watched.close()
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()  # the _Watch of the answer this thread reads, if any


def _watched(sock: socket.socket | None) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None and sock is not None:
        watch.add(sock)


class _Connection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watched(sock)  # from before a TLS handshake
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self.sock)  # a connection the pool kept: watched for this answer too
        super().request(*args, **kwargs)


class _TLSConnection(_Connection, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


def _pools() -> dict[str, type[HTTPConnectionPool]]:
    return {"http": _Pool, "https": _TLSPool}


class Bounded(HTTPAdapter):
    """requests' adapter with CAP bytes and SECONDS for each answer: the body read here, whole (a caller's
    stream=True too), the connection shut down at the deadline."""

    def __init__(self, cap: int, seconds: float) -> None:
        self.cap, self.seconds = cap, seconds
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pools()

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS proxies have connections of their own: not watched
            manager.pool_classes_by_scheme = _pools()
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        request.headers["Accept-Encoding"] = ACCEPTED
        watch = _Watch(self.seconds)
        late = TooLate(f"no full answer within {seconds_shown(self.seconds)}")
        asked = _silence(timeout)
        silence = max(0.01, min(asked, watch.left()))  # no read waits past the deadline
        _current.watch = watch
        try:
            try:
                response = super().send(
                    request, stream=True, timeout=silence, verify=verify, cert=cert, proxies=proxies
                )
                try:
                    body = _read(response, self.cap)
                except BaseException:
                    response.close()
                    raise
            except requests.RequestException as err:
                if watch.expired or (isinstance(err, requests.Timeout) and silence < asked):
                    raise late from None
                raise
            if watch.expired:  # a shut socket ends a body that has no length as if it were whole
                response.close()
                raise late
        finally:
            _current.watch = None
            watch.close()
        response._content = body
        response._content_consumed = True  # type: ignore[attr-defined]  # iter_content: from _content
        response.encoding = _charset(response)
        return response


def _silence(timeout: Any) -> float:
    """The longest wait for one read that requests' TIMEOUT asks for (a number, or connect and read)."""
    if isinstance(timeout, int | float):
        return float(timeout)
    if isinstance(timeout, tuple):
        given = [float(t) for t in timeout if isinstance(t, int | float)]
        return max(given) if given else READ_SECONDS
    return READ_SECONDS


def _read(response: requests.Response, cap: int) -> bytes:
    """The body of RESPONSE, decoded, at most CAP bytes: TooLarge beyond; urllib3's errors as requests'."""
    over = TooLarge(f"an answer over {cap} bytes, read no further")
    decoder = _Decoder(response.headers.get("Content-Encoding", ""))
    length = response.headers.get("Content-Length", "")
    if decoder.identity and length.isdigit() and int(length) > cap:
        raise over
    body = bytearray()
    try:
        while chunk := response.raw.read(CHUNK, decode_content=False):
            body += decoder.feed(chunk, cap - len(body))
            if len(body) > cap:
                raise over
        body += decoder.end()
    except urllib3.exceptions.HTTPError as err:
        if isinstance(err, urllib3.exceptions.ReadTimeoutError):
            raise requests.exceptions.ReadTimeout(err) from None
        if isinstance(err, urllib3.exceptions.SSLError):
            raise requests.exceptions.SSLError(err) from None
        raise requests.exceptions.ConnectionError(err) from None
    if len(body) > cap:
        raise over
    return bytes(body)


class _Decoder:
    """A body as sent (Content-Encoding identity, gzip or deflate) decoded, never more at once than the room
    left under the cap: zlib's max_length keeps the rest of the input for later."""

    def __init__(self, encoding: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in ("", "identity")]
        self.identity = not codings
        self._gzip = codings in (["gzip"], ["x-gzip"])
        self._fed = False
        if not self.identity and not self._gzip and codings != ["deflate"]:
            raise Undecodable(
                f"an answer in Content-Encoding {encoding.strip()[:60]!r}: only gzip and deflate are read"
            )
        self._wbits = 16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(self._wbits)

    def feed(self, data: bytes, room: int) -> bytes:
        """DATA decoded, at most ROOM + 1 bytes (one more says it is over)."""
        if self.identity:
            return data
        out = bytearray()
        while data and len(out) <= room:
            out += self._inflate(data, room + 1 - len(out))
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                if not self._gzip or not self._zlib.unused_data:
                    break  # deflate: what follows its end is not read
                data = self._zlib.unused_data  # gzip members one after another
                self._zlib = zlib.decompressobj(self._wbits)
        return bytes(out)

    def _inflate(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._zlib.decompress(data, limit)
        except zlib.error as err:
            if self._gzip or self._fed or self._wbits < 0:
                raise Undecodable(f"a corrupt {'gzip' if self._gzip else 'deflate'} body ({err})") from None
            self._wbits = -zlib.MAX_WBITS  # deflate without zlib's header, as some servers send it
            self._zlib = zlib.decompressobj(self._wbits)
            return self._inflate(data, limit)
        self._fed = True
        return out

    def end(self) -> bytes:
        if self.identity or not self._fed:
            return b""
        if self._gzip and not self._zlib.eof:
            raise Undecodable("a gzip body cut short")
        return self._zlib.flush()


def _charset(response: requests.Response) -> str:
    """The body's text encoding: its Content-Type's charset, else UTF-8 (never guessed from the body: the
    guess reads it all, slowly)."""
    given = requests.utils.get_encoding_from_headers(response.headers) or "utf-8"
    try:
        return codecs.lookup(given).name
    except LookupError:
        return "utf-8"
