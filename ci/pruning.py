"""`nox -s prune`: scheduled maintenance that reclaims space from this project's garbage, and only that.

Scope is the project's labels: images carry `mainza.project=<project>` (bake's `_common` target), compose
resources `com.docker.compose.project=<project>`. Stopped containers, dangling images and builds beyond the
newest N per service go; with `--volumes`, the anonymous volumes of those containers too. Running
containers, images a container uses, named volumes and anything without the labels stay. Build cache is
shared by nature: it is pruned by age and size. Docker calls live in `ci.docker`; the choices are here,
as pure functions.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from packaging.version import Version
from python_on_whales import DockerClient

from ci import docker as dk
from ci.config import Settings, load_settings
from ci.errors import UsageError
from ci.reporting import Report, report_dict, steps_table, table, write_json, write_junit
from ci.versions import parse_version, tool_version

DEFAULT_UNTIL = "24h"
DEFAULT_KEEP = "3"
DEFAULT_KEEP_STORAGE = "0"
# buildx v0.18.0 renamed --keep-storage to --reserved-space and added --max-used-space and --min-free-space
# (docker/buildx#2766, in the v0.18.0 release notes); the last two also need BuildKit v0.17.0+ on the
# builder, which buildx checks and refuses otherwise.
NEW_SPACE_FLAGS_BUILDX = Version("0.18.0")
MAX_USED_SPACE_BUILDKIT = Version("0.17.0")
PRUNE_STEPS = ("arguments", "engine", "before", "plan", "containers", "images", "build cache", "after")
DISK_TYPES = ("images", "containers", "volumes", "build_cache")
# Cache records a prune without --all never takes (BuildKit's own rule, with records shared with images).
KEPT_CACHE_TYPES = frozenset({"internal", "frontend"})


# --- arguments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    until: str  # a Go duration, passed to buildx as written
    until_delta: timedelta
    keep: int
    keep_storage: int  # bytes; 0: no size budget, age alone decides
    volumes: bool
    dry_run: bool
    keep_storage_text: str = "0"  # as given, for messages


_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[hms])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_SECONDS = {"h": 3600, "m": 60, "s": 1}
# docker's own size syntax (go-units RAMInBytes): binary units, an optional "b" or "ib".
_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?(?:([kmgtp])(?:i?b)?|b)?", re.I)
_BINARY = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_duration(raw: str) -> timedelta:
    """A Go duration in hours, minutes and seconds (`24h`, `90m`, `1h30m`, `30s`), more than zero:
    buildx reads 0 as "no age filter", which would prune everything unused."""
    text = raw.strip()
    seconds = sum(float(n) * _SECONDS[u] for n, u in _DURATION_PART.findall(text)) if _DURATION.fullmatch(text) else 0
    if seconds <= 0:
        raise UsageError(
            f"--until {raw!r} is not a duration: give hours, minutes or seconds as Go writes them, "
            "more than zero, e.g. 24h, 90m, 1h30m, 30s"
        )
    return timedelta(seconds=seconds)


def parse_size(raw: str) -> int:
    """Bytes, or a number with a unit as docker reads it (`512MB`, `10GB`, `1.5g`; 1k = 1024)."""
    match = _SIZE.fullmatch(raw.strip())
    if not match:
        raise UsageError(
            f"--keep-storage {raw!r} is not a size: give bytes (0, 1048576) or a number with a unit "
            "k, m, g or t as docker reads them (512MB, 10GB, 1.5g; 1k = 1024 bytes)"
        )
    return round(float(match.group(1)) * _BINARY[(match.group(2) or "").lower()])


def parse_keep(raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) < 1:
        raise UsageError(f"--keep {raw!r} is not a number of builds: give a whole number, 1 or more (default 3)")
    return int(raw)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (`nox -s prune -- --help` lists the arguments)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="nox -s prune --",
        description="Remove this project's stopped containers, dangling images and old builds, prune build "
        "cache by age and size; never anything without the project's labels, never named volumes.",
    )
    p.add_argument("--until", default=DEFAULT_UNTIL, help="prune build cache unused for this long (default 24h)")
    p.add_argument(
        "--keep-storage",
        default=DEFAULT_KEEP_STORAGE,
        help="keep old build cache while the whole cache fits in this size, e.g. 10GB (default 0: age alone)",
    )
    p.add_argument("--keep", default=DEFAULT_KEEP, help="builds to keep per service, newest first (default 3)")
    p.add_argument("--volumes", action="store_true", help="also remove the anonymous volumes of removed containers")
    p.add_argument("--dry-run", action="store_true", help="show what would be removed and the bytes it frees")
    return p


def parse_options(argv: Sequence[str]) -> Options:
    """Every argument checked before the engine is touched."""
    args = parser().parse_args(list(argv))
    return Options(
        until=args.until.strip(),
        until_delta=parse_duration(args.until),
        keep=parse_keep(args.keep),
        keep_storage=parse_size(args.keep_storage),
        volumes=args.volumes,
        dry_run=args.dry_run,
        keep_storage_text=args.keep_storage.strip(),
    )


def space_flag(buildx_version: str, buildkit_version: str | None) -> str:
    """The `buildx prune` flag for a size budget: the newest this buildx and builder understand."""
    buildx = parse_version(buildx_version)
    if buildx is None or buildx < NEW_SPACE_FLAGS_BUILDX:
        return "--keep-storage"
    buildkit = parse_version(buildkit_version)
    if buildkit is not None and buildkit >= MAX_USED_SPACE_BUILDKIT:
        return "--max-used-space"
    return "--reserved-space"  # the same budget (BuildKit's old keep-bytes), understood by older builders


# --- sizes and times as docker prints them ----------------------------------------------------------

# "%.4g" of the value, so also "-3.228e+06B": docker prints negative sizes while an image is being written.
_HUMAN = re.compile(r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*([kKMGTPEZY]?)i?B")
_DECIMAL = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def parse_human_size(text: str | None) -> int:
    """docker's human sizes ("57.8MB", "8.192kB", "0B", "2.761GB (92%)"; decimal units) in bytes; 0 for
    "N/A" or nothing."""
    match = _HUMAN.fullmatch((text or "").strip().split(" (")[0])
    return round(float(match.group(1)) * _DECIMAL.get(match.group(2), 10**21)) if match else 0


def human(size: int) -> str:
    """Bytes in decimal units, as docker shows them."""
    sign, size = ("-" if size < 0 else ""), abs(size)
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            return f"{sign}{size / factor:.1f} {unit}"
    return f"{sign}{size} B"


def disk_figures(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """`docker system df` rows as count, active, size and reclaimable bytes per type."""
    names = {"Images": "images", "Containers": "containers", "Local Volumes": "volumes", "Build Cache": "build_cache"}
    figures = {t: {"count": 0, "active": 0, "size": 0, "reclaimable": 0} for t in DISK_TYPES}
    for row in rows:
        if row.get("Type") in names:
            figures[names[row["Type"]]] = {
                "count": _count(row.get("TotalCount")),
                "active": _count(row.get("Active")),
                "size": parse_human_size(row.get("Size")),
                "reclaimable": parse_human_size(row.get("Reclaimable")),
            }
    return figures


def _count(text: Any) -> int:
    return int(text) if str(text).isdigit() else 0


def parse_go_time(text: str | None) -> datetime | None:
    """A Go `time.String()` ("2026-11-23 21:09:04.103048347 +0000 UTC"); None when empty."""
    match = re.match(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? ([+-]\d{4})", (text or "").strip())
    if not match:
        return None
    fraction = (match.group(3) or ".0")[:7]
    return datetime.strptime(f"{match.group(1)} {match.group(2)}{fraction} {match.group(4)}", "%Y-%m-%d %H:%M:%S.%f %z")


def parse_prune_total(output: str) -> int | None:
    """The "Total: 1.2GB" line `buildx prune` ends with, in bytes."""
    match = re.search(r"^Total:\s*(\S+)", output, re.M)
    return parse_human_size(match.group(1)) if match else None


# --- the plan ---------------------------------------------------------------------------------------


@dataclass
class Item:
    """Something the plan removes or keeps, with the bytes it frees and why."""

    kind: str  # container | image | volume | build cache
    id: str
    name: str
    size: int
    why: str
    refs: tuple[str, ...] = ()  # for an image: the references to remove


@dataclass(frozen=True)
class CacheRecord:
    id: str
    type: str
    in_use: bool
    shared: bool  # its data belongs to an image too: pruning it frees nothing, BuildKit skips it
    last_used: datetime | None
    size: int
    description: str


@dataclass
class Plan:
    remove: list[Item] = field(default_factory=list)
    keep: list[Item] = field(default_factory=list)
    cache: list[CacheRecord] = field(default_factory=list)

    def of(self, kind: str) -> list[Item]:
        return [i for i in self.remove if i.kind == kind]

    def size_of(self, kind: str | None = None) -> int:
        return sum(i.size for i in self.remove if kind is None or i.kind == kind)


def repository(ref: str) -> str:
    """The repository of an image reference: `mainza-backend:dev` -> `mainza-backend`; a registry's port
    is not a tag (`localhost:5000/x` -> `localhost:5000/x`)."""
    name, colon, tag = ref.rpartition(":")
    return name if colon and "/" not in tag else ref


def is_ours(container: dk.ContainerFacts, project: str) -> bool:
    """A container of this compose project, or one run outside compose from this project's image (it
    inherits the image's label); never another compose project's, whatever image it runs."""
    compose = container.labels.get(dk.COMPOSE_PROJECT_LABEL)
    if compose is not None:
        return compose == project
    return container.labels.get(dk.PROJECT_LABEL) == project


def cache_records(rows: Iterable[Mapping[str, Any]]) -> list[CacheRecord]:
    """Build cache records from `docker system df --verbose`."""
    return [
        CacheRecord(
            id=str(r.get("ID", "")),
            type=str(r.get("CacheType", "")),
            in_use=str(r.get("InUse", "")).lower() == "true",
            shared=str(r.get("Shared", "")).lower() == "true",
            last_used=parse_go_time(r.get("LastUsedAt")),
            size=parse_human_size(r.get("Size")),
            description=str(r.get("Description", "")),
        )
        for r in rows
    ]


def select_cache(records: Sequence[CacheRecord], now: datetime, until: timedelta, keep_bytes: int) -> list[CacheRecord]:
    """What `buildx prune --filter until=UNTIL` with a size budget removes, as BuildKit decides it: records
    not in use, not shared with an image, not internal, unused for UNTIL; with a budget, least recently
    used first and only while the cache is larger than the budget. An estimate: BuildKit also weighs use
    counts."""
    cutoff = now - until
    old = [
        r
        for r in records
        if not r.in_use
        and not r.shared
        and r.type not in KEPT_CACHE_TYPES
        and (r.last_used is None or r.last_used <= cutoff)
    ]
    if not keep_bytes:
        return old
    total = sum(r.size for r in records if not r.shared)
    chosen = []
    for record in sorted(old, key=lambda r: r.last_used or datetime.min.replace(tzinfo=UTC)):
        if total <= keep_bytes:
            break
        chosen.append(record)
        total -= record.size
    return chosen


def _sizes(rows: Iterable[Mapping[str, Any]], key: str, size: str) -> dict[str, int]:
    return {str(r.get(key)): parse_human_size(r.get(size)) for r in rows}


def make_plan(
    project: str,
    services: Sequence[str],
    containers: Sequence[dk.ContainerFacts],
    images: Sequence[dk.ImageFacts],
    detail: Mapping[str, list[dict[str, Any]]],
    options: Options,
    now: datetime,
) -> Plan:
    """What goes and what stays, and why. CONTAINERS are all the engine's; IMAGES the project's; DETAIL is
    `docker system df --verbose` (sizes as docker counts what removing each frees)."""
    plan = Plan()
    container_size = _sizes(detail.get("Containers", []), "ID", "Size")
    volume_size = _sizes(detail.get("Volumes", []), "Name", "Size")
    image_size = _sizes(detail.get("Images", []), "ID", "UniqueSize")

    ours = [c for c in containers if is_ours(c, project)]
    removed = {c.id for c in ours if c.status in dk.STOPPED_STATES}
    for c in ours:
        if c.id in removed:
            plan.remove.append(Item("container", c.id, c.name, container_size.get(c.id, 0), c.status))
        else:
            plan.keep.append(Item("container", c.id, c.name, 0, f"{c.status}: only stopped containers go"))

    # Anonymous volumes of the removed containers, unless a container that stays mounts them too.
    mounted_elsewhere = {v: c.name for c in containers if c.id not in removed for v in c.volumes}
    seen: set[str] = set()
    for c in (c for c in ours if c.id in removed):
        for volume in (v for v in c.anonymous_volumes if v not in seen):
            seen.add(volume)
            item = Item("volume", volume, volume[:12], volume_size.get(volume, 0), f"anonymous volume of {c.name}")
            if volume in mounted_elsewhere:
                item.why = f"anonymous volume of {c.name}, also mounted by {mounted_elsewhere[volume]}"
                plan.keep.append(item)
            elif not options.volumes:
                item.why = f"anonymous volume of {c.name}: removed only with --volumes"
                plan.keep.append(item)
            else:
                plan.remove.append(item)

    _plan_images(plan, project, services, containers, removed, images, image_size, options.keep)
    plan.cache = select_cache(
        cache_records(detail.get("BuildCache", [])), now, options.until_delta, options.keep_storage
    )
    if plan.cache:
        budget = f", while the cache exceeds {options.keep_storage_text}" if options.keep_storage else ""
        plan.remove.append(
            Item(
                "build cache",
                "",
                f"{len(plan.cache)} records",
                sum(r.size for r in plan.cache),
                f"unused for {options.until}{budget}",
            )
        )
    return plan


def _plan_images(
    plan: Plan,
    project: str,
    services: Sequence[str],
    containers: Sequence[dk.ContainerFacts],
    removed_containers: set[str],
    images: Sequence[dk.ImageFacts],
    image_size: Mapping[str, int],
    keep: int,
) -> None:
    """Dangling images, and builds beyond the newest KEEP per service; never one a container uses (but
    the stopped containers this plan removes), nor one also tagged outside this project's repositories."""
    used_by = {c.image: c.name for c in containers if c.id not in removed_containers}
    repos = {f"{project}-{s}": s for s in services}
    builds: dict[str, list[dk.ImageFacts]] = {s: [] for s in services}
    for image in images:
        for service in sorted({repos[r] for r in map(repository, image.tags) if r in repos}):
            builds[service].append(image)
    newest: dict[str, str] = {}  # image id -> why it is kept
    rank: dict[str, str] = {}  # image id -> its place among its service's builds
    for service, found in builds.items():
        found.sort(key=lambda i: i.created, reverse=True)
        for n, image in enumerate(found, 1):
            if n <= keep:
                newest[image.id] = f"newest {keep} builds of {service}"
            else:
                rank.setdefault(image.id, f"build {n} of {service}, newest first (keeping {keep})")

    for image in sorted(images, key=lambda i: i.created, reverse=True):
        name = ", ".join(sorted(image.tags)) or f"<none> {image.id.removeprefix('sha256:')[:12]}"
        item = Item("image", image.id, name, image_size.get(image.id, 0), "dangling")
        foreign = [t for t in image.tags if repository(t) not in repos]
        if image.id in used_by:
            item.why = f"used by container {used_by[image.id]}"
        elif image.tags and image.id in newest:
            item.why = newest[image.id]
        elif image.tags and image.id not in rank:
            item.why = f"not a build of {', '.join(services)}"
        elif foreign:
            item.why = f"also tagged {', '.join(foreign)}"
        else:
            item.why = rank.get(image.id, "dangling")
            item.refs = _image_refs(image)
            plan.remove.append(item)
            continue
        item.size = 0
        plan.keep.append(item)


def _image_refs(image: dk.ImageFacts) -> tuple[str, ...]:
    """How to remove exactly this image without force. With the containerd image store, `repo@<id>`
    drops the repository's tags that point at this image and no other (a tag a concurrent build moved
    to a new image is not touched); without it (classic store), the id itself."""
    by_digest = tuple(sorted({f"{repository(t)}@{image.id}" for t in image.tags} & set(image.repo_digests)))
    return by_digest if image.tags and len(by_digest) == len({repository(t) for t in image.tags}) else (image.id,)


# --- the session ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the run found and did: prune.json, JUnit properties and the tables come from it."""

    options: Options | None = None
    tools: dict[str, str] = field(default_factory=dict)
    before: dict[str, dict[str, int]] = field(default_factory=dict)
    after: dict[str, dict[str, int]] = field(default_factory=dict)
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


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        parser().print_help()
        return 0
    settings = load_settings()
    report = Report("prune")
    outcome = Outcome()
    try:
        _prune(settings, report, outcome, argv)
    finally:
        report.skip(PRUNE_STEPS, "an earlier step failed")
        _write(settings, report, outcome)
    return 1 if report.failed else 0


def _prune(settings: Settings, report: Report, outcome: Outcome, argv: list[str]) -> None:
    with report.step("arguments") as check:
        options = outcome.options = parse_options(argv)
        check.message = _describe(options)
    with report.step("engine") as check:
        docker = dk.client(settings)
        engine = dk.require_engine(docker)
        buildx = tool_version(dk.buildx_version_line(docker))
        nodes = dk.inspect_builder(docker).nodes
        buildkit = nodes[0].version if nodes else None
        flag = space_flag(buildx, buildkit)
        outcome.tools = {"engine": engine, "buildx": buildx, "buildkit": buildkit or "unknown", "space_flag": flag}
        check.message = f"engine {engine}, buildx {buildx}, builder BuildKit {buildkit or 'unknown'}: {flag}"
    with report.step("before") as check:
        outcome.before = disk_figures(dk.disk_summary(docker))
        check.message = _figures_line(outcome.before)
    with report.step("plan") as check:
        plan = outcome.plan = make_plan(
            settings.project,
            settings.services,
            dk.container_facts(docker),
            dk.project_image_facts(docker, settings.project),
            dk.disk_usage_detail(docker),
            options,
            datetime.now(UTC),
        )
        print(_plan_table(plan, settings.project, dry_run=options.dry_run))
        verb = "would free" if options.dry_run else "frees"
        counts = [_count_of(len(plan.of(k)), k) for k in ("container", "image", "volume")]
        counts.append(_count_of(len(plan.cache), "build cache record"))
        check.message = f"{', '.join(counts)}: {verb} {human(plan.size_of())}"
    if options.dry_run:
        report.skip(("containers", "images", "build cache"), "dry run: nothing removed")
    else:
        _remove(docker, report, outcome, plan, options, flag)
    with report.step("after") as check:
        outcome.after = disk_figures(dk.disk_summary(docker))
        check.message = _figures_line(outcome.after)


def _remove(docker: DockerClient, report: Report, outcome: Outcome, plan: Plan, options: Options, flag: str) -> None:
    with report.step("containers") as check:
        for item in plan.of("container"):
            _record(outcome, item, dk.remove_container(docker, item.id, volumes=options.volumes))
        if plan.of("volume"):
            left = dk.volume_names(docker)  # the engine removed them with their containers, or kept them
            for item in plan.of("volume"):
                kept = item.id in left
                _record(outcome, item, "still there: its container stayed, or another mounts it" if kept else None)
        check.message = _done_line(outcome, ("container", "volume"))
    with report.step("images") as check:
        used_by = {c.image: c.name for c in dk.container_facts(docker)}  # a container may have appeared
        for item in plan.of("image"):
            if item.id in used_by:
                _record(outcome, item, f"used by container {used_by[item.id]}")
                continue
            errors = [e for e in (dk.remove_image(docker, ref) for ref in item.refs) if e]
            _record(outcome, item, "; ".join(errors) or None)
        check.message = _done_line(outcome, ("image",))
    with report.step("build cache") as check:
        output = dk.prune_build_cache(docker, until=options.until, space_flag=flag, keep_bytes=options.keep_storage)
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
        part = f"{_count_of(len(done), kind)} removed ({human(sum(i.size for i in done))})"
        parts.append(part + (f", {len(refused)} kept: {refused[0].why.removeprefix('kept: ')}" if refused else ""))
    return "; ".join(parts)


def _count_of(n: int, kind: str) -> str:
    return f"{n} {kind}{'' if n == 1 else 's'}"


def _describe(options: Options) -> str:
    budget = f"{options.keep_storage_text} ({options.keep_storage} bytes)" if options.keep_storage else "none"
    return (
        f"until {options.until}, keep {options.keep} builds, cache budget {budget}, "
        f"volumes {'yes' if options.volumes else 'no'}{', dry run' if options.dry_run else ''}"
    )


def _figures_line(figures: Mapping[str, Mapping[str, int]]) -> str:
    size = sum(f["size"] for f in figures.values())
    reclaimable = sum(f["reclaimable"] for f in figures.values())
    return f"{human(size)} used, {human(reclaimable)} reclaimable"


def _plan_table(plan: Plan, project: str, *, dry_run: bool) -> str:
    action = "would remove" if dry_run else "remove"
    rows = [(action, i.kind, i.name, human(i.size), i.why) for i in plan.remove]
    rows += [("keep", i.kind, i.name, "", i.why) for i in plan.keep]
    if not rows:
        return f"\nnothing of {project} to remove, no build cache unused for that long"
    total = f"\n{action}: {human(plan.size_of())} (as `docker system df --verbose` counts it)" if plan.remove else ""
    return f"\n{table(('action', 'kind', 'name', 'size', 'why'), rows)}{total}"


def figures_table(outcome: Outcome, *, dry_run: bool) -> str:
    """`docker system df` before and after, what changed, and what the plan frees."""
    reclaimed, planned = outcome.reclaimed(), outcome.planned()
    rows = []
    for name in (*DISK_TYPES, "total"):
        if name == "total":
            before = {k: sum(outcome.before[t][k] for t in DISK_TYPES) for k in ("size", "reclaimable")}
            after = {k: sum(outcome.after[t][k] for t in DISK_TYPES) for k in ("size", "reclaimable")}
        else:
            before, after = outcome.before[name], outcome.after[name]
        rows.append(
            (
                name.replace("_", " "),
                human(before["size"]),
                human(before["reclaimable"]),
                human(after["size"]),
                human(after["reclaimable"]),
                human(reclaimed[name]),
                human(planned.get(name, 0)),
            )
        )
    headers = ("type", "size before", "reclaimable before", "size after", "reclaimable after", "reclaimed")
    return table((*headers, "would free" if dry_run else "planned"), rows)


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


def _write(settings: Settings, report: Report, outcome: Outcome) -> None:
    dry_run = bool(outcome.options and outcome.options.dry_run)
    if outcome.refused:
        rows = [(i.kind, i.name, i.why.removeprefix("kept: ")) for i in outcome.refused]
        print(f"\nkept, the engine refused or they changed meanwhile:\n{table(('kind', 'name', 'why'), rows)}")
    if outcome.before and outcome.after:
        print(f"\n{figures_table(outcome, dry_run=dry_run)}")
        if outcome.cache_pruned is not None:
            print(f"buildx prune reported {human(outcome.cache_pruned)} of build cache freed")
    report.main.properties.update(_properties(outcome))
    plan = outcome.plan
    data = {
        "session": "prune",
        "project": settings.project,
        "dry_run": dry_run,
        "options": {k: v for k, v in asdict(outcome.options).items() if k != "until_delta"} if outcome.options else {},
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
        "report": report_dict(report),
    }
    json_path = write_json(data, settings.reports_dir / "prune.json")
    junit = write_junit(report, settings.reports_dir / "junit-prune.xml")
    print(f"\n{steps_table(report)}\n\nJUnit: {junit}\nJSON: {json_path}")
