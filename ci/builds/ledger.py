"""The ledger of the images the project's builds made, `reports/built-images.json`: per project, each image a
dev, prod or watch build produced, with its target, the build's TAG and the tags bake gave it. Written where
the build record is (ci/builds/finished.py), read by what removes images (dev's clean step, prune: ci/prune/plan.py).

It, and not the label `mainza.project`, says that the project built an image: an image built FROM one of the
project's inherits that label, and is someone else's. Losing the file loses no one's image: a build it does
not list is never removed by its id, only by its name (cleanup.Ownership), and a dangling one stays.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ci.builds.record import BuildRecord
from ci.core.errors import CiError
from ci.core.report import write_data

FILE = "built-images.json"
FORMAT = 1
# Entries kept per project, the newest: about a year of builds of two targets at a few dozen builds a day,
# under a megabyte. An image older than that is then removed by its name only, never lost by it.
LIMIT = 20_000


@dataclass(frozen=True)
class Built:
    """An image a build of the project produced."""

    image_id: str
    target: str
    tag: str  # the build's TAG: dev for dev's and watch's builds, the tree's commit for prod's
    tags: tuple[str, ...]  # every tag the build gave it
    built: str  # when the build finished, ISO 8601 UTC


def builds_of(record: BuildRecord) -> list[Built]:
    """The images of a build record's targets, as its build left them."""
    return [Built(t.image_id, name, record.tag, t.tags, record.finished) for name, t in record.targets.items()]


def _read(path: Path) -> dict[str, Any]:
    """The whole file, every project's; empty when there is none."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise CiError(
            f"{path} is unreadable ({err}): delete it (the next build starts a new one; until then no "
            "dangling image is removed)"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("projects"), dict) or data.get("format") != FORMAT:
        raise CiError(f"{path} is not a ledger of built images this version reads: delete it")
    return data


def read_ledger(reports_dir: Path, project: str) -> list[Built]:
    """What PROJECT's builds made, oldest first; none when there is no ledger."""
    path = reports_dir / FILE
    entries = _read(path).get("projects", {}).get(project, [])
    try:
        return [
            Built(str(e["image_id"]), str(e["target"]), str(e["tag"]), tuple(map(str, e["tags"])), str(e["built"]))
            for e in entries
        ]
    except (KeyError, TypeError, AttributeError) as err:
        raise CiError(f"{path} is not a ledger of built images this version reads ({err}): delete it") from None


def _update(reports_dir: Path, project: str, entries: list[Built]) -> None:
    """PROJECT's entries replaced by ENTRIES (the newest LIMIT), the other projects' kept."""
    path = reports_dir / FILE
    try:
        data = _read(path)
    except CiError:
        data = {}  # unreadable: a new one (what it listed is then removed by name only)
    projects: dict[str, Any] = data.get("projects", {})
    projects[project] = [asdict(e) for e in entries[-LIMIT:]]
    write_data({"format": FORMAT, "projects": projects}, path, private=True)


def record_builds(reports_dir: Path, project: str, builds: Iterable[Built]) -> None:
    """Add BUILDS to PROJECT's ledger (an image listed again moves to the end, with its newest tags). Read and
    written back at once, under the project's lock (ci/core/lock.py: one build of a project at a time)."""
    new = {(b.image_id, b.target): b for b in builds if b.image_id}
    try:
        old = read_ledger(reports_dir, project)
    except CiError:
        old = []
    _update(reports_dir, project, [e for e in old if (e.image_id, e.target) not in new] + list(new.values()))


def forget(reports_dir: Path, project: str, image_ids: Collection[str]) -> None:
    """Drop the entries of IMAGE_IDS (images gone from the engine) from PROJECT's ledger."""
    if not image_ids:
        return
    old = read_ledger(reports_dir, project)
    kept = [e for e in old if e.image_id not in image_ids]
    if len(kept) != len(old):
        _update(reports_dir, project, kept)
