"""Git, as a plain subprocess: the commit a build is made from, and throwaway copies of the working tree
(benchmarks, tests) in a repository of their own."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@dataclass(frozen=True)
class Commit:
    short: str
    full: str
    epoch: int  # commit time, epoch seconds
    dirty: bool  # uncommitted changes in the tree

    @property
    def label(self) -> str:
        """What the images say they are built from: never the bare commit when the tree differs from it."""
        return f"{self.short}-dirty" if self.dirty else self.short


def read_commit(root: Path) -> Commit | None:
    """HEAD and whether the tree has uncommitted changes; None outside a git checkout."""
    try:
        full, epoch = git(root, "log", "-1", "--format=%H %ct").split()
        return Commit(full[:7], full, int(epoch), bool(git(root, "status", "--porcelain")))
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None


def commit_label(root: Path) -> str:
    """Short HEAD, with `-dirty` when the tree has uncommitted changes; `unknown` outside git."""
    commit = read_commit(root)
    return commit.label if commit else "unknown"


def tracked_files(root: Path) -> set[str] | None:
    """Files git tracks under ROOT, relative to it; None outside a git work tree."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {p for p in out.decode(errors="replace").split("\0") if p}


def copy_worktree(src: Path, dest: Path, message: str = "copy of the working tree") -> str:
    """Copy SRC's tracked and untracked-but-not-ignored files, as they are now, into DEST, make DEST a git
    repository with one commit of them, and return that commit's short hash."""
    for rel in git(src, "ls-files", "--cached", "--others", "--exclude-standard").splitlines():
        path = src / rel
        if path.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    git(dest, "init", "-q")
    git(dest, "config", "user.email", "mainza@localhost")
    git(dest, "config", "user.name", "mainza")
    return commit_all(dest, message)


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "--short=7", "HEAD")
