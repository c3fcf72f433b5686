"""On the newest buildx (0.20 and later refuse what lies outside the working directory unless granted, and
would ask y/N on a terminal): a target whose context is outside the project builds, because the session
grants exactly that path, and nothing waits for an answer."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.settings import HOST_ENV, read_env_file
from tests.conftest import Project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def newest() -> str:
    config = read_env_file(HOST_ENV).get("NEWEST_DOCKER_CONFIG", "")
    if not (Path(config) / "cli-plugins" / "docker-buildx").is_file():
        message = "no newest plugins: run `ci/provision --newest-plugins`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return config


def test_a_context_outside_the_project_is_granted_and_builds(
    make_project: Callable[[str], Project], newest: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = make_project("mainzatest-grant")
    outside = tmp_path_factory.mktemp("outside-context")
    for name in ("backend", "requirements-docker.txt", ".dockerignore"):
        source = project.root / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, outside / name)
    bake = project.root / "docker-bake.hcl"
    text = bake.read_text()
    backend = 'target "backend" {\n  inherits   = ["_common"]\n  dockerfile = "Dockerfile"\n'
    assert backend in text
    bake.write_text(
        text.replace(
            backend,
            f'target "backend" {{\n  inherits   = ["_common"]\n  context    = "{outside}"\n'
            f'  dockerfile = "{project.root / "Dockerfile"}"\n',
        )
    )
    project.commit("the backend's context outside the project")
    run = project.ci("dev", env={"DOCKER_CONFIG": newest})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert "additional privileges" not in run.stdout + run.stderr
    verify = project.ci("verify", "--down", env={"DOCKER_CONFIG": newest})
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr
