"""What `nox -s prune` removes and keeps, and why: its options, and the plan made from the engine's facts.

Scope is the project's labels: images carry `mainza.project=<project>` (bake's `_common` target), compose
resources `com.docker.compose.project=<project>`. Stopped containers, dangling images and builds beyond the
newest N per service go; with `--volumes`, the anonymous volumes of those containers too. Running
containers, images a container uses, named volumes and anything without the labels stay. Build cache is
shared by nature: it is pruned by age and size. Pure functions: the session gathers the facts and acts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ci import docker as dk
from ci.errors import UsageError
from ci.ids import short_id
from ci.sizes import parse_docker_size, parse_input_size
from ci.versions import BUILDKIT_MAX_USED_SPACE, BUILDX_NEW_SPACE_FLAGS, at_least

DEFAULT_UNTIL = "24h"
DEFAULT_KEEP = "3"
DEFAULT_KEEP_STORAGE = "0"
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


def service_names(project: str, images: Iterable[dk.ImageFacts]) -> list[str]:
    """The services whose builds these are: every local repository `<project>-<service>` that tags one of
    the project's images (the bake file names them so), whatever services the definitions hold today."""
    prefix = f"{project}-"
    repos = {repository(t) for image in images for t in image.tags}
    return sorted(r.removeprefix(prefix) for r in repos if r.startswith(prefix) and "/" not in r)


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
    image_size = _sizes(detail.get("Images", []), "ID", "UniqueSize")

    ours = [c for c in containers if is_ours(c, project)]
    removed = {c.id for c in ours if c.status in dk.STOPPED_STATES}
    for c in ours:
        if c.id in removed:
            plan.remove.append(Item("container", c.id, c.name, container_size.get(c.id, 0), c.status))
        else:
            plan.keep.append(Item("container", c.id, c.name, 0, f"{c.status}: only stopped containers go"))

    volume_size = _sizes(detail.get("Volumes", []), "Name", "Size")
    _plan_volumes(plan, containers, [c for c in ours if c.id in removed], volume_size, options.volumes)
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
        name = ", ".join(sorted(image.tags)) or f"<none> {short_id(image.id)}"
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
