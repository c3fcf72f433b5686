"""verify's own report: its summary as GitHub's step summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.sessions import verify as verifying


def test_summary_goes_to_the_github_step_summary_as_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ci.core.report import Check, Report

    report = Report("verify")
    report.main.checks += [Check("services", "passed", message="ok"), Check("images", "failed", message="a | b")]
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    verifying.print_summary(report)
    assert summary.read_text() == (
        "earlier step\n## verify\n\n| check | result | detail |\n|---|---|---|\n"
        "| services | passed | ok |\n| images | failed | a \\| b |\n"
    )


def test_down_names_the_services_it_leaves_running_with_the_command_that_stops_them(tmp_path: Path) -> None:
    from typing import Any, cast

    from ci.builds.record import BuildRecord
    from ci.core.settings import load_settings
    from ci.phases.check import Context
    from ci.stack.services import Checks, ComposeService, Service

    built = [Service(name, name, f"p-{name}:dev", (), Checks()) for name in ("backend", "frontend")]
    others = [ComposeService("db", "postgres:16"), ComposeService("queue", "redis:7")]
    record = BuildRecord("dev", "p", "dev", "now", {}, {})
    ctx = Context(load_settings({"COMPOSE_PROJECT_NAME": "p"}, root=tmp_path), cast(Any, None), record, built, {},
                  others=others)  # fmt: skip
    assert verifying.stopped(ctx, {"db"}) == (
        "stack stopped (--down): backend, frontend; left running: db (images the project does not build; "
        "`docker compose -p p stop db` stops them)"
    )
    assert verifying.stopped(ctx, set()) == "stack stopped (--down)"


def test_the_services_step_says_a_job_completed_and_fails_one_that_did_not(tmp_path: Path) -> None:
    from typing import Any, cast

    from ci import docker as dk
    from ci.builds.record import BuildRecord
    from ci.core.errors import CiError
    from ci.core.settings import load_settings
    from ci.phases.check import Context
    from ci.stack.services import Checks, Job, Service

    def container(service: str, status: str, exit_code: int = 0) -> dk.ContainerInfo:
        return dk.ContainerInfo(id=service, name=f"p-{service}-1", service=service, image="sha256:x",
                                running=status == "running", status=status, exit_code=exit_code,
                                health="healthy" if status == "running" else None)  # fmt: skip

    built = [Service("backend", "backend", "p-backend:dev", (), Checks()),
             Service("migrate", "backend", "p-backend:dev", (), Checks(), Job.WAITED)]  # fmt: skip
    containers = {"backend": container("backend", "running"), "migrate": container("migrate", "exited")}
    ctx = Context(load_settings({"COMPOSE_PROJECT_NAME": "p"}, root=tmp_path), cast(Any, None),
                  BuildRecord("dev", "p", "dev", "now", {}, {}), built, containers)  # fmt: skip
    assert verifying.services_running(ctx) == "backend healthy, migrate completed"
    ctx.containers["migrate"] = container("migrate", "exited", 2)
    with pytest.raises(CiError, match=r"^migrate: exited \(exit code 2\): run `nox -s verify -- --up`, or"):
        verifying.services_running(ctx)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--signed", "--up"], "--signed checks the pushed images: not with --up"),
        (["--signed", "--url", "http://x"], "--signed checks the pushed images: not with --url"),
        (["--signed", "--tree"], "--signed checks the pushed images: not with --tree"),
    ],
)
def test_signed_takes_commit_and_nothing_of_the_running_stack(argv: list[str], line: str) -> None:
    import re

    from ci.core.errors import UsageError
    from ci.frame import parser

    with pytest.raises(UsageError, match=re.escape(line)):
        verifying.check_args(parser(verifying.SESSION).parse_args(argv))
    assert verifying.check_args(parser(verifying.SESSION).parse_args(["--signed", "--commit", "HEAD~1"])) is None
