"""A sync turn's work and what a synced container is held to (ci/watch/sync.py): the steps in compose's order,
a failing one raised before any proof; a synced container at the tree only while the tree's fingerprint is the
recorded one and every rule's path read back is the tree's, a file the image made itself aside."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from ci import docker as dk
from ci.builds.record import TargetRecord
from ci.builds.synced import ServiceSync, SyncedRule
from ci.core.errors import CiError
from ci.sources.fingerprint import fingerprint
from ci.sources.identity import Inputs
from ci.stack import live
from ci.stack.develop import Action, Exec, WatchRule
from ci.watch import sync
from ci.watch.plan import Copy, Sync

APP = dk.ContainerUser("10001", 10001, 10001, frozenset({10001}))
RULE = SyncedRule("backend", "/app/backend", ("backend/scratch",))


def project(root: Path) -> Inputs:
    (root / "backend").mkdir()
    (root / "backend" / "main.py").write_text("x = 1\n")
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / ".dockerignore").write_text("*\n!backend/\n**/__pycache__\n")
    return Inputs.of(root, Path("Dockerfile"))


def file(path: str, content: bytes) -> dk.Entry:
    return dk.Entry(path, dk.Kind.FILE, 0o644, 10001, 10001, len(content), hashlib.sha256(content).hexdigest())


def container_with(monkeypatch: pytest.MonkeyPatch, *entries: dk.Entry) -> None:
    folder = dk.Entry("/app/backend", dk.Kind.DIR, 0o755, 0, 0)
    found = {e.path: e for e in (folder, *entries)}
    monkeypatch.setattr(dk, "container_user", lambda engine, container: APP)
    monkeypatch.setattr(dk, "read_trees", lambda engine, container, roots: dk.ContainerTree(found, frozenset()))


def entry_for(inputs: Inputs) -> ServiceSync:
    return ServiceSync("c1", "sha256:" + "a" * 64, sync.tree_digest(inputs), "2026-12-07T09:00:00Z", (RULE,),
                       ("/app/backend/main.py",))  # fmt: skip


def built(inputs: Inputs, **files: str) -> TargetRecord:
    """The image's build: the tree's files as they are now (those under the rule aside), FILES changed; and
    backend/old.py, a source it was built from that the tree no longer has."""
    now = fingerprint(inputs.context, inputs.dockerfile).files
    return TargetRecord("p-backend:dev", "sha256:" + "a" * 64, "sha256:old",
                        {**now, "backend/old.py": "0" * 64, **files})  # fmt: skip


ENGINE = dk.Engine(_client=None, project="p")  # type: ignore[arg-type]


def test_a_synced_container_at_the_tree_passes_as_synced_the_image_s_own_files_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = project(tmp_path)
    container_with(monkeypatch, file("/app/backend/main.py", b"x = 1\n"),
                   file("/app/backend/build-info.json", b"{}"),  # written by the build: the image's
                   file("/app/backend/__pycache__/main.cpython-311.pyc", b"..."),  # ignored by the inputs
                   file("/app/backend/scratch", b"..."))  # ignored by the rule  # fmt: skip
    said = sync.at_tree(ENGINE, tmp_path, "backend", entry_for(inputs), inputs, built(inputs))
    assert (
        said
        == "synced from the tree onto aaaaaaaaaaaa built from an earlier tree (1 file, proven at 2026-12-07T09:00:00Z)"
    )


def test_a_tree_changed_since_the_sync_fails_naming_both_fingerprints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = project(tmp_path)
    entry = entry_for(inputs)
    (tmp_path / "backend" / "main.py").write_text("x = 2\n")
    container_with(monkeypatch, file("/app/backend/main.py", b"x = 1\n"))
    with pytest.raises(
        CiError, match=r"^backend: synced from the tree at \w{12} onto aaaaaaaaaaaa, but the tree is now"
    ):
        sync.at_tree(ENGINE, tmp_path, "backend", entry, inputs, built(inputs))


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ((file("/app/backend/main.py", b"x = 9\n"),), "/app/backend/main.py: different content"),
        ((), "/app/backend/main.py: missing"),
        # a source the image was built from, deleted from the tree but not from the container
        ((file("/app/backend/main.py", b"x = 1\n"), file("/app/backend/old.py", b"")), "/app/backend/old.py: only in"),
    ],
)
def test_a_container_that_differs_from_the_tree_fails_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: Sequence[dk.Entry], named: str
) -> None:
    inputs = project(tmp_path)
    container_with(monkeypatch, *entries)
    with pytest.raises(CiError, match=rf"^backend: synced container differs from the tree: {named}"):
        sync.at_tree(ENGINE, tmp_path, "backend", entry_for(inputs), inputs, built(inputs))


def test_a_sync_runs_in_compose_s_order_and_a_failing_step_stops_it_before_the_proof(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path)
    done: list[str] = []

    @contextmanager
    def events(engine: object, actions: object) -> Iterator[None]:
        done.append("events")
        yield None

    monkeypatch.setattr(dk, "copy_into", lambda e, c, files, user: done.append(f"copy {[f.target for f in files]}"))
    monkeypatch.setattr(dk, "delete_paths", lambda e, c, paths: done.append(f"delete {paths}"))
    monkeypatch.setattr(dk, "container_events", events)
    monkeypatch.setattr(dk, "restart_container", lambda e, c: done.append("restart"))
    monkeypatch.setattr(dk, "run_in", lambda e, c, command, **kw: done.append(f"exec {command}"))
    monkeypatch.setattr(live, "wait_healthy", lambda e, names, ev, jobs: done.append(f"healthy {names}") or {})
    container_with(monkeypatch, file("/app/backend/main.py", b"x = 1\n"))
    planned = Sync("backend", (Copy("backend/main.py", "/app/backend/main.py"),), ("/app/backend/old.py",),
                   restart=True, execs=(Exec(("touch", "/tmp/x")),))  # fmt: skip
    carried = sync.carry(ENGINE, "backend", "c1", planned, tmp_path, APP)
    assert done == ["copy ['/app/backend/main.py']", "delete ['/app/backend/old.py']", "events", "restart",
                    "exec ('touch', '/tmp/x')", "healthy ['backend']"]  # fmt: skip
    assert carried.proof.ok and carried.proof.line().startswith("proven: 1 file, 1 deleted read back in")

    def refused(*args: object) -> None:
        raise CiError("could not restart c1: container is marked for removal")

    monkeypatch.setattr(dk, "restart_container", refused)
    with pytest.raises(CiError, match="could not restart c1"):
        sync.carry(ENGINE, "backend", "c1", planned, tmp_path, APP)


def test_what_a_rule_compares_leaves_out_the_rule_s_ignore_and_the_inputs_ignore(tmp_path: Path) -> None:
    ignored = sync.ignored_by(RULE, project(tmp_path), tmp_path)
    assert not ignored("main.py") and not ignored("api/routes.py")
    assert ignored("scratch") and ignored("__pycache__") and ignored("api/__pycache__")


def test_an_input_no_sync_rule_carries_must_be_as_the_image_was_built_whatever_the_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = project(tmp_path)
    container_with(monkeypatch, file("/app/backend/main.py", b"x = 1\n"))
    image = built(inputs, **{"Dockerfile": "1" * 64})  # the Dockerfile changed since the image
    with pytest.raises(CiError, match=r"^backend: Dockerfile differs from its image's build and no sync rule"):
        sync.at_tree(ENGINE, tmp_path, "backend", entry_for(inputs), inputs, image)
    other = TargetRecord("p-backend:dev", "sha256:" + "b" * 64, "sha256:new", image.files)
    with pytest.raises(CiError, match=r"^backend: synced onto a{12}, but the build record's is b{12}"):
        sync.at_tree(ENGINE, tmp_path, "backend", entry_for(inputs), inputs, other)


def backend_rules(dockerfile_covered: bool = False) -> tuple[WatchRule, ...]:
    path = "." if dockerfile_covered else "backend"
    target = "/app" if dockerfile_covered else "/app/backend"
    return (WatchRule("backend", 1, path, Action.SYNC_RESTART, target, ("backend/scratch",)),)


def test_at_start_edits_and_deletions_made_while_nothing_watched_are_what_the_sync_carries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = project(tmp_path)
    (tmp_path / "backend" / "new.py").write_text("y = 2\n")  # added while watch was off
    container_with(monkeypatch, file("/app/backend/main.py", b"x = 0\n"),  # edited since
                   file("/app/backend/old.py", b"..."),  # deleted from the tree since
                   file("/app/backend/build-info.json", b"{}"),  # the image's own: never deleted
                   file("/app/backend/scratch", b"..."))  # the rule ignores it  # fmt: skip
    found = sync.catch_up(ENGINE, tmp_path, "backend", "c1", backend_rules(), inputs, built(inputs), APP)
    assert found.rebuild == "" and found.differs and found.sync is not None
    assert found.sync.copies == (
        Copy("backend/main.py", "/app/backend/main.py"),
        Copy("backend/new.py", "/app/backend/new.py"),
    )
    assert found.sync.deletes == ("/app/backend/old.py",) and found.sync.restart
    assert found.files == ("backend/main.py", "backend/new.py", "backend/old.py (deleted)")


def test_at_start_a_container_already_at_the_tree_asks_no_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = project(tmp_path)
    container_with(monkeypatch, file("/app/backend/main.py", b"x = 1\n"))
    found = sync.catch_up(ENGINE, tmp_path, "backend", "c1", backend_rules(), inputs, built(inputs), APP)
    assert found.sync is not None and not found.differs and found.compared == 1


def test_at_start_a_dockerfile_a_rule_covers_is_still_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = project(tmp_path)
    container_with(monkeypatch, file("/app/backend/main.py", b"x = 1\n"))
    image = built(inputs, **{"Dockerfile": "1" * 64})  # the Dockerfile changed while watch was off
    found = sync.catch_up(ENGINE, tmp_path, "backend", "c1", backend_rules(dockerfile_covered=True), inputs, image, APP)
    assert found.rebuild == "Dockerfile differs from its image's build and no sync rule carries it"
