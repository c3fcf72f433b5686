"""The one door to Docker: every docker, buildx and compose call goes through here, by python-on-whales.

Callers hold an `Engine` and get the project's own types and errors back: `DockerFailed` (with the
command's last meaningful line) or `EngineUnreachable`, never python-on-whales' exceptions or objects.
Nothing here writes `os.environ`: compose gets its variables from an env file of its client's own, bake
gets them per call, so two engines with different tags in one process never see each other's values.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict, cast

from packaging.version import Version
from python_on_whales import DockerClient
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from ci.errors import CiError, DockerFailed, EngineUnreachable
from ci.settings import Settings
from ci.sizes import parse_docker_size
from ci.versions import BUILDX_BAKE_ALLOW, at_least, tool_version

PROJECT_LABEL = "mainza.project"  # set on every image by the bake file's _common target
SOURCE_DIGEST_LABEL = "mainza.source-digest"  # each image's source fingerprint, given by the sessions
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_ONEOFF_LABEL = "com.docker.compose.oneoff"  # True on `compose run` containers


@dataclass(frozen=True)
class Engine:
    """One engine (a docker context, or DOCKER_HOST), and the project's compose stack on it."""

    _client: DockerClient = field(repr=False)  # for this module's use alone
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
    env = {**settings.host_defaults, "COMPOSE_PROJECT_NAME": settings.project, **(compose_env or {})}
    client = DockerClient(
        context=context if context and context != "default" else None,
        compose_files=[settings.compose_file],
        compose_project_name=settings.project,
        compose_env_files=[_env_file(env)],
        compose_profiles=list(profiles),
    )
    return Engine(client, settings.project)


def error_line(err: DockerException) -> str:
    """The last meaningful line of a failed docker command's stderr."""
    lines = [line.strip() for line in (err.stderr or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"`{' '.join(err.docker_command)}` exited with {err.return_code}"


def failed(err: DockerException, what: str = "") -> DockerFailed:
    """The project's error for a failed command: WHAT it was doing, then docker's own last line."""
    line = error_line(err)
    return DockerFailed(
        f"{what}: {line}" if what else line,
        command=err.docker_command,
        stdout=err.stdout or "",
        stderr=err.stderr or "",
    )


def engine_location() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def require_engine(engine: Engine) -> str:
    """The engine's version, or EngineUnreachable with what to do about it."""
    try:
        return str(engine._client.version().server.version)  # type: ignore[union-attr]
    except ClientNotFoundError:
        raise EngineUnreachable(
            "the docker client is not installed: run `sudo ci/provision` (Debian 12) or install Docker"
        ) from None
    except (DockerException, AttributeError):
        raise EngineUnreachable(
            f"no Docker engine answers at {engine_location()}: "
            "run `sudo ci/provision` (Debian 12), or start Docker, or fix DOCKER_HOST"
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


# --- bake --------------------------------------------------------------------------------------------


def bake_stream(
    engine: Engine,
    bake_files: Sequence[Path],
    targets: list[str],
    *,
    variables: Mapping[str, str],
    no_cache: bool,
    metadata_file: Path,
    builder: str | None = None,
    read_paths: Sequence[Path] = (),
    git_info: bool = True,
) -> Iterator[str]:
    """Run bake with buildx's machine-readable progress and yield its output as it comes.

    The bake files are always named: with none, buildx would merge compose.yaml from the same folder.
    "rawjson" is accepted by buildx 0.13 although its --help and python-on-whales' type hint do not list it.
    READ_PATHS outside the working directory are granted to bake explicitly where buildx has `--allow`
    (0.17; from 0.20 bake refuses them without it, and its y/N question finds no terminal to ask).
    Without GIT_INFO, buildx does not run git (six commands, 0.04 s) for the provenance of the build.
    Raises DockerFailed when bake fails, after the whole stream was yielded.
    """
    grants = [f"--allow=fs.read={path}" for path in read_paths] if bake_allows(engine) else []
    stream = engine._client.buildx.bake(
        # python-on-whales 0.81 has no `allow`: the flags go with the targets (cobra reads flags anywhere).
        targets=[*grants, *targets],
        files=list(bake_files),
        load=True,
        cache=not no_cache,
        progress=cast(Any, "rawjson"),
        # bake's variables reach buildx as its environment, where it also reads its own settings
        variables={**variables, **({} if git_info else {"BUILDX_GIT_INFO": "0"})},
        metadata_file=metadata_file,
        builder=builder,
        stream_logs=True,
    )
    try:
        yield from cast(Iterator[str], stream)
    except DockerException as err:
        raise failed(err) from None


def bake_allows(engine: Engine) -> bool:
    """Whether this buildx's bake takes `--allow` entitlements."""
    return _buildx_at_least(tuple(engine._client.client_config.docker_cmd), BUILDX_BAKE_ALLOW)


@functools.cache
def _buildx_at_least(docker_cmd: tuple[str, ...], minimum: Version) -> bool:
    try:
        return at_least(tool_version(str(run([*docker_cmd, "buildx", "version"]))), minimum)
    except DockerException:
        return False


def bake_definition(
    engine: Engine, bake_file: Path, targets: list[str], variables: Mapping[str, str]
) -> dict[str, Any]:
    """`bake --print TARGETS`: the resolved groups and targets. DockerFailed with buildx's message."""
    try:
        definition = engine._client.buildx.bake(
            targets=targets, files=[bake_file], print=True, variables=dict(variables)
        )
    except DockerException as err:
        raise failed(err) from None
    return definition if isinstance(definition, dict) else {}


def bake_check(engine: Engine, bake_file: Path, targets: list[str], variables: Mapping[str, str]) -> str:
    """`bake --check TARGETS` (buildx >= 0.16): the build checks of each target, building nothing; its
    output. Raises DockerFailed (stdout and stderr kept) when a check fails."""
    return _cli(engine, "buildx", "bake", "--file", str(bake_file), "--check", *targets, env=variables, stderr=True)


def buildx_version_line(engine: Engine) -> str:
    """`docker buildx version`, e.g. "github.com/docker/buildx v0.16.2 abc"; CiError when buildx is missing."""
    try:
        return engine._client.buildx.version().strip()
    except DockerException as err:
        raise failed(err, "docker buildx does not answer") from None


def compose_version_line(engine: Engine) -> str:
    """`docker compose version`, e.g. "Docker Compose version v2.29.1"; CiError when compose is missing."""
    try:
        return engine._client.compose.version().strip()
    except DockerException as err:
        raise failed(err, "docker compose does not answer") from None


# --- images and containers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    id: str
    size: int
    labels: dict[str, str]
    tags: tuple[str, ...]


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    service: str  # the compose service, else the container's name
    image: str  # image id
    running: bool
    status: str  # running, exited, created...
    exit_code: int
    health: str | None  # healthy, starting, unhealthy; None without a healthcheck
    start_period: float = 0.0  # seconds its healthcheck gives it to start
    host_ports: tuple[int, ...] = ()  # the host ports it holds while running

    @property
    def state(self) -> str:
        """health when it has a healthcheck, else the status."""
        return self.health or self.status


def inspect_image(engine: Engine, ref: str) -> ImageInfo | None:
    try:
        image = engine._client.image.inspect(ref)
    except DockerException:
        return None
    labels = (image.config.labels if image.config else None) or {}
    return ImageInfo(str(image.id), int(image.size or 0), dict(labels), tuple(image.repo_tags or ()))


def image_source_digest(engine: Engine, ref: str) -> str | None:
    """The source fingerprint an image carries (label mainza.source-digest); None without one."""
    image = inspect_image(engine, ref)
    return image.labels.get(SOURCE_DIGEST_LABEL) if image else None


def image_exists(engine: Engine, ref: str) -> bool:
    """Whether the engine has REF locally (the docker driver builds FROM a local image without pulling)."""
    try:
        return bool(engine._client.image.exists(ref))
    except DockerException:
        return False


def project_image_ids(engine: Engine, project: str) -> list[str]:
    try:
        return [i.id for i in engine._client.image.list(filters=[("label", f"{PROJECT_LABEL}={project}")])]
    except DockerException as err:
        raise failed(err, f"could not list the {project} images") from None


def remove_images(engine: Engine, refs: list[str], *, force: bool = True) -> None:
    """Remove REFS that are present (forced: a dev rebuild's or a benchmark's own images)."""
    present = [ref for ref in refs if image_exists(engine, ref)]
    try:
        if present:
            engine._client.image.remove(present, force=force)
    except DockerException as err:
        raise failed(err, "could not remove images") from None


def _container_info(inspect: Mapping[str, Any]) -> ContainerInfo:
    """A container from `docker inspect`'s JSON."""
    state = inspect.get("State") or {}
    config = inspect.get("Config") or {}
    labels = config.get("Labels") or {}
    name = str(inspect.get("Name", "")).lstrip("/")
    bindings = (inspect.get("NetworkSettings") or {}).get("Ports") or {}
    ports = {str(b.get("HostPort") or "") for found in bindings.values() for b in found or []}
    return ContainerInfo(
        id=str(inspect["Id"]),
        name=name,
        service=labels.get(COMPOSE_SERVICE_LABEL, name),
        image=str(inspect.get("Image", "")),
        running=bool(state.get("Running")),
        status=str(state.get("Status", "")),
        exit_code=int(state.get("ExitCode") or 0),
        health=str((state.get("Health") or {}).get("Status") or "") or None,
        start_period=((config.get("Healthcheck") or {}).get("StartPeriod") or 0) / 1e9,  # nanoseconds
        host_ports=tuple(sorted(int(p) for p in ports if p.isdigit())),
    )


def project_containers(engine: Engine, project: str, *labels: str) -> list[ContainerInfo]:
    """Every container of the compose project (with LABELS too), running or not: one `docker ps`, one
    `docker inspect` (python-on-whales inspects each apart, several times slower: watch lists them every turn)."""
    filters = [
        arg for label in (f"{COMPOSE_PROJECT_LABEL}={project}", *labels) for arg in ("--filter", f"label={label}")
    ]
    try:
        ids = _cli(engine, "ps", "--all", "--quiet", "--no-trunc", *filters)
    except DockerFailed as err:
        raise CiError(f"could not list the {project} containers: {err}") from None
    return [_container_info(c) for c in _inspect(engine, "container", ids.split())]


def service_containers(engine: Engine) -> dict[str, ContainerInfo]:
    """The compose stack's containers by service, running or not (not `compose run`'s one-off ones)."""
    return {c.service: c for c in project_containers(engine, engine.project, f"{COMPOSE_ONEOFF_LABEL}=False")}


def container_states(engine: Engine, ids: Sequence[str]) -> dict[str, ContainerInfo]:
    """The containers IDS as they are now, by id: one `docker inspect`."""
    return {c["Id"]: _container_info(c) for c in _inspect(engine, "container", list(ids))}


def remove_containers(engine: Engine, ids: list[str]) -> None:
    """Stop and remove containers; their volumes stay."""
    try:
        if ids:
            engine._client.container.stop(ids, time=10)
            engine._client.container.remove(ids, force=True, volumes=False)
    except DockerException as err:
        raise failed(err, "could not remove the previous containers") from None


def container_logs(engine: Engine, container_id: str, tail: int | None = None) -> str:
    """The container's log, its stdout and stderr lines in the order they were written; "" when it is gone.
    (python-on-whales inspects the container before each `docker logs`: one more call in every turn of watch.)"""
    args = ["--tail", str(tail)] if tail is not None else []
    try:
        text = _cli(engine, "container", "logs", "--timestamps", *args, container_id, stderr=True)
    except DockerFailed:
        return ""
    lines = [line for line in text.splitlines() if line]
    return "\n".join(line.partition(" ")[2] for line in sorted(lines, key=_log_time))


def _log_time(line: str) -> str:
    """The sort key of a `docker logs --timestamps` line: its RFC 3339 time, whose fraction docker trims."""
    stamp = line.partition(" ")[0].rstrip("Z")
    return (stamp if "." in stamp else stamp + ".").ljust(30, "0")


# --- events -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerEvent:
    container_id: str
    action: str  # create, start, die, "health_status: healthy", ...


def parse_event(line: str) -> ContainerEvent | None:
    """One line of `docker events --format '{{json .}}'`; None for what is not a container's event."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("Type") != "container":
        return None
    actor = event.get("Actor") or {}
    return ContainerEvent(str(actor.get("ID") or ""), str(event.get("Action") or ""))


class ContainerEvents:
    """The engine's events ACTIONS (`health_status` stands for each of its states) for the project's
    containers, from the moment this was made (`docker events --since`, so that none is lost while the
    stream connects), read on a thread of its own. Made by `container_events`, which ends the stream."""

    def __init__(self, engine: Engine, actions: Sequence[str]) -> None:
        cmd = [
            *engine._client.client_config.docker_cmd, "events", "--since", f"{time.time():.6f}",
            "--format", "{{json .}}", "--filter", "type=container",
            "--filter", f"label={COMPOSE_PROJECT_LABEL}={engine.project}",
            *(f"--filter=event={action}" for action in actions),
        ]  # fmt: skip
        self._process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._queue: queue.Queue[ContainerEvent] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            event = parse_event(line)
            if event:
                self._queue.put(event)

    def next(self, timeout: float) -> ContainerEvent | None:
        """The next event within TIMEOUT seconds, else None."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@contextlib.contextmanager
def container_events(engine: Engine, actions: Sequence[str]) -> Iterator[ContainerEvents]:
    """The project's container events ACTIONS while the block runs (see ContainerEvents)."""
    events = ContainerEvents(engine, actions)
    try:
        yield events
    finally:
        events.close()


# --- compose ----------------------------------------------------------------------------------------------


def compose_config(engine: Engine) -> dict[str, Any]:
    """`docker compose config`: the compose file resolved (interpolated, active profiles only)."""
    try:
        config = engine._client.compose.config(return_json=True)
    except DockerException as err:
        raise failed(err, "compose.yaml does not resolve") from None
    return config if isinstance(config, dict) else {}


def compose_up(engine: Engine, *, services: Sequence[str] = ()) -> Iterator[str]:
    """`compose up --detach --force-recreate [SERVICES]`, yielding its output lines; DockerFailed on failure.
    With SERVICES, only those (`--no-deps`: a dependency is not recreated with them). Compose waits for the
    health of a dependency that another service needs; the caller waits for the rest (stack.up)."""
    stream = engine._client.compose.up(
        services=list(services) or None,
        dependencies=not services,
        detach=True,
        force_recreate=True,
        pull="never",
        stream_logs=True,
    )
    try:
        for _, line in stream:
            yield line.decode(errors="replace").rstrip()
    except DockerException as err:
        raise failed(err) from None


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


# --- builders, registries and pushes ----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeFacts:
    endpoint: str  # a docker context name for the docker driver
    status: str  # running, inactive, stopped, error...
    version: str | None  # BuildKit's, when the node reports it


@dataclass(frozen=True)
class BuilderFacts:
    name: str
    driver: str
    nodes: tuple[NodeFacts, ...]

    @property
    def statuses(self) -> tuple[str, ...]:
        return tuple(node.status for node in self.nodes)


def inspect_builder(engine: Engine, name: str | None = None) -> BuilderFacts:
    """A buildx builder: NAME, else the one bake would use (BUILDX_BUILDER or the selected one)."""
    try:
        builder = engine._client.buildx.inspect(name)
    except (DockerException, ValueError) as err:
        if name:
            raise CiError(f"unknown builder {name!r}: `docker buildx ls` lists the builders") from None
        line = error_line(err) if isinstance(err, DockerException) else str(err)
        raise CiError(f"cannot inspect the current builder: {line}") from None
    nodes = tuple(NodeFacts(str(n.endpoint), str(n.status), n.version) for n in builder.nodes or [])
    return BuilderFacts(str(builder.name), str(builder.driver), nodes)


def image_resolvable(engine: Engine, ref: str) -> str | None:
    """None when a registry serves REF's manifest, else why not (one line)."""
    try:
        engine._client.buildx.imagetools.inspect(ref)
    except DockerException as err:
        return error_line(err).removeprefix("ERROR: ")
    except ValueError:
        return None  # served, in a manifest shape python-on-whales does not model
    return None


def push_image(engine: Engine, ref: str) -> None:
    try:
        engine._client.image.push(ref, quiet=True)
    except DockerException as err:
        raise failed(err, f"push of {ref} refused") from None


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


# --- disk figures and removal (prune, doctor) --------------------------------------------------------------

# Only containers in these states are garbage; "created" may be a compose up about to start it.
STOPPED_STATES = frozenset({"exited", "dead"})
DISK_TYPES = {"Images": "images", "Containers": "containers", "Local Volumes": "volumes", "Build Cache": "build_cache"}


class DiskUse(TypedDict):
    """One row of `docker system df`, in bytes."""

    count: int
    active: int
    size: int
    reclaimable: int


def _count(text: Any) -> int:
    return int(text) if str(text).isdigit() else 0


def disk_figures(rows: Iterable[Mapping[str, Any]]) -> dict[str, DiskUse]:
    """`docker system df --format '{{json .}}'` rows as count, active, size and reclaimable bytes per type."""
    figures = {t: DiskUse(count=0, active=0, size=0, reclaimable=0) for t in DISK_TYPES.values()}
    for row in rows:
        if row.get("Type") in DISK_TYPES:
            figures[DISK_TYPES[row["Type"]]] = DiskUse(
                count=_count(row.get("TotalCount")),
                active=_count(row.get("Active")),
                size=parse_docker_size(row.get("Size")),
                reclaimable=parse_docker_size(row.get("Reclaimable")),
            )
    return figures


def disk_use(engine: Engine) -> dict[str, DiskUse]:
    """`docker system df` per type (images, containers, volumes, build_cache). Read here, not with
    python-on-whales' disk_free: its parser fails on the negative sizes docker prints while an image is
    being written ("-3.228e+06B") and for images sharing layers in the containerd store."""
    try:
        out = _cli(engine, "system", "df", "--format", "{{json .}}")
    except DockerFailed as err:
        raise CiError(f"`docker system df` failed: {err}") from None
    return disk_figures(json.loads(line) for line in out.splitlines() if line.strip().startswith("{"))


def disk_usage_detail(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """`docker system df --verbose`: each image, container, volume and build cache record with its size."""
    try:
        detail = json.loads(_cli(engine, "system", "df", "--verbose", "--format", "{{json .}}"))
    except DockerFailed as err:
        raise CiError(f"`docker system df --verbose` failed: {err}") from None
    return {key: list(detail.get(key) or []) for key in ("Images", "Containers", "Volumes", "BuildCache")}


@dataclass(frozen=True)
class ContainerFacts:
    id: str
    name: str
    image: str  # image id
    status: str
    labels: dict[str, str]
    volumes: tuple[str, ...]  # every volume it mounts
    anonymous_volumes: tuple[str, ...]  # those `docker rm --volumes` would remove with it


@dataclass(frozen=True)
class ImageFacts:
    id: str
    tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: datetime


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


def anonymous_volumes(inspect: Mapping[str, Any]) -> tuple[str, ...]:
    """A container's volumes that were not named when it was created (`-v /data`, an image VOLUME, a
    compose volume without a name): those the engine removes with `docker rm --volumes`."""
    host = inspect.get("HostConfig") or {}
    named = {bind.split(":", 1)[0] for bind in host.get("Binds") or [] if not bind.startswith("/")}
    named |= {m.get("Source") for m in host.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Source")}
    return tuple(
        m["Name"] for m in inspect.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Name") not in named
    )


def container_facts(engine: Engine) -> list[ContainerFacts]:
    """Every container on the engine, running or not: which images and volumes are in use."""
    try:
        ids = [c.id for c in engine._client.container.list(all=True)]
    except DockerException as err:
        raise failed(err, "could not list containers") from None
    return [
        ContainerFacts(
            id=c["Id"],
            name=c.get("Name", "").lstrip("/"),
            image=c.get("Image", ""),
            status=(c.get("State") or {}).get("Status", ""),
            labels=dict((c.get("Config") or {}).get("Labels") or {}),
            volumes=tuple(m["Name"] for m in c.get("Mounts") or [] if m.get("Type") == "volume"),
            anonymous_volumes=anonymous_volumes(c),
        )
        for c in _inspect(engine, "container", ids)
    ]


def _created(text: str) -> datetime:
    # RFC 3339 with nanoseconds: Python reads at most microseconds.
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00")))


def project_image_facts(engine: Engine, project: str) -> list[ImageFacts]:
    """The images labelled with the project, tagged or dangling."""
    return [
        ImageFacts(i["Id"], tuple(i.get("RepoTags") or ()), tuple(i.get("RepoDigests") or ()), _created(i["Created"]))
        for i in _inspect(engine, "image", project_image_ids(engine, project))
    ]


def volume_names(engine: Engine) -> set[str]:
    try:
        return {v.name for v in engine._client.volume.list()}
    except DockerException as err:
        raise failed(err, "could not list volumes") from None


def remove_container(engine: Engine, container_id: str, *, volumes: bool) -> str | None:
    """Remove a stopped container, never forced (a container started meanwhile stays): None, or why not.
    With VOLUMES the engine also removes its anonymous volumes, never named ones, nor one still in use."""
    try:
        engine._client.container.remove(container_id, force=False, volumes=volumes)
    except DockerException as err:
        return error_line(err)
    return None


def remove_image(engine: Engine, ref: str) -> str | None:
    """Remove an image reference, never forced (the engine refuses one a container uses): None, or why not."""
    try:
        engine._client.image.remove(ref, force=False, prune=True)
    except DockerException as err:
        return error_line(err)
    return None


def prune_build_cache(engine: Engine, *, until: str | None = None, space_flag: str = "", keep_bytes: int = 0) -> str:
    """`buildx prune` of cache unused for UNTIL (all of it without), down to KEEP_BYTES when not 0;
    returns buildx's output."""
    args = ["buildx", "prune", "--force"] + (["--filter", f"until={until}"] if until else ["--all"])
    if keep_bytes:
        args += [space_flag, str(keep_bytes)]
    try:
        return _cli(engine, *args)
    except DockerFailed as err:
        raise CiError(f"`docker {' '.join(args)}` failed: {err}") from None
