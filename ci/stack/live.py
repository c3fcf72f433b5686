"""The running stack: its services, host ports, compose up with health, what runs, and clearing away what
a previous build left once the new one is up."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TextIO

from ci import docker as dk
from ci.builds.bake import resolve_targets
from ci.builds.ledger import forget, read_ledger
from ci.builds.record import BuildRecord
from ci.core.errors import CiError, DockerFailed
from ci.core.settings import Settings
from ci.core.units import short_id
from ci.stack.owned import Ownership, leftover_builds
from ci.stack.services import (
    ComposeService,
    Job,
    Port,
    Service,
    compose_services,
    job_kinds,
    outside_services,
    stack_services,
)

UP_TIMEOUT = 180  # seconds to wait for healthy services (and jobs to complete)
JOB_LOG_LINES = 20  # of a failed job's log that compose ran for a service waiting for it
HEALTH_GRACE = 10.0  # seconds beyond its healthcheck's start period before a starting service has failed
STARTING_GRACE = 30.0  # seconds waited for a starting service beyond its healthcheck's start period
EVENTS_SILENCE = 1.0  # seconds without an event of a starting container before it is inspected anyway
HEALTHY_EVENT = "health_status: healthy"
GROUP = "default"  # the bake group whose targets build the stack's images: bake's own default


def compose_env(tag: str) -> dict[str, str]:
    """What compose interpolates beyond the host's defaults and the environment: the images' tag."""
    return {"TAG": tag}


@dataclass(frozen=True)
class Defined:
    """Every service of the stack, as the definitions name it: those whose image a target builds, and the
    others (a database, a queue: images the project does not build)."""

    built: list[Service]
    others: list[ComposeService]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.built] + [s.name for s in self.others]

    @property
    def jobs(self) -> dict[str, Job]:
        return job_kinds([*self.built, *self.others])


def defined(engine: dk.Engine, target_tags: Mapping[str, Iterable[str]]) -> Defined:
    """The stack's services by `docker compose config`, split by whether one of the targets (target -> tags)
    builds their image; CiError when none does."""
    return defined_in(compose_services(dk.compose_config(engine)), target_tags)


def defined_in(compose: Mapping[str, ComposeService], target_tags: Mapping[str, Iterable[str]]) -> Defined:
    """COMPOSE's services (resolved already) split as `defined` splits them."""
    found = stack_services(compose, target_tags)
    if not found:
        built = ", ".join(sorted(target_tags)) or "none"
        raise CiError(f"no service in compose.yaml runs an image the bake targets build (targets: {built})")
    return Defined(found, outside_services(compose, target_tags))


def services(engine: dk.Engine, target_tags: Mapping[str, Iterable[str]]) -> list[Service]:
    """The stack: the compose services that run an image one of the targets (target -> tags) builds."""
    return defined(engine, target_tags).built


def definitions(engine: dk.Engine, settings: Settings, variables: Mapping[str, str]) -> Defined:
    """Every service of the stack from the definitions alone, whatever a build record says: compose's
    services (ENGINE's compose variables), matched to the targets of the bake file's GROUP as bake resolves
    them with VARIABLES (a build's: the tags it gave its images)."""
    targets = resolve_targets(engine, settings, GROUP, dict(variables))
    return defined(engine, {name: t.tags for name, t in targets.items()})


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_advice(settings: Settings, port: int) -> str:
    variable = settings.ports.get(port)
    return f"set {variable} to another port" if variable else "change its mapping in compose.yaml"


def require_free_ports(settings: Settings, ports: Iterable[Port], held: Iterable[int] = ()) -> None:
    """Every host port of PORTS is free, or HELD already by the project's own containers (which `compose
    up` replaces)."""
    taken = set(held)
    for port in ports:
        if port.host not in taken and not port_free(port.host):
            advice = port_advice(settings, port.host)
            raise CiError(f"host port {port.host} is in use on 127.0.0.1: free it or {advice}")


def held_ports(engine: dk.Engine, project: str) -> list[int]:
    """The host ports the project's own containers are bound to, in any state (running, restarting,
    unhealthy, exited): never a foreign holder, `compose up` replaces them."""
    return [p for c in dk.project_containers(engine, project) for p in c.host_ports]


def holders(containers: Iterable[dk.ContainerInfo]) -> str:
    """`backend restarting, frontend running`: the project's containers that hold host ports, by state."""
    return ", ".join(f"{c.service} {c.status}" for c in sorted(containers, key=lambda c: c.service) if c.host_ports)


def running(engine: dk.Engine, names: Iterable[str]) -> dict[str, dk.ContainerInfo]:
    """The running containers of the services NAMES."""
    wanted = set(names)
    return {s: c for s, c in dk.service_containers(engine).items() if s in wanted and c.running}


def current(engine: dk.Engine, services: Iterable[Service]) -> dict[str, dk.ContainerInfo]:
    """The containers of SERVICES that are what runs: running, or a job's that completed (its work done, its
    container what says so)."""
    wanted = {s.name: s.job for s in services}
    return {s: c for s, c in dk.service_containers(engine).items()
            if s in wanted and (c.running or (wanted[s] is not None and completed(c)))}  # fmt: skip


def remove_leftovers(
    engine: dk.Engine, settings: Settings, stack: Sequence[Service], record: BuildRecord
) -> tuple[int, int]:
    """After the new stack is up (RECORD: what it runs): the containers of its services that compose did not
    replace (a `compose run`, a stopped one), then the previous builds of its services that no container uses,
    by their ids in the ledger, never by label (cleanup.leftover_builds). Returns the counts."""
    project = settings.project
    names = {s.name for s in stack}
    now = {c.id for c in current(engine, stack).values()}
    containers = [c.id for c in dk.project_containers(engine, project) if c.service in names and c.id not in now]
    targets = {s.target for s in stack}
    builds = read_ledger(settings.reports_dir, project)
    listed = [b.image_id for b in builds if b.target in targets]
    try:
        dk.remove_containers(engine, containers)
        used = {c.image for c in dk.container_facts(engine)}
        images = dk.image_facts(engine, listed)
        owner = Ownership.of(project, builds)
        recorded = [t.image_id for t in record.targets.values()]
        leftovers = leftover_builds(owner, builds, record.tag, targets, recorded, images, used)
        # Never forced: an image a container started meanwhile uses is refused, and stays.
        done = [i for i in leftovers if not [e for e in (dk.remove_image(engine, r) for r in i.refs) if e]]
        forget(settings.reports_dir, project, set(listed) - {i.id for i in dk.image_facts(engine, listed)})
    except DockerFailed as err:
        raise CiError(f"could not remove what the previous {project} build left: {err}") from None
    return len(containers), len(done)


class Unhealthy(CiError):
    """Services whose new containers did not come up. STATES: each of the services' containers as the
    failure found them (by service); LATE: those still not healthy past their start period; EXITS: the exit
    code of each one's last `die` (its restart policy has reset the container's own by then)."""

    def __init__(
        self,
        message: str,
        states: dict[str, dk.ContainerInfo],
        late: Iterable[str] = (),
        exits: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.states = states
        self.late = frozenset(late)
        self.exits = dict(exits or {})


def exit_codes(events: Iterable[dk.ContainerEvent], states: Mapping[str, dk.ContainerInfo]) -> dict[str, int]:
    """The exit code of each service's last `die` among EVENTS."""
    service = {c.id: name for name, c in states.items()}
    return {service[e.container_id]: e.exit_code for e in events
            if e.action == "die" and e.exit_code is not None and e.container_id in service}  # fmt: skip


def completed(container: dk.ContainerInfo) -> bool:
    """A job's container that did its work: started, and exited 0."""
    return container.started and container.status == "exited" and container.exit_code == 0


def failing(container: dk.ContainerInfo, job: Job | None = None) -> bool:
    """A container that is down or going down: exited (a JOB's: with another code than 0), restarting (its
    policy brings it back, and back), unhealthy (not a job others wait for: its exit is all compose asks of
    it, whatever the healthcheck of the image it shares with a service says), or never started."""
    if job is not None and completed(container):
        return False
    unhealthy = container.health == "unhealthy" and job is not Job.WAITED
    return container.status != "running" or container.restarts > 0 or unhealthy


def ready(container: dk.ContainerInfo, job: Job | None = None) -> bool:
    """The one health rule of dev, watch and verify, compose's `--wait`: a service with a healthcheck is
    ready when healthy, one without when running (and not restarting); a JOB once it completed (exit 0), one
    declared `restart: "no"` also while it runs, as a service (until it exits, nothing says it is a job)."""
    if job is not None and completed(container):
        return True
    return job is not Job.WAITED and not failing(container) and container.health in ("healthy", None)


def unready(container: dk.ContainerInfo, job: Job | None = None) -> str:
    """Why CONTAINER is not ready by the one health rule, in a few words (`exited (exit code 1)`,
    `restarting`, `restarted 2 times`, `unhealthy`, `starting`, a job's `running: not completed yet`); ""
    when it is."""
    if ready(container, job):
        return ""
    if container.status != "running":
        return f"{container.status} (exit code {container.exit_code})"
    if container.restarts > 0:
        return f"restarted {container.restarts} time{'s' if container.restarts > 1 else ''} by its restart policy"
    return "running: not completed yet" if job is Job.WAITED else str(container.health)


def state(container: dk.ContainerInfo, job: Job | None = None) -> str:
    """The one health rule's word for CONTAINER: a JOB's `completed`, else its health, else its status."""
    return "completed" if job is not None and completed(container) else container.state


def readiness(containers: Mapping[str, dk.ContainerInfo], jobs: Mapping[str, Job] | None = None) -> str:
    """`backend healthy, worker running, migrate completed`: each service by the one health rule's word."""
    kinds = jobs or {}
    return ", ".join(f"{name} {state(c, kinds.get(name))}" for name, c in containers.items())


def up_failure(
    engine: dk.Engine,
    settings: Settings,
    names: Sequence[str],
    err: DockerFailed,
    events: dk.ContainerEvents,
    jobs: Mapping[str, Job],
) -> CiError:
    """Why `compose up` failed: a taken port in one line, else the containers of NAMES (Unhealthy; JOBS: the
    jobs among them); a job compose ran for a service waiting for it fails it too (`service "migrate" didn't
    complete successfully: exit 1`), one the project does not build shown by its log's tail."""
    taken = re.search(
        r"(?:0\.0\.0\.0|127\.0\.0\.1|\[::\]):(\d+).*(?:address already in use|port is already allocated)", err.stderr
    )
    if taken:
        port = int(taken.group(1))
        return CiError(f"host port {port} is in use: free it or {port_advice(settings, port)}")
    listed = dk.service_containers(engine)
    states = {s: c for s, c in listed.items() if s in names}
    if any(failing(c, jobs.get(s)) for s, c in states.items()):
        return Unhealthy(f"compose up failed: {err}", states, exits=exit_codes(events.pending(), states))
    return CiError(f"compose up failed: {err}", output=failed_jobs(engine, listed, names))


def failed_jobs(engine: dk.Engine, containers: Mapping[str, dk.ContainerInfo], names: Iterable[str]) -> str:
    """The log's tail of each job of the stack beyond NAMES (one the project does not build, which compose
    ran for a service waiting for it) whose container failed, of CONTAINERS: what a failed `compose up`
    shows of it."""
    try:
        kinds = job_kinds(compose_services(dk.compose_config(engine)).values())
    except CiError:
        return ""  # the definitions no longer resolve: compose's own line says what failed
    skip = set(names)
    return "\n".join(
        f"--- last log lines of {name} ---\n{dk.container_logs(engine, c.id, tail=JOB_LOG_LINES)}"
        for name, c in containers.items()
        if name not in skip and name in kinds and c.started and failing(c, kinds[name])
    )


def up(
    engine: dk.Engine,
    settings: Settings,
    names: Sequence[str],
    *,
    only: bool = False,
    out: TextIO | None = None,
    jobs: Mapping[str, Job] | None = None,
) -> dict[str, dk.ContainerInfo]:
    """Start the stack's services NAMES (ONLY: those alone, not their dependencies) with forced recreation,
    the services the project does not build by compose's own rules (dk.compose_up), and wait until each of
    NAMES is healthy, or running when it has no healthcheck, or, of JOBS (every job of the stack, by name),
    completed. Returns their containers then."""
    kinds = jobs or {}
    with dk.container_events(engine, ("health_status", "die")) as events:
        try:
            for line in dk.compose_up(engine, names, only=only):
                if line:
                    print(f"  {line}", file=out, flush=True)
        except DockerFailed as err:
            raise up_failure(engine, settings, names, err, events, kinds) from None
        return wait_healthy(engine, names, events, kinds)


def require_stack_ports(engine: dk.Engine, settings: Settings, stack: Sequence[Service]) -> None:
    """The STACK's host ports free, or held by the project's own containers."""
    ports = [p for s in stack for p in s.ports]
    require_free_ports(settings, ports, held_ports(engine, settings.project))


def wait_healthy(
    engine: dk.Engine,
    names: Sequence[str],
    events: dk.ContainerEvents,
    jobs: Mapping[str, Job] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, dk.ContainerInfo]:
    """Until every service NAMES is ready by the one health rule (ready): healthy (running, without a
    healthcheck), or, of JOBS, completed. EVENTS, opened before `compose up`, say the moment the engine sees
    a service healthy; any other event of its container (a job's `die`), or a second without one, has it
    inspected again (compose's --wait polls at 0.5 s). Returns their containers, by service; raises Unhealthy
    when one exits (a job: with another code than 0), restarts, turns unhealthy or is not ready within its
    healthcheck's start period (and a grace), or UP_TIMEOUT without one."""
    kinds = jobs or {}
    containers = {c.id: c for s, c in dk.service_containers(engine).items() if s in names}
    missing = set(names) - {c.service for c in containers.values()}
    if missing:
        raise CiError(f"no container after `compose up`: {', '.join(sorted(missing))}")
    start = clock()
    states = containers  # just inspected by the listing
    died: list[dk.ContainerEvent] = []
    while True:
        by_service = {s.service: s for s in states.values()}
        down = [s.service for s in states.values() if failing(s, kinds.get(s.service))]
        if down:
            exits = exit_codes([*died, *events.pending()], by_service)
            raise Unhealthy(f"not up after `compose up`: {', '.join(down)}", by_service, exits=exits)
        if all(ready(s, kinds.get(s.service)) for s in states.values()):
            return by_service
        late = [s.service for s in states.values()
                if not ready(s, kinds.get(s.service)) and clock() - start > deadline(s)]  # fmt: skip
        if late:
            raise Unhealthy(f"not healthy in time: {', '.join(late)}", by_service, late)
        event = events.next(timeout=EVENTS_SILENCE)
        if event is not None and event.container_id not in states:
            continue  # another container's: the old one going, say
        if event is not None and event.action == "die":
            died.append(event)
        if event is not None and event.action == HEALTHY_EVENT:
            states = {**states, event.container_id: replace(states[event.container_id], health="healthy")}
            continue
        states = dk.container_states(engine, list(containers))


def deadline(container: dk.ContainerInfo) -> float:
    """Seconds a new container has to become healthy: its start period and a grace, else UP_TIMEOUT."""
    return container.start_period + HEALTH_GRACE if container.start_period else UP_TIMEOUT


def wait_while_starting(
    engine: dk.Engine,
    services: Iterable[str],
    jobs: Mapping[str, Job] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, dk.ContainerInfo]:
    """The stack's containers, once none is `starting` any more (a `compose up -d` without --wait a
    moment ago), nor a job others wait for (of JOBS) still running: each is waited for up to its
    healthcheck's start period plus a bound, with one line."""
    start = clock()
    announced = False
    wanted = set(services)
    kinds = jobs or {}
    while True:
        containers = {s: c for s, c in dk.service_containers(engine).items() if s in wanted}
        starting = [c for c in containers.values()
                    if c.running and (c.health == "starting" or kinds.get(c.service) is Job.WAITED)]  # fmt: skip
        if not starting or clock() - start > max(c.start_period for c in starting) + STARTING_GRACE:
            return containers
        if not announced:
            print(f"waiting for {', '.join(c.service for c in starting)} to finish starting", flush=True)
            announced = True
        time.sleep(0.5)


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    container: str
    image_id: str  # short
    build_date: str
    commit: str
    health: str  # healthy, starting, unhealthy; without a healthcheck, its status (running...); a job's: completed
    ready: bool  # the one health rule (stack.ready)


def status(engine: dk.Engine, services: Iterable[str], jobs: Mapping[str, Job] | None = None) -> list[ServiceStatus]:
    """Per service of the stack (not the cache registry beside it): container, image id, build date and
    commit (from the image's OCI labels), health (a job of JOBS: completed)."""
    rows = []
    wanted = set(services)
    kinds = jobs or {}
    for service, container in sorted(dk.service_containers(engine).items()):
        if service not in wanted:
            continue
        image = dk.inspect_image(engine, container.image)
        labels = image.labels if image else {}
        rows.append(
            ServiceStatus(
                service=service,
                container=container.name,
                image_id=short_id(image.id if image else container.image),
                build_date=labels.get(dk.CREATED_LABEL, "?"),
                commit=labels.get(dk.REVISION_LABEL, "?"),
                health=state(container, kinds.get(service)),
                ready=ready(container, kinds.get(service)),
            )
        )
    return rows
