"""The ledger of built images: what each build adds, per project, read back as written; what is forgotten;
a file this code cannot read is one line when read, and replaced when a build writes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from ci.builds import ledger
from ci.builds.ledger import Built, builds_of, forget, read_ledger, record_builds
from ci.builds.record import BuildRecord, TargetRecord
from ci.core.errors import CiError


def target(image_id: str, *tags: str) -> TargetRecord:
    return TargetRecord(tags[0] if tags else "p-api:dev", image_id, "sha256:s", tags=tags)


def test_a_builds_images_are_read_back_as_written_per_project(tmp_path: Path) -> None:
    record = BuildRecord("prod", "p", "abc1234", "2026-01-10T12:00:00Z", {}, {
        "api": target("sha256:1", "p-api:abc1234", "p-api:latest"), "web": target("sha256:2", "p-web:abc1234"),
    }, previous={"api": target("sha256:0", "p-api:dev")})  # fmt: skip
    record_builds(tmp_path, "p", builds_of(record))
    record_builds(tmp_path, "q", [Built("sha256:9", "api", "dev", ("q-api:dev",), "t")])
    assert read_ledger(tmp_path, "p") == [
        Built("sha256:1", "api", "abc1234", ("p-api:abc1234", "p-api:latest"), "2026-01-10T12:00:00Z"),
        Built("sha256:2", "web", "abc1234", ("p-web:abc1234",), "2026-01-10T12:00:00Z"),
    ]  # the replaced build was recorded when it was built, not again
    assert [b.image_id for b in read_ledger(tmp_path, "q")] == ["sha256:9"]
    assert read_ledger(tmp_path, "nobody") == [] and read_ledger(tmp_path / "none", "p") == []


def test_an_image_built_again_moves_to_the_end_and_the_oldest_go_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "LIMIT", 3)
    for n in (1, 2, 3):
        record_builds(tmp_path, "p", [Built(f"sha256:{n}", "api", "dev", ("p-api:dev",), f"t{n}")])
    record_builds(tmp_path, "p", [Built("sha256:1", "api", "dev", ("p-api:dev",), "t4")])
    assert [(b.image_id, b.built) for b in read_ledger(tmp_path, "p")] == [
        ("sha256:2", "t2"), ("sha256:3", "t3"), ("sha256:1", "t4"),
    ]  # fmt: skip
    record_builds(tmp_path, "p", [Built("sha256:5", "api", "dev", (), "t5")])
    assert [b.image_id for b in read_ledger(tmp_path, "p")] == ["sha256:3", "sha256:1", "sha256:5"]


def test_forgotten_images_leave_the_ledger_and_nothing_else_does(tmp_path: Path) -> None:
    record_builds(tmp_path, "p", [Built(f"sha256:{n}", "api", "dev", (), "t") for n in (1, 2, 3)])
    record_builds(tmp_path, "q", [Built("sha256:2", "api", "dev", (), "t")])
    forget(tmp_path, "p", {"sha256:2", "sha256:unknown"})
    assert [b.image_id for b in read_ledger(tmp_path, "p")] == ["sha256:1", "sha256:3"]
    assert [b.image_id for b in read_ledger(tmp_path, "q")] == ["sha256:2"]


def test_the_ledger_is_written_whole_and_private_to_its_user(tmp_path: Path) -> None:
    record_builds(tmp_path, "p", [Built("sha256:1", "api", "dev", (), "t")])
    path = tmp_path / ledger.FILE
    assert json.loads(path.read_text())["format"] == ledger.FORMAT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # mkstemp's: a temporary file renamed over it
    assert [p.name for p in tmp_path.iterdir()] == [ledger.FILE]  # no temporary file left


@pytest.mark.parametrize("text", ["{not json", '{"format": 9, "projects": {}}', '{"format": 1, "projects": []}',
                                  '{"format": 1, "projects": {"p": [{"image_id": "x"}]}}'])  # fmt: skip
def test_a_ledger_this_code_cannot_read_is_one_line_and_a_build_replaces_it(tmp_path: Path, text: str) -> None:
    (tmp_path / ledger.FILE).write_text(text)
    with pytest.raises(CiError) as err:
        read_ledger(tmp_path, "p")
    assert "\n" not in str(err.value) and "delete it" in str(err.value)
    record_builds(tmp_path, "p", [Built("sha256:1", "api", "dev", (), "t")])
    assert [b.image_id for b in read_ledger(tmp_path, "p")] == ["sha256:1"]
