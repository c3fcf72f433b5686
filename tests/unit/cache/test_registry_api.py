"""A registry reached with any namespace, and each refusal one line that names its fix."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
import requests
from dxf import exceptions as dxf_errors

from ci import docker as dk
from ci.cache import registry_api
from ci.cache.registry_api import Ref, Registry
from ci.core import secrets
from ci.docker.credentials import Login
from tests.hostile import Hostile


@pytest.mark.parametrize(
    ("text", "host", "repository", "tag"),
    [
        ("localhost:5000/mainza/backend:id-1", "localhost:5000", "mainza/backend", "id-1"),
        (
            "localhost:5000/team/cache/mainza/backend:branch-main",
            "localhost:5000",
            "team/cache/mainza/backend",
            "branch-main",
        ),
        ("ghcr.io/org/mainza/frontend:id-2", "ghcr.io", "org/mainza/frontend", "id-2"),
    ],
)
def test_a_ref_keeps_its_whole_namespace_in_the_repository(text: str, host: str, repository: str, tag: str) -> None:
    ref = Ref.parse(text)
    assert (ref.host, ref.repository, ref.tag) == (host, repository, tag)
    assert str(ref) == text
    assert str(ref.tagged("x")) == text.rpartition(":")[0] + ":x"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.8.9.1", True), ("[::1]:5000", True),
        ("registry.test:5443", False),
        # A name that only looks like a loopback address is somebody's machine: a login would cross in clear.
        ("127.evil.example:5000", False), ("localhost.evil.example", False), ("[::2]:5000", False),
    ],
)  # fmt: skip
def test_only_loopback_by_name_is_plain_http(host: str, loopback: bool) -> None:
    assert registry_api.is_loopback(host) is loopback


def refused(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} Client Error", response=response)


def registry(login: Login | None) -> Registry:
    remote = Registry.__new__(Registry)
    remote.host, remote.login, remote.timeout = "registry.test:5443", login, registry_api.TIMEOUT
    return remote


SECRET = "hunter2-s3cret"


@pytest.mark.parametrize(
    ("login", "err", "says"),
    [
        (None, dxf_errors.DXFUnauthorizedError(), "wants a login to push to team/x and Docker has none for it: run "),
        (Login("ci", SECRET, "config.json"), dxf_errors.DXFUnauthorizedError(), "refused the login Docker has for it"),
        (Login("ci", SECRET, "config.json"), refused(403), "the login Docker has for registry.test:5443 may not push"),
        (None, refused(500), "answered HTTP 500 when asked to push to team/x"),
        (None, requests.ConnectionError("Connection refused"), "nothing answers at registry.test:5443"),
        (None, requests.exceptions.SSLError("certificate verify failed"), "/etc/docker/certs.d/registry.test:5443/"),
    ],
)
def test_each_refusal_is_one_line_naming_the_fix_never_the_secret(
    login: Login | None, err: Exception, says: str
) -> None:
    line, _ = registry(login).refusal(err, "push to", "team/x")
    assert says in line
    assert "\n" not in line and SECRET not in line
    if isinstance(err, dxf_errors.DXFUnauthorizedError) or says.startswith("the login"):
        assert "`docker login registry.test:5443`" in line


def test_the_engines_cas_for_a_registry_are_trusted_from_a_private_file_while_it_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("THE REGISTRY'S CA\n")
    monkeypatch.setattr(dk, "engine_cas", lambda host: [ca] if host == "registry.test:5443" else [])
    monkeypatch.setattr(dk, "docker_login", lambda host: None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / "mainza-ca-registry.test_5443.pem"  # where it went, by a name known in advance
    os.symlink(tmp_path / "victim", planted)
    with Registry("registry.test:5443") as remote:
        bundle = Path(str(remote._base._tlsverify))
        assert bundle.parent == tmp_path and bundle != planted and bundle.read_text().endswith("THE REGISTRY'S CA\n")
        assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert not bundle.exists() and not (tmp_path / "victim").exists()
    with Registry("localhost:5000") as local:
        assert local._base._tlsverify is True  # plain HTTP: no bundle made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", planted.name]


@pytest.mark.parametrize("mode", ["endless", "bomb"])
def test_python_dxf_reads_through_the_bounded_fetch_each_refusal_one_line(mode: str) -> None:
    # Its deadline and cap are fetch's (tests/unit/core/test_fetch.py): here, that the registry's session has them.
    with (
        Hostile(default=mode) as hostile,
        pytest.raises(registry_api.RegistryError) as refused,
        Registry(hostile.base.removeprefix("http://")) as remote,
    ):
        remote.ping()
    assert "gave no usable answer when asked to read its API: an answer over 4194304 bytes" in str(refused.value)


class TokenService:
    """A DXF client whose token service grants a bearer token."""

    def authenticate(self, *args: object, **kwargs: object) -> str:
        return "registry-b3arer-token"


def test_a_token_the_registry_grants_is_a_secret() -> None:
    try:
        registry(Login("ci", SECRET, "config.json"))._auth(TokenService(), requests.Response())  # type: ignore[arg-type]
        assert secrets.redact("Bearer registry-b3arer-token") == "Bearer ***"
    finally:
        secrets.forget()
