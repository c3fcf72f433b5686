"""lint's pieces: the files it lints, a linter's findings as one line, bake --check only where buildx has it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci import docker as dk
from ci.errors import CiError
from ci.report import Check
from ci.sessions import lint as linting
from ci.settings import Settings
from tests.conftest import APP

ROOT = Path(__file__).resolve().parents[2]


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
