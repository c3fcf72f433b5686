"""Throwaway copies of the working tree (benchmarks, tests): what git would see, in a repo of its own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


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
