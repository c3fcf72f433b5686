"""A registry's manifests and tags, reached as buildx reaches them for the same refs: any namespace
(`ghcr.io/org/mainza/backend:tag` is repository `org/mainza/backend`), the login `docker login` saved (credential
helpers included), the CAs the engine trusts for it beside REQUESTS_CA_BUNDLE or the host's store, and plain
HTTP for loopback only.

python-dxf speaks the API and both auth challenges (Basic, and Bearer with a token fetched from the realm).
buildx's `imagetools` was the other candidate: it finds the same credentials, but costs a process per ref
(prod asks about up to 13 refs a target before its no-op build), cannot list tags or delete, and `create`
reads a cache index's layer entries as platform manifests; oras-py handles Bearer challenges only, not a
registry that answers Basic. Every failure becomes one line naming the host and what fixes it; no secret
is ever in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import requests
from dxf import DXF, DXFBase
from dxf import exceptions as dxf_errors

from ci import docker as dk
from ci.core import fetch, secrets, tls
from ci.core.errors import CiError

TIMEOUT = 5.0  # seconds to connect and of silence within an answer; a whole answer has twice that (ci/core/fetch.py)
# A cache manifest is an index (BuildKit's default) or an image manifest (image-manifest=true).
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
)
Presence = Literal["present", "absent", "unknown"]
Action = Literal["read", "push to", "list", "delete from"]


def host_of(registry: str) -> str:
    """`host[:port]` of a registry, a namespaced one (`ghcr.io/org`) or a ref."""
    return registry.split("/", 1)[0]


def is_loopback(host: str) -> bool:
    """Whether HOST is this machine by name, which the engine and BuildKit reach over plain HTTP."""
    name = host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    return fetch.is_loopback(name)


@dataclass(frozen=True)
class Ref:
    """`host[:port]/repository:tag`, the repository with its whole namespace."""

    host: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, ref: str) -> Ref:
        host, _, rest = ref.partition("/")
        repository, _, tag = rest.rpartition(":")
        if not host or not repository or not tag:
            raise ValueError(f"not a registry ref host/repository:tag: {ref!r}")
        return cls(host, repository, tag)

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}:{self.tag}"

    def tagged(self, tag: str) -> Ref:
        return Ref(self.host, self.repository, tag)


class RegistryError(CiError):
    """The registry did not do what was asked; `status` is its HTTP answer (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def trusted(host: str) -> AbstractContextManager[str | bool]:
    """What verifies HOST's certificate while the block lasts: the CAs the engine trusts for it (certs.d)
    added to the usual trust (REQUESTS_CA_BUNDLE, else the host's store), as the engine adds them to the
    system's roots; a private file, removed after (ci/core/tls.py)."""
    return tls.trust_with(dk.engine_cas(host))


class Registry:
    """One registry host, used inside `with`: one connection pool, one login, a client per repository."""

    def __init__(self, host: str, timeout: float = TIMEOUT) -> None:
        self.host, self.timeout = host, timeout
        self.insecure = is_loopback(host)
        self.login = None if self.insecure else dk.docker_login(host)
        self._closing = ExitStack()  # what `with` ends: the CA bundle, the connections
        verify = True if self.insecure else self._closing.enter_context(trusted(host))  # loopback: plain HTTP
        self._base = DXFBase(host, auth=self._auth, insecure=self.insecure, tlsverify=verify, timeout=timeout)
        self._session = requests.Session()
        self._session.trust_env = not self.insecure  # no proxy reaches this machine's loopback
        fetch.mount(self._session, fetch.REGISTRY_BYTES, 2 * timeout)  # python-dxf's requests too
        self._base._sessions = [self._session]  # one connection pool for every repository
        self._repositories: dict[str, DXF] = {}

    def _auth(self, client: DXFBase, response: requests.Response) -> None:
        if self.login is None or self.login.identity_token:
            token = client.authenticate(response=response)  # anonymous: a token service may still grant a pull
        else:
            token = client.authenticate(self.login.username, self.login.secret, response=response)
        secrets.register(token or "")  # a bearer token from the registry's token service is a secret too

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()
        self._closing.close()

    def _repository(self, repository: str) -> DXF:
        if repository not in self._repositories:
            self._repositories[repository] = DXF.from_base(self._base, repository)
        return self._repositories[repository]

    @contextmanager
    def _asking(self, action: Action, what: str) -> Iterator[None]:
        try:
            yield
        except RegistryError:
            raise
        except (dxf_errors.DXFError, requests.RequestException, ValueError, KeyError, TypeError, RecursionError) as err:
            raise RegistryError(*self.refusal(err, action, what)) from None

    def refusal(self, err: Exception, action: Action, what: str) -> tuple[str, int]:
        """One line for ERR, naming the host and what fixes it, and the HTTP status (0: none)."""
        host = self.host
        login = f"`docker login {host}`"
        if isinstance(err, dxf_errors.DXFUnauthorizedError):
            if self.login is None:
                return f"{host} wants a login to {action} {what} and Docker has none for it: run {login}", 401
            return (
                f"{host} refused the login Docker has for it ({self.login.source}): wrong user or password, or "
                f"expired; run {login} again",
                401,
            )
        if isinstance(err, dxf_errors.DXFAuthInsecureError):
            return f"{host} asks for a login over plain HTTP, which is only for a registry with none", 401
        if isinstance(err, fetch.BadAnswer):
            return f"{host} gave no usable answer when asked to {action} {what}: {err}", 0
        response = getattr(err, "response", None)
        status = response.status_code if isinstance(response, requests.Response) else 0
        if status == 403:
            who = f"the login Docker has for {host}" if self.login else f"{host} without a login"
            return f"{who} may not {action} {what} (HTTP 403): run {login} as a user who may, or grant it", 403
        if isinstance(err, requests.exceptions.SSLError):
            return untrusted(host, _ssl_reason(err)), 0
        if isinstance(err, requests.ConnectionError):
            reason = "connection refused" if "refused" in str(err).lower() else "no connection"
            return f"nothing answers at {host} ({reason})", 0
        if isinstance(err, requests.Timeout):
            return f"{host} did not answer within {fetch.seconds_shown(self.timeout)}", 0
        if status:
            return f"{host} answered HTTP {status} when asked to {action} {what}", status
        return f"{host}: cannot {action} {what} ({type(err).__name__})", 0

    def ping(self) -> None:
        """The API root with the login: RegistryError when the registry does not take it."""
        with self._asking("read", "its API"):
            self._repository("").api_version_check()

    def presence(self, ref: Ref) -> Presence:
        """Whether the registry holds a manifest at REF; RegistryError when it does not say."""
        with self._asking("read", ref.repository):
            try:
                self._repository(ref.repository).head_manifest_and_response(ref.tag)
            except requests.HTTPError as err:
                if err.response is not None and err.response.status_code == 404:
                    return "absent"
                raise
        return "present"

    def manifest(self, ref: Ref) -> tuple[bytes, str]:
        """The manifest at REF, as stored, and its media type."""
        with self._asking("read", ref.repository):
            _, response = self._repository(ref.repository).get_manifest_and_response(ref.tag)
            kind = response.headers.get("Content-Type", "application/vnd.oci.image.index.v1+json")
            return response.content, kind

    def tag(self, ref: Ref, tag: str) -> None:
        """Tag the manifest at REF as TAG too, in the registry alone (no blob moves)."""
        body, kind = self.manifest(ref)
        with self._asking("push to", ref.repository):
            put = self._repository(ref.repository)._request  # set_manifest wants a mediaType in the body
            put("put", f"manifests/{tag}", data=body, headers={"Content-Type": kind})  # type: ignore[no-untyped-call]

    def tags(self, repository: str) -> list[str]:
        with self._asking("list", repository):
            try:
                return sorted(self._repository(repository).list_aliases())
            except requests.HTTPError as err:
                if err.response is not None and err.response.status_code == 404:
                    return []  # no such repository yet
                raise

    def catalog(self) -> list[str]:
        with self._asking("list", "its repositories (the catalog)"):
            return list(self._base.list_repos())

    def delete(self, ref: Ref) -> bool:
        """Delete the manifest at REF (by its digest, as the API wants); False when there is none."""
        if self.presence(ref) != "present":
            return False
        with self._asking("delete from", ref.repository):
            client = self._repository(ref.repository)
            digest, _ = client.head_manifest_and_response(ref.tag)
            client._request("delete", f"manifests/{digest}")  # type: ignore[no-untyped-call]
        return True


def untrusted(host: str, why: str = "") -> str:
    """HOST's certificate is not trusted (WHY, when known): where its CA goes, for the engine and the sessions."""
    because = f" ({why})" if why else ""
    return (
        f"{host}'s certificate is not trusted{because}: put its CA in {dk.ca_file(host)} (the engine reads it "
        "too) or REQUESTS_CA_BUNDLE"
    )


def _ssl_reason(err: Exception) -> str:
    text = str(err)
    for known in ("certificate verify failed: self-signed certificate", "certificate verify failed", "hostname"):
        if known in text:
            return known.split(": ")[-1]
    return "TLS error"


def manifest_blobs(body: Any) -> list[dict[str, Any]]:
    """The blobs a manifest names: an index's entries (a cache index's layers) or a manifest's, and its config."""
    if not isinstance(body, dict):
        return []
    listed = body.get("manifests") or body.get("layers") or []
    return [*listed, *([body["config"]] if "config" in body else [])]
