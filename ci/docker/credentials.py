"""What the Docker CLI and engine hold for a registry, so that the sessions reach it as buildx does: the login
(`docker login`: DOCKER_CONFIG's config.json, its credential helpers) and the CAs the engine trusts for it
(/etc/docker/certs.d/HOST/*.crt). Read only; a secret is never put in a message, a repr or a report."""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ci.core import secrets
from ci.core.errors import CiError
from ci.core.settings import docker_config, environment

CERTS_D = Path("/etc/docker/certs.d")
HELPER_TIMEOUT = 10.0  # seconds: a helper may ask a keychain or a cloud


@dataclass(frozen=True)
class Login:
    """Credentials for one registry. An identity token (a helper's Username `<token>`) is a refresh token
    that some token services take instead of a password."""

    username: str
    secret: str = field(repr=False)
    source: str = ""  # where it came from, for messages: `config.json`, `credential helper ecr-login`

    @property
    def identity_token(self) -> bool:
        return self.username == "<token>"


def config_dir(environ: Mapping[str, str]) -> Path:
    """The Docker CLI's config folder: DOCKER_CONFIG, else ~/.docker."""
    return docker_config(environ)


def _config(environ: Mapping[str, str]) -> dict[str, object]:
    path = config_dir(environ) / "config.json"
    try:
        loaded = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise CiError(f"cannot read {path} ({type(err).__name__}): fix or remove it, then `docker login`") from None
    return loaded if isinstance(loaded, dict) else {}


def docker_login(host: str, environ: Mapping[str, str] | None = None) -> Login | None:
    """The login `docker login HOST` saved, looked up as the CLI does: the host's credential helper, else
    the config's credential store, else the config's own `auths`; None when there is none. Its secret is
    registered (ci/core/secrets.py) as soon as it is read, as sent too (Basic auth's base64 of `user:secret`)."""
    # The process environment: what the CLI and its credential helpers see, never the project's .env.
    login = _lookup(host, environment().exported if environ is None else environ)
    if login is not None:
        basic = base64.b64encode(f"{login.username}:{login.secret}".encode()).decode()
        secrets.register(login.secret, basic)
    return login


def _lookup(host: str, environ: Mapping[str, str]) -> Login | None:
    config = _config(environ)
    helpers = config.get("credHelpers")
    helper = helpers.get(host) if isinstance(helpers, dict) else None
    store = config.get("credsStore")
    for name in (helper, store):
        if isinstance(name, str) and name:
            return _from_helper(name, host, environ)
    auths = config.get("auths")
    entry = auths.get(host) if isinstance(auths, dict) else None
    if not isinstance(entry, dict):
        return None
    source = f"{config_dir(environ) / 'config.json'}"
    if entry.get("identitytoken"):
        return Login("<token>", str(entry["identitytoken"]), source)
    try:
        user, _, secret = base64.b64decode(str(entry.get("auth") or "")).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise CiError(f"the login for {host} in {source} is unreadable: run `docker login {host}` again") from None
    return Login(user, secret, source) if user else None


def _from_helper(name: str, host: str, environ: Mapping[str, str]) -> Login | None:
    binary = f"docker-credential-{name}"
    try:
        done = subprocess.run(
            [binary, "get"], input=host, capture_output=True, text=True, timeout=HELPER_TIMEOUT, env=dict(environ)
        )
    except FileNotFoundError:
        raise CiError(f"the credential helper {binary} that the Docker config names is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise CiError(f"the credential helper {binary} did not answer within {HELPER_TIMEOUT:.0f}s") from None
    if done.returncode != 0:
        return None  # "credentials not found": no login for this host
    try:
        answer = json.loads(done.stdout)
        return Login(str(answer["Username"]), str(answer["Secret"]), f"credential helper {name}")
    except (ValueError, KeyError, TypeError):
        raise CiError(f"the credential helper {binary} answered something else than credentials") from None


def ca_file(host: str) -> Path:
    """Where HOST's CA certificate goes for the engine to trust it (and the sessions, which read certs.d too)."""
    return CERTS_D / host / "ca.crt"


def engine_cas(registry: str) -> list[Path]:
    """The CA certificates the engine trusts for REGISTRY (`/etc/docker/certs.d/HOST[:PORT]/*.crt`), which it
    adds to the system's roots for that registry; REGISTRY a host[:port], or a reference whose first part it is
    (`registry.test:5443/team/a@sha256:...`)."""
    folder = CERTS_D / registry.split("/", 1)[0]
    return sorted(folder.glob("*.crt")) if folder.is_dir() else []
