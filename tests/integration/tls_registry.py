"""A registry like the ones teams use: a host name that is not localhost, TLS with a CA of its own, and a
login. Debian's `docker-registry` (the distribution registry 2.8) serves it; the engine trusts the CA
through /etc/docker/certs.d, and each test logs in with a Docker CLI config of its own.

Not on loopback: the engine treats every registry on 127.0.0.0/8 as insecure, so there it never checks
the certificate (a login works without the CA) and a refused login falls back to plain HTTP and reads
"400 Bad Request". A fixture easier than what users have proves nothing. So the registry runs in a network
namespace of the test's own (NETNS), behind a veth pair on a /24 that nothing else uses (10.231.81.0/24;
other tests use 10.231.77-80 and 82), and `registry.mainza.test` resolves to it through a line in /etc/hosts: the
engine then treats it as any remote registry (TLS verified against certs.d, 401 for a wrong password)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ci.stack.live import free_port

CERTS_D = Path("/etc/docker/certs.d")
HOSTS = Path("/etc/hosts")
HOSTS_MAX_AGE = 5.5  # seconds: Go caches /etc/hosts for 5 (net/hosts.go, cacheMaxAge)
HOST = "registry.mainza.test"  # the registry's name, resolving to REGISTRY_ADDRESS
# The test's own network namespace and veth pair (host side, namespace side), on a /24 used by nothing else.
NETNS = "mainzatest-registry"
VETH_HOST, VETH_NS = "mzreg0", "mzreg1"
HOST_CIDR, REGISTRY_CIDR = "10.231.81.1/24", "10.231.81.2/24"
REGISTRY_ADDRESS = REGISTRY_CIDR.split("/")[0]


@dataclass(frozen=True)
class Certs:
    ca: Path  # the CA's certificate: what clients trust
    cert: Path  # the server's certificate, for the host name, signed by the CA
    key: Path  # the server's key


@dataclass(frozen=True)
class TlsRegistry:
    host: str  # "registry.mainza.test:PORT", as in image references
    user: str
    password: str
    ca: Path
    url: str  # "https://registry.mainza.test:PORT"


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


def resolve_locally(name: str = "registry.test", address: str = "127.0.0.1") -> None:
    """Make NAME resolve to ADDRESS through /etc/hosts: one line `ADDRESS NAME`, appended if missing; NAME is
    taken off lines that give it another address (a line left with no name goes). Other lines stay as they
    are, and nothing is written when NAME already resolves to ADDRESS only.

    How it resolves: the Docker engine (BuildKit of the docker driver resolves on the host, not in a
    container) and Python's resolver both read /etc/hosts, so the name works for builds, logins and
    clients alike. The default (127.0.0.1 registry.test) serves registries on loopback such as
    token_registry; tls_registry gives its namespace's address instead."""
    text = HOSTS.read_text() if HOSTS.exists() else ""
    lines, found, changed = [], False, False
    for line in text.splitlines():
        entry, hash_, comment = line.partition("#")
        fields = entry.split()
        if len(fields) < 2 or name not in fields[1:]:
            lines.append(line)
        elif fields[0] == address:
            found = True
            lines.append(line)
        else:  # NAME with another address: take it off, keep the line's other names and comment
            changed = True
            others = [field for field in fields[1:] if field != name]
            if others:
                lines.append(" ".join([fields[0], *others]) + (f" {hash_}{comment}" if hash_ else ""))
    if not changed:
        if found:
            return
        # Append in place: /etc/hosts is often a bind mount (containers) that cannot be replaced by a rename.
        with HOSTS.open("a") as hosts:
            hosts.write(("" if not text or text.endswith("\n") else "\n") + f"{address} {name}\n")
    else:
        if not found:
            lines.append(f"{address} {name}")
        HOSTS.write_text("\n".join(lines) + "\n")  # truncates and rewrites the same file: bind mounts too
    # The engine's resolver (Go's) reads /etc/hosts again only once its copy is 5 s old: a pull sooner
    # would say `no such host` for a line just written (a first run on a fresh machine did).
    time.sleep(HOSTS_MAX_AGE)


def _ip(*args: str, check: bool = True) -> None:
    done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def remove_namespace() -> None:
    """Delete the namespace, its veth pair and what still runs in it (a registry of a crashed run); never raises."""
    pids = subprocess.run(["ip", "netns", "pids", NETNS], check=False, capture_output=True, text=True).stdout
    for pid in pids.split():
        with suppress(ValueError, ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)  # only processes inside the test's own namespace
    _ip("link", "del", VETH_HOST, check=False)  # deletes its peer too, wherever it is
    _ip("link", "del", VETH_NS, check=False)  # in case a peer was left on the host
    _ip("netns", "del", NETNS, check=False)


def make_namespace() -> None:
    """The test's own network namespace NETNS, reached from the host through the veth pair VETH_HOST
    (HOST_CIDR, on the host) - VETH_NS (REGISTRY_CIDR, in the namespace). Leftovers are recreated."""
    remove_namespace()
    _ip("netns", "add", NETNS)
    _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS, "netns", NETNS)
    _ip("addr", "add", HOST_CIDR, "dev", VETH_HOST)
    _ip("link", "set", VETH_HOST, "up")
    _ip("-n", NETNS, "addr", "add", REGISTRY_CIDR, "dev", VETH_NS)
    _ip("-n", NETNS, "link", "set", VETH_NS, "up")
    _ip("-n", NETNS, "link", "set", "lo", "up")


@contextmanager
def tls_registry(directory: Path, *, user: str = "mainza-ci", password: str, host: str = HOST) -> Iterator[TlsRegistry]:
    """Yield a TLS registry with a login (htpasswd) as HOST:PORT, once it answers 401 on /v2/.

    It listens on REGISTRY_ADDRESS inside the network namespace NETNS (made here, through a veth pair from
    the host), and HOST resolves there through /etc/hosts: not loopback, which the engine would treat as
    insecure. The namespace, veth pair and names are fixed: one such registry at a time; one left by a
    crashed run is deleted first. On exit the registry is stopped, the namespace, veth pair and certs.d
    folder removed (the /etc/hosts line stays: it is harmless and the next run reuses it)."""
    directory.mkdir(parents=True, exist_ok=True)
    resolve_locally(host, REGISTRY_ADDRESS)
    certs = make_ca(directory / "certs", host)
    htpasswd = directory / "htpasswd"
    # -i: the password on stdin, not in the process list; -B: bcrypt, the only scheme the registry accepts.
    subprocess.run(
        ["htpasswd", "-iBc", str(htpasswd), user], input=password, check=True, capture_output=True, text=True
    )
    port = free_port()  # the namespace is new and empty: any port is free there; this one varies per run
    config = {  # JSON is YAML: no quoting questions for paths
        "version": "0.1",
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}, "delete": {"enabled": True}},
        "http": {
            "addr": f"{REGISTRY_ADDRESS}:{port}",
            "tls": {"certificate": str(certs.cert), "key": str(certs.key)},
        },
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
        for stale in CERTS_D.glob(f"{host}:*"):  # left by a crashed run, for a port of its own
            shutil.rmtree(stale, ignore_errors=True)
        make_namespace()
        trust.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(certs.ca, trust / "ca.crt")
        with log.open("ab") as out:
            # `ip netns exec` enters the namespace and execs the registry: the process is the registry's.
            process = subprocess.Popen(
                ["ip", "netns", "exec", NETNS, "docker-registry", "serve", str(directory / "config.yml")],
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
        remove_namespace()
        shutil.rmtree(trust, ignore_errors=True)


def wait_for_login_challenge(registry: TlsRegistry, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until /v2/ answers 401 over TLS verified with the CA: serving, and asking for the login."""
    context = ssl.create_default_context(cafile=str(registry.ca))
    # Straight to the registry, whatever HTTPS_PROXY says.
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
