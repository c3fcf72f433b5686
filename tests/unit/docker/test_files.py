"""A running container's files through the archive API (ci/docker/files.py), on a stand-in docker command: the
user resolved in the container's own files, the archives written and read, each call bounded and its failure one
line naming the container and the path."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ci import docker as dk
from ci.core.errors import CiError, DockerFailed
from ci.docker import files
from tests.unit.docker.test_docker import fake_docker

PASSWD = "root:x:0:0:root:/root:/bin/bash\napp:x:10001:10001::/nonexistent:/usr/sbin/nologin\nodd:x:12:zz::/:/bin/sh\n"
GROUP = "root:x:0:\napp:x:10001:\nstaff:x:50:app,other\nwww:x:33:\n"


@pytest.mark.parametrize(
    ("spec", "added", "uid", "gid", "groups"),
    [
        ("", (), 0, 0, {0}),  # no user: root
        ("10001", (), 10001, 10001, {10001, 50}),  # the example backend's `USER 10001`: its group from passwd
        ("app", (), 10001, 10001, {10001, 50}),
        ("app:www", (), 10001, 33, {33, 50}),
        ("1000:1000", (), 1000, 1000, {1000}),  # numbers the files need not hold (compose's -a fails on them)
        ("4242", (), 4242, 0, {0}),  # a uid the container does not know: group 0, as the runtime gives it
        ("app", ("www", "7"), 10001, 10001, {10001, 50, 33, 7}),  # and the container's --group-add
    ],
)
def test_the_container_s_user_is_resolved_in_its_own_files(
    spec: str, added: tuple[str, ...], uid: int, gid: int, groups: set[int]
) -> None:
    assert dk.resolve_user(spec, PASSWD, GROUP, added) == dk.ContainerUser(spec, uid, gid, frozenset(groups))


@pytest.mark.parametrize(("spec", "said"), [("ghost", "user 'ghost'"), ("app:ghosts", "group 'ghosts'")])
def test_a_name_its_files_lack_is_named(spec: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        dk.resolve_user(spec, PASSWD, GROUP)


def docker_tar(entries: list[tuple[str, bytes | str | None, int, int]]) -> bytes:
    """An archive as `docker cp CONTAINER:PATH -` writes it: (name, content (bytes: a file, str: a symlink's
    target, None: a directory), mode, uid)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, content, mode, uid in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid = mode, uid, uid
            if content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


def test_an_archive_read_back_is_every_entry_by_its_path_in_the_container() -> None:
    data = docker_tar([
        ("src", None, 0o755, 0), ("src/main.py", b"print(1)\n", 0o644, 10001), ("src/run", b"#!/bin/sh\n", 0o755, 0),
        ("src/link", "main.py", 0o777, 0), ("src/pkg", None, 0o700, 10001),
    ])  # fmt: skip
    found = files.entries_of(data, "/app/src")
    assert sorted(found) == ["/app/src", "/app/src/link", "/app/src/main.py", "/app/src/pkg", "/app/src/run"]
    main = found["/app/src/main.py"]
    assert (main.kind, main.mode, main.uid, main.size) == (dk.Kind.FILE, 0o644, 10001, 9)
    assert main.digest == hashlib.sha256(b"print(1)\n").hexdigest()
    assert found["/app/src/link"].kind == dk.Kind.SYMLINK and found["/app/src/link"].link == "main.py"
    assert found["/app/src/pkg"].kind == dk.Kind.DIR and found["/app/src/pkg"].digest == ""


def test_names_that_would_leave_the_root_read_are_dropped() -> None:
    """The names are the container's to choose: one cannot claim a path outside what was asked for."""
    data = docker_tar([("src", None, 0o755, 0), ("src/../../etc/passwd", b"x", 0o644, 0), ("srcx/a", b"y", 0o644, 0)])
    assert sorted(files.entries_of(data, "/app/src")) == ["/app/src"]


def test_the_archive_copied_in_names_each_target_keeps_the_mode_and_carries_the_owner(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_bytes(b"#!/bin/sh\n")
    script.chmod(0o750)
    (tmp_path / "link").symlink_to("run.sh")
    data = files.archive_of(
        [dk.CopyFile(script, "/app/bin/run.sh"), dk.CopyFile(tmp_path / "link", "/app/bin/link")], 10001, 33
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
    assert [(m.name, m.mode, m.uid, m.gid, m.size) for m in members] == [
        ("app/bin/run.sh", 0o750, 10001, 33, 10), ("app/bin/link", 0o777, 10001, 33, 0),
    ]  # fmt: skip
    assert members[1].issym() and members[1].linkname == "run.sh"


@pytest.mark.parametrize(
    ("source", "target", "said"),
    [
        ("gone.py", "/app/gone.py", "cannot copy .*gone.py to /app/gone.py: No such file"),
        (".", "/app/dir", "cannot copy .* to /app/dir: not a file"),
        ("a.py", "app/a.py", "'app/a.py' is not an absolute path"),
        ("a.py", "/", "'/' is not an absolute path below /"),
    ],
)
def test_what_cannot_be_copied_is_named(tmp_path: Path, source: str, target: str, said: str) -> None:
    (tmp_path / "a.py").write_text("x")
    with pytest.raises(CiError, match=said):
        files.archive_of([dk.CopyFile(tmp_path / source, target)], 0, 0)


READER = """
import json, os, sys
args = sys.argv[1:]
if args[:2] == ["container", "inspect"]:
    print(json.dumps([{{"Id": "c1", "Config": {{"User": {user!r}}}, "HostConfig": {{}}}}]))
    sys.exit(0)
path = args[1].partition(":")[2]
found = {archives!r}
if path not in found:
    print("Error response from daemon: Could not find the file " + path + " in container web-1", file=sys.stderr)
    sys.exit(1)
sys.stdout.buffer.write(open(found[path], "rb").read())
"""


def reader(tmp_path: Path, archives: dict[str, bytes], user: str = "10001") -> dk.Engine:
    """A docker whose `cp CONTAINER:PATH -` writes ARCHIVES[PATH] (or docker's words for a missing path), and
    whose `container inspect` gives USER."""
    stored = {}
    for index, (path, data) in enumerate(archives.items()):
        (tmp_path / f"{index}.tar").write_bytes(data)
        stored[path] = str(tmp_path / f"{index}.tar")
    return fake_docker(tmp_path, READER.format(user=user, archives=stored))


def test_roots_are_read_back_and_one_the_container_lacks_is_absent(tmp_path: Path) -> None:
    engine = reader(tmp_path, {"/app/src": docker_tar([("src", None, 0o755, 0), ("src/a.py", b"a", 0o644, 0)])})
    tree = dk.read_trees(engine, "web-1", ["/app/src", "/app/gone", "/app/src/"])
    assert sorted(tree.entries) == ["/app/src", "/app/src/a.py"]
    assert tree.absent == {"/app/gone"}
    assert tree.bytes_read > 0


def test_the_user_is_resolved_through_the_archive_api_when_it_needs_the_files(tmp_path: Path) -> None:
    etc = {
        "/etc/passwd": docker_tar([("passwd", PASSWD.encode(), 0o644, 0)]),
        "/etc/group": docker_tar([("group", GROUP.encode(), 0o644, 0)]),
    }
    assert dk.container_user(reader(tmp_path, etc, "app"), "web-1").uid == 10001
    assert dk.container_user(reader(tmp_path, {}, "1000:1000"), "web-1").gid == 1000  # nothing read
    assert dk.container_user(reader(tmp_path, {}, ""), "web-1").uid == 0
    with pytest.raises(CiError, match=r"^web-1: its user 'app' is not in its /etc/passwd$"):
        dk.container_user(reader(tmp_path, {}, "app"), "web-1")  # an image without /etc/passwd


def test_a_container_that_is_gone_is_one_line_naming_it(tmp_path: Path) -> None:
    gone = "import sys\nprint('Error response from daemon: No such container: web-1', file=sys.stderr)\nsys.exit(1)\n"
    engine = fake_docker(tmp_path, gone)
    with pytest.raises(DockerFailed) as raised:
        dk.read_trees(engine, "web-1", ["/app/src"])
    assert str(raised.value) == "could not read /app/src in web-1: Error response from daemon: No such container: web-1"
    with pytest.raises(CiError, match=r"^web-1: no such container$"):
        dk.container_user(fake_docker(tmp_path, "print('[]')\n"), "web-1")


def test_an_archive_past_the_cap_is_cut_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container that streams without end (a huge or a hostile file) stops at the cap, not at memory's end."""
    monkeypatch.setattr(files, "ARCHIVE_BYTES", 1 << 20)
    engine = fake_docker(tmp_path, "import sys\nwhile True:\n    sys.stdout.buffer.write(b'x' * 65536)\n")
    began = time.monotonic()
    with pytest.raises(CiError, match=r"^could not read /app in web-1: more than 1\.0 MB, the limit of one archive$"):
        dk.read_trees(engine, "web-1", ["/app"])
    assert time.monotonic() - began < 5


def test_an_archive_that_never_comes_is_cut_at_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "ARCHIVE_SECONDS", 0.5)
    engine = fake_docker(
        tmp_path, "import sys, time\nsys.stdout.buffer.write(b'x')\nsys.stdout.flush()\ntime.sleep(30)\n"
    )
    began = time.monotonic()
    with pytest.raises(CiError, match=r"^could not read /app in web-1: no answer within 0\.5 s$"):
        dk.read_trees(engine, "web-1", ["/app"])
    assert time.monotonic() - began < 5


WRITER = """
import json, sys
record = {{"args": sys.argv[1:], "stdin": sys.stdin.buffer.read().hex()}}
open({out!r}, "w").write(json.dumps(record))
said = {said!r}
if said:
    print(said, file=sys.stderr)
    sys.exit({code})
"""


def writer(tmp_path: Path, said: str = "", code: int = 1) -> tuple[dk.Engine, Path]:
    """A docker that records its arguments and stdin, and fails with SAID when given; its binary a Path, as
    python-on-whales gives the real one."""
    out = tmp_path / "call.json"
    program = tmp_path / "docker.py"
    program.write_text(WRITER.format(out=str(out), said=said, code=code))
    client = SimpleNamespace(client_config=SimpleNamespace(docker_cmd=[Path(sys.executable), program]))
    return dk.Engine(client), out  # type: ignore[arg-type]


def test_files_are_copied_in_one_archive_at_the_root_owned_by_the_container_s_user(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    engine, out = writer(tmp_path)
    user = dk.resolve_user("10001", PASSWD, GROUP)
    dk.copy_into(engine, "web-1", [dk.CopyFile(tmp_path / "a.py", "/app/backend/a.py")], user)
    call = json.loads(out.read_text())
    assert call["args"] == ["cp", "-", "web-1:/"]
    with tarfile.open(fileobj=io.BytesIO(bytes.fromhex(call["stdin"]))) as archive:
        (member,) = archive.getmembers()
    assert (member.name, member.uid, member.gid) == ("app/backend/a.py", 10001, 10001)


def test_a_copy_the_engine_refuses_is_one_line_naming_the_container_and_the_path(tmp_path: Path) -> None:
    (tmp_path / "sub").write_text("y")
    said = 'Error response from daemon: cannot overwrite directory "/srv/dir/sub" with non-directory "/srv/dir"'
    engine, _ = writer(tmp_path, said)
    with pytest.raises(DockerFailed) as raised:
        dk.copy_into(engine, "web-1", [dk.CopyFile(tmp_path / "sub", "/srv/dir/sub")], dk.resolve_user("", "", ""))
    assert str(raised.value) == f"could not copy /srv/dir/sub into web-1: {said}"
    assert "\n" not in str(raised.value)


def test_a_delete_runs_rm_as_root_in_the_container(tmp_path: Path) -> None:
    engine, out = writer(tmp_path)
    dk.delete_paths(engine, "web-1", ["/app/a.py", "/app/old/", "/app/a.py"])
    assert json.loads(out.read_text())["args"] == ["exec", "--user", "0", "web-1", "rm", "-rf", "--", "/app/a.py",
                                                   "/app/old"]  # fmt: skip


def test_an_image_without_rm_cannot_take_a_delete_and_says_so(tmp_path: Path) -> None:
    said = (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "rm": executable file not found in $PATH: unknown'
    )
    engine, _ = writer(tmp_path, said, 126)
    with pytest.raises(CiError, match=r"^could not delete /app/a\.py in web-1: its image has no `rm`"):
        dk.delete_paths(engine, "web-1", ["/app/a.py"])


@pytest.mark.parametrize("path", ["/", "app/a.py", "//", "/app/.."])
def test_a_delete_of_the_root_or_a_relative_path_is_refused_before_docker_is_asked(tmp_path: Path, path: str) -> None:
    engine, out = writer(tmp_path)
    with pytest.raises(CiError, match="is not an absolute path below /"):
        dk.delete_paths(engine, "web-1", [path])
    assert not out.exists()


def test_an_exec_that_fails_says_its_command_and_its_last_line(tmp_path: Path) -> None:
    engine, out = writer(tmp_path, "npm ERR! missing script: build", 1)
    with pytest.raises(DockerFailed, match=r"^`npm run build` in web-1 failed: npm ERR! missing script: build$"):
        dk.run_in(engine, "web-1", ["npm", "run", "build"], workdir="/app")
    assert json.loads(out.read_text())["args"] == ["exec", "--workdir", "/app", "web-1", "npm", "run", "build"]


def test_an_exec_s_environment_reaches_docker_in_a_private_file_never_on_the_command_line(tmp_path: Path) -> None:
    engine, out = writer(tmp_path)
    dk.run_in(engine, "web-1", ["make"], environment={"TOKEN": "s3cret"}, privileged=True)
    args = json.loads(out.read_text())["args"]
    assert args[:3] == ["exec", "--privileged", "--env-file"] and args[4:] == ["web-1", "make"]
    assert "s3cret" not in " ".join(args) and not Path(args[3]).exists()  # removed once docker has read it
    with pytest.raises(CiError, match=r"^the environment of `make` holds a line break in TOKEN: "):
        dk.run_in(engine, "web-1", ["make"], environment={"TOKEN": "a\nb"})
