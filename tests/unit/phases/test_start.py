"""The start phase when a stop signal interrupts `compose up`: the previous build put back, compose's half-made
containers gone, a service compose had not touched yet left running, the record describing what runs. When a
service fails: every service the start replaced back on the previous build. A job done is not down."""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path

import pytest

from ci import docker as dk
from ci.builds.record import BuildRecord, TargetRecord, read_record
from ci.core.errors import Stopped
from ci.core.settings import load_settings
from ci.phases import start
from ci.stack import live as st
from ci.stack import rollback
from ci.stack.rollback import Kept
from ci.stack.services import Checks, Job, Service


def container(service: str, image: str, name: str = "", status: str = "running") -> dk.ContainerInfo:
    return dk.ContainerInfo(id=f"id-{name or service}", name=name or f"p-{service}-1", service=service, image=image,
                            running=status == "running", status=status, exit_code=0, health="healthy")  # fmt: skip


def test_a_stop_during_compose_up_puts_the_previous_build_back_and_the_session_still_ends_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings({"COMPOSE_PROJECT_NAME": "p"}, root=tmp_path)
    new = {t: TargetRecord(f"p-{t}:dev", f"sha256:new-{t}", "") for t in ("backend", "frontend")}
    old = {t: TargetRecord(f"p-{t}:dev", f"sha256:old-{t}", "") for t in ("backend", "frontend")}
    variables = {"GIT_COMMIT": "abc", "BUILD_DATE": "", "CACHE_BUST": ""}
    record = BuildRecord("dev", "p", "dev", "", variables, new, old)
    services = [Service(name, name, f"p-{name}:dev", (), Checks()) for name in ("backend", "frontend")]
    kept = {s: Kept(s, f"sha256:old-{s}", f"p-{s}:rollback") for s in ("backend", "frontend")}
    listed = [
        container("backend", "sha256:new-backend", "0123456789ab_p-backend-1", "created"),  # compose's half-made
        container("backend", "sha256:old-backend", status="exited"),  # stopped by compose for its replacement
        container("frontend", "sha256:old-frontend"),  # not reached yet: it runs on
    ]
    done: list[str] = []

    def interrupted_up(engine: object, settings: object, names: list[str], **kw: object) -> None:
        if not done:
            done.append("up")
            raise Stopped(signal.SIGTERM)
        done.append(f"up {names}")

    monkeypatch.setattr(st, "up", interrupted_up)
    monkeypatch.setattr(dk, "project_containers", lambda *args: listed)
    monkeypatch.setattr(dk, "remove_containers", lambda engine, ids: done.append(f"remove {ids}"))
    monkeypatch.setattr(dk, "tag_image", lambda engine, image, ref: done.append(f"tag {ref} {image}"))
    monkeypatch.setattr(rollback, "keeping", None)  # kept already: never asked again
    request = start.Request(dk.Engine(_client=None, project="p"), settings, services, record, kept=kept)  # type: ignore[arg-type]
    with pytest.raises(Stopped):
        start.replace(request)
    assert done == [
        "up",
        "remove ['id-0123456789ab_p-backend-1']",
        "tag p-backend:dev sha256:old-backend",
        "tag p-frontend:dev sha256:old-frontend",
        "up ['backend']",  # the frontend's container runs the previous build still: left as it is
    ]
    written = read_record(settings.reports_dir, "p")
    assert written is not None and {t: r.image_id for t, r in written.targets.items()} == {
        "backend": "sha256:old-backend",
        "frontend": "sha256:old-frontend",
    }


def test_a_failed_start_of_one_of_two_replaced_services_brings_both_back_and_the_record_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dev replaced both; the backend came up on the new build, the frontend did not: both run the previous
    build again, never the new backend beside the old frontend, and the line says so."""
    settings = load_settings({"COMPOSE_PROJECT_NAME": "p"}, root=tmp_path)
    new = {t: TargetRecord(f"p-{t}:dev", f"sha256:new-{t}", "") for t in ("backend", "frontend")}
    old = {t: TargetRecord(f"p-{t}:dev", f"sha256:old-{t}", "") for t in ("backend", "frontend")}
    record = BuildRecord("dev", "p", "dev", "", {"GIT_COMMIT": "abc", "BUILD_DATE": "", "CACHE_BUST": ""}, new, old)
    services = [Service(name, name, f"p-{name}:dev", (), Checks()) for name in ("backend", "frontend")]
    kept = {s: Kept(s, f"sha256:old-{s}", f"p-{s}:rollback") for s in ("backend", "frontend")}
    failed = {
        "backend": container("backend", "sha256:new-backend"),
        "frontend": dk.ContainerInfo(id="id-frontend", name="p-frontend-1", service="frontend",
                                     image="sha256:new-frontend", running=False, status="exited", exit_code=1,
                                     health=None),
    }  # fmt: skip
    done: list[str] = []

    def up(engine: object, settings: object, names: list[str], **kw: object) -> dict[str, dk.ContainerInfo]:
        done.append(f"up {names}")
        if len(done) == 1:
            raise st.Unhealthy("not up after `compose up`: frontend", failed, exits={"frontend": 1})
        return {}

    monkeypatch.setattr(st, "up", up)
    monkeypatch.setattr(dk, "compose_config", lambda engine: {"services": {"backend": {}, "frontend": {}}})
    monkeypatch.setattr(dk, "container_logs", lambda engine, cid, tail=None: "nginx: [emerg] broken\n")
    monkeypatch.setattr(dk, "tag_image", lambda engine, image, ref: done.append(f"tag {ref} {image}"))
    monkeypatch.setattr(dk, "service_containers", lambda engine: {s: container(s, f"sha256:old-{s}") for s in kept})
    monkeypatch.setattr(dk, "image_source_digest", lambda engine, image: "sha256:" + "f" * 64)
    request = start.Request(dk.Engine(_client=None, project="p"), settings, services, record, kept=kept)  # type: ignore[arg-type]
    with pytest.raises(start.NotUp) as failure:
        start.replace(request)
    assert done == [
        "up ['backend', 'frontend']",
        "tag p-frontend:dev sha256:old-frontend",
        "tag p-backend:dev sha256:old-backend",
        "up ['frontend', 'backend']",
    ]
    assert str(failure.value) == (
        "frontend: the new build is unhealthy (exited 1: nginx: [emerg] broken); the previous build (sources "
        "ffffffffffff) serves again; back on its previous build too: backend"
    )
    written = read_record(settings.reports_dir, "p")
    assert written is not None and failure.value.record.targets == written.targets
    assert {t: r.image_id for t, r in written.targets.items()} == {
        "backend": "sha256:old-backend",
        "frontend": "sha256:old-frontend",
    }


def test_a_job_done_is_not_down_and_runs_again_only_with_its_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch turn recreates the services of the targets it rebuilt and those down: a migration from the
    backend's image that completed is done, never down; it runs again with a backend build."""
    services = [Service("backend", "backend", "p-backend:dev", (), Checks()),
                Service("migrate", "backend", "p-backend:dev", (), Checks(), Job.WAITED),
                Service("frontend", "frontend", "p-frontend:dev", (), Checks())]  # fmt: skip
    exited = dk.ContainerInfo(id="id-migrate", name="p-migrate-1", service="migrate", image="sha256:a",
                              running=False, status="exited", exit_code=0, health=None)  # fmt: skip
    containers = {"backend": container("backend", "sha256:a"), "migrate": exited,
                  "frontend": container("frontend", "sha256:b")}  # fmt: skip
    assert [s.name for s in start.due(services, ["frontend"], containers)] == ["frontend"]
    assert [s.name for s in start.due(services, ["backend"], containers)] == ["backend", "migrate"]
    containers["migrate"] = replace(exited, exit_code=1)
    assert [s.name for s in start.due(services, ["frontend"], containers)] == ["migrate", "frontend"]
    # What runs is the build when the job completed on it: nothing to start.
    monkeypatch.setattr(dk, "service_containers", lambda engine: {**containers, "migrate": exited})
    built = {
        "backend": TargetRecord("p-backend:dev", "sha256:a", ""),
        "frontend": TargetRecord("p-frontend:dev", "sha256:b", ""),
    }
    record = BuildRecord("dev", "p", "dev", "", {}, built)
    assert start.runs(None, services, record, "dev")  # type: ignore[arg-type]


def test_services_recreated_from_their_images_are_no_longer_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start (dev, a rebuild turn, `verify -- --up`) recreates its services from their images: watch's syncs
    onto the old containers no longer speak of them; those of the services it did not start stay."""
    from ci.builds import synced

    settings = load_settings({"COMPOSE_PROJECT_NAME": "p", "REPORTS_DIR": str(tmp_path)}, root=tmp_path)
    entry = synced.ServiceSync("old", "sha256:img", "sha256:tree", "T", ())
    for name in ("backend", "worker"):
        synced.record_sync(settings.reports_dir, "p", name, entry)
    services = [Service(name, name, f"p-{name}:dev", (), Checks()) for name in ("backend", "worker")]
    record = BuildRecord("dev", "p", "dev", "", {"GIT_COMMIT": "abc"}, {})
    monkeypatch.setattr(st, "up", lambda engine, settings, names, **kw: {n: container(n, "sha256:img") for n in names})
    request = start.Request(dk.Engine(_client=None, project="p"), settings, services, record, ["backend"], kept={})  # type: ignore[arg-type]
    start.replace(request)
    assert set(synced.read_synced(settings.reports_dir, "p").services) == {"worker"}
