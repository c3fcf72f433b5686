"""A registry like the ones teams use, on loopback: a host name that is not localhost, TLS with a CA of
its own, and a login. Debian's `docker-registry` (the distribution registry 2.8) serves it; the engine
trusts the CA through /etc/docker/certs.d, and each test logs in with a Docker CLI config of its own."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

CERTS_D = Path("/etc/docker/certs.d")
HOSTS = Path("/etc/hosts")


@dataclass(frozen=True)
class Certs:
    ca: Path  # the CA's certificate: what clients trust
    cert: Path  # the server's certificate, for the host name, signed by the CA
    key: Path  # the server's key


@dataclass(frozen=True)
class TlsRegistry:
    host: str  # "registry.test:PORT", as in image references
    user: str
    password: str
    ca: Path
    url: str  # "https://registry.test:PORT"


def make_ca(directory: Path, host: str) -> Certs:
    """A CA, and a server certificate for HOST (subjectAltName=DNS:HOST) signed by it, with the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    ext = directory / "server.ext"
    # Go (engine, registry) and Python both check the CA and server extensions: state them all explicitly.
    ext.write_text(
        f"subjectAltName=DNS:{host}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]  # fast to generate
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "7", "-subj", "/CN=mainza test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={host}"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "7",
         "-extfile", ext, "-out", cert],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True, text=True)
    return Certs(ca=ca, cert=cert, key=key)


def resolve_locally(name: str = "registry.test") -> None:
    """Make NAME resolve to 127.0.0.1 through /etc/hosts (a line is appended only if missing).

    How it resolves: the Docker engine (BuildKit of the docker driver resolves on the host, not in a
    container) and Python's resolver both read /etc/hosts, so the name works for builds, logins and
    clients alike, while the traffic stays on loopback."""
    text = HOSTS.read_text() if HOSTS.exists() else ""
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] == "127.0.0.1" and name in fields[1:]:
            return
    # Append in place: /etc/hosts is often a bind mount (containers) that cannot be replaced by a rename.
    with HOSTS.open("a") as hosts:
        hosts.write(("" if not text or text.endswith("\n") else "\n") + f"127.0.0.1 {name}\n")


@contextmanager
def tls_registry(
    directory: Path, *, user: str = "mainza-ci", password: str, host: str = "registry.test"
) -> Iterator[TlsRegistry]:
    """Yield a TLS registry with a login (htpasswd) on 127.0.0.1, as HOST:PORT, once it answers 401 on /v2/."""
    directory.mkdir(parents=True, exist_ok=True)
    resolve_locally(host)
    certs = make_ca(directory / "certs", host)
    htpasswd = directory / "htpasswd"
    # -i: the password on stdin, not in the process list; -B: bcrypt, the only scheme the registry accepts.
    subprocess.run(
        ["htpasswd", "-iBc", str(htpasswd), user], input=password, check=True, capture_output=True, text=True
    )
    port = free_port()
    config = {  # JSON is YAML: no quoting questions for paths
        "version": "0.1",
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "tls": {"certificate": str(certs.cert), "key": str(certs.key)}},
        "auth": {"htpasswd": {"realm": "mainza-test", "path": str(htpasswd)}},
    }
    (directory / "config.yml").write_text(json.dumps(config, indent=2) + "\n")
    registry = TlsRegistry(
        host=f"{host}:{port}", user=user, password=password, ca=certs.ca, url=f"https://{host}:{port}"
    )
    # The engine reads this per request (no restart), for pulls, pushes and BuildKit's registry cache.
    trust = CERTS_D / registry.host
    log = directory / "registry.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        trust.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(certs.ca, trust / "ca.crt")
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["docker-registry", "serve", str(directory / "config.yml")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_login_challenge(registry, process, log)
        yield registry
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(trust, ignore_errors=True)


def wait_for_login_challenge(registry: TlsRegistry, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until /v2/ answers 401 over TLS verified with the CA: serving, and asking for the login."""
    context = ssl.create_default_context(cafile=str(registry.ca))
    # Straight to loopback, whatever HTTPS_PROXY says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    deadline = time.monotonic() + 20
    while True:
        try:
            opener.open(f"{registry.url}/v2/", timeout=2).close()
            raise RuntimeError(f"{registry.url}/v2/ answered without a login: auth is not configured")
        except urllib.error.HTTPError as error:
            if error.code == 401:
                return
            raise
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the registry on {registry.host} did not start; its log:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def docker_login(config: Path, registry: TlsRegistry, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """`docker login` into REGISTRY with the Docker CLI config CONFIG (the password on stdin); never raises."""
    return subprocess.run(
        ["docker", "login", registry.host, "--username", registry.user, "--password-stdin"],
        input=registry.password if password is None else password,
        env={**os.environ, "DOCKER_CONFIG": str(config)},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def docker_config(directory: Path) -> Path:
    """A private Docker CLI config in DIRECTORY (for DOCKER_CONFIG): no credentials, but the CLI plugins and
    contexts of the config in use ($DOCKER_CONFIG, else ~/.docker), linked, so that `docker buildx`,
    `docker compose` and contexts keep working (CI's second pass has newer plugins in $DOCKER_CONFIG)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text("{}\n")
    current = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker").absolute()
    for name in ("cli-plugins", "contexts"):
        if (current / name).is_dir() and not os.path.lexists(directory / name):
            (directory / name).symlink_to(current / name, target_is_directory=True)
    return directory
