"""The proof of a sync: the container's files read back through the engine's archive API (ci/docker/files.py)
and held to the tree's, by content (sha256), never by modification time. A synced file must be there with the
tree's content, its executable bit and a mode its container's user can read it by (the file, and every directory
read on the way to it); a deleted path must be gone. The answer is typed: `Proven` (how many files, how long),
or `Failed`, each differing path named with why. And the comparison watch starts with: every file under a rule's
path in the tree against the rule's target in the container, both ways, with the caller's ignore rules.

The archive API reads as root, so what the container's user may read is judged from the modes, owners and
groups the archive carries, by the kernel's rule (owner, else group, else others; root reads anything). Above
the directories read back, the path is taken as passable: they are the image's, not the sync's.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ci import docker as dk
from ci.core.errors import CiError

READ, PASS = 4, 1  # the permission bits of a class: read (a file), search (a directory on the way)


class Why(StrEnum):
    CONTENT = "different content"
    MISSING = "missing"
    STILL_PRESENT = "still present after delete"
    UNREADABLE = "unreadable by the container's user"
    KIND = "not what the tree has"  # a directory or a symlink where the tree has a file, and so on
    MODE = "executable bit differs"
    EXTRA = "only in the container"
    GONE = "gone from the tree since it was copied"
    UNREAD = "not read back"


@dataclass(frozen=True)
class Synced:
    """A file of the tree and the container path a sync copied it to."""

    tree: Path
    container: str


@dataclass(frozen=True)
class Difference:
    path: str  # in the container; "" for the whole container (not read back)
    why: Why
    detail: str = ""

    def __str__(self) -> str:
        return (f"{self.path}: " if self.path else "") + f"{self.why}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Proven:
    files: int  # synced files proven
    deleted: int  # deleted paths proven gone
    seconds: float

    ok = True

    def line(self) -> str:
        gone = f", {self.deleted} deleted" if self.deleted else ""
        return f"proven: {self.files} file{'s' * (self.files != 1)}{gone} read back in {self.seconds * 1000:.0f} ms"


@dataclass(frozen=True)
class Failed:
    container: str
    differences: tuple[Difference, ...]
    seconds: float

    ok = False

    def line(self) -> str:
        """One line: the container, the first difference, how many more."""
        first, *others = self.differences
        more = f"; and {len(others)} more" if others else ""
        return f"{self.container}: not proven: {first}{more}"


Proof = Proven | Failed


@dataclass(frozen=True)
class LocalFile:
    """A file of the tree as the proof compares it."""

    kind: dk.Kind
    digest: str = ""  # a file's sha256, hex
    mode: int = 0
    link: str = ""  # a symlink's target


def local_file(path: Path) -> LocalFile | None:
    """PATH as the proof compares it (never followed when a symlink); None when it is gone."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            return LocalFile(dk.Kind.SYMLINK, mode=stat.S_IMODE(info.st_mode), link=os.readlink(path))
        if not stat.S_ISREG(info.st_mode):
            return LocalFile(dk.Kind.DIR if stat.S_ISDIR(info.st_mode) else dk.Kind.OTHER)
        with path.open("rb") as content:
            digest = hashlib.file_digest(content, "sha256").hexdigest()
    except FileNotFoundError:
        return None
    return LocalFile(dk.Kind.FILE, digest, stat.S_IMODE(info.st_mode))


# --- who may read what --------------------------------------------------------------------------------------


def allowed(entry: dk.Entry, user: dk.ContainerUser, bit: int) -> bool:
    """Whether USER has BIT (READ, PASS) on ENTRY: root always (but a file's search bit, never asked here);
    else the owner's class, the group's, or the others', the first that applies, as the kernel decides."""
    if user.uid == 0:
        return True
    if user.uid == entry.uid:
        shift = 6
    elif entry.gid in user.groups:
        shift = 3
    else:
        shift = 0
    return bool((entry.mode >> shift) & bit)


def unreadable(path: str, tree: dk.ContainerTree, user: dk.ContainerUser) -> str:
    """Why USER cannot read the file PATH of TREE ("" when it can): a directory read on the way it cannot pass,
    or the file's own mode."""
    for parent in _ancestors(path):
        entry = tree.entries.get(parent)
        if entry and entry.kind == dk.Kind.DIR and not allowed(entry, user, PASS):
            return f"{_shown(entry)} directory {parent} bars user {user.spec or 'root'}"
    entry = tree.entries[path]
    if entry.kind == dk.Kind.FILE and not allowed(entry, user, READ):
        return f"{_shown(entry)} to user {user.spec or 'root'}"
    return ""


def _shown(entry: dk.Entry) -> str:
    return f"mode {entry.mode:04o} {entry.uid}:{entry.gid}"


def _ancestors(path: str) -> list[str]:
    """/a/b/c: /a/b, /a, / (nearest first)."""
    found = []
    while path != "/":
        path = posixpath.dirname(path)
        found.append(path)
    return found


# --- a sync's proof ---------------------------------------------------------------------------------------


def reading_roots(paths: Iterable[str]) -> list[str]:
    """What to read back to see PATHS: each one's directory (its entry says whether it can be passed, and a
    deleted path's absence shows there), none inside another read already; a path right under `/` alone."""
    wanted = {posixpath.normpath(p) for p in paths}
    dirs = {posixpath.dirname(p) if posixpath.dirname(p) != "/" else p for p in wanted}
    return sorted(d for d in dirs if not any(a in dirs for a in _ancestors(d)))


def compare(
    synced: Sequence[tuple[LocalFile | None, str]], deleted: Sequence[str], tree: dk.ContainerTree,
    user: dk.ContainerUser,
) -> list[Difference]:  # fmt: skip
    """How TREE (the container read back) differs from what a sync made: each (tree file, container path) of
    SYNCED there, the same, readable by USER; each of DELETED gone."""
    found = []
    for local, path in synced:
        path = posixpath.normpath(path)
        entry = tree.entries.get(path)
        why = _file_difference(local, entry, path, tree, user)
        if why:
            found.append(why)
    found += [
        Difference(p, Why.STILL_PRESENT, f"a {tree.entries[p].kind}")
        for p in map(posixpath.normpath, deleted)
        if p in tree.entries
    ]
    return found


def _file_difference(
    local: LocalFile | None, entry: dk.Entry | None, path: str, tree: dk.ContainerTree, user: dk.ContainerUser
) -> Difference | None:
    if local is None:
        return Difference(path, Why.GONE)
    if entry is None:
        return Difference(path, Why.MISSING)
    if entry.kind != local.kind:
        return Difference(path, Why.KIND, f"a {entry.kind} where the tree has a {local.kind}")
    if entry.kind == dk.Kind.SYMLINK:
        return None if entry.link == local.link else Difference(path, Why.CONTENT, f"points to {entry.link}")
    if entry.digest != local.digest:
        return Difference(path, Why.CONTENT, f"{entry.size} bytes, sha256 {entry.digest[:12]}")
    barred = unreadable(path, tree, user)
    if barred:
        return Difference(path, Why.UNREADABLE, barred)
    if bool(entry.mode & 0o100) != bool(local.mode & 0o100):
        return Difference(path, Why.MODE, f"mode {entry.mode:04o}, the tree's {local.mode:04o}")
    return None


def prove_sync(
    engine: dk.Engine, container: str, synced: Sequence[Synced], deleted: Sequence[str] = (),
    user: dk.ContainerUser | None = None,
) -> Proof:  # fmt: skip
    """Read back what a sync put in CONTAINER (an id or name) and hold it to the tree: Proven, or Failed with
    each difference. USER is the container's, resolved once per container by the caller (dk.container_user),
    else here. A container gone or unreadable is a Failed proof too, its line docker's."""
    start = time.perf_counter()
    locals_ = [(local_file(s.tree), s.container) for s in synced]
    try:
        user = user or dk.container_user(engine, container)
        tree = dk.read_trees(engine, container, reading_roots([s.container for s in synced] + list(deleted)))
    except CiError as err:
        return Failed(container, (Difference("", Why.UNREAD, str(err)),), time.perf_counter() - start)
    found = compare(locals_, deleted, tree, user)
    seconds = time.perf_counter() - start
    return Failed(container, tuple(found), seconds) if found else Proven(len(synced), len(deleted), seconds)


# --- the whole tree, at watch's start -------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeComparison:
    """A rule's path in the tree against its target in the container."""

    container: str
    target: str
    same: int  # files the same on both sides
    differences: tuple[Difference, ...]
    to_copy: tuple[Synced, ...]  # the tree's files the container lacks or holds otherwise
    to_delete: tuple[str, ...]  # the container's files the tree lacks
    seconds: float

    @property
    def at_tree(self) -> bool:
        return not self.differences


Ignored = Callable[[str], bool]  # a path relative to the rule's path, posix, a file's or a directory's


def local_tree(root: Path, ignored: Ignored) -> dict[str, LocalFile]:
    """Every file (and symlink) under ROOT by its path relative to it, "" for ROOT itself when it is a file;
    an ignored directory is not entered."""
    if not root.is_dir() or root.is_symlink():
        found = local_file(root)
        return {"": found} if found else {}
    files: dict[str, LocalFile] = {}
    for here, dirs, names in os.walk(root):
        base = Path(here).relative_to(root).as_posix()
        rel = "" if base == "." else base + "/"
        links = [d for d in dirs if Path(here, d).is_symlink()]  # not entered: compared as the symlinks they are
        dirs[:] = sorted(d for d in dirs if d not in links and not ignored(rel + d))
        for name in [*names, *links]:
            if not ignored(rel + name):
                local = local_file(Path(here, name))
                if local:
                    files[rel + name] = local
    return files


def diff_tree(
    local: dict[str, LocalFile], tree: dk.ContainerTree, target: str, ignored: Ignored, user: dk.ContainerUser
) -> tuple[int, list[Difference], list[str], list[str]]:
    """LOCAL (the tree's files under a rule's path, relative) against TREE read back at TARGET: how many are
    the same, the differences, the relative paths to copy, the container paths to delete."""
    target = posixpath.normpath(target)
    theirs = {}
    for path, entry in tree.entries.items():
        rel = "" if path == target else posixpath.relpath(path, target)
        if entry.kind != dk.Kind.DIR and not any(ignored(part) for part in _prefixes(rel)):
            theirs[rel] = entry
    same, found, copy, delete = 0, [], [], []
    for rel, file in sorted(local.items()):
        path = posixpath.join(target, rel) if rel else target
        why = _file_difference(file, tree.entries.get(path), path, tree, user)
        if why is None:
            same += 1
        else:
            found.append(why)
            copy.append(rel)
    for rel in sorted(set(theirs) - set(local)):
        path = posixpath.join(target, rel) if rel else target
        found.append(Difference(path, Why.EXTRA, f"a {theirs[rel].kind}"))
        delete.append(path)
    return same, found, copy, delete


def _prefixes(rel: str) -> list[str]:
    """a/b/c: a, a/b, a/b/c (an ignored directory ignores what it holds)."""
    parts = rel.split("/") if rel else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def compare_tree(
    engine: dk.Engine, container: str, root: Path, target: str, ignored: Ignored,
    user: dk.ContainerUser | None = None,
) -> TreeComparison:  # fmt: skip
    """Every file under ROOT (a rule's path in the tree) against TARGET in CONTAINER, by content, both ways,
    what IGNORED says of a relative path left out on both sides. A container that cannot be read is CiError."""
    start = time.perf_counter()
    local = local_tree(root, ignored)
    user = user or dk.container_user(engine, container)
    tree = dk.read_trees(engine, container, [target])
    same, found, copy, delete = diff_tree(local, tree, target, ignored, user)
    target = posixpath.normpath(target)
    pairs = tuple(Synced(root / rel if rel else root, posixpath.join(target, rel) if rel else target) for rel in copy)
    return TreeComparison(container, target, same, tuple(found), pairs, tuple(delete), time.perf_counter() - start)
