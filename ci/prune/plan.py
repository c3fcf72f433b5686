"""What `nox -s prune` removes and keeps, and why: its plan, made from the engine's facts with its options, of
what is the project's (`Ownership`, ci/stack/owned.py, which dev's clean step uses too).

Scope is what the project made, never a label: the label `mainza.project` that bake gives every image is
inherited by an image someone builds FROM one of the project's. An image is the project's when its builds
made it (the ledger of built images, the build record) or when every tag it has is in the project's own
repositories; a dangling one only by the ledger. A container is the project's when compose made it for the
project (its compose project label); one run by hand is its owner's, whatever image it runs. Stopped
containers, dangling images and builds beyond the newest N per service go; with `--volumes`, the anonymous
volumes of those containers too. Running containers, images a container uses, named volumes and anything
else stay. Build cache is the engine's, every project's: BuildKit's records name no project, so it is pruned
by age (at least MIN_UNTIL) and size, and said to be engine-wide. Pure functions: the sessions gather the
facts and act.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ci import docker as dk
from ci.core.errors import UsageError
from ci.core.terminal import plural
from ci.core.units import parse_docker_size, parse_input_size, short_id
from ci.core.versions import BUILDKIT_MAX_USED_SPACE, BUILDX_NEW_SPACE_FLAGS, at_least
from ci.stack.owned import Item, Ownership, image_refs

DEFAULT_UNTIL = "24h"
# The shortest --until: a record counts as in use only while a build holds it, so a prune of records unused for
# seconds can take one another build on the engine is about to use (`failed to solve: not found`). An hour is
# longer than any build here (the heavy bench's cold build: 224 s) and short enough for an hourly schedule.
MIN_UNTIL = "1h"
# Whose build cache prune's step takes: every project's. BuildKit's records carry no label, and the filters
# `buildx prune` passes it (id, parents, description, type, inuse, shared/private, mutable; 0.13.1 to 0.29.1)
# select none by who built it: a description is a step's command, the same for anyone building it.
CACHE_SCOPE = "engine-wide"
# Cache records a prune without --all never takes (BuildKit's own rule, with records shared with images).
KEPT_CACHE_TYPES = frozenset({"internal", "frontend"})


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


def parse_duration(raw: str, option: str = "--until") -> timedelta:
    """A Go duration in hours, minutes and seconds (`24h`, `90m`, `1h30m`, `30s`), more than zero:
    buildx reads 0 as "no age filter", which would prune everything unused."""
    text = raw.strip()
    seconds = sum(float(n) * _SECONDS[u] for n, u in _DURATION_PART.findall(text)) if _DURATION.fullmatch(text) else 0
    if seconds <= 0:
        raise UsageError(
            f"{option} {raw!r} is not a duration: give hours, minutes or seconds as Go writes them, "
            "more than zero, e.g. 24h, 90m, 1h30m, 30s"
        )
    return timedelta(seconds=seconds)


def parse_until(raw: str) -> timedelta:
    """--until: a duration (parse_duration's forms), at least MIN_UNTIL: the build cache is the whole engine's."""
    forms = f"give hours, minutes or seconds as Go writes them, {MIN_UNTIL} or more, e.g. 24h, 90m, 1h30m"
    try:
        until = parse_duration(raw)
    except UsageError:
        raise UsageError(f"--until {raw!r} is not a duration: {forms}") from None
    if until < parse_duration(MIN_UNTIL):
        raise UsageError(
            f"--until {raw!r} is shorter than the floor of {MIN_UNTIL}: the build cache is the whole engine's, "
            f"and records unused for less may be about to serve another build (it then fails); {forms}"
        )
    return until


def parse_size(raw: str) -> int:
    """Bytes, or a number with a unit as docker reads it (`512MB`, `10GB`, `1.5g`; 1k = 1024)."""
    size = parse_input_size(raw)
    if size is None:
        raise UsageError(
            f"--keep-storage {raw!r} is not a size: give bytes (0, 1048576) or a number with a unit "
            "k, m, g or t as docker reads them (512MB, 10GB, 1.5g; 1k = 1024 bytes)"
        )
    return size


def parse_keep(raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) < 1:
        raise UsageError(f"--keep {raw!r} is not a number of builds: give a whole number, 1 or more (default 3)")
    return int(raw)


def space_flag(buildx_version: str, buildkit_version: str | None) -> str:
    """The `buildx prune` flag for a size budget: the newest this buildx and builder understand."""
    if not at_least(buildx_version, BUILDX_NEW_SPACE_FLAGS):
        return "--keep-storage"
    if at_least(buildkit_version, BUILDKIT_MAX_USED_SPACE):
        return "--max-used-space"
    return "--reserved-space"  # the same budget (BuildKit's old keep-bytes), understood by older builders


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
    return parse_docker_size(match.group(1)) if match else None


# --- the plan ---------------------------------------------------------------------------------------


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


def cache_records(rows: Iterable[Mapping[str, Any]]) -> list[CacheRecord]:
    """Build cache records from `docker system df --verbose`."""
    return [
        CacheRecord(
            id=str(r.get("ID", "")),
            type=str(r.get("CacheType", "")),
            in_use=str(r.get("InUse", "")).lower() == "true",
            shared=str(r.get("Shared", "")).lower() == "true",
            last_used=parse_go_time(r.get("LastUsedAt")),
            size=parse_docker_size(r.get("Size")),
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
    return {str(r.get(key)): parse_docker_size(r.get(size)) for r in rows}


def make_plan(
    owner: Ownership,
    containers: Sequence[dk.ContainerFacts],
    images: Sequence[dk.ImageFacts],
    detail: Mapping[str, list[dict[str, Any]]],
    options: Options,
    now: datetime,
) -> Plan:
    """What goes and what stays, and why. CONTAINERS and IMAGES are all the engine's, OWNER says which are the
    project's; DETAIL is `docker system df --verbose` (sizes as docker counts what removing each frees)."""
    plan = Plan()
    container_size = _sizes(detail.get("Containers", []), "ID", "Size")
    image_size = _sizes(detail.get("Images", []), "ID", "UniqueSize")

    ours = [c for c in containers if owner.owns_container(c)]
    removed = {c.id for c in ours if c.status in dk.STOPPED_STATES}
    for c in ours:
        if c.id in removed:
            plan.remove.append(Item("container", c.id, c.name, container_size.get(c.id, 0), c.status))
        else:
            plan.keep.append(Item("container", c.id, c.name, 0, f"{c.status}: only stopped containers go"))
    owned = {i.id for i in images if owner.owns(i)} | owner.built
    for c in containers:  # run by hand from one of the project's images, or one that inherited its label
        if c.labels.get(dk.COMPOSE_PROJECT_LABEL) is None and (c.image in owned or owner.labelled(c.labels)):
            plan.keep.append(Item("container", c.id, c.name, 0, "run outside compose: its owner's, never the suite's"))

    volume_size = _sizes(detail.get("Volumes", []), "Name", "Size")
    _plan_volumes(plan, containers, [c for c in ours if c.id in removed], volume_size, options.volumes)
    _plan_images(plan, owner, containers, removed, images, image_size, options.keep)
    plan.cache = select_cache(
        cache_records(detail.get("BuildCache", [])), now, options.until_delta, options.keep_storage
    )
    if plan.cache:
        budget = f", while the cache exceeds {options.keep_storage_text}" if options.keep_storage else ""
        plan.remove.append(
            Item(
                "build cache",
                "",
                f"{plural(len(plan.cache), 'record')}, {CACHE_SCOPE}",
                sum(r.size for r in plan.cache),
                f"unused for {options.until}{budget}; every project's (BuildKit's records name none)",
            )
        )
    return plan


def _plan_volumes(
    plan: Plan,
    containers: Sequence[dk.ContainerFacts],
    removed: Sequence[dk.ContainerFacts],
    volume_size: Mapping[str, int],
    with_volumes: bool,
) -> None:
    """Anonymous volumes of the REMOVED containers (with --volumes), unless a container that stays mounts
    them too."""
    gone = {c.id for c in removed}
    mounted_elsewhere = {v: c.name for c in containers if c.id not in gone for v in c.volumes}
    seen: set[str] = set()
    for c in removed:
        for volume in (v for v in c.anonymous_volumes if v not in seen):
            seen.add(volume)
            item = Item("volume", volume, volume[:12], volume_size.get(volume, 0), f"anonymous volume of {c.name}")
            if volume in mounted_elsewhere:
                item.why = f"anonymous volume of {c.name}, also mounted by {mounted_elsewhere[volume]}"
                plan.keep.append(item)
            elif not with_volumes:
                item.why = f"anonymous volume of {c.name}: removed only with --volumes"
                plan.keep.append(item)
            else:
                plan.remove.append(item)


def _plan_images(
    plan: Plan,
    owner: Ownership,
    containers: Sequence[dk.ContainerFacts],
    removed_containers: set[str],
    images: Sequence[dk.ImageFacts],
    image_size: Mapping[str, int],
    keep: int,
) -> None:
    """The project's dangling images, and its builds beyond the newest KEEP per service; never one a
    container uses (but the stopped containers this plan removes), nor one also tagged by another name.
    An image that only carries the project's label is listed as kept, and why."""
    used_by = {c.image: c.name for c in containers if c.id not in removed_containers}
    ours = [i for i in images if owner.owns(i)]
    builds: dict[str, list[dk.ImageFacts]] = {}
    for image in ours:
        for service in sorted({s for s in map(owner.service, image.tags) if s}):
            builds.setdefault(service, []).append(image)
    newest: dict[str, str] = {}  # image id -> why it is kept
    rank: dict[str, str] = {}  # image id -> its place among its service's builds
    for service, found in builds.items():
        found.sort(key=lambda i: i.created, reverse=True)
        for n, image in enumerate(found, 1):
            if n <= keep:
                newest[image.id] = f"newest {keep} builds of {service}"
            else:
                rank.setdefault(image.id, f"build {n} of {service}, newest first (keeping {keep})")

    for image in sorted(ours, key=lambda i: i.created, reverse=True):
        name = ", ".join(sorted(image.tags)) or f"<none> {short_id(image.id)}"
        item = Item("image", image.id, name, image_size.get(image.id, 0), "dangling")
        foreign = owner.foreign_tags(image)
        if image.id in used_by:
            item.why = f"used by container {used_by[image.id]}"
        elif image.id in newest:
            item.why = newest[image.id]
        elif foreign:
            names = ", ".join(foreign)
            item.why = (
                f"named only {names} by now: theirs" if len(foreign) == len(image.tags) else f"also tagged {names}"
            )
        else:
            item.why = rank.get(image.id, "dangling")
            item.refs = image_refs(image, owner)
            plan.remove.append(item)
            continue
        item.size = 0
        plan.keep.append(item)
    for image in (i for i in images if owner.labelled(i.labels) and not owner.owns(i)):
        name = ", ".join(sorted(image.tags)) or f"<none> {short_id(image.id)}"
        why = f"carries {owner.project}'s label, not its build (none in its ledger, named outside its repositories)"
        plan.keep.append(Item("image", image.id, name, 0, why))
