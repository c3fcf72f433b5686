"""The build phase: a dev build's values, the same for dev and watch; prod's `latest` moved only once recorded."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ci import docker as dk
from ci.builds.bake import BakeRequest, BakeResult, Plan, TargetBuild
from ci.builds.bakefile import ResolvedTarget
from ci.builds.finished import Build
from ci.builds.record import BuildRecord, TargetRecord
from ci.builds.trace import BuildTrace
from ci.core.errors import CiError, DockerFailed, Stopped
from ci.core.settings import load_settings
from ci.phases import build as building
from ci.phases.build import TAG, BuildRequest, build_group, dev_values
from ci.sources.fingerprint import Fingerprint
from ci.sources.git import Commit
from tests.unit.builds.test_timeline import two_targets


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


@pytest.mark.parametrize("kept", [True, False], ids=["old image kept by latest", "old image gone with its tag"])
@pytest.mark.parametrize("bake_ends", ["recorded", "interrupted", "failed"])
def test_no_tag_is_left_on_an_image_no_record_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bake_ends: str, kept: bool
) -> None:
    """An interrupted prod (its cache export, say) or a failed one: bake has loaded the images and moved their
    tags, but no record names them. `latest` is not given to bake at all, and moves once last-build.json names
    the build; the tags bake moved are put back on the images they named, or removed where they named none."""
    settings = load_settings({}, root=tmp_path)
    tags = ("p-backend:abc1234-dirty", "p-backend:abc1234", "p-backend:latest", "reg.test/p-backend:latest")
    resolved = {"backend": ResolvedTarget("backend", tags=tags)}
    args = {"backend": {"BUILD_DATE": "2026-12-07T00:00:00Z", "GIT_COMMIT": "abc1234-dirty"}}
    plan = Plan({"backend": Fingerprint("sha256:" + "1" * 64)}, {"backend": None}, args, {"backend": tags})
    store = {"p-backend:abc1234-dirty": "sha256:old"}  # what the engine names
    store |= {"p-backend:latest": "sha256:old"} if kept else {}
    done: list[str] = []

    def baking(request: BakeRequest) -> BakeResult:
        override = json.loads((settings.reports_dir / "bake-override-prod.json").read_text())
        done.append(f"bake {override['target']['backend']['tags']}")
        store.update(dict.fromkeys(override["target"]["backend"]["tags"], "sha256:new"))  # loaded, then...
        if bake_ends == "interrupted":
            raise Stopped(signal.SIGTERM)  # ... the cache export stopped
        if bake_ends == "failed":
            raise CiError("registry cache failed during the build")
        return BakeResult(["backend"], BuildTrace(["backend"]), {}, 1.0)

    def built(engine: object, result: object, target: str, plan: Plan) -> TargetBuild:
        return TargetBuild(target, 1.0, 1, 0, 0.0, 0, [], image=tags[0], image_id="sha256:new", tags=plan.tags[target])

    def recorded(*args: object) -> BuildRecord:
        done.append(f"record {store}")
        return BuildRecord("prod", "p", "abc1234", "", {}, {})

    def tag(engine: object, image_id: str, ref: str) -> None:
        if image_id not in store.values():  # the containerd store drops an image with its last name
            raise DockerFailed(f"could not tag image {image_id}: No such image")
        store[ref] = image_id

    monkeypatch.setattr(building, "plan_build", lambda *args: plan)
    monkeypatch.setattr(building, "bake", baking)
    monkeypatch.setattr(building, "target_build", built)
    monkeypatch.setattr(building, "target_record", lambda t, *args: TargetRecord(t.image, t.image_id, "", tags=t.tags))
    monkeypatch.setattr(building, "record_build", recorded)
    monkeypatch.setattr(dk, "tagged", lambda engine, refs: {r: store[r] for r in refs if r in store})
    monkeypatch.setattr(dk, "tag_image", tag)
    monkeypatch.setattr(dk, "remove_image", lambda engine, ref: store.pop(ref) and None)
    request = BuildRequest(
        settings=settings,
        profile="prod",
        variables={"TAG": "abc1234-dirty", "EXTRA_TAG": "latest"},
        build_args=lambda commit: {},
        engine=dk.Engine(_client=None),  # type: ignore[arg-type]
        store=dk.Engine(_client=None),  # type: ignore[arg-type]
        no_cache=False,
        show_logs=False,
        targets=resolved,
        after_record="latest",
    )
    before = dict(store)
    if bake_ends != "recorded":
        with pytest.raises((Stopped, CiError)):
            build_group(request)
        assert done == ["bake ['p-backend:abc1234-dirty', 'p-backend:abc1234']"]  # nothing recorded
        # Every tag as it was: moved back, or gone where it named nothing or its image is gone.
        assert store == (before if kept else {})
        return
    build = build_group(request)
    assert done == [
        "bake ['p-backend:abc1234-dirty', 'p-backend:abc1234']",
        f"record {before | {'p-backend:abc1234-dirty': 'sha256:new', 'p-backend:abc1234': 'sha256:new'}}",
    ]
    assert store == dict.fromkeys(tags, "sha256:new")  # latest too, once recorded
    assert build.targets[0].tags == tags  # pushed, and in the record, all of them


def test_a_watch_rebuild_writes_the_timeline_of_the_targets_it_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings({}, root=tmp_path)
    trace, targets = two_targets()
    built = Build("watch", {"TAG": "dev"}, 40.0, targets[:1], BuildRecord("watch", "p", "dev", "", {}, {}), trace)
    monkeypatch.setattr(building, "build_group", lambda request: built)
    engine = dk.Engine(_client=None)  # type: ignore[arg-type]
    assert building.rebuild(settings, engine, "watch", {}, None, show_logs=False, out=None) is built
    drawn = (settings.reports_dir / "build-watch.html").read_text()
    assert "<h2>backend <small>" in drawn and "frontend" not in drawn and "1 target," in drawn
