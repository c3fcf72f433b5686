"""`nox -s prod` before anything is asked of the engine: a repository with no commit yet is one line."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from ci import docker as dk
from ci import frame
from ci.builds.bake import TargetBuild
from ci.builds.finished import Build
from ci.core.settings import load_settings
from ci.sessions.prod import SESSION, attestations, digests_line, pushed_digests
from ci.sources.git import git
from tests.conftest import junit_results


def test_a_repository_with_no_commit_yet_is_one_usage_line_saying_to_commit_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "app"
    root.mkdir()
    git(root, "init", "-q")
    (root / "docker-bake.hcl").write_text('target "app" {}\n')
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setattr(frame, "load_settings", lambda: load_settings({}, root=root))
    monkeypatch.setattr("ci.docker.connect", lambda *a, **k: pytest.fail("the engine was asked"))
    assert frame.run(SESSION, []) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "internal error" not in out.err
    assert out.err.strip().splitlines()[-1] == f"error: {root} has no commit yet: " + (
        "commit first (`git add -A && git commit`), prod builds one"
    )
    assert junit_results(tmp_path / "reports" / "junit-prod.xml")["commit"] == "failure"
    assert json.loads((tmp_path / "reports" / "prod.json").read_text())["status"] == "usage error"


def built(target: str, digest: str, *tags: str) -> TargetBuild:
    return TargetBuild(target, 1.0, 1, 1, 1.0, 0, [], digest=digest, tags=tags)


def test_each_pushed_target_is_named_by_its_repository_and_the_digest_bake_wrote() -> None:
    digest = "sha256:" + "a" * 64
    build = SimpleNamespace(
        targets=[
            built("backend", digest, "p-backend:abc", "localhost:5000/p-backend:abc", "localhost:5000/p-backend:x"),
            built("frontend", "", "localhost:5000/p-frontend:abc"),  # no digest written: not named
            built("worker", digest, "p-worker:abc"),  # not pushed
        ]
    )
    found = pushed_digests(cast(Build, build), "localhost:5000")
    assert found == {"backend": f"localhost:5000/p-backend@{digest}"}
    assert digests_line(found) == f"backend {digest}"


@pytest.mark.parametrize(
    ("option", "line"),
    [
        ("--sign", "error: --sign signs the pushed images: give it with --push"),
        ("--no-attest", "error: --no-attest leaves the attestations off a push: give it with --push"),
    ],
)
def test_sign_or_no_attest_without_push_is_one_usage_line(
    option: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setattr(frame, "load_settings", lambda: load_settings({}, root=tmp_path))
    monkeypatch.setattr("ci.docker.connect", lambda *a, **k: pytest.fail("the engine was asked"))
    assert frame.run(SESSION, [option]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == line


def test_sign_without_a_key_is_refused_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("COSIGN_PASSWORD", "not-shown-pw")
    monkeypatch.delenv("COSIGN_KEY", raising=False)
    monkeypatch.setattr(frame, "load_settings", lambda: load_settings({}, root=tmp_path))
    monkeypatch.setattr("ci.sign.cosign.available", lambda: "/usr/bin/cosign")
    monkeypatch.setattr("ci.docker.connect", lambda *a, **k: pytest.fail("the engine was asked"))
    assert frame.run(SESSION, ["--push", "--sign"]) == 2
    out = capsys.readouterr()
    assert out.err.strip().splitlines()[-1].startswith("error: --sign: COSIGN_KEY is not set")
    assert "not-shown-pw" not in out.out + out.err + (tmp_path / "reports" / "prod.json").read_text()


def test_a_push_names_the_sbom_generator_the_settings_give_and_attaches_an_sbom_where_it_resolves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(dk, "image_resolvable", lambda _, ref: asked.append(ref))
    settings = load_settings({}, host_env=Path("/nonexistent"))
    host = load_settings({"SBOM_GENERATOR": "localhost:5000/host/sbom-generator:0123"}, host_env=Path("/nonexistent"))
    assert settings.sbom_generator == "docker.io/docker/buildkit-syft-scanner:stable-1"  # BuildKit's own default
    found = attestations(cast(dk.Engine, None), host.sbom_generator, "localhost:5000")
    assert found.missing == "" and asked == ["localhost:5000/host/sbom-generator:0123"]
    assert found.variables == {
        "IMAGE_REGISTRY": "localhost:5000", "ATTEST": "true", "SBOM": "true",
        "SBOM_GENERATOR": "localhost:5000/host/sbom-generator:0123",
    }  # fmt: skip


def test_a_generator_that_cannot_be_had_is_no_sbom_asked_and_one_line_saying_why_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dk, "image_resolvable", lambda *_: "failed to resolve: dial tcp: i/o timeout")
    found = attestations(cast(dk.Engine, None), "docker.io/docker/buildkit-syft-scanner:stable-1", "r:5000")
    assert found.variables["SBOM"] == "false" and found.variables["ATTEST"] == "true"
    assert found.missing == (
        "no SBOM: its generator docker.io/docker/buildkit-syft-scanner:stable-1 cannot be had "
        "(docker.io is unreachable (i/o timeout)); ci/provision builds the host's own"
    )
