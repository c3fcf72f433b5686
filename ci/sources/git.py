"""Git, as a plain subprocess: the commit a build is made from, the history and blobs that tell which
commit last changed a target's inputs, and throwaway copies of the working tree (benchmarks, tests)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@dataclass(frozen=True)
class Commit:
    short: str
    full: str
    epoch: int  # commit time, epoch seconds
    dirty: bool  # uncommitted changes in the tree
    subject: str = ""  # the first line of its message, where it was read

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


def toplevel(root: Path) -> Path | None:
    """The work tree ROOT belongs to; None outside git."""
    try:
        return Path(git(root, "rev-parse", "--show-toplevel"))
    except (OSError, subprocess.CalledProcessError):
        return None


def unborn(root: Path) -> bool:
    """Whether ROOT is in a git work tree that has no commit yet (`git init`, nothing committed)."""
    if toplevel(root) is None:
        return False
    try:
        git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except (OSError, subprocess.CalledProcessError):
        return True
    return False


def current_branch(root: Path) -> str | None:
    """The checked-out branch; None outside git or on a detached HEAD."""
    try:  # symbolic-ref, not rev-parse: a branch with no commit yet is still checked out
        return git(root, "symbolic-ref", "--quiet", "--short", "HEAD") or None
    except (OSError, subprocess.CalledProcessError):
        return None


def tree_blobs(top: Path, ref: str = "HEAD") -> dict[str, str]:
    """Every file (and symlink) of REF's tree, relative to the work tree TOP, with its blob id; empty
    without such a commit. Submodules are not files of the tree."""
    try:
        out = subprocess.run(
            ["git", "ls-tree", "-r", "-z", "--full-tree", ref], cwd=top, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    blobs = {}
    for entry in os.fsdecode(out).split("\0"):
        meta, tab, path = entry.partition("\t")
        if tab and meta.split()[1] == "blob":
            blobs[path] = meta.split()[2]
    return blobs


def blob_sha256(top: Path, blobs: Iterable[str]) -> dict[str, str]:
    """The sha256 of each blob's content (a symlink's: its target text), read in one `git cat-file --batch`:
    what a source fingerprint takes of a file, from git's objects alone."""
    wanted = list(dict.fromkeys(blobs))
    if not wanted:
        return {}
    proc = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=top, input="".join(f"{b}\n" for b in wanted).encode(),
        capture_output=True, check=True,
    )  # fmt: skip
    found, out, at = {}, proc.stdout, 0
    for blob in wanted:
        header_end = out.index(b"\n", at)
        size = int(out[at:header_end].split()[2])
        found[blob] = hashlib.sha256(out[header_end + 1 : header_end + 1 + size]).hexdigest()
        at = header_end + 1 + size + 1
    return found


def resolve_commit(top: Path, ref: str) -> Commit | None:
    """The commit REF names (a hash, a branch, a tag, HEAD~2), with its subject; None when it names none."""
    try:
        # --end-of-options: a REF such as `--output=FILE` is a name to look up, never an option of git's.
        full = git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        _, epoch, subject = git(top, "log", "-1", "--format=%H %ct %s", full, "--").split(" ", 2)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None
    return Commit(full[:7], full, int(epoch), False, subject)


def is_shallow(top: Path) -> bool:
    """A shallow clone (`--depth N`): its history stops short of the first commit."""
    try:
        return git(top, "rev-parse", "--is-shallow-repository") == "true"
    except (OSError, subprocess.CalledProcessError):
        return False


def blob_id(path: Path) -> str:
    """The id git gives PATH's content (a symlink: its target text), to compare the tree with HEAD's."""
    data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def changes(top: Path, pathspecs: list[str], ref: str = "HEAD") -> Iterator[tuple[Commit, list[str]]]:
    """The commits of REF's first-parent history that touch PATHSPECS (literal paths, no globs), newest first,
    each with the paths it changed (relative to TOP; a merge against its first parent; a rename as a removal
    and an addition). Read with `-z`, so that any file name comes as it is: a name git would quote (a `"`,
    a tab, a newline, a control character) is a change like any other."""
    # Each commit starts with an empty field (a NUL before its header): no file name is empty.
    cmd = ["git", "--literal-pathspecs", "log", "-z", "--first-parent", "-m", "--no-renames", "--name-only"]
    cmd += ["--format=%x00%H %ct %s", "--end-of-options", ref, "--", *pathspecs]
    with subprocess.Popen(cmd, cwd=top, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        commit: Commit | None = None
        paths: list[str] = []
        header_next = first_path = False
        for field in _nul_fields(proc.stdout):
            if header_next:
                full, epoch, subject = ([*os.fsdecode(field).split(" ", 2), ""])[:3]
                commit, paths = Commit(full[:7], full, int(epoch), False, subject), []
                header_next, first_path = False, True
            elif not field:
                if commit is not None:
                    yield commit, paths
                    commit = None
                header_next = True
            else:
                # The names follow the header after one newline.
                paths.append(os.fsdecode(field[1:] if first_path and field.startswith(b"\n") else field))
                first_path = False
        if commit is not None:
            yield commit, paths


def _nul_fields(stream: IO[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    """The NUL-separated fields of STREAM as they come (the text after the last NUL too, when not empty):
    read as git writes them, so that a caller that stops early stops git early."""
    pending = b""
    while block := os.read(stream.fileno(), chunk):
        *fields, pending = (pending + block).split(b"\0")
        yield from fields
    if pending:
        yield pending


def commit_label(root: Path) -> str:
    """Short HEAD, with `-dirty` when the tree has uncommitted changes; `unknown` outside git."""
    commit = read_commit(root)
    return commit.label if commit else "unknown"


def tracked_files(root: Path) -> set[str] | None:
    """Files git tracks under ROOT, relative to it; None outside a git work tree."""
    try:
        return set(listed_files(root))
    except (OSError, subprocess.CalledProcessError):
        return None


def listed_files(root: Path, *options: str) -> list[str]:
    """`git ls-files OPTIONS` under ROOT, each name as it is (`-z`: none quoted), relative to ROOT."""
    out = subprocess.run(["git", "ls-files", "-z", *options], cwd=root, capture_output=True, check=True).stdout
    return [p for p in os.fsdecode(out).split("\0") if p]


def copy_worktree(
    src: Path,
    dest: Path,
    message: str = "copy of the working tree",
    keep: Callable[[str], bool] = lambda rel: True,
    overlay: Path | None = None,
) -> str:
    """Copy SRC's tracked and untracked-but-not-ignored files that KEEP accepts (by relative path), as they
    are now, into DEST, then OVERLAY's files over them, make DEST a git repository with one commit of them,
    and return that commit's short hash."""
    for rel in listed_files(src, "--cached", "--others", "--exclude-standard"):
        path = src / rel
        if path.is_file() and keep(rel):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    if overlay is not None:
        shutil.copytree(overlay, dest, dirs_exist_ok=True)
    git(dest, "init", "-q")
    git(dest, "config", "user.email", "mainza@localhost")
    git(dest, "config", "user.name", "mainza")
    return commit_all(dest, message)


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "--short=7", "HEAD")
