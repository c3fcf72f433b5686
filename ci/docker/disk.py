"""The engine's disk: what each kind of object takes (`docker system df`), what prune counts as garbage,
and the build cache pruned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from ci.core.errors import CiError, DockerFailed
from ci.core.units import parse_docker_size
from ci.docker.engine import Engine, _cli

# Only containers in these states are garbage; "created" may be a compose up about to start it.
STOPPED_STATES = frozenset({"exited", "dead"})
DISK_TYPES = {"Images": "images", "Containers": "containers", "Local Volumes": "volumes", "Build Cache": "build_cache"}


class DiskUse(TypedDict):
    """One row of `docker system df`, in bytes."""

    count: int
    active: int
    size: int
    reclaimable: int


def _count(text: Any) -> int:
    return int(text) if str(text).isdigit() else 0


def disk_figures(rows: Iterable[Mapping[str, Any]]) -> dict[str, DiskUse]:
    """`docker system df --format '{{json .}}'` rows as count, active, size and reclaimable bytes per type."""
    figures = {t: DiskUse(count=0, active=0, size=0, reclaimable=0) for t in DISK_TYPES.values()}
    for row in rows:
        if row.get("Type") in DISK_TYPES:
            figures[DISK_TYPES[row["Type"]]] = DiskUse(
                count=_count(row.get("TotalCount")),
                active=_count(row.get("Active")),
                size=parse_docker_size(row.get("Size")),
                reclaimable=parse_docker_size(row.get("Reclaimable")),
            )
    return figures


# `docker system df` fails when a container goes while the engine lists them ("rw layer snapshot not found for
# container ...", containerd store): someone else's work on a shared engine, so it is asked again.
DF_TRIES = 3
DF_PAUSE = 0.5  # seconds between them: the engine finishes removing it


def _system_df(engine: Engine, *args: str) -> str:
    """`docker system df ARGS` as JSON, asked again while a container going meanwhile fails it."""
    attempt = 1
    while True:
        try:
            return _cli(engine, "system", "df", *args, "--format", "{{json .}}")
        except DockerFailed as err:
            if attempt == DF_TRIES or "not found for container" not in err.stderr:
                raise CiError(f"`{' '.join(('docker system df', *args))}` failed: {err}") from None
        attempt += 1
        time.sleep(DF_PAUSE)


def disk_use(engine: Engine) -> dict[str, DiskUse]:
    """`docker system df` per type (images, containers, volumes, build_cache). Read here, not with
    python-on-whales' disk_free: its parser fails on the negative sizes docker prints while an image is
    being written ("-3.228e+06B") and for images sharing layers in the containerd store."""
    out = _system_df(engine)
    return disk_figures(json.loads(line) for line in out.splitlines() if line.strip().startswith("{"))


def disk_usage_detail(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """`docker system df --verbose`: each image, container, volume and build cache record with its size."""
    detail = json.loads(_system_df(engine, "--verbose"))
    return {key: list(detail.get(key) or []) for key in ("Images", "Containers", "Volumes", "BuildCache")}


def prune_build_cache(engine: Engine, *, until: str | None = None, space_flag: str = "", keep_bytes: int = 0) -> str:
    """`buildx prune` of cache unused for UNTIL (all of it without), down to KEEP_BYTES when not 0;
    returns buildx's output."""
    args = ["buildx", "prune", "--force"] + (["--filter", f"until={until}"] if until else ["--all"])
    if keep_bytes:
        args += [space_flag, str(keep_bytes)]
    try:
        return _cli(engine, *args)
    except DockerFailed as err:
        raise CiError(f"`docker {' '.join(args)}` failed: {err}") from None
