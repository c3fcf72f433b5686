"""A second Docker engine on its own socket, bridge and data root, addressed through a docker context:
another build node on the same machine (a fresh runner: no cache, no images). By default its build steps
have no network (no NAT), so a step it does not take from the registry cache fails there; with `nat=True`
its bridge's /24 is masqueraded (rules added for its life only), so steps that download run."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from python_on_whales import DockerClient, docker

BRIDGE = "mainzatest1"
# An unused private /24 for the second engine's own bridge; nothing is ever sent to it but by that engine.
BRIDGE_CIDR = "10.231.77.1/24"


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


def _nat_rules(bridge: str, cidr: str) -> list[list[str]]:
    """iptables rules (without -A/-D) that let BRIDGE's subnet out: the main engine's FORWARD policy is DROP,
    and DOCKER-USER is the chain it leaves to its users."""
    subnet = str(ipaddress.ip_interface(cidr).network)
    return [
        ["-t", "nat", "POSTROUTING", "-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"],
        ["DOCKER-USER", "-i", bridge, "-j", "ACCEPT"],
        ["DOCKER-USER", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ]


def _iptables(action: str, rule: list[str], *, check: bool = True) -> None:
    table = rule[:2] if rule[0] == "-t" else []
    chain, *spec = rule[len(table) :]
    subprocess.run(["iptables", *table, action, chain, *spec], check=check, capture_output=True)


@contextmanager
def second_engine(
    root: Path,
    name: str = "mainzatest-node2",
    *,
    containerd_store: bool = True,
    bridge: str = BRIDGE,
    cidr: str = BRIDGE_CIDR,
    nat: bool = False,
) -> Iterator[str]:
    """Start the engine, create the context NAME for it, yield NAME; stop and remove everything after.
    containerd_store=False gives the classic image store, whose docker driver cannot export cache. Engines
    that run at the same time need a BRIDGE and CIDR each."""
    sock = root / "docker.sock"
    config = root / "daemon.json"
    config.write_text(
        json.dumps(
            {
                "features": {"containerd-snapshotter": containerd_store},
                # Its own bridge: "bridge": "none" would delete the host's docker0 (see shared facts).
                "bridge": bridge,
                "iptables": False,
                "ip-masq": False,
            }
        )
    )
    _ip("link", "del", bridge, check=False)
    _ip("link", "add", "name", bridge, "type", "bridge")
    _ip("addr", "add", cidr, "dev", bridge)
    _ip("link", "set", bridge, "up")
    rules = _nat_rules(bridge, cidr) if nat else []
    for rule in rules:
        _iptables("-I" if rule[0] != "-t" else "-A", rule)
    log = (root / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--config-file", str(config),
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "docker.pid"),
            "-H", f"unix://{sock}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        engine = DockerClient(host=f"unix://{sock}")
        deadline = time.monotonic() + 60
        while True:
            try:
                engine.version()
                break
            except Exception:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise RuntimeError(f"the second engine did not start; see {root / 'dockerd.log'}") from None
                time.sleep(0.5)
        if name in {c.name for c in docker.context.list()}:
            docker.context.remove(name, force=True)
        docker.context.create(name, docker={"host": f"unix://{sock}"}, description="mainza tests: second node")
        yield name
    finally:
        if name in {c.name for c in docker.context.list()}:
            docker.context.remove(name, force=True)
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()
        for rule in rules:
            _iptables("-D", rule, check=False)
        _ip("link", "del", bridge, check=False)
