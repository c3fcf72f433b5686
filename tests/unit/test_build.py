"""The build phase: a dev build's values, the same for dev and watch; prod's `latest` moved only once recorded."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ci import docker as dk
from ci.bake import BakeRequest, BakeResult, Plan, TargetBuild
from ci.bakefile import ResolvedTarget
from ci.buildtrace import BuildTrace
from ci.errors import CiError, Stopped
from ci.fingerprint import Fingerprint
from ci.git import Commit
from ci.phases import build as building
from ci.phases.build import TAG, BuildRequest, build_group, dev_values
from ci.record import BuildRecord, TargetRecord
from ci.settings import load_settings


def test_a_dev_build_is_given_fresh_values_from_one_moment_and_no_registry_cache(tmp_path: Path) -> None:
    settings = load_settings({}, root=tmp_path)  # not a git tree: the commit is unknown
    values = dev_values(settings, datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    fresh = {"CACHE_BUST": "1795428000", "BUILD_DATE": "2026-11-23T10:00:00Z"}
    assert TAG == "dev"
    assert values.variables == {
        "PROJECT": settings.project, "TAG": "dev", "REGISTRY_CACHE": "false", **fresh, "GIT_COMMIT": "unknown",
    }  # fmt: skip
    dirty = Commit("abc1234", "abc1234" + "0" * 33, 0, True)
    assert values.build_args(dirty) == {**fresh, "GIT_COMMIT": "abc1234-dirty"}
    assert values.build_args(None) == {**fresh, "GIT_COMMIT": "unknown"}


@pytest.mark.parametrize("bake_ends", ["recorded", "interrupted", "failed"])
def test_latest_moves_only_once_the_build_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bake_ends: str
) -> None:
    """An interrupted prod (its cache export, say) must not leave `:latest` on an image no record names: bake
    is given every tag but `latest`, which each image gets after last-build.json names it."""
    settings = load_settings({}, root=tmp_path)
    tags = ("p-backend:abc1234", "p-backend:latest", "reg.test/p-backend:latest")
    resolved = {"backend": ResolvedTarget("backend", tags=tags)}
    args = {"backend": {"BUILD_DATE": "2026-12-07T00:00:00Z", "GIT_COMMIT": "abc1234"}}
    plan = Plan({"backend": Fingerprint("sha256:" + "1" * 64)}, {"backend": None}, args, {"backend": tags})
    done: list[str] = []

    def baking(request: BakeRequest) -> BakeResult:
        override = json.loads((settings.reports_dir / "bake-override-prod.json").read_text())
        done.append(f"bake {override['target']['backend']['tags']}")
        if bake_ends == "interrupted":
            raise Stopped(signal.SIGTERM)
        if bake_ends == "failed":
            raise CiError("backend [runtime 5/5] failed")
        return BakeResult(["backend"], BuildTrace(["backend"]), {}, 1.0)

    def built(store: object, result: object, target: str, plan: Plan) -> TargetBuild:
        return TargetBuild(target, 1.0, 1, 0, 0.0, 0, [], image=tags[0], image_id="sha256:new", tags=plan.tags[target])

    def recorded(*args: object) -> BuildRecord:
        done.append("record")
        return BuildRecord("prod", "p", "abc1234", "", {}, {})

    monkeypatch.setattr(building, "plan_build", lambda *args: plan)
    monkeypatch.setattr(building, "bake", baking)
    monkeypatch.setattr(building, "target_build", built)
    monkeypatch.setattr(building, "target_record", lambda t, *args: TargetRecord(t.image, t.image_id, "", tags=t.tags))
    monkeypatch.setattr(building, "record_build", recorded)
    monkeypatch.setattr(dk, "tag_image", lambda engine, image_id, ref: done.append(f"tag {image_id} {ref}"))
    request = BuildRequest(
        settings=settings,
        profile="prod",
        variables={"TAG": "abc1234", "EXTRA_TAG": "latest"},
        build_args=lambda commit: {},
        engine=dk.Engine(_client=None),  # type: ignore[arg-type]
        store=dk.Engine(_client=None),  # type: ignore[arg-type]
        no_cache=False,
        show_logs=False,
        targets=resolved,
        after_record="latest",
    )
    if bake_ends != "recorded":
        with pytest.raises((Stopped, CiError)):
            build_group(request)
        assert done == ["bake ['p-backend:abc1234']"]  # nothing tagged latest, nothing recorded
        return
    build = build_group(request)
    assert done == [
        "bake ['p-backend:abc1234']",
        "record",
        "tag sha256:new p-backend:latest",
        "tag sha256:new reg.test/p-backend:latest",
    ]
    assert build.targets[0].tags == tags  # pushed, and in the record, all of them
