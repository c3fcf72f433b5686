"""A rollback's pure logic: which service failed and which only waited for it (a job by its exit), what is
brought back (every service the start replaced, so that the stack never runs two trees), and the line that says
what broke."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ci import docker as dk
from ci.builds.record import BuildRecord, TargetRecord
from ci.phases.check import placement
from ci.stack.rollback import (
    Diagnosis,
    Failures,
    Kept,
    dependencies,
    diagnose,
    error_summary,
    keep,
    replaced,
    rollback_plan,
    runs_again,
    verdict,
    why_failed,
)
from ci.stack.services import Checks, Job, Service

DEPENDS = {"backend": frozenset(), "frontend": frozenset({"backend"}), "edge": frozenset({"frontend"})}


def container(service: str, status: str = "running", **kw: object) -> dk.ContainerInfo:
    fields: dict[str, object] = {"running": status in ("running", "restarting"), "exit_code": 0, "health": None}
    fields.update(kw)
    return dk.ContainerInfo(id=f"id-{service}", name=f"p-{service}-1", service=service, image="sha256:new",
                            status=status, **fields)  # fmt: skip


def test_a_restarting_service_is_the_failed_one_and_those_held_back_wait_for_it_however_deep() -> None:
    states = {
        "backend": container("backend", "restarting", exit_code=1, restarts=2, health="unhealthy"),
        "frontend": container("frontend", "created", running=False, started=False),
    }
    found = diagnose(["backend", "frontend", "edge"], states, DEPENDS)
    assert found == Diagnosis(failed={"backend": "exited 1"}, waiting={"frontend": "backend", "edge": "backend"})


def test_the_exit_code_of_the_last_die_wins_over_the_one_a_restart_reset() -> None:
    restarted = container("backend", "running", exit_code=0, restarts=1, health="starting")
    assert why_failed(restarted) == "exited 0"
    assert diagnose(["backend"], {"backend": restarted}, DEPENDS, exits={"backend": 1}).failed == {
        "backend": "exited 1"
    }


def test_unhealthy_and_late_containers_fail_and_a_healthy_or_starting_one_does_not() -> None:
    assert why_failed(container("frontend", health="unhealthy")) == "unhealthy"
    late = container("frontend", health="starting", start_period=10.0)
    assert why_failed(late) is None
    assert why_failed(late, late=True) == "not healthy within its start period (10s)"
    assert why_failed(container("frontend", health="healthy")) is None


def test_a_service_that_failed_on_its_own_is_not_reported_as_waiting() -> None:
    states = {
        "backend": container("backend", health="healthy"),
        "frontend": container("frontend", "exited", exit_code=1),
    }
    assert diagnose(["backend", "frontend"], states, DEPENDS) == Diagnosis(failed={"frontend": "exited 1"})


def test_only_failed_services_with_a_kept_image_are_brought_back_and_never_twice() -> None:
    failed = Diagnosis(failed={"backend": "exited 1", "worker": "exited 2"}, waiting={"frontend": "backend"})
    kept = {"backend": Kept("backend", "sha256:old", "p-backend:rollback")}
    assert rollback_plan(failed, kept) == ["backend"]
    assert rollback_plan(failed, kept, tried=["backend"]) == []


def old_and_new(*names: str) -> tuple[dict[str, Kept], dict[str, dk.ContainerInfo]]:
    kept = {n: Kept(n, f"sha256:old-{n}", f"p-{n}:rollback") for n in names}
    return kept, {n: replace(container(n), image=f"sha256:new-{n}") for n in names}


def test_a_failed_start_of_one_of_two_replaced_services_brings_both_back() -> None:
    """dev replaced backend and frontend; the frontend fails, the backend came up on the new build: both go
    back, or the stack runs two trees. One the start left on its image (an unchanged build), one with no
    previous build, and one the start did not name stay as they are."""
    kept, states = old_and_new("backend", "frontend", "worker", "edge")
    states["worker"] = replace(states["worker"], image="sha256:old-worker")  # its image did not change
    del kept["edge"]  # nothing ran before it
    names = ["backend", "frontend", "worker", "edge"]
    assert replaced(names, states, kept) == ["backend", "frontend"]
    assert replaced(["frontend"], states, kept) == ["frontend"]  # a watch turn's: the backend is not its to move
    failed = Diagnosis(failed={"frontend": "exited 1"})
    assert rollback_plan(failed, kept, replaced=replaced(names, states, kept)) == ["frontend", "backend"]
    assert rollback_plan(failed, kept, ["frontend", "backend"], replaced(names, states, kept)) == []
    assert rollback_plan(Diagnosis(), kept, replaced=replaced(names, states, kept)) == []  # nothing failed


def test_a_job_that_fails_brings_back_itself_and_the_services_held_back_for_it() -> None:
    """The backend waits for its migrations (a job from its image), the frontend for the backend: the job exits
    1, compose starts neither; all three were created on the new build, all three go back, the job first."""
    kept, states = old_and_new("backend", "frontend", "migrate")
    states["migrate"] = replace(states["migrate"], status="exited", running=False, exit_code=1)
    for held in ("backend", "frontend"):
        states[held] = replace(states[held], status="created", running=False, started=False)
    depends = {**DEPENDS, "backend": frozenset({"migrate"}), "migrate": frozenset()}
    names = ["backend", "frontend", "migrate"]
    found = diagnose(names, states, depends, jobs={"migrate": Job.WAITED})
    assert found == Diagnosis(failed={"migrate": "exited 1"}, waiting={"backend": "migrate", "frontend": "migrate"})
    assert rollback_plan(found, kept, replaced=replaced(names, states, kept)) == ["migrate", "backend", "frontend"]
    # The same job done: nothing failed, nothing to bring back.
    states["migrate"] = replace(states["migrate"], exit_code=0)
    assert why_failed(states["migrate"], job=Job.WAITED) is None and why_failed(states["migrate"]) == "exited 0"
    late = replace(states["migrate"], status="running", running=True)
    assert why_failed(late, late=True, job=Job.WAITED) == "not completed within 180s"


def test_the_line_names_the_failed_service_and_what_came_back_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dk, "image_source_digest", lambda engine, image: f"sha256:{image[-3:]}000000000000")
    kept = {n: Kept(n, f"sha256:{n[:3]}", f"p-{n}:rollback") for n in ("backend", "frontend", "migrate")}
    failures = Failures({"frontend": ("exited 1", "nginx: [emerg] no")}, tried=["frontend", "backend", "migrate"])
    line = verdict(failures, {"backend", "frontend", "migrate"}, None, kept, list(kept), {"migrate": Job.WAITED})  # type: ignore[arg-type]
    assert line == (
        "frontend: the new build is unhealthy (exited 1: nginx: [emerg] no); the previous build (sources fro000000000) "
        "serves again; back on their previous build too: backend, migrate"
    )
    failures = Failures({"migrate": ("exited 1", "KeyError: 'x'")}, tried=["migrate", "backend"])
    line = verdict(failures, {"backend", "migrate"}, None, kept, ["backend", "migrate"], {"migrate": Job.WAITED})  # type: ignore[arg-type]
    assert line == (
        "migrate: the new build's job failed (exited 1: KeyError: 'x'); the previous build (sources mig000000000) "
        "ran it again: completed; back on its previous build too: backend"
    )


def test_a_job_done_is_kept_and_one_of_the_same_repository_on_another_image_gets_its_own_tag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job from the backend's image shares its repository: on the same image one tag serves both; on another
    (it ran an older build) its own, so that bringing one back never moves the other's."""
    ref = "p-backend:dev"
    running = replace(container("backend", health="healthy"), image="sha256:a", image_ref=ref)
    done = replace(container("migrate", "exited"), running=False, image="sha256:a", image_ref=ref)
    mid = replace(container("seed"), image="sha256:a", image_ref=ref)  # a job others wait for, not done yet
    tagged: list[tuple[str, str]] = []
    monkeypatch.setattr(dk, "tag_image", lambda engine, image, to: tagged.append((image, to)))
    kinds = {"migrate": Job.WAITED, "seed": Job.WAITED}
    listed = {"backend": running, "migrate": done, "seed": mid}
    found = keep(None, containers=listed, kinds=kinds)  # type: ignore[arg-type]
    assert {n: k.ref for n, k in found.items()} == {"backend": "p-backend:rollback", "migrate": "p-backend:rollback"}
    listed["migrate"] = replace(done, image="sha256:b")
    found = keep(None, containers=listed, kinds=kinds)  # type: ignore[arg-type]
    assert found["migrate"] == Kept("migrate", "sha256:b", "p-backend:rollback-migrate")
    assert "backend" in found and "seed" not in found


def test_depends_on_is_read_from_composes_long_form() -> None:
    config = {"services": {"backend": {}, "frontend": {"depends_on": {"backend": {"condition": "service_healthy"}}}}}
    assert dependencies(config) == {"backend": frozenset(), "frontend": frozenset({"backend"})}


TRACEBACK = """INFO:     Started server process [1]
Traceback (most recent call last):
  File "/opt/venv/lib/python3.11/site-packages/uvicorn/importer.py", line 19, in import_from_string
    module = importlib.import_module(module_str)
  File "<frozen importlib._bootstrap>", line 1206, in _gcd_import
  File "/app/backend/main.py", line 12, in <module>
    raise RuntimeError("boom")
RuntimeError: boom
"""


def test_the_summary_is_the_exception_at_the_innermost_frame_in_the_targets_files() -> None:
    files = ["backend/main.py", "backend/__init__.py", "Dockerfile"]
    assert error_summary(TRACEBACK, files) == "RuntimeError: boom at backend/main.py:12"
    assert error_summary(TRACEBACK) == "RuntimeError: boom"


def test_without_an_exception_the_summary_is_the_last_line_saying_error() -> None:
    nginx = 'nginx: [warn] a warning\nnginx: [emerg] open() "/run/nginx.pid" failed (13: Permission denied)\nbye\n'
    assert error_summary(nginx) == 'nginx: [emerg] open() "/run/nginx.pid" failed (13: Permission denied)'
    assert error_summary("just\nthe last line\n") == "the last line"
    assert error_summary("") == ""


def test_a_rollback_records_the_build_that_runs_again_under_the_reference_compose_runs() -> None:
    """prod's stack, then a dev whose backend fails: the backend runs prod's build again under `:dev`, and the
    record says so (its image, build values and files prod's, its tag dev's), so verify places it and judges
    it by what it runs, and `verify --up` starts that."""
    prod = TargetRecord("p-backend:abc1234", "sha256:prod", "sha256:src-old", {"main.py": "1"}, git_commit="abc1234",
                        build_date="2026-01-01T00:00:00Z", cache_bust="abc1234",
                        tags=("p-backend:abc1234", "p-backend:latest"))  # fmt: skip
    dev = TargetRecord("p-backend:dev", "sha256:broken", "sha256:src-new", tags=("p-backend:dev",))
    record = BuildRecord("dev", "p", "dev", "now", {"TAG": "dev"}, {"backend": dev}, {"backend": prod})
    backend = Service("backend", "backend", "p-backend:dev", (), Checks())
    after = runs_again(record, backend, prod)
    assert after.targets["backend"] == replace(prod, image="p-backend:dev", tags=("p-backend:dev",))
    assert after.previous == record.previous and after.tag == "dev"
    assert placement(after, backend) == ""
    assert placement(replace(record, targets={"backend": prod}), backend).startswith(
        "backend: compose runs p-backend:dev"
    )
