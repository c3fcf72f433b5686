"""A target's inputs at a commit and down its history, from git's objects alone: no checkout, no build, no
build record, no engine (a deploy job's fresh clone is enough).

At a commit, the inputs are the files of its tree that the target's ignore file (as that commit has it)
lets into the context, and its Dockerfile: their fingerprint is the one a build of that commit bakes into
its image (ci/sources/fingerprint.py, computed there from the files on disk). Down the history, each commit that
changed them gives an older state, newest first, so that a fingerprint seen elsewhere (a deployed service)
is placed: that of the commit, of an older one (and by how many commits), or of none.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ci.sources.build_context import IGNORE_FILE, is_ignored, parse_ignore_file
from ci.sources.fingerprint import Fingerprint, of_files
from ci.sources.git import Commit, blob_sha256, changes, git, tree_blobs

HISTORY_LIMIT = 200  # commits that changed a target's inputs, searched for a fingerprint


@dataclass(frozen=True)
class TargetFiles:
    """Where a target's inputs lie in the repository: its context and Dockerfile, relative to the work
    tree's top (slash-separated; "." for the top itself)."""

    context: str
    dockerfile: str

    @classmethod
    def of(cls, top: Path, context: Path, dockerfile: Path) -> TargetFiles:
        """From a context and a Dockerfile (relative to the context) on disk, inside the work tree TOP."""
        top = top.resolve()
        absolute = (context / dockerfile).resolve()
        return cls(
            Path(os.path.relpath(context.resolve(), top)).as_posix(),
            Path(os.path.relpath(absolute, top)).as_posix(),
        )

    def in_context(self, path: str) -> str | None:
        """PATH (relative to the top) relative to the context; None when it lies outside."""
        if self.context == ".":
            return path
        return path[len(self.context) + 1 :] if path.startswith(self.context + "/") else None

    def ignore_file(self, tree: dict[str, str]) -> str | None:
        """The ignore file in effect in TREE: `<Dockerfile>.dockerignore` beside the Dockerfile, else the
        context's `.dockerignore` (as ci/context.ignore_file on disk)."""
        specific = self.dockerfile + IGNORE_FILE
        default = posixpath.normpath(posixpath.join(self.context, IGNORE_FILE))
        return next((p for p in (specific, default) if p in tree), None)


@dataclass(frozen=True)
class State:
    """The target's inputs as one commit has them."""

    commit: Commit  # the commit that made this state: the last one to change the inputs
    sources: Fingerprint


class Repository:
    """A git work tree's objects, with the sha256 of each blob read once however many commits share it."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self._sha256: dict[str, str] = {}

    def text(self, blob: str) -> str:
        return git(self.top, "cat-file", "blob", blob)

    def sources(self, ref: str, target: TargetFiles) -> Fingerprint:
        """The fingerprint of TARGET's inputs in REF's tree: the files its ignore rules let in, and its
        Dockerfile, keyed by their path in the context, as ci/fingerprint.fingerprint gives them."""
        tree = tree_blobs(self.top, ref)
        ignore = target.ignore_file(tree)
        patterns = parse_ignore_file(self.text(tree[ignore])) if ignore else []
        chosen: dict[str, str] = {}
        for path, blob in tree.items():
            rel = target.in_context(path)
            if rel is not None and not is_ignored(rel, patterns):
                chosen[rel] = blob
        if target.dockerfile in tree:
            rel = posixpath.relpath(target.dockerfile, target.context)
            chosen.setdefault(rel, tree[target.dockerfile])
        self._sha256 |= blob_sha256(self.top, (b for b in chosen.values() if b not in self._sha256))
        files = {rel: self._sha256[blob] for rel, blob in chosen.items()}
        return Fingerprint(of_files(files), files)

    def states(self, ref: str, target: TargetFiles, limit: int = HISTORY_LIMIT) -> Iterator[State]:
        """TARGET's inputs down REF's first-parent history, newest first: REF's own state (made by the last
        commit to change them, REF's identity), then the state before each earlier change, LIMIT at most."""
        tree = tree_blobs(self.top, ref)
        ignore = target.ignore_file(tree)
        patterns = parse_ignore_file(self.text(tree[ignore])) if ignore else []

        def is_input(path: str) -> bool:
            if path in (target.dockerfile, ignore):
                return True
            rel = target.in_context(path)
            return rel is not None and not is_ignored(rel, patterns)

        specs = list(dict.fromkeys([target.context, target.dockerfile, *([ignore] if ignore else [])]))
        count = 0
        for commit, paths in changes(self.top, [str(self.top / s) for s in specs], ref):
            if any(is_input(p) for p in paths):
                yield State(commit, self.sources(commit.full, target))
                count += 1
                if count >= limit:
                    return
