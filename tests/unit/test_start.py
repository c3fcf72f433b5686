"""The start phase when a stop signal interrupts `compose up`: the previous build put back, compose's half-made
containers gone, a service compose had not touched yet left running, the record describing what runs."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from ci import docker as dk
from ci import rollback
from ci import stack as st
from ci.errors import Stopped
from ci.phases import start
from ci.record import BuildRecord, TargetRecord, read_record
from ci.rollback import Kept
from ci.services import Checks, Service
from ci.settings import load_settings


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
