"""The sessions, one function each: what `nox -s NAME` runs, as `python -m ci NAME [ARGS]`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from python_on_whales import DockerClient

from ci import building, caching, running
from ci import docker as dk
from ci.config import Settings, load_settings
from ci.errors import CiError
from ci.reporting import Report, Suite, report_dict, steps_table, table, write_json, write_junit

DEV_STEPS = ("engine", "clean", "ports", "bake", "up", "status")
PROD_STEPS = ("engine", "builder", "cache", "bake", "push")


# `nox -s prod verify -- --down` gives every session of the pipeline the same arguments: each takes its
# own and lets these, the others' options, pass (with how many values each takes).
PIPELINE_OPTIONS = {
    "--down": 0, "--browser": 0, "--push": 0, "--builder": 1, "--strict-cache": 0, "--no-cache": 0, "--logs": 0,
}  # fmt: skip


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """PARSER's options from ARGV; the other pipeline sessions' options are ignored, anything else is an error."""
    args, rest = parser.parse_known_args(argv)
    unknown = []
    while rest:
        option, _, inline = rest.pop(0).partition("=")
        values = PIPELINE_OPTIONS.get(option)
        if values is None:
            unknown.append(option)
        elif values and not inline:
            del rest[:values]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def run_session(name: str, steps: tuple[str, ...], body: Callable[[Settings, Report], None]) -> int:
    """Run BODY's steps; whatever happens, the steps table is printed and reports/junit-NAME.xml written."""
    settings = load_settings()
    report = Report(name)
    try:
        body(settings, report)
    finally:
        report.skip(steps, "an earlier step failed")
        junit = write_junit(report, settings.reports_dir / f"junit-{name}.xml")
        write_json(report_dict(report), settings.reports_dir / f"{name}.json")
        print(f"\n{steps_table(report)}\n\nJUnit: {junit}")
    return 1 if report.failed else 0


def dev(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s dev --",
        description="Clean this project's containers and images, bake with no cache, start the stack, show it.",
    )
    parser.add_argument("--logs", action="store_true", help="stream every build step's output, not only progress")
    args = parse_args(parser, argv)
    return run_session("dev", DEV_STEPS, lambda settings, report: _dev(settings, report, show_logs=args.logs))


def _dev(settings: Settings, report: Report, *, show_logs: bool) -> None:
    tag = "dev"
    with report.step("engine") as check:
        docker = dk.client(settings, {"TAG": tag, **running.port_env(settings)})
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
            "REGISTRY_CACHE": "false",  # no cache to import under --no-cache, none worth exporting
            **building.dev_build_args(datetime.now(UTC), commit),
        }
        print(
            f"baking dev: commit {commit}, build date {variables['BUILD_DATE']}, cache bust {variables['CACHE_BUST']}"
        )
        result = _bake_and_record(
            report, settings, "dev", variables, docker=docker, store=docker, no_cache=True, show_logs=show_logs
        )
        check.message = f"{len(result.targets)} images in {result.seconds:.1f}s"
    with report.step("up") as check:
        running.up(docker, settings)
        check.message = "all services healthy"
    with report.step("status") as check:
        rows = running.status_rows(docker, settings.services)
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


def prod(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s prod --",
        description="Bake the prod group with the registry cache (mode=max) and reproducible build args.",
    )
    parser.add_argument("--push", action="store_true", help="also push the images to IMAGE_REGISTRY, with attestations")
    parser.add_argument("--builder", help="buildx builder to use (default: BUILDX_BUILDER, else the current one)")
    parser.add_argument(
        "--strict-cache", action="store_true", help="fail when the registry cache cannot be imported or exported"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="rebuild every step (the registry cache is still refreshed)"
    )
    parser.add_argument("--logs", action="store_true", help="stream every build step's output, not only progress")
    args = parse_args(parser, argv)
    return run_session("prod", PROD_STEPS, lambda settings, report: _prod(settings, report, args))


def _prod(settings: Settings, report: Report, args: argparse.Namespace) -> None:
    with report.step("engine") as check:
        docker = dk.client(settings)
        check.message = f"engine {dk.require_engine(docker)}"
    with report.step("builder") as check:
        builder = caching.selected_builder(docker, args.builder)
        check.message = f"{builder.name} ({builder.driver} driver)"
    with report.step("cache") as check:
        plan = caching.plan_cache(settings, builder, os.environ, strict=args.strict_cache)
        check.message = "; ".join([f"registry cache {plan.status} at {plan.registry}", *plan.notes, *plan.problems])
    with report.step("bake") as check:
        commit = building.read_commit(settings.root)
        build_args = building.prod_build_args(commit, datetime.now(UTC))
        tag = build_args["GIT_COMMIT"]
        variables = {
            "PROJECT": settings.project,
            "TAG": tag,
            "EXTRA_TAG": "latest",
            **build_args,
            "CACHE_REGISTRY": plan.registry,
            "REGISTRY_CACHE": str(plan.import_cache).lower(),
            "CACHE_EXPORT": str(plan.export_cache).lower(),
            "CACHE_IGNORE_ERROR": str(not args.strict_cache).lower(),
        }
        image_registry = os.environ.get("IMAGE_REGISTRY", "").strip() or plan.registry
        if args.push:
            sbom = dk.image_resolvable(docker, SBOM_SCANNER)
            if not sbom:
                plan.notes.append(f"no SBOM attestation: the builder cannot resolve its scanner {SBOM_SCANNER}")
            variables |= {"IMAGE_REGISTRY": image_registry, "ATTEST": "true", "SBOM": str(sbom).lower()}
        print(f"baking prod: commit {tag}, build date {variables['BUILD_DATE']}, builder {builder.name}")
        # A docker-driver builder is its engine: buildx reaches it through its context, not --builder.
        store = dk.engine_for_builder(builder.driver, builder.nodes)
        for_builder = store if builder.driver == "docker" else docker
        result = _bake_and_record(
            report,
            settings,
            "prod",
            variables,
            docker=for_builder,
            store=store,
            no_cache=args.no_cache,
            show_logs=args.logs,
            builder=None if builder.driver == "docker" else builder.name,
            cache=plan,
            strict_cache=args.strict_cache,
        )
        check.message = f"{len(result.targets)} images {tag} in {result.seconds:.1f}s; cache {plan.status}"
        if plan.problems:
            check.output = "\n".join(plan.problems)
    if args.push:
        with report.step("push") as check:
            refs = [
                f"{image_registry}/{settings.project}-{t}:{name}" for t in result.targets for name in (tag, "latest")
            ]
            for ref in refs:
                print(f"pushing {ref}", flush=True)
                dk.push_image(store, ref)
            check.message = f"pushed {len(refs)} tags to {image_registry}"
    else:
        report.skip(["push"], "no --push")


# The SBOM generator BuildKit runs for `type=sbom` attestations.
SBOM_SCANNER = "docker.io/docker/buildkit-syft-scanner:stable-1"


def _bake_and_record(
    report: Report,
    settings: Settings,
    profile: str,
    variables: dict[str, str],
    *,
    docker: DockerClient,
    store: DockerClient,
    no_cache: bool,
    show_logs: bool,
    builder: str | None = None,
    cache: caching.CachePlan | None = None,
    strict_cache: bool = False,
) -> building.BakeResult:
    """Fingerprint each target's sources, bake PROFILE with them, and record the build (DOCKER runs bake,
    STORE is the engine the images land in)."""
    resolved = building.resolve_targets(docker, settings, profile, variables)
    prints = building.source_fingerprints(settings, resolved)
    variables |= building.fingerprint_variables(prints)
    result = building.bake(
        docker,
        settings,
        profile,
        variables=variables,
        no_cache=no_cache,
        metadata_file=settings.reports_dir / f"bake-metadata-{profile}.json",
        show_logs=show_logs,
        builder=builder,
        resolved=resolved,
    )
    if cache:
        for error in result.trace.cache_errors():
            if strict_cache:
                raise CiError(f"registry cache failed during the build: {error}")
            cache.problems.append(f"registry cache unavailable during the build: {error}")
            print(f"warning: {cache.problems[-1]}", flush=True)
    figures = [building.image_figures(store, result, t) for t in result.targets]
    for fig in figures:
        fig["source_digest"] = prints[fig["target"]].digest
        fig["context_bytes"] = prints[fig["target"]].size
    _record_build(report, settings, profile, variables, figures, result.seconds, cache)
    write_json(
        {
            "profile": profile,
            "project": settings.project,
            "tag": variables["TAG"],
            "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "variables": variables,
            "targets": {f["target"]: {**f, "files": prints[f["target"]].files} for f in figures},
        },
        settings.reports_dir / LAST_BUILD,
    )
    return result


# What verify compares the running stack with: the latest build of dev or prod, with its files.
LAST_BUILD = "last-build.json"


def _record_build(
    report: Report,
    settings: Settings,
    profile: str,
    variables: dict[str, str],
    figures: list[dict[str, Any]],
    seconds: float,
    cache: caching.CachePlan | None = None,
) -> None:
    """Build figures: a testsuite per target in the JUnit file, build-PROFILE.json, a table on screen."""
    for fig in figures:
        report.suites.append(Suite(fig["target"], properties={k: str(v) for k, v in fig.items()}))
    report.main.properties.update({k.lower(): v for k, v in variables.items()})
    report.main.properties["bake_seconds"] = f"{seconds:.3f}"
    cache_report: dict[str, Any] = {"status": "off"}
    if cache:
        cache_report = {
            "registry": cache.registry,
            "status": cache.status,
            "problems": cache.problems,
            "notes": cache.notes,
        }
        report.main.properties.update({"cache_status": cache.status, "cache_registry": cache.registry})
        if cache.problems:
            report.main.properties["cache_problems"] = " | ".join(cache.problems)
    write_json(
        {
            "profile": profile,
            "variables": variables,
            "seconds": round(seconds, 3),
            "cache": cache_report,
            "targets": figures,
        },
        settings.reports_dir / f"build-{profile}.json",
    )
    print(
        "\n"
        + table(
            ("target", "time", "steps", "cached", "hit ratio", "context", "image id", "size"),
            [
                (
                    f["target"],
                    f"{f['wall_seconds']:.1f}s",
                    f["steps"],
                    f["cached_steps"],
                    f"{f['cache_hit_ratio']:.0%}",
                    f"{f.get('context_bytes', 0) / 1e3:.1f} kB",
                    f["image_id"].removeprefix("sha256:")[:12],
                    f"{f['size_bytes'] / 1e6:.1f} MB",
                )
                for f in figures
            ],
        )
    )
    if cache:
        print(f"registry cache: {cache.status} ({cache.registry}){''.join(f'; {p}' for p in cache.problems)}")
