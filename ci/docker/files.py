"""A running container's files through the engine's archive API (`docker cp` with a tar stream), which needs
nothing installed in the image: local files copied in (mode kept, owned by the container's user), directories
read back (each entry's kind, mode, owner and content digest), the container's user as its own /etc/passwd and
/etc/group name it; and what a sync turn runs beside them: a delete (`rm -rf` in the container), a restart, an
exec. Every call is bounded (the limits below, in one place); each failure is one line naming the container.

Ownership: compose watch copies with the API's CopyUIDGID (`docker cp -a`), with which the engine resolves the
container's user on the host's passwd database: `user: "1000:1000"`, `USER app:app` or a name the host lacks
fail (`getent unable to find entry`, docker/compose#12467, moby/moby#49213), and a name the host has gets the
host's uid. A plain `docker cp` of a local file makes it root-owned. Here the archive carries the owner itself:
the container's user resolved in the container's own files, which the engine keeps as the tar header says.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

from python_on_whales.exceptions import DockerException

from ci.core.errors import CiError
from ci.core.units import human
from ci.docker.engine import Engine, _inspect, error_line, failed

ARCHIVE_BYTES = 64 << 20  # one archive read back or copied in: a sync's sources are far below it
ARCHIVE_SECONDS = 10.0  # one archive read or written, from the call to its last byte
EXEC_SECONDS = 60.0  # a sync+exec command or a delete, to its exit
RESTART_SECONDS = 10  # `docker restart --time`: the stop's grace before SIGKILL, compose's own default
READERS = 4  # archives read at once (each a `docker cp` process)
MISSING = "Could not find the file"  # the engine's words for a path the container does not have
ROOT = "0"  # the user a delete runs as: the archive API writes as root, and a delete undoes what it wrote


class Kind(StrEnum):
    FILE = "file"
    DIR = "directory"
    SYMLINK = "symlink"
    OTHER = "other"  # a device, a fifo, a hard link's second name


@dataclass(frozen=True)
class ContainerUser:
    """Who the container's processes run as (`Config.User`), in numbers: what a file's mode is read against."""

    spec: str  # as the container declares it: "" (root), "app", "10001", "1000:1000"
    uid: int
    gid: int
    groups: frozenset[int]  # its primary group, its supplementary ones and the container's --group-add


@dataclass(frozen=True)
class Entry:
    """One entry of a container's archive."""

    path: str  # absolute, normalised
    kind: Kind
    mode: int  # its permission bits
    uid: int
    gid: int
    size: int = 0
    digest: str = ""  # a file's sha256, hex; "" for the others
    link: str = ""  # a symlink's target


@dataclass(frozen=True)
class ContainerTree:
    """What reading some roots back found: every entry under them (the roots' own included), by path."""

    entries: dict[str, Entry]
    absent: frozenset[str]  # the roots the container does not have
    bytes_read: int = 0


@dataclass(frozen=True)
class CopyFile:
    """A local file (or symlink) and the absolute path it is copied to in the container."""

    source: Path
    target: str


# --- bounded docker calls ---------------------------------------------------------------------------------


def _bounded(engine: Engine, args: Sequence[str], what: str, *, stdin: bytes = b"", seconds: float) -> bytes:
    """`docker ARGS` with the client's own base command, STDIN written to it: its stdout, read up to
    ARCHIVE_BYTES and within SECONDS (else it is killed and CiError says which); a non-zero exit is the
    project's DockerFailed (or the stop signal that caused it), WHAT first."""
    cmd = [str(part) for part in (*engine._client.client_config.docker_cmd, *args)]  # the binary is a Path
    process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    late = threading.Event()

    def expire() -> None:
        late.set()
        process.kill()

    timer = threading.Timer(seconds, expire)
    errors: list[bytes] = []
    pipes = process.stdin, process.stdout, process.stderr
    assert pipes[0] and pipes[1] and pipes[2]
    feeding = threading.Thread(target=_feed, args=(pipes[0], stdin), daemon=True)
    draining = threading.Thread(target=lambda: errors.append(pipes[2].read()), daemon=True)  # type: ignore[union-attr]
    timer.start()
    try:
        feeding.start()
        draining.start()
        out = pipes[1].read(ARCHIVE_BYTES + 1)
        if len(out) > ARCHIVE_BYTES:
            raise CiError(f"{what}: more than {human(ARCHIVE_BYTES)}, the limit of one archive")
        code = process.wait()
        draining.join()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
        process.wait()
        pipes[1].close()
    if late.is_set():
        raise CiError(f"{what}: no answer within {seconds:g} s")
    if code != 0:
        raise failed(DockerException(cmd, code, out, b"".join(errors)), what) from None
    return out


def _feed(pipe: IO[bytes], data: bytes) -> None:
    """Write DATA to a child's stdin and close it; a child that died early takes no more (its exit says why)."""
    with contextlib.suppress(OSError):
        if data:
            pipe.write(data)
    with contextlib.suppress(OSError):
        pipe.close()


# --- the container's user ---------------------------------------------------------------------------------


def _container_config(engine: Engine, container: str) -> tuple[str, tuple[str, ...]]:
    """The container's user and its --group-add, from `docker inspect`; CiError when it is gone."""
    found = _inspect(engine, "container", [container])
    if not found:
        raise CiError(f"{container}: no such container")
    config = found[0].get("Config") or {}
    host = found[0].get("HostConfig") or {}
    return str(config.get("User") or ""), tuple(str(g) for g in host.get("GroupAdd") or [])


def container_user(engine: Engine, container: str) -> ContainerUser:
    """Who CONTAINER's processes run as, resolved as the runtime resolves it, in the container's own
    /etc/passwd and /etc/group (read through the archive API, and only when a name or a missing group needs
    them): an unknown name fails as `docker exec` would, an unknown uid has group 0."""
    spec, added = _container_config(engine, container)
    user, _, group = spec.partition(":")
    numeric = [part for part in (user, group, *added) if part]
    if all(part.isdigit() for part in numeric) and (group or not user):
        return resolve_user(spec, "", "", added)
    passwd, groups = _read_texts(engine, container, ("/etc/passwd", "/etc/group"))
    try:
        return resolve_user(spec, passwd, groups, added)
    except ValueError as err:
        raise CiError(f"{container}: {err}") from None


def resolve_user(spec: str, passwd: str, group: str, added: Sequence[str] = ()) -> ContainerUser:
    """A `Config.User` (SPEC: `user[:group]`, each a name or a number) in numbers, by the container's PASSWD and
    GROUP files' text; ADDED, the container's --group-add. ValueError names what the files lack."""
    user, _, group_part = spec.partition(":")
    users = [line.split(":") for line in passwd.splitlines() if line.count(":") >= 3]
    groups = [line.split(":") for line in group.splitlines() if line.count(":") >= 3]
    if not user:
        uid, gid, name = 0, 0, "root"
    elif user.isdigit():
        uid = int(user)
        row = next((u for u in users if u[2] == user), None)
        name = row[0] if row else ""
        gid = int(row[3]) if row and row[3].isdigit() else 0
    else:
        row = next((u for u in users if u[0] == user), None)
        if row is None or not row[2].isdigit():
            raise ValueError(f"its user {user!r} is not in its /etc/passwd")
        uid, name = int(row[2]), user
        gid = int(row[3]) if row[3].isdigit() else 0

    def group_id(part: str) -> int:
        if part.isdigit():
            return int(part)
        found = next((g for g in groups if g[0] == part and g[2].isdigit()), None)
        if found is None:
            raise ValueError(f"its group {part!r} is not in its /etc/group")
        return int(found[2])

    if group_part:
        gid = group_id(group_part)
    members = {int(g[2]) for g in groups if name and g[2].isdigit() and name in g[3].split(",")}
    return ContainerUser(spec, uid, gid, frozenset({gid, *members, *(group_id(a) for a in added)}))


def _read_texts(engine: Engine, container: str, paths: Sequence[str]) -> list[str]:
    """Small text files of the container, "" for one it lacks."""

    def one(path: str) -> str:
        try:
            data = _bounded(engine, ["cp", f"{container}:{path}", "-"], f"could not read {path} in {container}",
                            seconds=ARCHIVE_SECONDS)  # fmt: skip
        except CiError as err:
            if MISSING in str(err):
                return ""
            raise
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                if member.isfile():
                    read = archive.extractfile(member)
                    return read.read().decode(errors="replace") if read else ""
        return ""

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return list(pool.map(one, paths))


# --- reading back -----------------------------------------------------------------------------------------


def entries_of(data: bytes, root: str) -> dict[str, Entry]:
    """The entries of the archive `docker cp CONTAINER:ROOT -` wrote (DATA), by absolute path: its names start
    with ROOT's last part. A name that would leave ROOT is dropped: the names are the container's to choose."""
    root = posixpath.normpath(root)
    parent = posixpath.dirname(root)
    found: dict[str, Entry] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive:
            path = posixpath.normpath(posixpath.join(parent, member.name))
            if path != root and not path.startswith(root.rstrip("/") + "/"):
                continue
            digest = ""
            if member.isfile():
                kind = Kind.FILE
                digest = _digest(archive.extractfile(member))
            elif member.isdir():
                kind = Kind.DIR
            elif member.issym():
                kind = Kind.SYMLINK
            else:
                kind = Kind.OTHER
            found[path] = Entry(path, kind, member.mode & 0o7777, member.uid, member.gid, member.size, digest,
                                member.linkname if member.issym() else "")  # fmt: skip
    return found


def _digest(content: IO[bytes] | None) -> str:
    hashed = hashlib.sha256()
    while content and (chunk := content.read(1 << 16)):
        hashed.update(chunk)
    return hashed.hexdigest()


def read_trees(engine: Engine, container: str, roots: Sequence[str]) -> ContainerTree:
    """Every entry under each of ROOTS (absolute paths, a file or a directory) in CONTAINER, read back through
    the archive API as the engine sees them (as root: a mode the container's user cannot pass does not stop
    it), ARCHIVE_BYTES and ARCHIVE_SECONDS each, READERS at once. A root the container lacks is `absent`."""
    wanted = [_absolute(root, container) for root in dict.fromkeys(roots)]

    def one(root: str) -> tuple[str, bytes | None]:
        try:
            return root, _bounded(engine, ["cp", f"{container}:{root}", "-"], f"could not read {root} in {container}",
                                  seconds=ARCHIVE_SECONDS)  # fmt: skip
        except CiError as err:
            if MISSING in str(err):
                return root, None
            raise

    entries: dict[str, Entry] = {}
    absent: set[str] = set()
    size = 0
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        for root, data in pool.map(one, wanted):
            if data is None:
                absent.add(root)
                continue
            size += len(data)
            try:
                entries.update(entries_of(data, root))
            except tarfile.TarError as err:
                raise CiError(f"could not read {root} in {container}: not an archive ({err})") from None
    return ContainerTree(entries, frozenset(absent), size)


def _absolute(path: str, container: str) -> str:
    normal = posixpath.normpath(path)
    if not normal.startswith("/") or normal.startswith("//") or normal == "/":
        raise CiError(f"{container}: {path!r} is not an absolute path below /")
    return normal


# --- writing ----------------------------------------------------------------------------------------------


def archive_of(files: Sequence[CopyFile], uid: int, gid: int) -> bytes:
    """A tar of FILES to extract at the container's `/`: each named by its target, its mode and mtime kept,
    owned by UID:GID. Missing parents the engine makes itself (root's, 0755). A source that is gone, or is a
    directory, is CiError naming it; over ARCHIVE_BYTES, too."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for item in files:
            target = _absolute(item.target, "the container")
            try:
                info = archive.gettarinfo(str(item.source), arcname=target.lstrip("/"))
            except OSError as err:
                raise CiError(f"cannot copy {item.source} to {target}: {err.strerror}") from None
            if not (info.isfile() or info.issym()):
                raise CiError(f"cannot copy {item.source} to {target}: not a file")
            info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
            if info.isfile():
                with item.source.open("rb") as content:
                    data = content.read(ARCHIVE_BYTES + 1)
                info.size = len(data)  # what was read: a file written meanwhile keeps its header true
                archive.addfile(info, io.BytesIO(data))
            else:
                archive.addfile(info)
            if out.tell() > ARCHIVE_BYTES:
                raise CiError(f"cannot copy more than {human(ARCHIVE_BYTES)} at once (at {item.source})")
    return out.getvalue()


def copy_into(engine: Engine, container: str, files: Sequence[CopyFile], user: ContainerUser) -> None:
    """FILES copied into the running CONTAINER in one archive, each owned by USER (see the module's note) and
    with its local mode. The engine writes as root, whatever the modes of the directories on the way: a path
    the container's user cannot reach still takes the file (read it back to know). A directory where a file
    goes, a read-only mount or root filesystem, a container gone: DockerFailed, one line."""
    if files:
        data = archive_of(files, user.uid, user.gid)
        where = files[0].target if len(files) == 1 else f"{len(files)} files ({files[0].target}, ...)"
        _bounded(engine, ["cp", "-", f"{container}:/"], f"could not copy {where} into {container}", stdin=data,
                 seconds=ARCHIVE_SECONDS)  # fmt: skip


def delete_paths(engine: Engine, container: str, paths: Sequence[str]) -> None:
    """PATHS removed from the running CONTAINER, directories with what they hold, by `rm -rf` run in it as
    root (compose watch runs it as the container's user, which fails on the image's own root-owned files).
    The archive API cannot delete, so an image without `rm` (distroless, scratch) cannot take a delete: that,
    as any failure, is CiError naming the container and the paths."""
    if not paths:
        return
    targets = [_absolute(path, container) for path in dict.fromkeys(paths)]
    what = f"could not delete {', '.join(targets)} in {container}"
    try:
        _bounded(engine, ["exec", "--user", ROOT, container, "rm", "-rf", "--", *targets], what,
                 seconds=EXEC_SECONDS)  # fmt: skip
    except CiError as err:
        if "executable file not found" in str(err):
            raise CiError(f"{what}: its image has no `rm`, and the archive API cannot delete") from None
        raise


def run_in(
    engine: Engine, container: str, command: Sequence[str], *, user: str = "", workdir: str = "",
    environment: Mapping[str, str] | None = None, privileged: bool = False, seconds: float = EXEC_SECONDS,
) -> str:  # fmt: skip
    """COMMAND run in the running CONTAINER (`docker exec`, as USER or the container's own, in WORKDIR or its
    own, with ENVIRONMENT, PRIVILEGED), as compose's `sync+exec` runs it: its output, or CiError with its exit
    code and last line. The values reach docker in a private file (`--env-file`), never on its command line,
    which `ps` shows to anyone on the host; that file's format holds no newline, so such a value is refused."""
    environment = environment or {}
    broken = [name for name, value in environment.items() if "\n" in value or "\r" in value or "\n" in name]
    if broken:
        raise CiError(
            f"the environment of `{' '.join(command)}` holds a line break in {broken[0]}: docker exec cannot take "
            "it from a file; pass it some other way (a file in the image)"
        )
    args = ["exec", *(["--user", user] if user else []), *(["--workdir", workdir] if workdir else [])]
    args += ["--privileged"] if privileged else []
    shown = " ".join(command)
    with contextlib.ExitStack() as stack:
        if environment:
            fd, name = tempfile.mkstemp(prefix="mainza-exec-", suffix=".env")  # 0600: the values may be secrets
            stack.callback(os.unlink, name)
            with os.fdopen(fd, "w") as out:
                out.writelines(f"{key}={value}\n" for key, value in environment.items())
            args += ["--env-file", name]
        found = _bounded(engine, [*args, container, *command], f"`{shown}` in {container} failed", seconds=seconds)
    return found.decode(errors="replace")


def restart_container(engine: Engine, container: str, grace: int = RESTART_SECONDS) -> None:
    """Restart CONTAINER (compose's `sync+restart`): stopped with GRACE seconds before SIGKILL, then started;
    its health is the caller's to wait for."""
    try:
        engine._client.container.restart(container, time=grace)
    except DockerException as err:
        raise failed(err, f"could not restart {container}", error_line(err)) from None
