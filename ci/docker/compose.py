"""The project's compose stack: its resolved configuration, `up`, logs and stop, the cache registry service,
and compose's version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from python_on_whales.exceptions import DockerException

from ci.docker.credentials import ca_file
from ci.docker.engine import Engine, error_line, failed
from ci.docker.images import image_registry
from ci.errors import DockerFailed


def compose_config(engine: Engine) -> dict[str, Any]:
    """`docker compose config`: the compose file resolved (interpolated, active profiles only)."""
    try:
        config = engine._client.compose.config(return_json=True)
    except DockerException as err:
        where = yaml_problem(error_line(err), engine._client.client_config.compose_files or ())
        if where:
            raise DockerFailed(where, command=err.docker_command, stderr=err.stderr or "") from None
        raise failed(err, "compose.yaml does not resolve") from None
    return config if isinstance(config, dict) else {}


def yaml_problem(line: str, files: Iterable[str | Path]) -> str | None:
    """compose's YAML error (`yaml: line 8: did not find expected key`) at the line of the problem itself,
    `compose.yaml:12:4: did not find expected key`: its parser (go-yaml) names the line above the block the
    problem is in. None when LINE is no YAML error, or no file of FILES fails to parse."""
    said = re.match(r"(?:.*: )?yaml: line \d+: (.+)", line)
    if not said:
        return None
    for name in files:
        path = Path(name)
        try:
            yaml.safe_load(path.read_text())
        except yaml.MarkedYAMLError as err:
            if err.problem_mark is not None:
                return f"{path.name}:{err.problem_mark.line + 1}:{err.problem_mark.column + 1}: {said.group(1)}"
        except (OSError, yaml.YAMLError):
            continue
    return None


def compose_up(engine: Engine, built: Sequence[str], *, only: bool = False) -> Iterator[str]:
    """`compose up --detach`, yielding its output lines; DockerFailed on failure. The services the project
    builds (BUILT) are recreated from their new images (`--force-recreate --pull never`; ONLY: those alone,
    `--no-deps`). The others (a database, a queue: not the project's images) come up first by compose's own
    rules: recreated only when their definition changed, so their containers keep their data and
    connections, and pulled by their `pull_policy` (default: when missing). Compose waits for the health
    of a dependency that another service needs; the caller waits for the rest (stack.up)."""
    if not only:
        others = [name for name in compose_config(engine).get("services") or {} if name not in built]
        if others:
            yield from _up(engine, others, dependencies=True, force=False)
    yield from _up(engine, built, dependencies=not only, force=True)


def _up(engine: Engine, services: Sequence[str], *, dependencies: bool, force: bool) -> Iterator[str]:
    stream = engine._client.compose.up(
        services=list(services) or None,
        dependencies=dependencies,
        detach=True,
        force_recreate=force,
        pull="never" if force else None,
        stream_logs=True,
    )
    try:
        for _, line in stream:
            yield line.decode(errors="replace").rstrip()
    except DockerException as err:
        raise failed(err, line=pull_failure(err.stderr or "")) from None


PULL_FAILED = re.compile(r'^\s*(?P<service>\S+) Error failed to resolve reference "(?P<image>[^"]+)": (?P<cause>.+)$')
DENIED = re.compile(r"no basic auth credentials|authoriz|unauthorized|denied|\b40[13]\b", re.IGNORECASE)
NOT_FOUND = re.compile(r": not found$|manifest unknown|\b404\b")
UNREACHABLE = re.compile(r"dial tcp|no such host|connection refused|i/o timeout|handshake timeout|unreachable")


def pull_failure(output: str) -> str | None:
    """One line for the first service whose image compose could not pull (OUTPUT: compose's): the service,
    the image, why in a few words and what to do; None when no pull failed. The engine's own sentence names
    neither the service nor the fix, and ends in a URL's worth of detail."""
    found = next((m for m in map(PULL_FAILED.match, output.splitlines()) if m), None)
    if found is None:
        return None
    service, image, cause = found["service"], found["image"], found["cause"].strip()
    host = image_registry(image)
    if DENIED.search(cause):
        why = f"{host} denied the pull: check the name, or log in (`docker login {host}`) as a user who may pull it"
    elif NOT_FOUND.search(cause):
        why = f"not found in {host}: check its name and tag (compose.yaml, .env), or push it there"
    elif "x509" in cause or "certificate" in cause:
        why = f"{host}'s certificate is not trusted: put its CA in {ca_file(host)}"
    elif UNREACHABLE.search(cause):
        why = f"{host} is unreachable ({cause.rsplit(': ', 1)[-1]}): check its name and the network, or use a mirror"
    else:
        why = cause
    return f"could not pull {service}'s image {image}: {why}"


def service_logs(engine: Engine, service: str, tail: int = 20) -> str:
    try:
        return str(engine._client.compose.logs(services=[service], tail=str(tail), no_log_prefix=True))
    except DockerException:
        return ""


def stop_services(engine: Engine, services: list[str]) -> None:
    """Stop and remove the stack's containers (verify --down); volumes and the cache registry stay."""
    try:
        engine._client.compose.rm(services=services, stop=True, volumes=False)
    except DockerException as err:
        raise failed(err, "could not stop the stack") from None


def start_cache_registry(engine: Engine) -> None:
    """The project's own registry (compose service `registry`, profile `cache`, named volume); ENGINE must
    be connected with the `cache` profile."""
    try:
        engine._client.compose.up(services=["registry"], detach=True, pull="missing", quiet=True)
    except DockerException as err:
        raise failed(err, "could not start the project's cache registry") from None


def compose_version_line(engine: Engine) -> str:
    """`docker compose version`, e.g. "Docker Compose version v2.29.1"; CiError when compose is missing."""
    try:
        return engine._client.compose.version().strip()
    except DockerException as err:
        raise failed(err, "docker compose does not answer") from None
