"""Containers on the engine: the project's as they are now, their logs, their removal, the engine's events
about them, and every container with the volumes it mounts (for prune).
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from python_on_whales.exceptions import DockerException

from ci.core.errors import CiError, DockerFailed
from ci.docker.engine import (
    COMPOSE_ONEOFF_LABEL,
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    Engine,
    _cli,
    _inspect,
    end_process,
    error_line,
    failed,
)


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
    # The host ports it is bound to, in any state: a restarting container holds its ports between runs too.
    host_ports: tuple[int, ...] = ()
    restarts: int = 0  # how often its restart policy restarted it
    started: bool = True  # False: created, never started (compose holds back a service waiting for another)
    health_output: str = ""  # what its latest health check printed
    image_ref: str = ""  # the reference it was created from (which may name another image by now)
    finished: str = ""  # when it last exited, ISO 8601 UTC to the second; "" while it never has

    @property
    def state(self) -> str:
        """health when it has a healthcheck, else the status."""
        return self.health or self.status


def _container_info(inspect: Mapping[str, Any]) -> ContainerInfo:
    """A container from `docker inspect`'s JSON."""
    state = inspect.get("State") or {}
    config = inspect.get("Config") or {}
    labels = config.get("Labels") or {}
    name = str(inspect.get("Name", "")).lstrip("/")
    health = state.get("Health") or {}
    checks = health.get("Log") or [{}]
    # What it holds now, and what it is configured to bind (its only record of them while it restarts).
    bindings = [
        *((inspect.get("NetworkSettings") or {}).get("Ports") or {}).values(),
        *((inspect.get("HostConfig") or {}).get("PortBindings") or {}).values(),
    ]
    ports = {str(b.get("HostPort") or "") for found in bindings for b in found or []}
    return ContainerInfo(
        id=str(inspect["Id"]),
        name=name,
        service=labels.get(COMPOSE_SERVICE_LABEL, name),
        image=str(inspect.get("Image", "")),
        running=bool(state.get("Running")),
        status=str(state.get("Status", "")),
        exit_code=int(state.get("ExitCode") or 0),
        health=str(health.get("Status") or "") or None,
        start_period=((config.get("Healthcheck") or {}).get("StartPeriod") or 0) / 1e9,  # nanoseconds
        host_ports=tuple(sorted(int(p) for p in ports if p.isdigit())),
        restarts=int(inspect.get("RestartCount") or 0),
        started=not str(state.get("StartedAt") or "").startswith("0001-"),  # Go's zero time: never started
        health_output=str(checks[-1].get("Output") or "").strip(),
        image_ref=str(config.get("Image") or ""),
        finished=_moment(str(state.get("FinishedAt") or "")),
    )


def _moment(stamp: str) -> str:
    """An engine's RFC 3339 time (`2026-12-07T06:01:02.123456789Z`) to the second; "" for Go's zero time."""
    return "" if not stamp or stamp.startswith("0001-") else stamp.partition(".")[0].removesuffix("Z") + "Z"


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
    exit_code: int | None = None  # a `die`'s: the engine resets the container's own when it restarts it
    service: str = ""  # the compose service the container is one of (its label)


def parse_event(line: str) -> ContainerEvent | None:
    """One line of `docker events --format '{{json .}}'`; None for what is not a container's event."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("Type") != "container":
        return None
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    code = str(attributes.get("exitCode") or "")
    return ContainerEvent(
        str(actor.get("ID") or ""),
        str(event.get("Action") or ""),
        int(code) if code.isdigit() else None,
        str(attributes.get(COMPOSE_SERVICE_LABEL) or ""),
    )


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

    def pending(self) -> list[ContainerEvent]:
        """The events that came and were not read yet, without waiting."""
        found = []
        while not self._queue.empty():
            found.append(self._queue.get_nowait())
        return found

    def close(self) -> None:
        end_process(self._process)


@contextlib.contextmanager
def container_events(engine: Engine, actions: Sequence[str]) -> Iterator[ContainerEvents]:
    """The project's container events ACTIONS while the block runs (see ContainerEvents)."""
    events = ContainerEvents(engine, actions)
    try:
        yield events
    finally:
        events.close()


# --- every container and its volumes (prune) -------------------------------------------------------------


@dataclass(frozen=True)
class ContainerFacts:
    id: str
    name: str
    image: str  # image id
    status: str
    labels: dict[str, str]
    volumes: tuple[str, ...]  # every volume it mounts
    anonymous_volumes: tuple[str, ...]  # those `docker rm --volumes` would remove with it


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
