"""lint's pieces: the files it lints, a linter's findings as one line, bake --check only where buildx has it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci import docker as dk
from ci.core.errors import CiError, DockerFailed
from ci.core.report import Check
from ci.core.settings import Settings
from ci.sessions import lint as linting
from tests.conftest import APP, EXAMPLE

ROOT = Path(__file__).resolve().parents[3]
MIXED = ROOT / "tests" / "data" / "bake" / "mixed-compressions.hcl"


def test_lint_finds_the_repository_dockerfiles_and_workflows() -> None:
    assert [p.name for p in linting.dockerfiles(APP)] == ["Dockerfile", "Dockerfile.frontend"]
    assert [p.name for p in linting.workflow_files(ROOT)] == ["ci.yml", "deploy-verify.yml", "nightly.yml"]


def test_lint_checks_every_dockerfile_the_bake_file_names_a_services_own_folder_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "vote").mkdir()
    for name in ("Dockerfile", "vote/Dockerfile", "Dockerfile.dockerignore"):
        (tmp_path / name).write_text("FROM scratch\n")
    (tmp_path / "docker-bake.hcl").write_text('group "default" {\n  targets = ["app", "vote", "inline"]\n}\n')
    definition = {
        "target": {
            "app": {"context": ".", "dockerfile": "Dockerfile"},
            "vote": {"context": "vote", "dockerfile": "Dockerfile"},
            "inline": {"context": ".", "dockerfile-inline": "FROM scratch"},
            "remote": {"context": "https://github.com/o/r.git", "dockerfile": "Dockerfile"},
        }
    }
    monkeypatch.setattr(dk, "connect", lambda _: object())
    monkeypatch.setattr(dk, "bake_definition", lambda *_: definition)
    settings = Settings(root=tmp_path, project="p", reports_dir=tmp_path / "reports", ports={})
    found = linting.dockerfiles(tmp_path, linting.named_dockerfiles(settings))
    assert [str(p.relative_to(tmp_path.resolve())) for p in found] == ["Dockerfile", "vote/Dockerfile"]


def test_lint_tool_missing_is_a_failed_step_saying_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(CiError, match=r"no-such-linter is not installed here: run `nox -s lint`"):
        linting.run_tool(Check("x"), tmp_path, ["no-such-linter"])


def test_lint_tool_findings_fail_the_step_with_the_first_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "fakelint"
    tool.write_text(
        "#!/bin/sh\necho 'Dockerfile:3 DL3025 warning: one'\necho 'Dockerfile:9 DL4006 warning: two'\nexit 1\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    check = Check("fakelint")
    with pytest.raises(CiError) as caught:
        linting.run_tool(check, tmp_path, ["fakelint"], findings_first=True)
    assert str(caught.value) == "Dockerfile:3 DL3025 warning: one (2 lines of findings)"
    assert "DL4006" in caught.value.output and "DL4006" in check.output


def test_bake_check_is_skipped_with_a_note_on_buildx_before_0_16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dk, "connect", lambda _: object())
    monkeypatch.setattr(dk, "buildx_version_line", lambda _: "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3")
    settings = Settings(root=ROOT, project="p", reports_dir=ROOT / "reports", ports={})
    check = Check("bake check")
    linting.bake_check(check, settings)
    assert check.status == "skipped"
    assert check.message == "buildx 0.13.1+ds1 has no `bake --check` (it came in 0.16.0)"


def two_services(root: Path) -> dict[str, object]:
    """An app whose services each have a folder with a `Dockerfile`, as buildx's check JSON defines them."""
    for name in ("backend", "frontend"):
        (root / name).mkdir()
        (root / name / "Dockerfile").write_text("FROM scratch\n")
    return {
        "backend": {"context": "backend", "dockerfile": "Dockerfile"},
        "validate-backend": {"context": "backend", "dockerfile": "Dockerfile", "target": "check"},
        "frontend": {"context": "./frontend", "dockerfile": "Dockerfile"},
    }


def warning(rule: str, line: int, detail: str) -> dict[str, object]:
    """A finding as BuildKit's lint result has it in JSON: zero values (sourceIndex 0) left out."""
    return {
        "ruleName": rule,
        "description": "...",
        "url": f"https://docs.docker.com/go/dockerfile/rule/{rule.lower()}/",
        "detail": detail,
        "location": {"ranges": [{"start": {"line": line}, "end": {"line": line}}]},
    }


def checked(builds: dict[str, object], found: dict[str, list[dict[str, object]]]) -> str:
    """`bake --call check,format=json`: each target's definition, and its findings."""
    targets = {
        name: {"build": build, "check": {"warnings": found.get(name, []), "sources": [{"filename": "Dockerfile"}]}}
        for name, build in builds.items()
    }
    return json.dumps({"group": {"default": {"targets": list(builds)}}, "target": targets})


def test_build_check_findings_name_each_dockerfile_by_its_path_in_the_project(tmp_path: Path) -> None:
    """buildx names a service folder's Dockerfile `Dockerfile`: two services' findings on line 31 were both
    `Dockerfile:31`. A finding a target and its validate twin share is one line."""
    cmd = warning("JSONArgsRecommended", 31, "JSON arguments recommended for CMD")
    output = checked(
        two_services(tmp_path),
        {
            "backend": [cmd],
            "validate-backend": [cmd],
            "frontend": [warning("FromAsCasing", 31, "'as' and 'FROM' keywords' casing do not match")],
        },
    )
    assert linting.check_findings(output, tmp_path) == [
        "backend/Dockerfile:31 JSONArgsRecommended: JSON arguments recommended for CMD "
        "(https://docs.docker.com/go/dockerfile/rule/jsonargsrecommended/)",
        "frontend/Dockerfile:31 FromAsCasing: 'as' and 'FROM' keywords' casing do not match "
        "(https://docs.docker.com/go/dockerfile/rule/fromascasing/)",
    ]


def test_a_build_check_without_a_line_or_a_dockerfile_the_check_could_not_parse_is_still_named_by_path(
    tmp_path: Path,
) -> None:
    builds = two_services(tmp_path)
    unplaced = warning("InvalidBaseImagePlatform", 0, "base image platform does not match") | {"location": {}}
    error = {"message": "unknown instruction: RNU", "location": {"ranges": [{"start": {"line": 7}}]}}
    data = json.loads(checked(builds, {"backend": [unplaced]}))
    data["target"]["frontend"]["check"] |= {"buildError": error, "error": "unknown instruction: RNU\n..."}
    assert linting.check_findings(json.dumps(data), tmp_path) == [
        "backend/Dockerfile InvalidBaseImagePlatform: base image platform does not match "
        "(https://docs.docker.com/go/dockerfile/rule/invalidbaseimageplatform/)",
        "frontend/Dockerfile:7 error: unknown instruction: RNU",
    ]
    assert linting.check_findings("Check complete, no warnings found.", tmp_path) is None
    assert linting.check_findings(checked(builds, {}), tmp_path) == []


def test_the_bake_check_step_fails_on_the_first_finding_by_path_and_counts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = two_services(tmp_path)
    (tmp_path / "docker-bake.hcl").write_text('group "default" {\n  targets = ["backend", "frontend"]\n}\n')
    output = checked(builds, {"backend": [warning("A", 3, "a")], "frontend": [warning("B", 4, "b")]})
    monkeypatch.setattr(dk, "connect", lambda _: object())
    monkeypatch.setattr(dk, "buildx_version_line", lambda _: "github.com/docker/buildx v0.29.1 abc")

    def fails(*_: object) -> str:
        raise DockerFailed("exit status 1", stdout=output, stderr="#1 [internal] load local bake definitions")

    monkeypatch.setattr(dk, "bake_check", fails)
    settings = Settings(root=tmp_path, project="p", reports_dir=tmp_path / "reports", ports={})
    check = Check("bake check")
    with pytest.raises(CiError) as caught:
        linting.bake_check(check, settings)
    first = "backend/Dockerfile:3 A: a (https://docs.docker.com/go/dockerfile/rule/a/)"
    assert str(caught.value) == f"{first} (2 findings)"
    assert check.output.splitlines() == [
        first,
        "frontend/Dockerfile:4 B: b (https://docs.docker.com/go/dockerfile/rule/b/)",
    ]
    monkeypatch.setattr(dk, "bake_check", lambda *_: checked(builds, {}))
    linting.bake_check(passed := Check("bake check"), settings)
    assert (passed.status, passed.message) == ("passed", "no findings")


def test_hadolint_is_given_each_dockerfile_by_its_path_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hadolint names a file as it is given: two services' `Dockerfile`s by their folders."""
    builds = two_services(tmp_path)
    monkeypatch.setattr(dk, "connect", lambda _: object())
    monkeypatch.setattr(dk, "bake_definition", lambda *_: {"target": builds})
    ran: list[list[str]] = []
    monkeypatch.setattr(linting, "run_tool", lambda check, root, command, **_: ran.append(command))
    linting.hadolint(Check("hadolint"), Settings(root=tmp_path, project="p", reports_dir=tmp_path, ports={}))
    [command] = ran
    assert command[-2:] == ["backend/Dockerfile", "frontend/Dockerfile"]


def test_ruff_and_mypy_are_given_the_suites_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(linting, "run_tool", lambda check, root, command, **_: ran.append(command))
    settings = Settings(root=tmp_path, project="p", reports_dir=tmp_path, ports={})
    for name, step in linting.steps(settings)[:3]:
        step(Check(name))
    assert [c[:2] for c in ran] == [["ruff", "check"], ["ruff", "format"], ["mypy", "--config-file"]]
    assert [c[c.index(flag) + 1] for c, flag in zip(ran, ("--config", "--config", "--config-file"), strict=True)] == [
        "ci/pyproject.toml"
    ] * 3


def test_images_and_cache_exports_that_do_not_declare_the_one_compression_are_each_a_line_by_path_and_line() -> None:
    """The rule of the team's bake file (LAYER_COMPRESSION, once): the example's loaded image and cache exports
    all call compression(); a fixture breaking it three ways (another compression, none, the same options
    written out) has a line each, and what is no export (a cache read, inline cache, cacheonly, a comment) none."""
    assert linting.compression_findings((EXAMPLE / "docker-bake.hcl").read_text(), "docker-bake.hcl") == []
    one = "images and cache exports declare one: ${compression()} (mixed.hcl:22)"
    assert linting.compression_findings(MIXED.read_text(), "mixed.hcl") == [
        f'mixed.hcl:28 OneCompression: target "api" cache-to type=registry declares compression=gzip; {one}',
        f'mixed.hcl:33 OneCompression: target "web" output type=image declares no compression; {one}',
        'mixed.hcl:43 OneCompression: target "worker" output type=docker declares '
        f"compression=zstd,force-compression=true,oci-mediatypes=true; {one}",
    ]


def test_exports_that_declare_no_compression_at_all_are_each_a_finding() -> None:
    text = 'target "a" {\n  output = ["type=docker"]\n  cache-to = ["type=local,dest=/c"]\n}\n'
    assert linting.compression_findings(text, "docker-bake.hcl") == [
        f'docker-bake.hcl:{n} OneCompression: target "a" {what} declares no compression; images and cache '
        "exports declare one, the same on each"
        for n, what in ((2, "output type=docker"), (3, "cache-to type=local"))
    ]


def test_the_bake_compression_step_fails_on_the_first_finding_and_counts_them(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, project="p", reports_dir=tmp_path / "reports", ports={})
    (tmp_path / "docker-bake.hcl").write_text(MIXED.read_text())
    check = Check("bake compression")
    with pytest.raises(CiError) as caught:
        linting.bake_compression(check, settings)
    assert str(caught.value).startswith('docker-bake.hcl:28 OneCompression: target "api" cache-to')
    assert str(caught.value).endswith("(docker-bake.hcl:22) (3 findings)")
    assert len(check.output.splitlines()) == 3
    (tmp_path / "docker-bake.hcl").write_text((EXAMPLE / "docker-bake.hcl").read_text())
    linting.bake_compression(passed := Check("bake compression"), settings)
    assert (passed.status, passed.message) == ("passed", "3 image outputs and cache exports declare ${compression()}")
    (tmp_path / "docker-bake.hcl").write_text('group "default" {\n  targets = ["a"]\n}\n')
    linting.bake_compression(bare := Check("bake compression"), settings)
    assert bare.message == "no image output or cache export declared"
