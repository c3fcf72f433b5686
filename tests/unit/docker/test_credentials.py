"""The login Docker has for a registry, found as the CLI finds it; never shown."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from ci.core import secrets
from ci.core.errors import CiError
from ci.docker import credentials


def config(folder: Path, body: dict[str, object]) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(body))
    return {"DOCKER_CONFIG": str(folder)}


def basic(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


def test_the_login_in_the_config_is_found_by_host_and_its_secret_never_shown(tmp_path: Path) -> None:
    environ = config(tmp_path, {"auths": {"registry.test:5443": {"auth": basic("ci", "s3cret:with-colon")}}})
    login = credentials.docker_login("registry.test:5443", environ)
    assert login is not None and (login.username, login.secret) == ("ci", "s3cret:with-colon")
    assert "s3cret" not in repr(login) and "s3cret" not in str(login)
    assert credentials.docker_login("other.test", environ) is None


def test_no_config_is_no_login(tmp_path: Path) -> None:
    assert credentials.docker_login("registry.test", {"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_an_identity_token_is_kept_as_such(tmp_path: Path) -> None:
    environ = config(tmp_path, {"auths": {"acr.test": {"identitytoken": "refresh"}}})
    login = credentials.docker_login("acr.test", environ)
    assert login is not None and login.identity_token and login.secret == "refresh"


def helper(folder: Path, name: str, script: str) -> None:
    path = folder / f"docker-credential-{name}"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_a_hosts_credential_helper_comes_before_the_store_and_the_auths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper(bin_dir, "pass", 'read host; echo "{\\"Username\\":\\"from-helper\\",\\"Secret\\":\\"h-$host\\"}"')
    helper(bin_dir, "store", 'echo "{\\"Username\\":\\"from-store\\",\\"Secret\\":\\"x\\"}"')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    body = {
        "auths": {"a.test": {"auth": basic("from-auths", "y")}},
        "credsStore": "store",
        "credHelpers": {"a.test": "pass"},
    }
    environ = {**config(tmp_path / "cfg", body), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    login = credentials.docker_login("a.test", environ)
    assert login is not None and (login.username, login.secret) == ("from-helper", "h-a.test")
    other = credentials.docker_login("b.test", environ)
    assert other is not None and other.username == "from-store"


def test_a_helper_that_finds_nothing_is_no_login_and_a_missing_one_is_one_line(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper(bin_dir, "empty", "echo 'credentials not found in native keychain' >&2; exit 1")
    environ = {**config(tmp_path / "cfg", {"credsStore": "empty"}), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    assert credentials.docker_login("a.test", environ) is None
    missing = {**config(tmp_path / "cfg2", {"credsStore": "nowhere"}), "PATH": str(bin_dir)}
    with pytest.raises(CiError, match="docker-credential-nowhere that the Docker config names is not on PATH"):
        credentials.docker_login("a.test", missing)


def test_the_engines_cas_for_a_registry_are_its_certs_d_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials, "CERTS_D", tmp_path)
    (tmp_path / "registry.test:5443").mkdir()
    (tmp_path / "registry.test:5443" / "ca.crt").write_text("a CA")
    assert credentials.engine_cas("registry.test:5443") == [tmp_path / "registry.test:5443" / "ca.crt"]
    assert credentials.engine_cas("other.test") == []
    # a reference: its registry's, with the port certs.d names it by
    assert credentials.engine_cas("registry.test:5443/team/a@sha256:" + "b" * 64) == credentials.engine_cas(
        "registry.test:5443"
    )


def test_a_login_is_a_secret_as_soon_as_it_is_read_as_sent_too(tmp_path: Path) -> None:
    environ = config(tmp_path, {"auths": {"registry.test:5443": {"auth": basic("ci", "hunter2-s3cret")}}})
    try:
        credentials.docker_login("registry.test:5443", environ)
        shown = secrets.redact(f"denied hunter2-s3cret; Authorization: Basic {basic('ci', 'hunter2-s3cret')}")
        assert shown == "denied ***; Authorization: Basic ***"
    finally:
        secrets.forget()
