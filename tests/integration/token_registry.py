"""A fake OCI registry that authenticates the way hosted registries do (GHCR, GitLab, Harbor, ECR's
Docker Hub-style flow): 401 with a Bearer challenge naming a token realm, a service and a scope; the client
fetches a token from the realm with its Basic credentials and sends it back as `Authorization: Bearer`.
Manifests and tags only (kept in memory), over TLS with a server certificate from `make_ca`."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.integration.tls_registry import Certs, resolve_locally

# /v2/<name>/<kind>/<reference>: a name may hold several slashes (team/cache/mainza/backend).
ROUTE = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs|tags)/(?P<reference>.*)$")
WRITES = {"PUT", "POST", "PATCH", "DELETE"}


@dataclass(frozen=True)
class TokenRegistry:
    host: str  # "registry.test:PORT"
    url: str  # "https://registry.test:PORT"
    put: Callable[[str, str, bytes, str], None]  # put(repository, tag, body, media_type): seed a manifest
    requests: list[str] = field(default_factory=list)  # "METHOD path" of every request served, in order


@dataclass
class Repository:
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # digest: (body, media type)
    tags: dict[str, str] = field(default_factory=dict)  # tag: digest


def error(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


@contextmanager
def token_registry(
    certs: Certs, *, user: str, password: str, catalog: bool = True, host: str = "registry.test"
) -> Iterator[TokenRegistry]:
    """Yield a Bearer-token registry on 127.0.0.1 (as HOST:PORT, HOST resolving there) serving TLS with CERTS.
    catalog=False: /v2/_catalog is refused even with a token, as hosted registries that keep it private do."""
    resolve_locally(host)
    repositories: dict[str, Repository] = {}
    tokens: dict[str, set[tuple[str, str, str]]] = {}  # token: (type, name, action) granted
    lock = threading.Lock()
    served: list[str] = []
    basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def store(repository: str, reference: str, body: bytes, media_type: str) -> str:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        with lock:
            repo = repositories.setdefault(repository, Repository())
            repo.manifests[digest] = (body, media_type)
            if not reference.startswith("sha256:"):
                repo.tags[reference] = digest
        return digest

    def seed(repository: str, tag: str, body: bytes, media_type: str) -> None:
        store(repository, tag, body, media_type)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients expect from a registry

        def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            headers = {"Content-Type": "application/json", **(headers or {})}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))  # HEAD too: the length GET would send
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def challenge(self, scope: str | None, insufficient: bool = False) -> None:
            parts = [f'realm="https://{authority}/token"', f'service="{authority}"']
            parts += [f'scope="{scope}"'] if scope else []
            parts += ['error="insufficient_scope"'] if insufficient else []
            www = {"WWW-Authenticate": "Bearer " + ",".join(parts)}
            self.reply(401, error("UNAUTHORIZED", "authentication required"), www)

        def grants(self) -> set[tuple[str, str, str]] | None:
            """What the request's Bearer token grants; None without a valid one."""
            auth = self.headers.get("Authorization", "")
            with lock:
                return tokens.get(auth[len("Bearer ") :]) if auth.startswith("Bearer ") else None

        def answer(self) -> None:
            served.append(f"{self.command} {self.path}")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            if url.path == "/token":  # GET only: clients that try OAuth's POST first fall back to GET on 404
                return self.token(parse_qs(url.query)) if self.command == "GET" else self.reply(404, b"{}")
            if url.path == "/v2/" or url.path == "/v2":
                return self.reply(200, b"{}") if self.grants() is not None else self.challenge(None)
            if url.path == "/v2/_catalog":
                granted = self.grants()
                if not catalog or granted is None or ("registry", "catalog", "*") not in granted:
                    return self.challenge("registry:catalog:*", insufficient=granted is not None)
                with lock:
                    names = sorted(name for name, repo in repositories.items() if repo.manifests)
                return self.reply(200, json.dumps({"repositories": names}).encode())
            route = ROUTE.match(url.path)
            if route is None:
                return self.reply(404, error("NAME_UNKNOWN", f"no route for {url.path}"))
            name, kind, reference = route["name"], route["kind"], route["reference"]
            # The scope is checked on every request: a pull token cannot write.
            action = "push" if self.command in WRITES else "pull"
            granted = self.grants()
            if granted is None or ("repository", name, action) not in granted:
                scope = f"repository:{name}:{'pull,push' if action == 'push' else 'pull'}"
                return self.challenge(scope, insufficient=granted is not None)
            if kind == "manifests":
                return self.manifest(name, reference, body)
            if kind == "tags" and reference == "list" and self.command == "GET":
                with lock:
                    repo = repositories.get(name)
                    tags = sorted(repo.tags) if repo else None
                if tags is None:
                    return self.reply(404, error("NAME_UNKNOWN", f"repository {name} not known"))
                return self.reply(200, json.dumps({"name": name, "tags": tags}).encode())
            if kind == "blobs" and self.command in ("GET", "HEAD"):
                return self.reply(404, error("BLOB_UNKNOWN", "this fake registry keeps manifests only"))
            return self.reply(405, error("UNSUPPORTED", "this fake registry keeps manifests only"))

        def manifest(self, name: str, reference: str, body: bytes) -> None:
            if self.command == "PUT":
                media_type = self.headers.get("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                digest = store(name, reference, body, media_type)
                where = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
                return self.reply(201, b"", where)
            deleted = False
            with lock:
                repo = repositories.get(name, Repository())
                digest = repo.tags.get(reference, reference)
                stored = repo.manifests.get(digest)
                if stored is not None and self.command == "DELETE" and reference.startswith("sha256:"):
                    del repo.manifests[digest]  # and every tag pointing to it, as the distribution registry does
                    repo.tags = {tag: d for tag, d in repo.tags.items() if d != digest}
                    deleted = True
            if stored is None:
                return self.reply(404, error("MANIFEST_UNKNOWN", f"manifest {reference} not known in {name}"))
            if self.command == "DELETE":
                return self.reply(202) if deleted else self.reply(405, error("UNSUPPORTED", "delete by digest"))
            content, media_type = stored
            return self.reply(200, content, {"Content-Type": media_type, "Docker-Content-Digest": digest})

        def token(self, query: dict[str, list[str]]) -> None:
            if self.headers.get("Authorization") != basic:
                realm = {"WWW-Authenticate": f'Basic realm="{authority}"'}
                return self.reply(401, error("UNAUTHORIZED", "wrong or missing credentials"), realm)
            granted: set[tuple[str, str, str]] = set()
            for scope in (s for value in query.get("scope", []) for s in value.split()):
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                granted |= {(kind, name, action) for action in actions.split(",")}
            issued = secrets.token_urlsafe(24)
            with lock:
                tokens[issued] = granted
            self.reply(200, json.dumps({"token": issued, "access_token": issued, "expires_in": 300}).encode())

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = answer

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that rejects the certificate or hangs up is not the test's failure

    server = Server(("127.0.0.1", 0), Handler)
    authority = f"{host}:{server.server_address[1]}"  # what clients name: realm, service, image references
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    # The handshake happens on first read, in the request's thread, so a slow client blocks no one.
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TokenRegistry(host=authority, url=f"https://{authority}", put=seed, requests=served)
    finally:
        server.shutdown()
        server.server_close()
