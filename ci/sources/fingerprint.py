"""Source fingerprints: a digest of exactly the files of a build context (after .dockerignore) and its
Dockerfile, paths and contents, sorted, as Skaffold's inputDigest but honouring the ignore rules. Baked
into every image and recomputed from the working tree by verify, which names the files that differ."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ci.core.units import short_id
from ci.sources.build_context import input_files


@dataclass(frozen=True)
class Fingerprint:
    digest: str  # "sha256:<hex>"
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256 hex of its content
    size: int = 0  # bytes of all the files: the build context's size

    @property
    def short(self) -> str:
        return short_id(self.digest)


def file_digest(path: Path) -> str:
    # A symlink is sent as a link: its target text is what the build sees, not the file it points at.
    if path.is_symlink():
        return hashlib.sha256(os.readlink(path).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def of_files(files: Mapping[str, str]) -> str:
    total = hashlib.sha256()
    for rel in sorted(files):
        total.update(f"{rel}\0{files[rel]}\n".encode())
    return f"sha256:{total.hexdigest()}"


def fingerprint(context: Path, dockerfile: Path | None = None) -> Fingerprint:
    """The files of CONTEXT after its ignore rules, and DOCKERFILE (relative to CONTEXT) wherever it lies:
    a Dockerfile the ignore rules leave out, or one outside the context, is an input all the same."""
    paths = input_files(context, dockerfile)
    files = {rel: file_digest(context / rel) for rel in paths}
    size = sum((context / rel).lstat().st_size for rel in paths)
    return Fingerprint(of_files(files), files, size)


def changed_files(built: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """What differs between the files a build saw and the tree now: 'modified x', 'added y', 'removed z'."""
    changes = [f"modified {p}" for p in sorted(built.keys() & now.keys()) if built[p] != now[p]]
    changes += [f"added {p}" for p in sorted(now.keys() - built.keys())]
    changes += [f"removed {p}" for p in sorted(built.keys() - now.keys())]
    return changes
