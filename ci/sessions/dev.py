"""`nox -s dev`: clean, bake with no cache and fresh build args, start the stack, show what runs."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from ci import bake, stack, terminal
from ci import docker as dk
from ci.errors import CiError
from ci.frame import Run, Session
from ci.git import commit_label

TAG = "dev"


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--logs", action="store_true", help="stream every build step's output, not only progress")


def body(run: Run) -> None:
    settings = run.settings
    with run.step("engine") as check:
        engine = dk.connect(settings, stack.compose_env(settings, TAG))
        check.message = f"engine {dk.require_engine(engine)}"
    with run.step("clean") as check:
        containers, images = stack.remove_project(engine, settings.project)
        check.message = f"removed {containers} containers and {images} images of {settings.project}"
    with run.step("ports"):
        stack.require_free_ports(settings)
    with run.step("bake") as check:
        commit = commit_label(settings.root)
        variables = {
            "PROJECT": settings.project,
            "TAG": TAG,
            "REGISTRY_CACHE": "false",  # no cache to import under --no-cache, none worth exporting
            **bake.dev_build_args(datetime.now(UTC), commit),
        }
        print(
            f"baking dev: commit {commit}, build date {variables['BUILD_DATE']}, cache bust {variables['CACHE_BUST']}"
        )
        build, _ = bake.build_and_record(
            run.report, settings, "dev", variables, engine=engine, store=engine, no_cache=True, show_logs=run.args.logs
        )
        bake.write_build(run.report, settings, build)
        check.message = f"{len(build.targets)} images in {build.seconds:.1f}s"
    with run.step("up") as check:
        stack.up(engine, settings)
        check.message = "all services healthy"
    with run.step("status") as check:
        check.message = show_status(run, engine)


def show_status(run: Run, engine: dk.Engine) -> str:
    settings = run.settings
    rows = stack.status(engine, settings.services)
    headers = ("service", "image id", "build date", "commit", "health")
    table = [(r.service, r.image_id, r.build_date, r.commit, r.health) for r in rows]
    print("\n" + terminal.table(headers, table, columns=terminal.width(), results=4, colour=terminal.colour_on()))
    print(f"\nbackend  http://127.0.0.1:{settings.backend_port}/build/info")
    print(f"frontend http://127.0.0.1:{settings.frontend_port}/")
    unhealthy = [r.service for r in rows if r.health != "healthy"]
    if unhealthy:
        raise CiError(f"not healthy: {', '.join(unhealthy)}")
    run.verdict = (
        f"running {', '.join(f'{r.service} {r.commit}' for r in rows)}, all healthy; "
        f"open http://127.0.0.1:{settings.frontend_port}/, stop with `docker compose down`"
    )
    return ", ".join(f"{r.service} {r.commit}" for r in rows)


SESSION = Session(
    name="dev",
    summary="Clean this project's containers and images, bake with no cache, start the stack, show it.",
    steps=("engine", "clean", "ports", "bake", "up", "status"),
    body=body,
    options=options,
)
