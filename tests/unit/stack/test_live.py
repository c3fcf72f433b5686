"""Host ports: a taken port is named with the variable that moves it; the stack's own ports are not taken. Why a
container is not ready, in the one health rule's words; a job by its completion, and the wait for it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ci import docker as dk
from ci.core.errors import CiError
from ci.core.settings import Settings
from ci.stack.live import (
    UP_TIMEOUT,
    Unhealthy,
    completed,
    failing,
    port_free,
    readiness,
    ready,
    require_free_ports,
    state,
    unready,
    wait_healthy,
)
from ci.stack.services import Job, Port


def test_a_bound_port_is_not_free_and_is_named_with_its_variable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_free(port)
        settings = Settings(root=tmp_path, project="p", reports_dir=tmp_path, ports={port: "BACKEND_PORT"})
        with pytest.raises(CiError, match=f"host port {port} is in use on 127.0.0.1: free it or set BACKEND_PORT"):
            require_free_ports(settings, [Port(port, 8000)])
        require_free_ports(settings, [Port(port, 8000)], held=[port])  # the running stack's own: replaced by up


def test_why_a_container_is_not_ready_is_said_in_the_one_health_rules_words() -> None:
    def container(status: str = "running", health: str | None = "healthy", **kw: object) -> dk.ContainerInfo:
        fields: dict[str, object] = {"running": status == "running", "exit_code": 3, **kw}
        return dk.ContainerInfo(id="c", name="p-db-1", service="db", image="sha256:x", status=status, health=health,
                                **fields)  # fmt: skip

    cases = [
        (container(), ""),
        (container(health=None), ""),  # no healthcheck: running is ready
        (container("exited", None), "exited (exit code 3)"),
        (container("restarting"), "restarting (exit code 3)"),
        (container(restarts=1), "restarted 1 time by its restart policy"),
        (container(health="unhealthy"), "unhealthy"),
        (container(health="starting"), "starting"),
    ]
    for found, says in cases:
        assert unready(found) == says
        assert ready(found) == (says == "")


def job_container(status: str = "exited", exit_code: int = 0, **kw: object) -> dk.ContainerInfo:
    fields: dict[str, object] = {"running": status == "running", "health": None, **kw}
    return dk.ContainerInfo(id="id-migrate", name="p-migrate-1", service="migrate", image="sha256:x", status=status,
                            exit_code=exit_code, **fields)  # fmt: skip


def test_a_job_is_ready_once_it_completed_and_failed_by_any_other_exit() -> None:
    """compose's rule for one-shots: exit 0 is done (the issue's job printed a warning and exited 0: never
    `unhealthy`), another code a failure; one others wait for is not done while it runs, one declared
    `restart: "no"` is a service until it exits."""
    done, failed, busy = job_container(), job_container(exit_code=1), job_container("running")
    for job in (Job.WAITED, Job.ONCE):
        assert (
            ready(done, job) and not failing(done, job) and unready(done, job) == "" and state(done, job) == "completed"
        )
        assert (
            failing(failed, job) and unready(failed, job) == "exited (exit code 1)" and state(failed, job) == "exited"
        )
    assert not ready(busy, Job.WAITED) and not failing(busy, Job.WAITED)
    assert unready(busy, Job.WAITED) == "running: not completed yet"
    assert ready(busy, Job.ONCE) and unready(busy, Job.ONCE) == ""
    # The healthcheck of the image a job shares with its service is not the job's: its exit is.
    sick = job_container("running", health="unhealthy")
    assert not failing(sick, Job.WAITED) and unready(sick, Job.WAITED) == "running: not completed yet"
    assert failing(sick, Job.ONCE) and unready(sick, Job.ONCE) == "unhealthy"
    assert completed(job_container(health="unhealthy")) and ready(job_container(health="starting"), Job.WAITED)
    # A service that exited 0 is down: only a job is done by it.
    assert failing(done) and not ready(done) and unready(done) == "exited (exit code 0)" and state(done) == "exited"
    never = job_container("created", started=False)
    assert not completed(never) and failing(never, Job.WAITED)
    assert readiness(
        {"backend": job_container("running", health="healthy"), "migrate": done}, {"migrate": Job.WAITED}
    ) == ("backend healthy, migrate completed")


class Events:
    """The engine's events as wait_healthy reads them: EVENTS one by one, then silence."""

    def __init__(self, *events: dk.ContainerEvent) -> None:
        self.events = list(events)

    def next(self, timeout: float) -> dk.ContainerEvent | None:
        return self.events.pop(0) if self.events else None

    def pending(self) -> list[dk.ContainerEvent]:
        found, self.events = self.events, []
        return found


@pytest.mark.parametrize("code", [0, 1])
def test_the_wait_after_compose_up_waits_for_a_job_to_complete_and_names_one_that_fails(
    code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = dk.ContainerInfo(id="id-backend", name="p-backend-1", service="backend", image="sha256:x",
                               running=True, status="running", exit_code=0, health="healthy")  # fmt: skip
    listed = {"backend": backend, "migrate": job_container("running")}
    monkeypatch.setattr(dk, "service_containers", lambda engine: listed)
    after = {"id-migrate": job_container(exit_code=code), "id-backend": backend}
    monkeypatch.setattr(dk, "container_states", lambda engine, ids: after)
    events = Events(dk.ContainerEvent("id-migrate", "die", code))
    names, jobs = ["backend", "migrate"], {"migrate": Job.WAITED}
    if code == 0:
        found = wait_healthy(None, names, events, jobs, clock=lambda: 0.0)  # type: ignore[arg-type]
        assert {n: state(c, jobs.get(n)) for n, c in found.items()} == {"backend": "healthy", "migrate": "completed"}
        return
    with pytest.raises(Unhealthy, match=r"^not up after `compose up`: migrate$") as failed:
        wait_healthy(None, names, events, jobs, clock=lambda: 0.0)  # type: ignore[arg-type]
    assert failed.value.exits == {"migrate": 1}


def test_a_job_still_running_past_the_bound_is_late_and_a_ready_service_beside_it_never_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = dk.ContainerInfo(id="id-tally", name="p-tally-1", service="tally", image="sha256:x", running=True,
                             status="running", exit_code=0, health=None)  # fmt: skip
    listed = {"tally": plain, "migrate": job_container("running")}
    monkeypatch.setattr(dk, "service_containers", lambda engine: listed)
    monkeypatch.setattr(dk, "container_states", lambda engine, ids: {c.id: c for c in listed.values()})
    times = iter([0.0, 0.0, UP_TIMEOUT + 1.0])
    with pytest.raises(Unhealthy, match=r"^not healthy in time: migrate$") as late:
        wait_healthy(None, ["tally", "migrate"], Events(), {"migrate": Job.WAITED}, clock=lambda: next(times))  # type: ignore[arg-type]
    assert late.value.late == {"migrate"}
