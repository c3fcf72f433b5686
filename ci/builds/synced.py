"""The sync record, `reports/last-sync.json`: each service whose running container watch synced from the tree
(ci/watch/sync.py) and proved, onto which image, from which tree. A synced container no longer runs its
image's tree: verify reads this record to say so (and passes only while the container is still at the tree:
ci/watch/synced.py), watch to know at its start that a service is not stale.

A service's entry holds only for the container it names: a container recreated (a rebuild, dev, `verify --
--up`, `docker compose up --force-recreate`) runs its image again, and the entry no longer speaks of it;
`starting.replace` clears the entries of the services it recreates. Written whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ci.core.report import write_data
from ci.core.terminal import plural

FORMAT = 1
FILE = "last-sync.json"


@dataclass(frozen=True)
class SyncedRule:
    """A sync rule of the service as the sync followed it: its path in the tree and its target in the container."""

    path: str  # relative to the project
    target: str  # absolute, in the container
    ignore: tuple[str, ...] = ()  # relative to the project, as ci/stack/develop.py keeps them
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSync:
    """A service's container brought to the tree by syncs onto its image, the last one proven at PROVEN."""

    container: str  # the container's id: the entry speaks of it alone
    image: str  # the image id it runs (built from an earlier tree)
    tree_digest: str  # the fingerprint of its target's inputs at the last sync (ci/sources/fingerprint.py)
    proven: str  # ISO 8601 UTC
    rules: tuple[SyncedRule, ...]
    files: tuple[str, ...] = ()  # every container path synced onto the image, sorted
    deleted: tuple[str, ...] = ()  # every container path deleted from it, sorted

    def line(self) -> str:
        """`2 files, 1 deleted, proven at 2026-12-07T09:20:00Z`: what verify and watch say of the sync."""
        return ", ".join([plural(len(self.files), "file"), *([f"{len(self.deleted)} deleted"] * bool(self.deleted)),
                          f"proven at {self.proven}"])  # fmt: skip


@dataclass(frozen=True)
class SyncRecord:
    project: str
    services: dict[str, ServiceSync] = field(default_factory=dict)

    def of(self, service: str, container: str) -> ServiceSync | None:
        """SERVICE's entry when it speaks of CONTAINER (an id), else None."""
        found = self.services.get(service)
        return found if found is not None and found.container == container else None


def merged(earlier: ServiceSync | None, now: ServiceSync) -> ServiceSync:
    """NOW's sync added to the EARLIER ones onto the same container: the files synced and deleted since its image."""
    if earlier is None or earlier.container != now.container:
        return now
    files = set(earlier.files) - set(now.deleted) | set(now.files)
    deleted = set(earlier.deleted) - set(now.files) | set(now.deleted)
    return replace(now, files=tuple(sorted(files)), deleted=tuple(sorted(deleted)))


def read_synced(reports_dir: Path, project: str) -> SyncRecord:
    """PROJECT's sync record; an empty one when there is none, it is another project's, or it does not read
    (a record that cannot be read proves no sync: the containers are held to their images)."""
    try:
        data: dict[str, Any] = json.loads((reports_dir / FILE).read_text())
        if data.get("project") != project or int(data.get("format", 0)) != FORMAT:
            return SyncRecord(project)
        return SyncRecord(project, {str(name): _service(s) for name, s in data["services"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return SyncRecord(project)


def _service(raw: dict[str, Any]) -> ServiceSync:
    rules = tuple(
        SyncedRule(str(r["path"]), str(r["target"]), tuple(r.get("ignore") or ()), tuple(r.get("include") or ()))
        for r in raw["rules"]
    )
    return ServiceSync(
        str(raw["container"]),
        str(raw["image"]),
        str(raw["tree_digest"]),
        str(raw["proven"]),
        rules,
        tuple(str(f) for f in raw.get("files") or ()),
        tuple(str(f) for f in raw.get("deleted") or ()),
    )


def write_synced(record: SyncRecord, reports_dir: Path) -> Path:
    return write_data({"format": FORMAT, **asdict(record)}, reports_dir / FILE)


def record_sync(reports_dir: Path, project: str, service: str, sync: ServiceSync) -> ServiceSync:
    """SYNC of SERVICE added to the record (merged with the earlier syncs onto its container); the entry kept."""
    record = read_synced(reports_dir, project)
    entry = merged(record.services.get(service), sync)
    write_synced(SyncRecord(project, {**record.services, service: entry}), reports_dir)
    return entry


def clear_synced(reports_dir: Path, project: str, services: Iterable[str]) -> None:
    """The entries of SERVICES removed (their containers recreated from their images); no file, no write."""
    record = read_synced(reports_dir, project)
    left = {name: s for name, s in record.services.items() if name not in set(services)}
    if len(left) != len(record.services):
        write_synced(SyncRecord(project, left), reports_dir)
