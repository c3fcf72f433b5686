"""The proof of a sync (ci/watch/proof.py): a container read back (archives as the engine writes them) held to
the tree by content, by what its user may read, by what a delete left; and the whole-tree comparison, both ways."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ci import docker as dk
from ci.watch import proof
from ci.watch.proof import Difference, Synced, Why
from tests.unit.docker.test_docker import fake_docker
from tests.unit.docker.test_files import docker_tar, reader

APP = dk.ContainerUser("10001", 10001, 10001, frozenset({10001, 50}))
ROOT = dk.ContainerUser("", 0, 0, frozenset({0}))


def entry(path: str, content: bytes | None = b"", mode: int = 0, uid: int = 0, gid: int = 0) -> dk.Entry:
    """A file (CONTENT) or a directory (None), by default as an image's COPY leaves them: root's, 0644 and 0755."""
    if content is None:
        return dk.Entry(path, dk.Kind.DIR, mode or 0o755, uid, gid)
    return dk.Entry(path, dk.Kind.FILE, mode or 0o644, uid, gid, len(content), hashlib.sha256(content).hexdigest())


def tree(*entries: dk.Entry, absent: tuple[str, ...] = ()) -> dk.ContainerTree:
    return dk.ContainerTree({e.path: e for e in entries}, frozenset(absent))


def local(content: bytes, mode: int = 0o644) -> proof.LocalFile:
    return proof.LocalFile(dk.Kind.FILE, hashlib.sha256(content).hexdigest(), mode)


@pytest.mark.parametrize(
    ("mode", "uid", "gid", "user", "readable"),
    [
        (0o644, 0, 0, APP, True),  # others may read: the image's own root-owned files
        (0o600, 0, 0, APP, False),
        (0o600, 0, 0, ROOT, True),  # root reads anything
        (0o640, 0, 50, APP, True),  # by a supplementary group
        (0o044, 10001, 0, APP, False),  # the owner's class decides for the owner, though others may read
        (0o000, 10001, 0, APP, False),
    ],
)
def test_who_may_read_is_the_kernel_s_rule(
    mode: int, uid: int, gid: int, user: dk.ContainerUser, readable: bool
) -> None:
    assert proof.allowed(dk.Entry("/a", dk.Kind.FILE, mode=mode, uid=uid, gid=gid), user, proof.READ) is readable


def test_what_is_read_back_is_each_path_s_directory_none_inside_another() -> None:
    paths = ["/app/backend/main.py", "/app/backend/api/routes.py", "/app/backend/old.py", "/srv/x", "/top.txt"]
    assert proof.reading_roots(paths) == ["/app/backend", "/srv", "/top.txt"]


def test_the_same_files_and_gone_deletes_are_no_difference() -> None:
    read = tree(entry("/app", None), entry("/app/a.py", b"a = 1\n", uid=10001, gid=10001))
    assert proof.compare([(local(b"a = 1\n"), "/app/a.py")], ["/app/old.py", "/app/gone/"], read, APP) == []


@pytest.mark.parametrize(
    ("read", "why", "detail"),
    [
        (tree(entry("/app", None), entry("/app/a.py", b"a = 0\n")), Why.CONTENT, "6 bytes, sha256 "),
        (tree(entry("/app", None)), Why.MISSING, ""),
        (tree(absent=("/app",)), Why.MISSING, ""),
        (tree(entry("/app", None), entry("/app/a.py", None)), Why.KIND, "a directory where the tree has a file"),
        (tree(entry("/app", None, 0o700), entry("/app/a.py", b"a = 1\n")), Why.UNREADABLE, "mode 0700 0:0 directory"),
        (tree(entry("/app", None), entry("/app/a.py", b"a = 1\n", 0o600)), Why.UNREADABLE, "mode 0600 0:0 to user"),
        (tree(entry("/app", None), entry("/app/a.py", b"a = 1\n", 0o755)), Why.MODE, "mode 0755, the tree's 0644"),
    ],
)
def test_each_way_a_synced_file_can_differ_is_named(read: dk.ContainerTree, why: Why, detail: str) -> None:
    (found,) = proof.compare([(local(b"a = 1\n"), "/app/a.py")], [], read, APP)
    assert (found.path, found.why) == ("/app/a.py", why)
    assert detail in found.detail


def test_a_file_in_a_directory_its_user_cannot_pass_is_unreadable_and_named() -> None:
    read = tree(entry("/srv/ro", None, 0o444), entry("/srv/ro/a.py", b"a = 1\n", uid=10001, gid=10001))
    (found,) = proof.compare([(local(b"a = 1\n"), "/srv/ro/a.py")], [], read, APP)
    assert str(found) == (
        "/srv/ro/a.py: unreadable by the container's user (mode 0444 0:0 directory /srv/ro bars user 10001)"
    )
    assert proof.compare([(local(b"a = 1\n"), "/srv/ro/a.py")], [], read, ROOT) == []


def test_a_delete_that_did_not_happen_and_a_file_gone_from_the_tree_are_named() -> None:
    read = tree(entry("/app", None), entry("/app/old.py", b"x"), entry("/app/olddir", None))
    found = proof.compare([(None, "/app/new.py")], ["/app/old.py", "/app/olddir"], read, APP)
    assert found == [
        Difference("/app/new.py", Why.GONE),
        Difference("/app/old.py", Why.STILL_PRESENT, "a file"),
        Difference("/app/olddir", Why.STILL_PRESENT, "a directory"),
    ]


def test_a_failed_proof_is_one_line_naming_the_container_and_the_first_path() -> None:
    failed = proof.Failed("web-1", (Difference("/app/a.py", Why.MISSING), Difference("/app/b", Why.CONTENT)), 0.01)
    assert failed.line() == "web-1: not proven: /app/a.py: missing; and 1 more"
    assert proof.Proven(1, 0, 0.0123).line() == "proven: 1 file read back in 12 ms"
    assert proof.Proven(3, 2, 0.05).line() == "proven: 3 files, 2 deleted read back in 50 ms"


def backend(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A rule's path in the tree, and the container's /app/backend as `docker cp` would archive it."""
    root = tmp_path / "tree" / "backend"
    (root / "api").mkdir(parents=True)
    (root / "main.py").write_text("app = 1\n")
    (root / "api" / "routes.py").write_text("routes = []\n")
    archives = {
        "/app/backend": docker_tar([
            ("backend", None, 0o755, 0), ("backend/main.py", b"app = 1\n", 0o644, 10001),
            ("backend/api", None, 0o755, 0), ("backend/api/routes.py", b"routes = [1]\n", 0o644, 0),
            ("backend/stale.py", b"old\n", 0o644, 0), ("backend/__pycache__", None, 0o755, 10001),
            ("backend/__pycache__/main.cpython-311.pyc", b"\x00", 0o644, 10001),
        ])
    }  # fmt: skip
    return root, archives


def test_a_sync_read_back_through_the_archive_api_is_proven_or_names_each_path(tmp_path: Path) -> None:
    root, archives = backend(tmp_path)
    engine = reader(tmp_path, archives)
    good = proof.prove_sync(engine, "web-1", [Synced(root / "main.py", "/app/backend/main.py")], ["/app/backend/x.py"])
    assert isinstance(good, proof.Proven) and (good.files, good.deleted) == (1, 1)
    bad = proof.prove_sync(
        engine, "web-1", [Synced(root / "api" / "routes.py", "/app/backend/api/routes.py")], ["/app/backend/stale.py"]
    )
    assert isinstance(bad, proof.Failed)
    assert [(d.path, d.why) for d in bad.differences] == [
        ("/app/backend/api/routes.py", Why.CONTENT), ("/app/backend/stale.py", Why.STILL_PRESENT),
    ]  # fmt: skip


def test_a_container_that_cannot_be_read_is_a_failed_proof_in_one_line(tmp_path: Path) -> None:
    gone = "import sys\nprint('Error response from daemon: No such container: web-1', file=sys.stderr)\nsys.exit(1)\n"
    found = proof.prove_sync(fake_docker(tmp_path, gone), "web-1", [Synced(tmp_path / "a", "/app/a")], user=APP)
    assert isinstance(found, proof.Failed)
    assert found.line() == (
        "web-1: not proven: not read back "
        "(could not read /app in web-1: Error response from daemon: No such container: web-1)"
    )


def test_the_whole_tree_is_compared_both_ways_by_content_with_the_caller_s_ignore_rules(tmp_path: Path) -> None:
    root, archives = backend(tmp_path)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"local")
    (root / "new.py").write_text("new\n")
    compared = proof.compare_tree(
        reader(tmp_path, archives), "web-1", root, "/app/backend", lambda rel: rel.split("/")[-1] == "__pycache__"
    )
    assert compared.same == 1 and not compared.at_tree
    assert [(d.path, d.why) for d in compared.differences] == [
        ("/app/backend/api/routes.py", Why.CONTENT), ("/app/backend/new.py", Why.MISSING),
        ("/app/backend/stale.py", Why.EXTRA),
    ]  # fmt: skip
    assert compared.to_copy == (
        Synced(root / "api" / "routes.py", "/app/backend/api/routes.py"),
        Synced(root / "new.py", "/app/backend/new.py"),
    )
    assert compared.to_delete == ("/app/backend/stale.py",)


def test_a_target_the_container_lacks_is_every_tree_file_missing(tmp_path: Path) -> None:
    root, _ = backend(tmp_path)
    compared = proof.compare_tree(reader(tmp_path, {}), "web-1", root, "/app/backend", lambda rel: False)
    assert compared.same == 0 and {d.why for d in compared.differences} == {Why.MISSING}
    assert len(compared.to_copy) == 2 and compared.to_delete == ()


def test_a_rule_whose_path_is_one_file_is_compared_as_that_file(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text("server {}\n")
    archives = {"/etc/nginx/nginx.conf": docker_tar([("nginx.conf", b"server {}\n", 0o644, 0)])}
    compared = proof.compare_tree(
        reader(tmp_path, archives, ""), "web-1", tmp_path / "nginx.conf", "/etc/nginx/nginx.conf", lambda rel: False
    )
    assert compared.at_tree and compared.same == 1


def test_symlinks_are_compared_as_symlinks_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "current").symlink_to("/etc")  # a directory's symlink: not walked into
    archives = {"/app/src": docker_tar([("src", None, 0o755, 0), ("src/current", "/etc/other", 0o777, 0)])}
    compared = proof.compare_tree(reader(tmp_path, archives), "web-1", root, "/app/src", lambda rel: False)
    assert [(d.path, d.why, d.detail) for d in compared.differences] == [
        ("/app/src/current", Why.CONTENT, "points to /etc/other")
    ]
