"""`nox -s prune`: scheduled maintenance that reclaims space from this project's garbage, and only that.
What goes and what stays is decided in `ci.prune.plan`; this session gathers the facts, acts, and reports
`docker system df` before and after (what it found and did, and how that reads: `ci.prune.outcome`)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from ci import docker as dk
from ci.builds.finished import last_record
from ci.builds.ledger import builds_of, forget, read_ledger
from ci.core import terminal
from ci.core.session import Run, Session
from ci.core.units import human
from ci.core.versions import tool_version
from ci.prune.outcome import (
    Outcome,
    data,
    describe,
    done_line,
    figures_line,
    figures_table,
    plan_line,
    plan_table,
    record,
    verdict,
)
from ci.prune.plan import (
    CACHE_SCOPE,
    Options,
    Plan,
    make_plan,
    parse_keep,
    parse_prune_total,
    parse_size,
    parse_until,
    space_flag,
)
from ci.stack.owned import Ownership


def check_args(args: argparse.Namespace) -> None:
    """Every argument checked before the engine is touched."""
    args.options = Options(
        until=args.until.strip(),
        until_delta=parse_until(args.until),
        keep=parse_keep(args.keep),
        keep_storage=parse_size(args.keep_storage),
        volumes=args.volumes,
        dry_run=args.dry_run,
        keep_storage_text=args.keep_storage.strip(),
    )


def body(run: Run) -> None:
    outcome = Outcome(options=run.args.options)
    try:
        _prune(run, outcome)
    finally:
        _write(run, outcome)


def _prune(run: Run, outcome: Outcome) -> None:
    settings, options = run.settings, run.args.options
    with run.step("arguments") as check:  # checked before the body ran (check_args); recorded as they were read
        check.message = describe(options)
    with run.step("engine") as check:
        engine = dk.connect(settings)
        version = dk.require_engine(engine)
        buildx = tool_version(dk.buildx_version_line(engine))
        nodes = dk.inspect_builder(engine).nodes
        buildkit = nodes[0].version if nodes else None
        flag = space_flag(buildx, buildkit)
        outcome.tools = {"engine": version, "buildx": buildx, "buildkit": buildkit or "unknown", "space_flag": flag}
        check.message = f"engine {version}, buildx {buildx}, builder BuildKit {buildkit or 'unknown'}: {flag}"
    with run.step("before") as check:
        outcome.before = dk.disk_use(engine)
        check.message = figures_line(outcome.before)
    with run.step("plan") as check:
        owner = ownership(run)
        images = dk.image_facts(engine)
        outcome.forgotten = sorted(owner.built - {i.id for i in images})  # gone from the engine
        plan = outcome.plan = make_plan(
            owner,
            dk.container_facts(engine),
            images,
            dk.disk_usage_detail(engine),
            options,
            datetime.now(UTC),
        )
        print(plan_table(plan, settings.project, dry_run=options.dry_run))
        check.message = plan_line(plan, dry_run=options.dry_run)
    if options.dry_run:
        run.report.skip(("containers", "images", "build cache"), "dry run: nothing removed")
    else:
        _remove(run, engine, outcome, plan, options, flag)
    with run.step("after") as check:
        outcome.after = dk.disk_use(engine)
        check.message = figures_line(outcome.after)
    run.verdict = verdict(outcome, plan, dry_run=options.dry_run)


def ownership(run: Run) -> Ownership:
    """What the project built: the ledger's images, and the build record's (its targets', those they replaced)."""
    settings = run.settings
    builds = read_ledger(settings.reports_dir, settings.project)
    record = last_record(settings)
    if record is None:
        return Ownership.of(settings.project, builds)
    replaced = [t.image_id for t in record.previous.values()]
    return Ownership.of(settings.project, [*builds, *builds_of(record)], replaced)


def _remove(run: Run, engine: dk.Engine, outcome: Outcome, plan: Plan, options: Options, flag: str) -> None:
    report = run.report
    with report.step("containers") as check:
        for item in plan.of("container"):
            record(outcome, item, dk.remove_container(engine, item.id, volumes=options.volumes))
        if plan.of("volume"):
            left = dk.volume_names(engine)  # the engine removed them with their containers, or kept them
            for item in plan.of("volume"):
                kept = item.id in left
                record(outcome, item, "still there: its container stayed, or another mounts it" if kept else None)
        check.message = done_line(outcome, ("container", "volume"))
    with report.step("images") as check:
        used_by = {c.image: c.name for c in dk.container_facts(engine)}  # a container may have appeared
        for item in plan.of("image"):
            if item.id in used_by:
                record(outcome, item, f"used by container {used_by[item.id]}")
                continue
            errors = [e for e in (dk.remove_image(engine, ref) for ref in item.refs) if e]
            record(outcome, item, "; ".join(errors) or None)
        gone = {i.id for i in outcome.removed if i.kind == "image"}
        forget(run.settings.reports_dir, run.settings.project, gone | set(outcome.forgotten))
        check.message = done_line(outcome, ("image",))
    with report.step("build cache") as check:
        output = dk.prune_build_cache(engine, until=options.until, space_flag=flag, keep_bytes=options.keep_storage)
        outcome.cache_pruned = parse_prune_total(output)
        budget = f", {flag} {options.keep_storage} ({options.keep_storage_text})" if options.keep_storage else ""
        check.message = (
            f"{CACHE_SCOPE}, every project's: buildx freed {human(outcome.cache_pruned or 0)} "
            f"(unused for {options.until}{budget})"
        )


def _properties(outcome: Outcome) -> dict[str, str]:
    """The figures as JUnit testsuite properties (bytes, flat names)."""
    props: dict[str, str] = {}
    if outcome.options:
        o = outcome.options
        props.update(
            dry_run=str(o.dry_run).lower(),
            until=o.until,
            keep=str(o.keep),
            keep_storage_bytes=str(o.keep_storage),
            volumes=str(o.volumes).lower(),
            build_cache_scope=CACHE_SCOPE,
        )
    props.update({f"{k}_version" if k in ("engine", "buildx", "buildkit") else k: v for k, v in outcome.tools.items()})
    for when, figures in (("before", outcome.before), ("after", outcome.after)):
        for name, f in figures.items():
            props[f"{name}_size_bytes_{when}"] = str(f["size"])
            props[f"{name}_reclaimable_bytes_{when}"] = str(f["reclaimable"])
    for name, size in outcome.reclaimed().items():
        props["reclaimed_bytes" if name == "total" else f"{name}_reclaimed_bytes"] = str(size)
    for name, size in outcome.planned().items():
        props["planned_bytes" if name == "total" else f"{name}_planned_bytes"] = str(size)
    if outcome.plan is not None:
        for kind in ("container", "image", "volume"):
            props[f"{kind}s_removed"] = str(sum(1 for i in outcome.removed if i.kind == kind))
        props["build_cache_records_planned"] = str(len(outcome.plan.cache))
    if outcome.cache_pruned is not None:
        props["build_cache_pruned_bytes"] = str(outcome.cache_pruned)
    return props


def _write(run: Run, outcome: Outcome) -> None:
    dry_run = bool(outcome.options and outcome.options.dry_run)
    if outcome.refused:
        rows = [(i.kind, i.name, i.why.removeprefix("kept: ")) for i in outcome.refused]
        print(f"\nkept, the engine refused or they changed meanwhile:\n{terminal.table(('kind', 'name', 'why'), rows)}")
    if outcome.before and outcome.after:
        mine = "would free" if dry_run else "planned"
        print(f"\nengine-wide figures (docker system df, every project); {mine}: the plan's")
        print(figures_table(outcome, dry_run=dry_run))
        if outcome.cache_pruned is not None:
            print(f"buildx prune reported {human(outcome.cache_pruned)} of build cache freed")
    run.report.main.properties.update(_properties(outcome))
    run.data.update(data(outcome, run.settings.project))


SESSION = Session(
    name="prune",
    summary="Remove this project's stopped containers, dangling images and old builds, prune the engine's build "
    "cache by age and size; never what the project did not build, never named volumes.",
    steps=("arguments", "engine", "before", "plan", "containers", "images", "build cache", "after"),
    body=body,
    check_args=check_args,
    locks=lambda args: not args.dry_run,
)
