"""The engine itself: connecting to it (a docker context or DOCKER_HOST, compose's env file), the labels the
project sets, docker's failures as the project's errors, the engine's own facts, and `_cli` and `_inspect`, the
helpers for a plain docker call where python-on-whales falls short.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from python_on_whales import DockerClient
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from ci.core.errors import CiError, DockerFailed, EngineUnreachable, Stopped, received
from ci.core.settings import Settings, docker_host

PROJECT_LABEL = "mainza.project"  # set on every image by the bake file's _common target
SOURCE_DIGEST_LABEL = "mainza.source-digest"  # each image's source fingerprint, given by the sessions
BUILD_ARGS_LABEL = "mainza.build-args"  # the digest of the build args that shape it (ci/builds/buildargs.py)
# The OCI labels the sessions give every image they build (build date, commit), whatever its Dockerfile says.
CREATED_LABEL = "org.opencontainers.image.created"
REVISION_LABEL = "org.opencontainers.image.revision"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_ONEOFF_LABEL = "com.docker.compose.oneoff"  # True on `compose run` containers


@dataclass(frozen=True)
class Engine:
    """One engine (a docker context, or DOCKER_HOST), and the project's compose stack on it."""

    _client: DockerClient = field(repr=False)  # for the use of this package (ci.docker) alone
    project: str = ""


def _env_file(values: Mapping[str, str]) -> Path:
    """A private env file holding compose's variables for one client; removed when the process ends."""
    fd, name = tempfile.mkstemp(prefix="mainza-compose-", suffix=".env")
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{key}={value}\n" for key, value in values.items())
    atexit.register(Path(name).unlink, missing_ok=True)
    return Path(name)


def connect(
    settings: Settings | None = None,
    compose_env: Mapping[str, str] | None = None,
    *,
    context: str | None = None,
    profiles: Sequence[str] = (),
) -> Engine:
    """An engine bound to this project's compose file and name, compose interpolating COMPOSE_ENV (TAG,
    ports) over the host's defaults; the current engine, or a docker CONTEXT's."""
    if settings is None:
        return Engine(DockerClient(context=context) if context and context != "default" else DockerClient())
    # The project's .env first, as compose reads it; then the host's defaults beneath it (only what it does
    # not set) and the session's own values (the tag), which a later --env-file gives precedence.
    defaults = {k: v for k, v in settings.host_defaults.items() if k not in settings.dotenv}
    env = {**defaults, "COMPOSE_PROJECT_NAME": settings.project, **(compose_env or {})}
    dotenv = [settings.env_file] if settings.env_file.is_file() else []
    client = DockerClient(
        context=context if context and context != "default" else None,
        compose_files=[settings.compose_file],
        compose_project_name=settings.project,
        compose_env_files=[*dotenv, _env_file(env)],
        compose_profiles=list(profiles),
    )
    return Engine(client, settings.project)


def error_line(err: DockerException) -> str:
    """The last meaningful line of a failed docker command's stderr."""
    lines = [line.strip() for line in (err.stderr or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"`{' '.join(err.docker_command)}` exited with {err.return_code}"


def failed(err: DockerException, what: str = "", line: str | None = None) -> DockerFailed:
    """The project's error for a failed command: WHAT it was doing, then docker's own last line (or LINE,
    when the caller read a clearer one out of its output). After a stop signal it raises the interruption
    instead: buildx and compose, in the session's process group or stopped by it (ci/core/signals.py), exit
    non-zero on it, and may be seen to before the signal's own exception is."""
    line = line or error_line(err)
    found = DockerFailed(
        f"{what}: {line}" if what else line,
        command=err.docker_command,
        stdout=err.stdout or "",
        stderr=err.stderr or "",
    )
    signum = received()
    if signum is not None:
        raise Stopped(signum) from found
    return found


def engine_location() -> str:
    # Exported only (settings.PROCESS_VARIABLES): the docker client reads it from its environment, never .env.
    return docker_host()


def require_engine(engine: Engine) -> str:
    """The engine's version, or EngineUnreachable with what to do about it."""
    try:
        return str(engine._client.version().server.version)  # type: ignore[union-attr]
    except ClientNotFoundError:
        raise EngineUnreachable(
            "the docker client is not installed: run `ci/provision` as root (Debian 12) or install Docker"
        ) from None
    except (DockerException, AttributeError):
        raise EngineUnreachable(
            f"no Docker engine answers at {engine_location()}: "
            "run `ci/provision` as root (Debian 12), or start Docker, or fix DOCKER_HOST"
        ) from None


def require_client(engine: Engine) -> None:
    """The docker client is installed: it reads the definitions (`compose config`, `bake --print`), which
    needs no engine. CiError otherwise; a missing plugin fails the reading itself, with docker's line."""
    try:
        engine._client.client_config.docker_cmd  # noqa: B018 (it looks the binary up)
    except ClientNotFoundError:
        raise CiError(
            "the docker client is not installed: it reads compose.yaml and docker-bake.hcl (no engine needed); "
            "install docker-cli with its compose and buildx plugins"
        ) from None


def _cli(engine: Engine, *args: str, env: Mapping[str, str] | None = None, stderr: bool = False) -> str:
    """`docker ARGS` with the client's own base command (host, context, config), for what python-on-whales
    0.81 lacks: `buildx prune` has no --keep-storage/--reserved-space/--max-used-space, `system df` no
    verbose mode (and its parser fails on negative sizes), `bake` no --check, and its objects re-inspect
    on every attribute read, so a snapshot of every container costs one `docker inspect` in all. With
    STDERR, what the command wrote there follows its output."""
    try:
        out, err = run([*engine._client.client_config.docker_cmd, *args], env=dict(env or {}), return_stderr=True)
    except DockerException as error:
        raise failed(error) from None
    return "\n".join(part for part in (out, err if stderr else "") if part)


def end_process(process: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """A docker child this package started in the background (events, logs) ended: SIGTERM, SIGKILL after GRACE
    seconds, reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _inspect(engine: Engine, kind: str, ids: list[str]) -> list[dict[str, Any]]:
    """Bulk inspect; an object removed meanwhile is left out (docker still prints the others)."""
    if not ids:
        return []
    try:
        out = _cli(engine, kind, "inspect", *ids)
    except DockerFailed as err:
        out = err.stdout
        if "No such" not in err.stderr:
            raise CiError(f"could not inspect {kind}s: {err}") from None
    return cast(list[dict[str, Any]], json.loads(out or "[]"))


# --- the engine's own facts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineFacts:
    containerd_store: bool  # images in containerd: the docker driver can then export registry cache
    root_dir: str  # the engine's data root, on the engine's machine


def engine_facts(engine: Engine) -> EngineFacts:
    """From `docker info`."""
    try:
        info = engine._client.system.info()
    except DockerException as err:
        raise failed(err, "`docker info` failed") from None
    status = {pair[0]: pair[1] for pair in info.driver_status or [] if len(pair) == 2}
    return EngineFacts(
        containerd_store=status.get("driver-type") == "io.containerd.snapshotter.v1",
        root_dir=str(info.docker_root_dir or ""),
    )


def uses_containerd_store(context: str) -> bool:
    """Whether the engine behind a docker context (a builder node's endpoint) uses the containerd
    image store, without which the docker driver cannot export cache."""
    try:
        return engine_facts(connect(context=context)).containerd_store
    except CiError:
        return False
