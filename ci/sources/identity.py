"""A target's identity: the commit that last changed its inputs (its build context after its ignore rules,
its Dockerfile, its ignore file), and whether the working tree's inputs differ from that commit's. As
Skaffold's inputDigest and Garden's versions: a commit that leaves a target's inputs alone leaves its
identity, so its build args, and so its image, unchanged. The other half of a target's identity, the build args
that shape its image (a base image, an API URL from .env), is the plan's (ci/builds/bake.py,
ci/builds/buildargs.py): it is no commit's, as git holds no .env.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ci.sources.build_context import ignore_file, ignore_patterns, is_ignored, is_pruned
from ci.sources.fingerprint import Fingerprint
from ci.sources.git import Commit, blob_id, changes, read_commit, toplevel, tree_blobs


@dataclass(frozen=True)
class Inputs:
    """Where a target's inputs are (absolute, resolved paths), and the ignore rules that select them."""

    context: Path
    dockerfile: Path
    ignore_file: Path | None
    patterns: tuple[str, ...]

    @classmethod
    def of(cls, context: Path, dockerfile: Path) -> Inputs:
        context, dockerfile = context.resolve(), (context / dockerfile).resolve()
        return cls(context, dockerfile, ignore_file(context, dockerfile), tuple(ignore_patterns(context, dockerfile)))

    def includes(self, path: Path) -> bool:
        """Whether a file at PATH (present or not) is one of the inputs, by the current ignore rules."""
        if path in (self.dockerfile, self.ignore_file):
            return True
        if not path.is_relative_to(self.context):
            return False
        return not is_ignored(path.relative_to(self.context).as_posix(), list(self.patterns))

    def may_hold(self, folder: Path) -> bool:
        """Whether some of the inputs may lie in FOLDER: it is in the context, and not left out whole."""
        if not folder.is_relative_to(self.context):
            return False
        return not is_pruned(folder.relative_to(self.context).as_posix(), list(self.patterns))


def identity(inputs: Inputs, sources: Fingerprint) -> Commit | None:
    """The commit that last changed INPUTS, `dirty` when the tree's inputs (SOURCES, the Dockerfile and the
    ignore file) differ from HEAD's; HEAD itself, dirty, when no commit has them yet; None outside git or
    for inputs outside the work tree."""
    top = toplevel(inputs.context)
    if top is None or not inputs.context.is_relative_to(top):
        return None
    committed = {path: blob for path, blob in tree_blobs(top).items() if inputs.includes(top / path)}
    extra = [p for p in (inputs.dockerfile, inputs.ignore_file) if p is not None and p.is_relative_to(top)]
    # normpath, not resolve: a symlink in the context is an input as a link.
    present = [Path(os.path.normpath(inputs.context / rel)) for rel in sources.files] + [p for p in extra if p.exists()]
    working = {p.relative_to(top).as_posix(): blob_id(p) for p in present}
    dirty = working != committed
    specs = [str(inputs.context), *(str(p) for p in extra)]
    for commit, paths in changes(top, specs):
        if any(inputs.includes(top / path) for path in paths):
            return Commit(commit.short, commit.full, commit.epoch, dirty)
    # Read only here: read_commit asks `git status` of the whole tree, which a target's identity needs not.
    head = read_commit(top)
    return Commit(head.short, head.full, head.epoch, True) if head else None
