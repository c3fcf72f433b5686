"""On the newest buildx (0.20 and later refuse what lies outside the working directory unless granted, and
would ask y/N on a terminal) as on the host's: a target whose context is outside the project is refused
with one line naming it, once bake has resolved the file and before anything is fingerprinted or built; nothing
waits for an answer. (The suite used to grant buildx that folder and hash every file of it.)"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from python_on_whales import docker

from ci.core.settings import HOST_ENV, read_env_file
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


def test_a_context_outside_the_project_is_refused_in_one_line_before_anything_is_built(
    make_project: Callable[[str], Project], newest: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = make_project("mainzatest-outside")
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
    for env in ({}, {"DOCKER_CONFIG": newest}):
        run = project.ci("dev", env=env, timeout=120)
        assert run.returncode == 1, run.stdout[-3000:] + run.stderr
        last = run.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: target backend: its context {outside} is outside the project"), last
        assert "additional privileges" not in run.stdout + run.stderr and "Traceback" not in run.stderr
    assert not docker.image.list(filters=[("label", f"mainza.project={project.name}")])
