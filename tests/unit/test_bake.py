"""Baking a group (ci/bake.py): the contexts that need a grant, each target's identity tags, the labels every
image built carries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from ci import bake as bake_module
from ci import docker as dk
from ci.bake import Plan, identity_tags, resolve_targets
from ci.bakefile import ResolvedTarget
from ci.errors import CiError, DockerFailed
from ci.fingerprint import Fingerprint
from ci.settings import load_settings
from tests.unit.test_buildtrace import vertex


def test_identity_tags_add_the_targets_own_label_beside_the_trees() -> None:
    tags = ["app-api:abc", "app-api:latest", "reg/app-api:abc", "reg/app-api:latest"]
    assert identity_tags(tags, "abc", "def") == (*tags, "app-api:def", "reg/app-api:def")
    assert identity_tags(tags, "abc", "abc") == tuple(tags)


def test_every_image_built_is_labelled_with_its_date_commit_and_digest_whatever_its_dockerfile_says() -> None:
    args = {"GIT_COMMIT": "abc1234", "BUILD_DATE": "2026-12-05T10:00:00Z", "CACHE_BUST": "1"}
    plan = Plan({"vote": Fingerprint("sha256:" + "e" * 64)}, {"vote": None}, {"vote": args}, {"vote": ("v:dev",)})
    labels = plan.override()["target"]["vote"]["labels"]
    assert labels == {
        "mainza.source-digest": "sha256:" + "e" * 64,
        "org.opencontainers.image.created": "2026-12-05T10:00:00Z",
        "org.opencontainers.image.revision": "abc1234",
    }


def test_a_target_whose_context_leaves_the_project_is_refused_before_anything_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "docker-bake.hcl").write_text('target "backend" {}\n')
    definition = {"target": {"backend": {"context": "../../../../etc", "dockerfile": "Dockerfile"}}}
    monkeypatch.setattr(dk, "bake_definition", lambda *_: definition)
    monkeypatch.setattr(bake_module, "fingerprint", lambda *_: pytest.fail("a file was read"))
    with pytest.raises(CiError) as refused:
        resolve_targets(cast(dk.Engine, None), load_settings({}, root=root), "dev", {})
    assert str(refused.value).startswith("target backend: its context ../../../../etc is outside the project (/")
    definition["target"]["backend"]["context"] = "."
    assert list(resolve_targets(cast(dk.Engine, None), load_settings({}, root=root), "dev", {})) == ["backend"]


RACE = (
    'failed to prepare extraction snapshot "extract-684733712-F8MT sha256:e62d": parent snapshot '
    "sha256:4ce1 does not exist: not found"
)


def failing_stream(error: str) -> Iterator[str]:
    """A bake's rawjson stream whose frontend export fails with ERROR, then buildx's exit."""
    yield json.dumps({"vertexes": [vertex("x", "[frontend] exporting to image", error=error, started="t")]})
    raise DockerFailed("ERROR: failed to solve", stderr=f"ERROR: failed to solve: {error}")


@pytest.mark.parametrize(("second", "bakes"), [("", 2), (RACE, 2), ("exit code: 2", 1)])
def test_a_bake_lost_to_containerds_snapshot_race_alone_is_run_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], second: str, bakes: int
) -> None:
    """containerd#10835: an export that finds a layer's parent snapshot gone is baked again, once, and says so;
    a second loss, or any other failure, fails as ever."""
    errors = [RACE if bakes == 2 else second, second]
    calls: list[str] = []

    def stream(*args: object, **kwargs: object) -> Iterator[str]:
        error = errors[len(calls)]
        calls.append(error)
        return failing_stream(error) if error else iter(())

    monkeypatch.setattr(dk, "bake_stream", stream)
    settings = load_settings({}, root=tmp_path)
    request = bake_module.BakeRequest(
        engine=cast(dk.Engine, None), settings=settings, group="dev", variables={}, no_cache=False,
        metadata_file=tmp_path / "m.json",
        resolved={"frontend": ResolvedTarget("frontend", context=".", dockerfile="Dockerfile")},
    )  # fmt: skip
    if second:
        with pytest.raises(CiError):
            bake_module.bake(request)
    else:
        bake_module.bake(request)
    assert len(calls) == bakes
    said = "the engine lost a layer's snapshot while exporting (containerd#10835): baking again"
    assert (said in capsys.readouterr().out) is (bakes == 2)
