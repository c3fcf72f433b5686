"""An engine a test can take away: a unix socket that forwards every connection to the shared engine's
socket, byte for byte (streams and upgraded connections too), until `close` drops it and each connection
through it. The shared dockerd is never stopped."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from types import TracebackType

ENGINE_SOCKET = "/var/run/docker.sock"
CHUNK = 65536


class EngineProxy:
    """`DOCKER_HOST=proxy.host` reaches the engine at TARGET while the proxy is open."""

    def __init__(self, path: Path, target: str = ENGINE_SOCKET) -> None:
        self.path, self.target = path, target
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def __enter__(self) -> EngineProxy:
        self._listener.bind(str(self.path))
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """The engine gone, as a client sees it: nothing at the socket, every open connection cut."""
        with self._lock:
            self._closed = True
            sockets, self._open = list(self._open), set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.path.unlink(missing_ok=True)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.target)
            with self._lock:
                if self._closed:
                    client.close()
                    engine.close()
                    return
                self._open.update((client, engine))
            pumps = [threading.Thread(target=self._pump, args=pair, daemon=True)
                     for pair in ((client, engine), (engine, client))]  # fmt: skip
            for pump in pumps:
                pump.start()
            threading.Thread(target=self._reap, args=(pumps, client, engine), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """SOURCE's bytes to SINK until SOURCE ends; then SINK's writing half ends too (HTTP half-close)."""
        with contextlib.suppress(OSError):
            while data := source.recv(CHUNK):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)

    def _reap(self, pumps: list[threading.Thread], *sockets: socket.socket) -> None:
        """A connection done both ways is closed: a watch makes one per docker call."""
        for pump in pumps:
            pump.join()
        with self._lock:
            self._open.difference_update(sockets)
        for sock in sockets:
            sock.close()
