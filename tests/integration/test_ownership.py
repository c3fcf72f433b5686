"""The suite removes only what it made, on the real engine (#32): another team builds an image FROM the
project's under its own name (it inherits the label `mainza.project`) and runs a container from it, outside
compose, with an anonymous volume holding data; dev's clean step and `prune -- --volumes` leave all three.
Meanwhile what the project did make still goes: an earlier dev build kept under one of the project's names,
and only the project's name of one another team has named too.

One project, two dev builds (the second is the clean step under test), one prune with a long --until: the
build cache step is engine-wide, and this test must not empty the shared engine's cache."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from python_on_whales import docker

from ci.core.settings import HOST_ENV, read_env_file
from tests.conftest import Project

# Who owns what is the suite's own rule, whichever plugins built the images: CI's first pass only.
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

BASE = read_env_file(HOST_ENV).get("PYTHON_IMAGE") or "localhost:5000/mirror/python:3.11-slim"


@dataclass
class Scene:
    project: Project
    team: str  # the other team's repository prefix
    derived: str = ""  # id of the image built FROM the project's backend
    stale: str = ""  # the first dev's backend, kept under a project's name
    pinned: str = ""  # the first dev's frontend, named by the other team too
    container: str = ""  # run from the derived image, outside compose
    volume: str = ""  # its anonymous volume
    dev: subprocess.CompletedProcess[str] | None = None

    @property
    def name(self) -> str:
        return self.project.name


def tags(image_id: str) -> set[str]:
    return set(docker.image.inspect(image_id).repo_tags) if docker.image.exists(image_id) else set()


@pytest.fixture(scope="module")
def scene(make_project: Callable[[str], Project], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    mark = uuid.uuid4().hex[:6]
    s = Scene(make_project(f"mainzatest-owned-{mark}"), f"otherteam-{mark}")
    try:
        first = s.project.ci("dev")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr
        s.stale = docker.image.inspect(f"{s.name}-backend:dev").id
        docker.image.tag(s.stale, f"{s.name}-backend:stale")
        s.pinned = docker.image.inspect(f"{s.name}-frontend:dev").id
        docker.image.tag(s.pinned, f"{s.name}-frontend:stale")
        docker.image.tag(s.pinned, f"{s.team}/pinned:1")
        # The other team's image: FROM the project's backend (so it carries mainza.project=<name>), two tags.
        context = tmp_path_factory.mktemp("derived")
        (context / "Dockerfile").write_text(f"FROM {s.name}-backend:dev\nUSER root\nRUN echo {mark} > /derived\n")
        docker.buildx.build(context, tags=[f"{s.team}/app:1", f"{s.team}/app:latest"], load=True, progress=False)
        s.derived = docker.image.inspect(f"{s.team}/app:1").id
        assert docker.image.inspect(s.derived).config.labels.get("mainza.project") == s.name
        s.dev = s.project.ci("dev")
        if not docker.image.exists(s.derived):
            yield s  # dev removed their image: the tests say so
            return
        # Then their container, run by hand from it, stopped, its anonymous volume holding their data.
        run = docker.container.run(
            s.derived,
            ["sh", "-c", "echo their-data > /data/file"],
            detach=True,
            name=f"{s.team}-worker",
            mounts=[["type=volume", "destination=/data"]],
        )
        s.container = run.id
        s.volume = next(m.name for m in run.mounts if m.destination == "/data")
        docker.container.wait(s.container)
        yield s
    finally:
        if s.container and docker.container.exists(s.container):
            docker.container.remove(s.container, force=True)
        if s.volume and docker.volume.exists(s.volume):
            docker.volume.remove(s.volume)
        for ref in (f"{s.team}/app:1", f"{s.team}/app:latest", f"{s.team}/pinned:1"):
            if docker.image.exists(ref):
                docker.image.remove(ref, force=True)


def test_dev_leaves_an_image_built_from_the_projects_with_all_its_tags(scene: Scene) -> None:
    assert scene.dev is not None and scene.dev.returncode == 0, scene.dev and scene.dev.stderr
    assert tags(scene.derived) == {f"{scene.team}/app:1", f"{scene.team}/app:latest"}


def test_dev_removes_its_earlier_build_and_only_its_own_name_of_one_someone_else_named(scene: Scene) -> None:
    assert scene.dev is not None and scene.dev.returncode == 0
    assert not docker.image.exists(scene.stale), "the first dev's backend, under the project's name, stayed"
    assert tags(scene.pinned) == {f"{scene.team}/pinned:1"}, "the other team's name went, or the project's stayed"


@pytest.fixture(scope="module")
def pruned(scene: Scene) -> subprocess.CompletedProcess[str]:
    # A long --until: the build cache is the engine's, every project's, and other work shares it.
    return scene.project.ci("prune", "--volumes", "--keep", "1", "--until", "1000h")


def test_prune_with_volumes_leaves_their_container_its_volume_and_data_and_their_image(
    scene: Scene, pruned: subprocess.CompletedProcess[str]
) -> None:
    assert pruned.returncode == 0, pruned.stdout[-3000:] + pruned.stderr
    assert scene.container, "no container to run from their image: dev removed it"
    assert docker.container.exists(scene.container), "prune removed a container it did not make"
    assert docker.volume.exists(scene.volume), "prune removed the volume of a container it did not make"
    data = docker.container.run(BASE, ["cat", "/data/file"], volumes=[(scene.volume, "/data")], remove=True)
    assert str(data).strip() == "their-data"
    assert tags(scene.derived) == {f"{scene.team}/app:1", f"{scene.team}/app:latest"}
    assert tags(scene.pinned) == {f"{scene.team}/pinned:1"}


def test_prune_says_why_it_kept_them_and_that_its_build_cache_step_is_engine_wide(
    scene: Scene, pruned: subprocess.CompletedProcess[str]
) -> None:
    report = json.loads((scene.project.reports / "prune.json").read_text())
    kept = {i["id"]: i["why"] for i in report["plan"]["keep"]}
    assert kept[scene.container] == "run outside compose: its owner's, never the suite's"
    assert kept[scene.derived].startswith(f"carries {scene.name}'s label, not its build")
    assert scene.derived not in {i["id"] for i in report["plan"]["remove"]}
    assert report["build_cache_scope"] == "engine-wide"
    cases = pruned.stdout[pruned.stdout.index("build cache") :]
    assert "engine-wide" in cases, pruned.stdout[-3000:]
    ledger = json.loads((Path(scene.project.reports) / "built-images.json").read_text())["projects"][scene.name]
    assert scene.derived not in {e["image_id"] for e in ledger}
