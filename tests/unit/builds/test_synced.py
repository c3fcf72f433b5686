"""The sync record (ci/builds/synced.py): an entry speaks of its container alone, syncs onto one container add
up, a recreate clears it, and a record that does not read proves nothing."""

from __future__ import annotations

from pathlib import Path

from ci.builds import synced
from ci.builds.synced import ServiceSync, SyncedRule

RULE = SyncedRule("backend", "/app/backend", ("backend/tmp",))


def entry(container: str = "c1", files: tuple[str, ...] = (), deleted: tuple[str, ...] = ()) -> ServiceSync:
    return ServiceSync(container, "sha256:img", "sha256:tree", "2026-12-07T09:00:00Z", (RULE,), files, deleted)


def test_an_entry_speaks_of_its_container_alone(tmp_path: Path) -> None:
    synced.record_sync(tmp_path, "p", "backend", entry("c1", ("/app/backend/main.py",)))
    record = synced.read_synced(tmp_path, "p")
    assert record.of("backend", "c1") == entry("c1", ("/app/backend/main.py",))
    assert record.of("backend", "c2") is None  # recreated: it runs its image again
    assert record.of("frontend", "c1") is None
    assert synced.read_synced(tmp_path, "other").services == {}


def test_syncs_onto_one_container_add_up_and_a_new_container_starts_over(tmp_path: Path) -> None:
    synced.record_sync(tmp_path, "p", "backend", entry("c1", ("/app/backend/a.py", "/app/backend/b.py")))
    kept = synced.record_sync(tmp_path, "p", "backend", entry("c1", ("/app/backend/c.py",), ("/app/backend/a.py",)))
    assert kept.files == ("/app/backend/b.py", "/app/backend/c.py") and kept.deleted == ("/app/backend/a.py",)
    assert kept.line() == "2 files, 1 deleted, proven at 2026-12-07T09:00:00Z"
    again = synced.record_sync(tmp_path, "p", "backend", entry("c1", ("/app/backend/a.py",)))
    assert again.files == ("/app/backend/a.py", "/app/backend/b.py", "/app/backend/c.py") and again.deleted == ()
    fresh = synced.record_sync(tmp_path, "p", "backend", entry("c2", ("/app/backend/d.py",)))
    assert fresh.files == ("/app/backend/d.py",)


def test_a_recreate_clears_its_services_entries_and_leaves_the_others(tmp_path: Path) -> None:
    synced.record_sync(tmp_path, "p", "backend", entry("c1"))
    synced.record_sync(tmp_path, "p", "worker", entry("c9"))
    synced.clear_synced(tmp_path, "p", ["backend", "frontend"])
    assert set(synced.read_synced(tmp_path, "p").services) == {"worker"}
    synced.clear_synced(tmp_path / "none", "p", ["backend"])  # no record: nothing written
    assert not (tmp_path / "none").exists()


def test_a_record_that_does_not_read_proves_no_sync(tmp_path: Path) -> None:
    for text in ("{", '{"format": 1, "project": "p", "services": {"backend": {"container": "c1"}}}',
                 '{"format": 99, "project": "p", "services": {}}', "[]"):  # fmt: skip
        (tmp_path / synced.FILE).write_text(text)
        assert synced.read_synced(tmp_path, "p").services == {}
