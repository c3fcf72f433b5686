"""`nox -s prune`: scheduled maintenance that reclaims space from this project's garbage, and only that.
What goes and what stays is decided in `ci.cleanup`; this session gathers the facts, acts, and reports
`docker system df` before and after."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from ci import docker as dk
from ci import frame, terminal
from ci.cleanup import (
    DEFAULT_KEEP,
    DEFAULT_KEEP_STORAGE,
    DEFAULT_UNTIL,
    Item,
    Options,
    Plan,
    make_plan,
    parse_duration,
    parse_keep,
    parse_prune_total,
    parse_size,
    service_names,
    space_flag,
)
from ci.frame import Run, Session
from ci.report import Report
from ci.sizes import human
from ci.versions import tool_version

DISK_TYPES = tuple(dk.DISK_TYPES.values())


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--until", default=DEFAULT_UNTIL, help="prune build cache unused for this long (default 24h)")
    p.add_argument(
        "--keep-storage",
        default=DEFAULT_KEEP_STORAGE,
        help="keep old build cache while the whole cache fits in this size, e.g. 10GB (default 0: age alone)",
    )
    p.add_argument("--keep", default=DEFAULT_KEEP, help="builds to keep per service, newest first (default 3)")
    p.add_argument("--volumes", action="store_true", help="also remove the anonymous volumes of removed containers")
    p.add_argument("--dry-run", action="store_true", help="show what would be removed and the bytes it frees")


def check_args(args: argparse.Namespace) -> None:
    """Every argument checked before the engine is touched."""
    args.options = Options(
        until=args.until.strip(),
        until_delta=parse_duration(args.until),
        keep=parse_keep(args.keep),
        keep_storage=parse_size(args.keep_storage),
        volumes=args.volumes,
        dry_run=args.dry_run,
        keep_storage_text=args.keep_storage.strip(),
    )


def parse_options(argv: Sequence[str]) -> Options:
    options: Options = frame.parse_arguments(SESSION, list(argv)).options
    return options


@dataclass
class Outcome:
    """What the run found and did: prune.json, JUnit properties and the tables come from it."""

    options: Options | None = None
    tools: dict[str, str] = field(default_factory=dict)
    before: dict[str, dk.DiskUse] = field(default_factory=dict)
    after: dict[str, dk.DiskUse] = field(default_factory=dict)
    plan: Plan | None = None
    removed: list[Item] = field(default_factory=list)
    refused: list[Item] = field(default_factory=list)
    cache_pruned: int | None = None

    def reclaimed(self) -> dict[str, int]:
        """Per type, the size `docker system df` lost between before and after (other work on the engine
        meanwhile shows too), and the total."""
        if not (self.before and self.after):
            return {}
        delta = {t: self.before[t]["size"] - self.after[t]["size"] for t in DISK_TYPES}
        return {**delta, "total": sum(delta.values())}

    def planned(self) -> dict[str, int]:
        if self.plan is None:
            return {}
        kinds = {"images": "image", "containers": "container", "volumes": "volume", "build_cache": "build cache"}
        per = {t: self.plan.size_of(k) for t, k in kinds.items()}
        return {**per, "total": sum(per.values())}


def body(run: Run) -> None:
    outcome = Outcome(options=run.args.options)
    try:
        _prune(run, outcome)
    finally:
        _write(run, outcome)


def _prune(run: Run, outcome: Outcome) -> None:
    settings, options = run.settings, run.args.options
    with run.step("arguments") as check:  # checked before the body ran (check_args); recorded as they were read
        check.message = _describe(options)
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
        check.message = _figures_line(outcome.before)
    with run.step("plan") as check:
        images = dk.project_image_facts(engine, settings.project)
        plan = outcome.plan = make_plan(
            settings.project,
            service_names(settings.project, images),
            dk.container_facts(engine),
            images,
            dk.disk_usage_detail(engine),
            options,
            datetime.now(UTC),
        )
        print(_plan_table(plan, settings.project, dry_run=options.dry_run))
        check.message = _plan_line(plan, dry_run=options.dry_run)
    if options.dry_run:
        run.report.skip(("containers", "images", "build cache"), "dry run: nothing removed")
    else:
        _remove(engine, run.report, outcome, plan, options, flag)
    with run.step("after") as check:
        outcome.after = dk.disk_use(engine)
        check.message = _figures_line(outcome.after)
    verb = "would free" if options.dry_run else "freed"
    run.verdict = f"{verb} {human(plan.size_of())} ({_plan_line(plan, dry_run=options.dry_run).split(':')[0]})"


def _plan_line(plan: Plan, *, dry_run: bool) -> str:
    verb = "would free" if dry_run else "frees"
    counts = [terminal.plural(len(plan.of(k)), k) for k in ("container", "image", "volume")]
    counts.append(terminal.plural(len(plan.cache), "build cache record"))
    return f"{', '.join(counts)} of this project: {verb} {human(plan.size_of())}"


def _remove(engine: dk.Engine, report: Report, outcome: Outcome, plan: Plan, options: Options, flag: str) -> None:
    with report.step("containers") as check:
        for item in plan.of("container"):
            _record(outcome, item, dk.remove_container(engine, item.id, volumes=options.volumes))
        if plan.of("volume"):
            left = dk.volume_names(engine)  # the engine removed them with their containers, or kept them
            for item in plan.of("volume"):
                kept = item.id in left
                _record(outcome, item, "still there: its container stayed, or another mounts it" if kept else None)
        check.message = _done_line(outcome, ("container", "volume"))
    with report.step("images") as check:
        used_by = {c.image: c.name for c in dk.container_facts(engine)}  # a container may have appeared
        for item in plan.of("image"):
            if item.id in used_by:
                _record(outcome, item, f"used by container {used_by[item.id]}")
                continue
            errors = [e for e in (dk.remove_image(engine, ref) for ref in item.refs) if e]
            _record(outcome, item, "; ".join(errors) or None)
        check.message = _done_line(outcome, ("image",))
    with report.step("build cache") as check:
        output = dk.prune_build_cache(engine, until=options.until, space_flag=flag, keep_bytes=options.keep_storage)
        outcome.cache_pruned = parse_prune_total(output)
        budget = f", {flag} {options.keep_storage} ({options.keep_storage_text})" if options.keep_storage else ""
        check.message = f"buildx freed {human(outcome.cache_pruned or 0)} (unused for {options.until}{budget})"


def _record(outcome: Outcome, item: Item, refused: str | None) -> None:
    if refused:
        outcome.refused.append(Item(item.kind, item.id, item.name, item.size, f"kept: {refused}", item.refs))
    else:
        outcome.removed.append(item)


def _done_line(outcome: Outcome, kinds: Sequence[str]) -> str:
    parts = []
    for kind in kinds:
        done = [i for i in outcome.removed if i.kind == kind]
        refused = [i for i in outcome.refused if i.kind == kind]
        part = f"{terminal.plural(len(done), kind)} removed ({human(sum(i.size for i in done))})"
        parts.append(part + (f", {len(refused)} kept: {refused[0].why.removeprefix('kept: ')}" if refused else ""))
    return "; ".join(parts)


def _describe(options: Options) -> str:
    budget = f"{options.keep_storage_text} ({options.keep_storage} bytes)" if options.keep_storage else "none"
    return (
        f"until {options.until}, keep {options.keep} builds, cache budget {budget}, "
        f"volumes {'yes' if options.volumes else 'no'}{', dry run' if options.dry_run else ''}"
    )


def _figures_line(figures: Mapping[str, dk.DiskUse]) -> str:
    size = sum(f["size"] for f in figures.values())
    reclaimable = sum(f["reclaimable"] for f in figures.values())
    # docker's own figures cover the whole engine, every project's: said so beside what this prune frees.
    return f"engine-wide: {human(size)} used, {human(reclaimable)} reclaimable by docker's count"


def _plan_table(plan: Plan, project: str, *, dry_run: bool) -> str:
    action = "would remove" if dry_run else "remove"
    rows = [(action, i.kind, i.name, human(i.size), i.why) for i in plan.remove]
    rows += [("keep", i.kind, i.name, "", i.why) for i in plan.keep]
    if not rows:
        return f"\nnothing of {project} to remove, no build cache unused for that long"
    total = f"\n{action}: {human(plan.size_of())} (as `docker system df --verbose` counts it)" if plan.remove else ""
    return f"\n{terminal.table(('action', 'kind', 'name', 'size', 'why'), rows, columns=terminal.width())}{total}"


def figures_table(outcome: Outcome, *, dry_run: bool) -> str:
    """`docker system df` before and after, what changed, and what the plan frees."""
    reclaimed, planned = outcome.reclaimed(), outcome.planned()
    rows = []
    for name in (*DISK_TYPES, "total"):
        types = DISK_TYPES if name == "total" else (name,)
        sizes = [
            sum(when[t][key] for t in types)
            for when in (outcome.before, outcome.after)
            for key in ("size", "reclaimable")
        ]
        cells = [*sizes, reclaimed[name], planned.get(name, 0)]
        rows.append((name.replace("_", " "), *(human(n) for n in cells)))
    headers = ("type", "size before", "reclaimable before", "size after", "reclaimable after", "reclaimed")
    return terminal.table((*headers, "would free" if dry_run else "planned"), rows, columns=terminal.width())


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
        print(f"\nengine-wide figures (docker system df, every project); {mine}: this project's")
        print(figures_table(outcome, dry_run=dry_run))
        if outcome.cache_pruned is not None:
            print(f"buildx prune reported {human(outcome.cache_pruned)} of build cache freed")
    run.report.main.properties.update(_properties(outcome))
    plan = outcome.plan
    run.data.update(
        {
            "session": "prune",
            "project": run.settings.project,
            "dry_run": dry_run,
            "options": {k: v for k, v in asdict(outcome.options).items() if k != "until_delta"}
            if outcome.options
            else {},
            "tools": outcome.tools,
            "before": outcome.before,
            "after": outcome.after,
            "reclaimed_bytes": outcome.reclaimed(),
            "planned_bytes": outcome.planned(),
            "plan": {
                "remove": [asdict(i) for i in plan.remove],
                "keep": [asdict(i) for i in plan.keep],
                "build_cache_records": [asdict(r) for r in plan.cache],
            }
            if plan
            else None,
            "removed": [asdict(i) for i in outcome.removed],
            "refused": [asdict(i) for i in outcome.refused],
            "build_cache_pruned_bytes": outcome.cache_pruned,
        }
    )


SESSION = Session(
    name="prune",
    summary="Remove this project's stopped containers, dangling images and old builds, prune build cache by age "
    "and size; never anything without the project's labels, never named volumes.",
    steps=("arguments", "engine", "before", "plan", "containers", "images", "build cache", "after"),
    body=body,
    options=options,
    check_args=check_args,
)
