"""The sessions, one function each: what `nox -s NAME` runs, as `python -m ci NAME [ARGS]`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ci import building, running
from ci import docker as dk
from ci.config import Settings, load_settings
from ci.errors import CiError
from ci.reporting import Report, Suite, steps_table, table, write_json, write_junit

DEV_STEPS = ("engine", "clean", "ports", "bake", "up", "status")


def dev(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s dev --",
        description="Clean this project's containers and images, bake with no cache, start the stack, show it.",
    )
    parser.add_argument("--logs", action="store_true", help="stream every build step's output, not only progress")
    args = parser.parse_args(argv)
    settings = load_settings()
    report = Report("dev")
    try:
        _dev(settings, report, show_logs=args.logs)
    finally:
        report.skip(DEV_STEPS, "an earlier step failed")
        junit = write_junit(report, settings.reports_dir / "junit-dev.xml")
        print(f"\n{steps_table(report)}\n\nJUnit: {junit}")
    return 1 if report.failed else 0


def _dev(settings: Settings, report: Report, *, show_logs: bool) -> None:
    tag = "dev"
    with report.step("engine") as check:
        docker = dk.client(settings, {"TAG": tag, **_port_env(settings)})
        check.message = f"engine {dk.require_engine(docker)}"
    with report.step("clean") as check:
        containers, images = dk.remove_project(docker, settings.project)
        check.message = f"removed {containers} containers and {images} images of {settings.project}"
    with report.step("ports"):
        running.require_free_ports(settings)
    with report.step("bake") as check:
        commit = building.git_commit(settings.root)
        variables = {
            "PROJECT": settings.project,
            "TAG": tag,
            **building.dev_build_args(datetime.now(UTC), commit),
        }
        print(
            f"baking dev: commit {commit}, build date {variables['BUILD_DATE']}, cache bust {variables['CACHE_BUST']}"
        )
        result = building.bake(
            docker,
            settings,
            "dev",
            variables=variables,
            no_cache=True,
            metadata_file=settings.reports_dir / "bake-metadata-dev.json",
            show_logs=show_logs,
        )
        figures = [building.image_figures(docker, result, t) for t in result.targets]
        _record_build(report, settings, "dev", variables, figures, result.seconds)
        check.message = f"{len(result.targets)} images in {result.seconds:.1f}s"
    with report.step("up") as check:
        running.up(docker, settings)
        check.message = "all services healthy"
    with report.step("status") as check:
        rows = running.status_rows(docker)
        print(
            "\n"
            + table(
                ("service", "image id", "build date", "commit", "health"),
                [(r["service"], r["image_id"], r["build_date"], r["commit"], r["health"]) for r in rows],
            )
        )
        print(f"\nbackend  http://127.0.0.1:{settings.backend_port}/build/info")
        print(f"frontend http://127.0.0.1:{settings.frontend_port}/")
        unhealthy = [r["service"] for r in rows if r["health"] != "healthy"]
        if unhealthy:
            raise CiError(f"not healthy: {', '.join(unhealthy)}")
        check.message = ", ".join(f"{r['service']} {r['commit']}" for r in rows)


def _port_env(settings: Settings) -> dict[str, str]:
    return {"BACKEND_PORT": str(settings.backend_port), "FRONTEND_PORT": str(settings.frontend_port)}


def _record_build(
    report: Report,
    settings: Settings,
    profile: str,
    variables: dict[str, str],
    figures: list[dict[str, Any]],
    seconds: float,
) -> None:
    """Build figures: a testsuite per target in the JUnit file, build-PROFILE.json, a table on screen."""
    for fig in figures:
        report.suites.append(Suite(fig["target"], properties={k: str(v) for k, v in fig.items()}))
    report.main.properties.update({k.lower(): v for k, v in variables.items()})
    report.main.properties["bake_seconds"] = f"{seconds:.3f}"
    write_json(
        {"profile": profile, "variables": variables, "seconds": round(seconds, 3), "targets": figures},
        settings.reports_dir / f"build-{profile}.json",
    )
    print(
        "\n"
        + table(
            ("target", "time", "steps", "cached", "hit ratio", "image id", "size"),
            [
                (
                    f["target"],
                    f"{f['wall_seconds']:.1f}s",
                    f["steps"],
                    f["cached_steps"],
                    f"{f['cache_hit_ratio']:.0%}",
                    f["image_id"].removeprefix("sha256:")[:12],
                    f"{f['size_bytes'] / 1e6:.1f} MB",
                )
                for f in figures
            ],
        )
    )
