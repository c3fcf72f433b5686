"""The build record: one writer, one reader; older formats read the same, a foreign one fails in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci.builds.record import BuildRecord, TargetRecord, read_record, replaced_targets, with_pushed, write_record
from ci.core.errors import CiError
from ci.stack.rollback import previous_target

VARIABLES = {"GIT_COMMIT": "abc1234", "BUILD_DATE": "2026-11-23T10:00:00Z", "CACHE_BUST": "abc"}


def test_a_record_reads_back_as_written_with_each_targets_own_identity(tmp_path: Path) -> None:
    api = TargetRecord("p-api:1", "sha256:1", "sha256:s", {"a.py": "h"}, ".", "Dockerfile", "def5678", "d", "c",
                       ("p-api:abc1234", "p-api:def5678"), "sha256:args", {"API_URL": "ab12"})  # fmt: skip
    record = BuildRecord("prod", "p", "abc1234", "now", VARIABLES, {"api": api})
    write_record(record, tmp_path)
    assert read_record(tmp_path, "p") == record
    assert record.expected("api") == {"git_commit": "def5678", "build_date": "d", "cache_bust": "c",
                                      "source_digest": "sha256:s"}  # fmt: skip
    assert record.commit == "abc1234"
    assert read_record(tmp_path, "another project") is None


def test_a_format_2_record_gives_every_target_the_builds_values(tmp_path: Path) -> None:
    target = {"image": "p-api:dev", "image_id": "sha256:1", "source_digest": "sha256:s", "files": {}}
    data = {"format": 2, "profile": "dev", "project": "p", "tag": "dev", "finished": "now",
            "variables": VARIABLES, "targets": {"api": target}}  # fmt: skip
    (tmp_path / "last-build.json").write_text(json.dumps(data))
    record = read_record(tmp_path, "p")
    assert record is not None and record.expected("api")["git_commit"] == "abc1234"
    assert record.targets["api"].tags == ("p-api:dev",)
    assert (record.targets["api"].build_args_digest, record.targets["api"].build_args) == ("", {})  # none recorded
    assert record.targets["api"].pushed == ""  # none recorded: unpushed


def test_a_push_marks_each_pushed_target_and_reads_back(tmp_path: Path) -> None:
    api = TargetRecord("p-api:1", "sha256:1", "sha256:s", tags=("p-api:1",))
    web = TargetRecord("p-web:1", "sha256:2", "sha256:t", tags=("p-web:1",))
    record = BuildRecord("prod", "p", "abc1234", "now", VARIABLES, {"api": api, "web": web})
    pushed = with_pushed(record, {"api": "localhost:5000/p-api@sha256:" + "a" * 64})
    assert pushed.targets["api"].pushed == "localhost:5000/p-api@sha256:" + "a" * 64
    assert pushed.targets["web"].pushed == ""  # not pushed: none
    write_record(pushed, tmp_path)
    assert read_record(tmp_path, "p") == pushed


def test_a_newer_or_broken_record_says_to_rebuild(tmp_path: Path) -> None:
    (tmp_path / "last-build.json").write_text(json.dumps({"format": 9, "project": "p"}))
    with pytest.raises(CiError, match=r"not a build record this version reads.*rebuild with `nox -s dev`"):
        read_record(tmp_path, "p")


def test_what_a_build_is_says_its_profile_and_tag_once() -> None:
    assert BuildRecord("prod", "p", "abc1234", "now", VARIABLES, {}).what == "the latest build (prod abc1234, now)"
    assert BuildRecord("dev", "p", "dev", "now", VARIABLES, {}).what == "the latest build (dev, now)"


def target(image_id: str) -> TargetRecord:
    return TargetRecord("p-backend:dev", image_id, f"sha256:src-{image_id}")


def test_a_build_record_keeps_what_each_target_replaced_and_a_rollback_finds_it() -> None:
    first = BuildRecord("dev", "p", "dev", "t1", {}, {"backend": target("a"), "frontend": target("f")})
    second_targets = {"backend": target("b"), "frontend": target("f")}
    second = BuildRecord("dev", "p", "dev", "t2", {}, second_targets, replaced_targets(first, second_targets))
    assert second.previous == {"backend": target("a")}  # the frontend's image did not change: it replaced none
    assert previous_target(second, "backend", "a") == target("a")
    assert previous_target(second, "backend", "b") == target("b")
    assert previous_target(second, "backend", "z") is None
    third_targets = {"backend": target("b"), "frontend": target("g")}
    assert replaced_targets(second, third_targets) == {"backend": target("a"), "frontend": target("f")}
