"""`nox -s verify`: prove that what runs is the latest build of the current tree, check by check.

A commit hash alone cannot: an uncommitted edit leaves it unchanged, compose can keep an old container
after a rebuild, an image can be rebuilt without its container being recreated. Each check compares the
running stack with the record of the latest build (reports/last-build.json, written by dev and prod) and
with the working tree, and says exactly what is stale.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection

from ci import docker as dk
from ci.builds.record import FILE as RECORD_FILE
from ci.builds.record import read_record
from ci.core import secrets
from ci.core.errors import CiError, UsageError
from ci.core.report import Check, Report, markdown_table
from ci.core.session import Run, Session
from ci.core.settings import Settings, environment, signing, step_summary
from ci.phases import deployment, signed, start
from ci.phases.check import Context, placement, run_checks
from ci.prune.plan import parse_duration
from ci.stack import live
from ci.watch import sync

LOCAL_ONLY = ("browser", "up", "down")  # options of the stack on this engine
REMOTE_ONLY = ("commit", "tree", "samples", "wait", "header", "header_env")  # options of --url
SAMPLES = 5  # answers asked of each address by default


def check_args(args: argparse.Namespace) -> deployment.Request | None:
    """--url's options need it, the local stack's exclude it; every value is checked before any request.
    What --url asks, or None without it."""
    given = [name for name in REMOTE_ONLY if getattr(args, name) not in (None, False, [])]
    if args.signed:
        others = [name for name in (*LOCAL_ONLY, "url") if getattr(args, name)]
        others += [name for name in given if name != "commit"]
        if others:
            raise UsageError(f"--signed checks the pushed images: not with --{others[0].replace('_', '-')}")
        return None
    if not args.url:
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} goes with --url: the address of a deployed stack")
        return None
    for name in LOCAL_ONLY:
        if getattr(args, name):
            raise UsageError(f"--{name} is for the stack on this engine: not with --url")
    if args.tree and args.commit:
        raise UsageError("--tree and --commit: give one (what the stack must run)")
    samples = SAMPLES if args.samples is None else args.samples
    if samples < 1:
        raise UsageError(f"--samples {samples}: ask each address at least once")
    addresses = tuple(deployment.parse_address(raw) for raw in args.url)
    headers = dict(deployment.parse_header(raw) for raw in args.header)
    headers |= dict(deployment.header_from_env(raw, environment()) for raw in args.header_env)
    wait_seconds = parse_duration(args.wait, "--wait").total_seconds() if args.wait else 0.0
    return deployment.Request(addresses, headers, samples, wait_seconds, args.commit or "HEAD", args.tree)


def arguments_checked(args: argparse.Namespace) -> None:
    """The frame's check of the arguments, before any step: check_args, whose value the body asks for again."""
    check_args(args)


def body(run: Run) -> None:
    remote = check_args(run.args)
    if remote is not None:
        deployed(run, remote)
        return
    if run.args.signed:
        pushed_images(run)
        return
    ctx: Context | None = None
    try:
        with run.step("services") as check:
            ctx = prepare(run.settings, recreate=run.args.up)
            check.message = services_running(ctx)
        run_checks(run.report, ctx, ctx.services, others=ctx.others, browser=run.args.browser)
    finally:
        print_summary(run.report)
        if run.args.down and ctx is not None:
            dk.stop_services(ctx.engine, [s.name for s in ctx.services])
            others = [s.name for s in ctx.others]
            print(stopped(ctx, live.running(ctx.engine, others) if others else {}))
    if ctx is not None and ctx.extra_keys:
        run.data["build_info_extra_keys"] = ctx.extra_keys
    if not run.report.failed and ctx is not None:
        run.verdict = f"running = tree: {ctx.build.what}, tree {ctx.build.commit}"


# --- the step `services`: the stack up and running (each service's checks: ci/phases/check.py) ---


def prepare(settings: Settings, *, recreate: bool = False) -> Context:
    """The engine, the latest build and the running stack; starts the stack from that build when it is down,
    or (RECREATE) in any case. The services are every one the definitions name (compose's, matched to the
    bake file's targets as that build resolved them), never only those the record knows: a service the
    record cannot place fails its own check, and is never started from it."""
    build = read_record(settings.reports_dir, settings.project)
    engine = dk.connect(settings, live.compose_env(build.tag if build else "dev"))
    dk.require_engine(engine)
    if build is None:
        raise CiError(
            f"no build of {settings.project} recorded in {settings.reports_dir / RECORD_FILE}: "
            "run `nox -s dev` or `nox -s prod` first"
        )
    found = live.definitions(engine, settings, {**build.variables, "PROJECT": settings.project, "TAG": build.tag})
    names = [s.name for s in found.built]
    if recreate or not live.running(engine, names):
        why = "--up" if recreate else "the stack is down"
        unknown = [u for u in (placement(build, s) for s in found.built) if u]
        if unknown:
            raise CiError(f"{why}: the build record cannot say what to start: " + "; ".join(unknown))
        print(f"{why}: starting it from {build.profile} build {build.tag}", flush=True)
        build = start.stack(start.Request(engine, settings, found.built, build)).record
    containers = live.wait_while_starting(engine, found.names, found.jobs)
    # A container watch synced passes its source check only as synced and still at the tree; --up recreated it.
    synced = sync.checker(engine, settings.root, settings.reports_dir, settings.project)
    return Context(settings, engine, build, found.built, containers, others=found.others, synced=synced)


def services_running(ctx: Context) -> str:
    """The services the project builds, each running and healthy by the one health rule (live.ready; a job:
    completed); the others have a check each."""
    problems = []
    for service in ctx.services:
        container = ctx.containers.get(service.name)
        why = "no container" if container is None else live.unready(container, service.job)
        if why:
            problems.append(f"{service.name}: {why}")
    if problems:
        raise CiError("; ".join(problems) + ": run `nox -s verify -- --up`, or `nox -s dev`")
    return ", ".join(f"{s.name} {live.state(ctx.containers[s.name], s.job)}" for s in ctx.services)


def stopped(ctx: Context, running: Collection[str]) -> str:
    """--down's line: the services it stopped, and those it leaves RUNNING (not the project's builds, and
    their data with them), with the command that stops them."""
    left = [s.name for s in ctx.others if s.name in running]
    if not left:
        return "stack stopped (--down)"
    names = " ".join(left)
    return (
        f"stack stopped (--down): {', '.join(s.name for s in ctx.services)}; left running: {', '.join(left)} "
        f"(images the project does not build; `docker compose -p {ctx.settings.project} stop {names}` stops them)"
    )


def print_summary(report: Report) -> None:
    """The checks as Markdown in the CI job summary, when there is one (GitHub Actions)."""
    summary = step_summary()  # the runner's: exported only
    if summary:
        rows = [(c.name, c.status, c.message) for c in report.main.checks]
        with open(summary, "a", encoding="utf-8") as out:
            out.write("## verify\n\n" + markdown_table(("check", "result", "detail"), rows) + "\n")


# --- a deployed stack (--url) -------------------------------------------------------------------------


def deployed(run: Run, remote: deployment.Request) -> None:
    """Each service of the stack that an address reaches, asked for its build info and placed in the
    history of the commit it must run; the others listed as not checked. Credentials bound for plain HTTP
    off this machine: one warning line before any request, and a warned check."""
    if remote.exposed:
        print(f"warning: {remote.exposed}", flush=True)
        run.report.add(Check("credentials", "warned", message=remote.exposed))
    with run.step("services") as check:
        asked = deployment.services(run.settings, remote)
        check.message = asked.message()
    verdicts = deployment.verdicts(asked, remote)
    deployment.report(run.report, asked, verdicts)
    line = secrets.redact(deployment.last_line(remote.where, asked.label, verdicts, asked.unchecked))
    run.data["deployment"] = deployment.data(asked, verdicts, remote)
    print_summary(run.report)
    if not all(v.passed for v in verdicts):
        raise CiError(line)
    run.verdict = line


# --- the pushed images (--signed) ---------------------------------------------------------------------------


def pushed_images(run: Run) -> None:
    """Each image the latest build pushed, as its tag names it now, by digest: signature, provenance, sources
    (ci/phases/signed.py); a testcase per image, the failures in the last line."""
    settings = run.settings
    with run.step("services") as check:
        record = read_record(settings.reports_dir, settings.project)
        if record is None:
            raise CiError(f"no build of {settings.project} recorded: run `nox -s prod -- --push --sign` first")
        wanted = signed.expectations(settings, record, run.args.commit)
        against = f"--commit {run.args.commit}" if run.args.commit else "the working tree"
        check.message = f"{', '.join(e.target for e in wanted)} pushed by {record.what}, against {against}"
    engine = dk.connect(settings)
    failures = list(signed.run_signed(run.report, engine, signing(), wanted))
    run.data["signed"] = {e.target: e.pushed for e in wanted}
    print_summary(run.report)
    if failures:
        raise CiError(secrets.redact("; ".join(failures)))
    run.verdict = f"signed, by digest: {', '.join(e.target for e in wanted)} verify with COSIGN_PUBLIC_KEY, " + (
        f"provenance and sources = {against}"
    )


SESSION = Session(
    name="verify",
    summary=__doc__.splitlines()[0].split(": ", 1)[1],
    steps=("services",),  # then a check per service and kind, as the stack's services declare them
    body=body,
    check_args=arguments_checked,
    locks=lambda args: bool(args.up or args.down),  # they start or stop the stack
)
