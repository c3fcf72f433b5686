"""Baking a group (ci/builds/bake.py): the contexts that need a grant, each target's identity tags, the labels every
image built carries."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from ci import docker as dk
from ci.builds import bake as bake_module
from ci.builds.bake import Plan, identity_tags, plan_build, resolve_targets
from ci.builds.bakefile import ResolvedTarget
from ci.builds.buildargs import args_digest, dev_args
from ci.core.errors import CiError, DockerFailed
from ci.core.settings import load_settings
from ci.sources.fingerprint import Fingerprint
from tests.unit.builds.test_trace import vertex


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
        "mainza.build-args": args_digest({}),  # it has none that shape it
        "org.opencontainers.image.created": "2026-12-05T10:00:00Z",
        "org.opencontainers.image.revision": "abc1234",
    }


FRONTEND = {"context": ".", "dockerfile": "Dockerfile.frontend"}


def frontend_plan(root: Path, monkeypatch: pytest.MonkeyPatch, api_url: str) -> tuple[Plan, dict[str, object]]:
    """The plan of a frontend whose bake file resolves VITE_API_URL to API_URL (and the suite's build-info
    args, which never shape it); the target's fields in the bake override."""
    args = {"VITE_API_URL": api_url, "NODE_IMAGE": "node", "GIT_COMMIT": "unknown", "SOURCE_URL": "https://x"}
    resolved = {"frontend": ResolvedTarget("frontend", **FRONTEND, args=args)}  # type: ignore[arg-type]
    monkeypatch.setattr(bake_module, "fingerprint", lambda *_: Fingerprint("sha256:" + "e" * 64))
    monkeypatch.setattr(bake_module, "identity", lambda *_: None)
    plan = plan_build(load_settings({}, root=root), resolved, dev_args(datetime(2026, 12, 7, tzinfo=UTC)), None)
    return plan, plan.override()["target"]["frontend"]


def test_the_build_args_that_shape_an_image_are_planned_given_to_bake_and_labelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, fields = frontend_plan(tmp_path, monkeypatch, "https://api.example.test")
    assert plan.shaping == {"frontend": {"NODE_IMAGE": "node", "VITE_API_URL": "https://api.example.test"}}
    given = cast(dict[str, str], fields["args"])
    assert given["VITE_API_URL"] == "https://api.example.test"  # as planned, whatever bake would resolve later
    assert given["BUILD_DATE"] == "2026-12-07T00:00:00Z"  # the build-info args are the session's
    labels = cast(dict[str, str], fields["labels"])
    assert labels["mainza.build-args"] == args_digest(plan.shaping["frontend"])


def test_a_frontend_built_with_another_api_url_is_another_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, first = frontend_plan(tmp_path, monkeypatch, "/api")
    other, second = frontend_plan(tmp_path, monkeypatch, "https://api.example.test")
    assert one.prints == other.prints  # the same sources
    label = "mainza.build-args"
    assert cast(dict[str, str], first["labels"])[label] != cast(dict[str, str], second["labels"])[label]


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

    def stream(_: object, call: dk.BakeCall) -> Iterator[str]:
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


def test_bake_and_its_print_are_given_dotenvs_values_beneath_the_sessions_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 33: VITE_API_URL and CACHE_REGISTRY in .env were ignored by bake (only exported variables reached it)."""
    (tmp_path / "docker-bake.hcl").write_text(
        'variable "VITE_API_URL" {\n  default = "/api"\n}\nvariable "CACHE_REGISTRY" {\n  default = "x"\n}\n'
        'variable "TAG" {\n  default = "dev"\n}\ntarget "frontend" {\n}\n'
    )
    (tmp_path / ".env").write_text("VITE_API_URL=https://api.example.test\nCACHE_REGISTRY=r.test:5000\nTAG=v1\n")
    settings = load_settings({"CACHE_REGISTRY": "exported.test"}, root=tmp_path, host_env=tmp_path / "missing")
    given: list[dict[str, str]] = []

    def definition(_: object, bake_file: Path, targets: list[str], variables: dict[str, str]) -> dict[str, object]:
        given.append(variables)
        return {"target": {"frontend": {"context": "."}}}

    def stream(_: object, call: dk.BakeCall) -> list[str]:
        given.append(dict(call.variables))
        return []

    monkeypatch.setattr(dk, "bake_definition", definition)
    monkeypatch.setattr(dk, "bake_stream", stream)
    resolved = resolve_targets(cast(dk.Engine, None), settings, "dev", {"TAG": "dev"})
    bake_module.bake(
        bake_module.BakeRequest(
            engine=cast(dk.Engine, None), settings=settings, group="dev", variables={"TAG": "dev"}, no_cache=False,
            metadata_file=tmp_path / "meta.json", resolved=resolved, out=io.StringIO(),
        )
    )  # fmt: skip
    expected = {"VITE_API_URL": "https://api.example.test", "CACHE_REGISTRY": "exported.test", "TAG": "dev"}
    assert given == [expected, expected]  # the session's TAG over .env's; the exported registry over .env's


def test_the_args_now_are_each_targets_but_its_build_info_and_a_bake_file_that_fails_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings({}, root=tmp_path, host_env=tmp_path / "missing")
    args = {"VITE_API_URL": "/api", "GIT_COMMIT": "abc", "SOURCE_DIGEST": "x"}
    monkeypatch.setattr(dk, "bake_definition", lambda *_: {"target": {"frontend": {"args": args}}})
    engine = cast(dk.Engine, None)
    assert bake_module.shaping_now(engine, settings, ["frontend"], {}) == {"frontend": {"VITE_API_URL": "/api"}}
    assert bake_module.shaping_now(engine, settings, [], {}) == {}

    def fails(*_: object) -> None:
        raise DockerFailed("exit 1", stderr='ERROR: docker-bake.hcl:3: Unknown variable "X"')

    monkeypatch.setattr(dk, "bake_definition", fails)
    with pytest.raises(CiError, match=r'^docker-bake.hcl does not resolve: docker-bake.hcl:3: Unknown variable "X"$'):
        bake_module.shaping_now(engine, settings, ["frontend"], {})
