"""A sync's primitives and its proof against the real engine: files copied into a running container as its
non-root user, read back through the archive API (nothing installed in the image), deleted, a path the user
cannot reach, a container recreated under the sync. One small container from the python stand-in serves all."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci import docker as dk
from ci.core.errors import DockerFailed
from ci.core.settings import HOST_ENV, read_env_file
from ci.watch import proof
from ci.watch.proof import Synced, Why

# first_pass: the archive API and exec are the engine's and the docker client's, not buildx's nor compose's
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

BASE = read_env_file(HOST_ENV).get("PYTHON_IMAGE") or "localhost:5000/mirror/python:3.11-slim"
USER = "nobody"  # a name: resolved in the container's own /etc/passwd, as the runtime does


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=60)


def start(name: str) -> str:
    """A container running as USER, with a root-owned /app and a root-owned 0444 /srv/ro: the user can pass
    neither into the second nor write into the first."""
    cid = docker("run", "-d", "--name", name, "--user", USER, BASE, "sleep", "600").stdout.strip()
    docker("exec", "--user", "0", name, "sh", "-c", "mkdir -p /app /srv/ro && chmod 0444 /srv/ro")
    return cid


@dataclass
class Box:
    engine: dk.Engine
    name: str
    id: str
    user: dk.ContainerUser


@pytest.fixture(scope="module")
def box(engine: None) -> Iterator[Box]:
    name = f"mainzatest-syncproof-{uuid.uuid4().hex[:8]}"
    try:
        cid = start(name)
        handle = dk.connect()
        yield Box(handle, name, cid, dk.container_user(handle, name))
    finally:
        docker("rm", "-f", name, check=False)


def test_the_user_is_the_container_s_own_by_its_files(box: Box) -> None:
    assert (box.user.uid, box.user.gid) == (65534, 65534)


def test_a_file_copied_in_is_the_user_s_and_proven_and_the_user_really_reads_it(box: Box, tmp_path: Path) -> None:
    local = tmp_path / "main.py"
    local.write_text("print('synced')\n")
    local.chmod(0o600)  # readable by its owner alone: the copy makes the container's user its owner
    dk.copy_into(box.engine, box.name, [dk.CopyFile(local, "/app/pkg/main.py")], box.user)
    found = proof.prove_sync(box.engine, box.name, [Synced(local, "/app/pkg/main.py")], user=box.user)
    assert isinstance(found, proof.Proven), found
    assert found.files == 1
    said = docker("exec", box.name, "sh", "-c", "stat -c '%U %a' /app/pkg/main.py && cat /app/pkg/main.py").stdout
    assert said == "nobody 600\nprint('synced')\n"
    local.write_text("print('edited')\n")  # the tree moved on: the container no longer holds it
    stale = proof.prove_sync(box.engine, box.name, [Synced(local, "/app/pkg/main.py")], user=box.user)
    assert isinstance(stale, proof.Failed) and stale.differences[0].why == Why.CONTENT


def test_a_delete_of_the_image_s_root_owned_files_happens_and_is_proven(box: Box, tmp_path: Path) -> None:
    docker("exec", "--user", "0", box.name, "sh", "-c", "mkdir -p /app/old && touch /app/old/a.py /app/gone.py")
    deleted = ["/app/old", "/app/gone.py"]
    before = proof.prove_sync(box.engine, box.name, [], deleted, user=box.user)
    assert isinstance(before, proof.Failed)
    assert [d.why for d in before.differences] == [Why.STILL_PRESENT, Why.STILL_PRESENT]
    dk.delete_paths(box.engine, box.name, deleted)  # as the user, `rm` could not: /app is root's
    after = proof.prove_sync(box.engine, box.name, [], deleted, user=box.user)
    assert isinstance(after, proof.Proven) and after.deleted == 2


def test_a_path_the_user_cannot_reach_takes_the_copy_but_fails_the_proof_naming_it(box: Box, tmp_path: Path) -> None:
    local = tmp_path / "x.py"
    local.write_text("x = 1\n")
    dk.copy_into(box.engine, box.name, [dk.CopyFile(local, "/srv/ro/x.py")], box.user)  # the engine writes as root
    found = proof.prove_sync(box.engine, box.name, [Synced(local, "/srv/ro/x.py")], user=box.user)
    assert isinstance(found, proof.Failed)
    assert found.line() == (
        f"{box.name}: not proven: /srv/ro/x.py: unreadable by the container's user "
        "(mode 0444 0:0 directory /srv/ro bars user nobody)"
    )
    assert docker("exec", box.name, "cat", "/srv/ro/x.py", check=False).returncode != 0  # the judgement holds


def test_a_file_where_a_directory_is_fails_the_copy_in_one_line(box: Box, tmp_path: Path) -> None:
    local = tmp_path / "pkg"
    local.write_text("not a directory\n")
    with pytest.raises(DockerFailed) as raised:
        dk.copy_into(box.engine, box.name, [dk.CopyFile(local, "/app/pkg")], box.user)
    assert str(raised.value).startswith(f"could not copy /app/pkg into {box.name}: ")
    assert "\n" not in str(raised.value)


def test_the_whole_tree_against_the_container_then_synced_is_at_the_tree(box: Box, tmp_path: Path) -> None:
    tree = tmp_path / "src"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "a.py").write_text("a\n")
    (tree / "b.py").write_text("b\n")
    (tree / "lib" / "skip.pyc").write_text("ignored\n")
    docker("exec", "--user", "0", box.name, "sh", "-c", "mkdir -p /app/src && echo extra > /app/src/extra.py")

    def ignored(rel: str) -> bool:
        return rel.endswith(".pyc")

    first = proof.compare_tree(box.engine, box.name, tree, "/app/src", ignored, box.user)
    assert {(d.path, d.why) for d in first.differences} == {
        ("/app/src/lib/a.py", Why.MISSING), ("/app/src/b.py", Why.MISSING), ("/app/src/extra.py", Why.EXTRA),
    }  # fmt: skip
    dk.delete_paths(box.engine, box.name, first.to_delete)
    dk.copy_into(box.engine, box.name, [dk.CopyFile(s.tree, s.container) for s in first.to_copy], box.user)
    again = proof.compare_tree(box.engine, box.name, tree, "/app/src", ignored, box.user)
    assert again.at_tree and again.same == 2, again.differences


def test_exec_and_restart_keep_the_synced_files_and_fail_in_one_line(box: Box, tmp_path: Path) -> None:
    assert dk.run_in(box.engine, box.name, ["python", "-c", "import os; print(os.getuid())"]) == "65534\n"
    token = " s3cret = 'value' $HOME "  # sync+exec's environment: a value as it is, nothing expanded
    shown = dk.run_in(box.engine, box.name, ["python", "-c", "import os; print(repr(os.environ['TOKEN']))"],
                      environment={"TOKEN": token})  # fmt: skip
    assert shown == repr(token) + "\n"
    with pytest.raises(DockerFailed, match=rf"^`python -c raise SystemExit\('no'\)` in {box.name} failed: no$"):
        dk.run_in(box.engine, box.name, ["python", "-c", "raise SystemExit('no')"])
    local = tmp_path / "kept.py"
    local.write_text("kept\n")
    dk.copy_into(box.engine, box.name, [dk.CopyFile(local, "/app/kept.py")], box.user)
    dk.restart_container(box.engine, box.name, grace=0)
    found = proof.prove_sync(box.engine, box.name, [Synced(local, "/app/kept.py")], user=box.user)
    assert isinstance(found, proof.Proven), found


def test_a_container_recreated_under_the_sync_fails_the_proof(box: Box, tmp_path: Path) -> None:
    """Last: it replaces the module's container (same name, new id), as `compose up --force-recreate` does."""
    local = tmp_path / "c.py"
    local.write_text("c\n")
    dk.copy_into(box.engine, box.name, [dk.CopyFile(local, "/app/c.py")], box.user)
    docker("rm", "-f", box.name)
    start(box.name)
    by_name = proof.prove_sync(box.engine, box.name, [Synced(local, "/app/c.py")], user=box.user)
    assert isinstance(by_name, proof.Failed) and by_name.line() == f"{box.name}: not proven: /app/c.py: missing"
    by_id = proof.prove_sync(box.engine, box.id, [Synced(local, "/app/c.py")], user=box.user)
    assert isinstance(by_id, proof.Failed) and by_id.differences[0].why == Why.UNREAD
    assert "No such container" in by_id.line()
