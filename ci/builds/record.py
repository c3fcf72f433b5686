"""The build record, `reports/last-build.json`: what the latest dev or prod build produced, per target,
with the files each image was built from. dev and prod write it; verify reads it. One writer, one reader.

Format 3 (this one) gives each target its own build values (commit, build date, cache bust) and tags, and
the digests of the build args that shaped its image (absent from the records made before them: read as none)
and, once `prod -- --push` pushed it, the reference by digest it was pushed as (`pushed`: none before, or unpushed);
formats 1 and 2 had one set for every target, in `variables`, and read as such. A record this code cannot
read fails with one line saying to rebuild.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ci.core.errors import CiError
from ci.core.report import write_data

FORMAT = 3
FILE = "last-build.json"


@dataclass(frozen=True)
class TargetRecord:
    image: str  # the reference bake tagged
    image_id: str
    source_digest: str  # the fingerprint of the files below, baked into the image's label and build info
    files: dict[str, str] = field(default_factory=dict)  # path in the context -> sha256 of its content
    context: str = "."  # as bake resolved it, relative to the project
    dockerfile: str = "Dockerfile"  # relative to the context
    # What the image says it was built from (its build-info args): the commit that last changed the
    # target's inputs, `-dirty` when the tree's differ from it.
    git_commit: str = "unknown"
    build_date: str = ""
    cache_bust: str = ""
    tags: tuple[str, ...] = ()  # every tag bake gave the image
    # The build args that shaped it (all but the build-info ones): their digest, the image's label
    # mainza.build-args, and each by name -> the sha256 of its value (never the value: it may be a token).
    build_args_digest: str = ""
    build_args: dict[str, str] = field(default_factory=dict)
    # Where `prod -- --push` published it, by digest: `REGISTRY/NAME@sha256:...`, the index bake wrote
    # (its metadata's containerimage.digest) that a deploy step pulls and cosign signs; "" unpushed.
    pushed: str = ""


@dataclass(frozen=True)
class BuildRecord:
    profile: str  # dev | prod
    project: str
    tag: str
    finished: str  # ISO 8601 UTC
    variables: dict[str, str]  # the bake variables it was built with; GIT_COMMIT: the whole tree's commit
    targets: dict[str, TargetRecord]
    # Per target, the build this one replaced (what ran before it): what a rollback brings back (ci/stack/rollback.py).
    previous: dict[str, TargetRecord] = field(default_factory=dict)

    def expected(self, target: str) -> dict[str, str]:
        """What TARGET's running service must report about its build."""
        t = self.targets[target]
        return {
            "git_commit": t.git_commit,
            "build_date": t.build_date,
            "cache_bust": t.cache_bust,
            "source_digest": t.source_digest,
        }

    @property
    def commit(self) -> str:
        """The whole tree's commit the build was made from."""
        return self.variables.get("GIT_COMMIT", "unknown")

    @property
    def what(self) -> str:
        """`the latest build (prod 1a2b3c4, <when>)`; a dev build's tag is `dev`, said once."""
        tag = "" if self.tag == self.profile else f" {self.tag}"
        return f"the latest build ({self.profile}{tag}, {self.finished})"


def replaced_targets(earlier: BuildRecord | None, targets: dict[str, TargetRecord]) -> dict[str, TargetRecord]:
    """Per target of TARGETS, the build it replaces: EARLIER's when its image differs, else the one EARLIER
    replaced (an unchanged image replaces nothing)."""
    if earlier is None:
        return {}
    found = {name: t for name, t in earlier.previous.items() if name in targets}
    for name, target in targets.items():
        old = earlier.targets.get(name)
        if old is not None and old.image_id != target.image_id:
            found[name] = old
    return found


def with_pushed(record: BuildRecord, pushed: dict[str, str]) -> BuildRecord:
    """RECORD with each target of PUSHED (target -> its reference by digest) marked pushed there."""
    targets = {name: replace(t, pushed=pushed.get(name, t.pushed)) for name, t in record.targets.items()}
    return replace(record, targets=targets)


def write_record(record: BuildRecord, reports_dir: Path) -> Path:
    """The record, whole or not at all: a reader never finds half of one."""
    return write_data({"format": FORMAT, **asdict(record)}, reports_dir / FILE)


def _target(t: dict[str, Any], variables: dict[str, str]) -> TargetRecord:
    """A target of any format: before 3, its build values are the build's, in VARIABLES."""
    return TargetRecord(
        t["image"],
        t["image_id"],
        t["source_digest"],
        dict(t.get("files") or {}),
        t.get("context", "."),
        t.get("dockerfile", "Dockerfile"),
        t.get("git_commit", variables["GIT_COMMIT"]),
        t.get("build_date", variables["BUILD_DATE"]),
        t.get("cache_bust", variables["CACHE_BUST"]),
        tuple(t.get("tags") or (t["image"],)),
        str(t.get("build_args_digest") or ""),  # none before the build args were recorded
        {str(k): str(v) for k, v in (t.get("build_args") or {}).items()},
        str(t.get("pushed") or ""),  # none before pushes were recorded
    )


def read_record(reports_dir: Path, project: str) -> BuildRecord | None:
    """The latest build of PROJECT; None when there is none (or the file is another project's)."""
    path = reports_dir / FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise CiError(f"{path} is unreadable ({err}): rebuild with `nox -s dev` or `nox -s prod`") from None
    if data.get("project") != project:
        return None
    try:
        if int(data.get("format", 1)) > FORMAT:
            raise ValueError(f"format {data['format']} is newer than this code's {FORMAT}")
        variables = dict(data["variables"])
        targets = {name: _target(t, variables) for name, t in data["targets"].items()}
        previous = {name: _target(t, variables) for name, t in (data.get("previous") or {}).items()}
        return BuildRecord(data["profile"], project, data["tag"], data["finished"], variables, targets, previous)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CiError(
            f"{path} is not a build record this version reads ({type(err).__name__}: {err}): "
            "rebuild with `nox -s dev` or `nox -s prod`"
        ) from None
