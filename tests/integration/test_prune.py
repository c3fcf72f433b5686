"""`nox -s prune` on the real, shared engine: other projects' data survives, this project's garbage goes.

Foreign resources are made first: a named volume holding a file, another compose project's volume and
stopped container, an unlabelled image (tagged and dangling) and an unlabelled stopped container, and a
stopped container run by hand from the project's own build (its owner's, not the suite's); of this
project, a running container, a stopped one, a dangling image and more builds than `--keep`. Small
labelled images stand in for the project's builds: they take a second each, not a full bake, and are
written into the project's ledger of built images as its builds would be (the dangling one is the project's
by the ledger alone). The build cache step is engine-wide: every prune here is given a long --until, at
least the floor, so the shared engine's cache is not emptied (test_ownership has the image built FROM the
project's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from python_on_whales import docker
from python_on_whales.exceptions import DockerException

from ci.builds.ledger import Built, record_builds
from ci.core.settings import HOST_ENV, read_env_file
from ci.core.units import human
from tests.conftest import Project, assert_junit_valid

pytestmark = pytest.mark.integration

BASE = read_env_file(HOST_ENV).get("PYTHON_IMAGE") or "localhost:5000/mirror/python:3.11-slim"
KEEP = 3
UNTIL = "1000h"  # the build cache is the engine's, every project's: this test prunes none of it


@dataclass
class Scenario:
    project: Project
    context: Path
    mark: str
    builds: list[str] = field(default_factory=list)  # backend image ids, oldest first
    frontend: str = ""
    dangling: str = ""
    running: str = ""
    stopped: list[str] = field(default_factory=list)  # this project's stopped containers
    by_hand: str = ""  # a stopped container run by hand (`docker run`) from one of the project's builds
    anonymous_volume: str = ""
    foreign_containers: list[str] = field(default_factory=list)
    foreign_images: list[str] = field(default_factory=list)  # ids: tagged, then dangling
    named_volume: str = ""
    other_project_volume: str = ""

    @property
    def name(self) -> str:
        return self.project.name


def build(scenario: Scenario, tag: str, step: str, *, labelled: bool = True) -> str:
    """A one-step image; STEP in the Dockerfile itself, so its build cache record is recognisable."""
    dockerfile = scenario.context / f"Dockerfile.{uuid.uuid4().hex[:8]}"
    dockerfile.write_text(f"FROM {BASE}\nRUN echo {scenario.mark}-{step} > /step\n")
    labels = {"mainza.project": scenario.name} if labelled else {}
    docker.buildx.build(scenario.context, file=dockerfile, tags=[tag], labels=labels, load=True, progress=False)
    return docker.image.inspect(tag).id


def exists(kind: str, ref: str) -> bool:
    return {"image": docker.image.exists, "container": docker.container.exists, "volume": docker.volume.exists}[kind](
        ref
    )


def cache_descriptions() -> list[str]:
    out = subprocess.run(
        ["docker", "system", "df", "--verbose", "--format", "{{json .BuildCache}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [str(r.get("Description", "")) for r in json.loads(out or "[]")]


def error_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in run.stderr + run.stdout
    return [line for line in run.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture(scope="module")
def scenario(make_project: Callable[[str], Project], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    name = f"mainzatest-prune-{uuid.uuid4().hex[:6]}"
    s = Scenario(make_project(name), tmp_path_factory.mktemp("prune-images"), f"mark-{uuid.uuid4().hex[:10]}")
    compose = {"com.docker.compose.project": name}
    try:
        # This project: a dangling image (its tag moved on), five backend builds (the second with two
        # tags), one frontend build.
        s.dangling = build(s, f"{name}-backend:moved", "dangling")
        s.builds = [build(s, f"{name}-backend:b{n}", f"b{n}") for n in range(1, 6)]
        docker.image.tag(f"{name}-backend:b2", f"{name}-backend:b2-alias")
        docker.image.tag(f"{name}-backend:b5", f"{name}-backend:moved")
        s.frontend = build(s, f"{name}-frontend:f1", "f1")
        # Written into the ledger as the project's builds would be: the dangling one is the project's by it alone.
        made = [(s.dangling, "backend", f"{name}-backend:moved"), (s.frontend, "frontend", f"{name}-frontend:f1")]
        made += [(b, "backend", f"{name}-backend:b{n}") for n, b in enumerate(s.builds, 1)]
        record_builds(s.project.reports, name, [Built(i, target, "dev", (tag,), "") for i, target, tag in made])
        # Its containers: one running (on the oldest build, which must stay for it), stopped ones.
        s.running = docker.container.run(
            s.builds[0], ["sleep", "600"], detach=True, name=f"{name}-running", labels=compose
        ).id
        stopped = docker.container.run(
            s.builds[1],
            ["true"],
            detach=True,
            name=f"{name}-stopped",
            labels=compose,
            mounts=[["type=volume", "destination=/scratch"]],
        )
        s.by_hand = docker.container.run(s.builds[2], ["true"], detach=True, name=f"{name}-oneoff").id
        s.stopped = [stopped.id]
        s.anonymous_volume = next(m.name for m in stopped.mounts if m.destination == "/scratch")
        # Foreign: a named volume holding a file (written by an unlabelled container that stays stopped),
        # another compose project's volume and stopped container (running this project's image), an
        # unlabelled image, tagged and dangling.
        s.foreign_images = [build(s, f"{name}-foreign:1", "foreign-old", labelled=False)]
        s.foreign_images.insert(0, build(s, f"{name}-foreign:2", "foreign", labelled=False))
        docker.image.tag(f"{name}-foreign:2", f"{name}-foreign:1")  # the old one is now dangling
        s.named_volume = docker.volume.create(f"{name}-precious").name
        s.foreign_containers.append(
            docker.container.run(
                f"{name}-foreign:2",
                ["sh", "-c", "echo precious-data > /data/file"],
                detach=True,
                name=f"{name}-foreign-writer",
                volumes=[(s.named_volume, "/data")],
            ).id
        )
        other = {"com.docker.compose.project": f"{name}-other"}
        s.other_project_volume = docker.volume.create(
            f"{name}-other_db", labels={**other, "com.docker.compose.volume": "db"}
        ).name
        s.foreign_containers.append(
            docker.container.run(s.builds[3], ["true"], detach=True, name=f"{name}-other-db-1", labels=other).id
        )
        for cid in [*s.stopped, s.by_hand, *s.foreign_containers]:
            docker.container.wait(cid)
        yield s
    finally:
        for cid in [s.running, *s.stopped, s.by_hand, *s.foreign_containers]:
            if cid and docker.container.exists(cid):
                docker.container.remove(cid, force=True, volumes=True)
        for image in s.foreign_images:
            if docker.image.exists(image):
                docker.image.remove(image, force=True)
        for volume in (s.named_volume, s.other_project_volume, s.anonymous_volume):
            if volume and docker.volume.exists(volume):
                docker.volume.remove(volume)


def foreign_refs(s: Scenario) -> list[tuple[str, str]]:
    return [
        ("volume", s.named_volume),
        ("volume", s.other_project_volume),
        *[("image", i) for i in s.foreign_images],
        *[("container", c) for c in s.foreign_containers],
        ("container", s.running),
        ("container", s.by_hand),
    ]


def garbage_refs(s: Scenario) -> list[tuple[str, str]]:
    return [
        ("image", s.dangling),
        ("image", s.builds[1]),
        *[("container", c) for c in s.stopped],
        ("volume", s.anonymous_volume),
    ]


@dataclass
class Before:
    dry_run: subprocess.CompletedProcess[str]
    dry_plan: dict[str, object]
    bad: dict[str, subprocess.CompletedProcess[str]]
    floor: subprocess.CompletedProcess[str]
    cache: list[str]


@pytest.fixture(scope="module")
def before(scenario: Scenario) -> Before:
    """Runs that must remove nothing (a dry run, bad arguments), then the build cache as it was."""
    dry = scenario.project.ci("prune", "--dry-run", "--volumes", "--until", UNTIL)
    plan = json.loads((scenario.project.reports / "prune.json").read_text())["plan"]
    bad = {
        "until": scenario.project.ci("prune", "--volumes", "--until", "1d"),
        "keep-storage": scenario.project.ci("prune", "--volumes", "--keep-storage", "10 gigs"),
    }
    floor = scenario.project.ci("prune", "--volumes", "--until", "1s")  # would empty the engine's cache
    return Before(dry, plan, bad, floor, cache_descriptions())


@pytest.fixture(scope="module")
def pruned(scenario: Scenario, before: Before) -> subprocess.CompletedProcess[str]:
    return scenario.project.ci("prune", "--volumes", "--until", UNTIL, "--keep", str(KEEP))


def test_dry_run_lists_the_garbage_and_its_bytes_and_removes_nothing(scenario: Scenario, before: Before) -> None:
    run = before.dry_run
    assert run.returncode == 0, run.stderr
    remove = before.dry_plan["remove"]
    assert isinstance(remove, list)
    planned = {(i["kind"], i["id"]) for i in remove}
    assert set(garbage_refs(scenario)) <= planned
    assert not planned & set(foreign_refs(scenario))
    assert f"{scenario.name}-backend:b2, {scenario.name}-backend:b2-alias" in run.stdout
    assert "would remove" in run.stdout and "would free" in run.stdout
    assert all(isinstance(i["size"], int) for i in remove) and sum(i["size"] for i in remove) > 0
    assert all(exists(kind, ref) for kind, ref in garbage_refs(scenario)), "the dry run removed something"


@pytest.mark.first_pass  # the suite refuses the value before any command: no plugin is asked (time)
@pytest.mark.parametrize(("argument", "forms"), [("until", "24h, 90m, 1h30m"), ("keep-storage", "512MB, 10GB")])
def test_an_invalid_value_is_one_line_naming_the_accepted_forms_and_removes_nothing(
    scenario: Scenario, before: Before, argument: str, forms: str
) -> None:
    run = before.bad[argument]
    assert run.returncode == 2
    [line] = error_lines(run)
    assert line.startswith(f"error: --{argument} ") and forms in line
    assert all(exists(kind, ref) for kind, ref in garbage_refs(scenario)), "a refused run removed something"


@pytest.mark.first_pass  # the suite refuses the value before any command: no plugin is asked (time)
def test_an_until_below_the_floor_is_one_line_naming_it_and_removes_nothing(scenario: Scenario, before: Before) -> None:
    assert before.floor.returncode == 2
    [line] = error_lines(before.floor)
    assert line.startswith("error: --until '1s' is shorter than the floor of 1h")
    assert all(exists(kind, ref) for kind, ref in garbage_refs(scenario)), "a refused run removed something"


def test_prune_succeeds_and_prints_before_after_and_reclaimed(
    scenario: Scenario, pruned: subprocess.CompletedProcess[str]
) -> None:
    assert pruned.returncode == 0, pruned.stderr
    for header in ("size before", "size after", "reclaimed", "planned"):
        assert header in pruned.stdout
    for row in ("images", "containers", "volumes", "build cache", "total"):
        assert f"\n{row} " in pruned.stdout
    # The last line: what the engine reclaimed by its own count, the plan's figure named an estimate.
    report = json.loads((scenario.project.reports / "prune.json").read_text())
    reclaimed, planned = report["reclaimed_bytes"]["total"], report["planned_bytes"]["total"]
    last = pruned.stdout.splitlines()[-1]
    assert last.startswith("prune: the engine reclaimed ") and f"; the plan estimated {human(planned)} (" in last
    assert reclaimed < 0 or last.startswith(f"prune: the engine reclaimed {human(reclaimed)} (docker system df")


def test_foreign_resources_and_running_containers_survive_with_their_data(
    scenario: Scenario, pruned: subprocess.CompletedProcess[str]
) -> None:
    missing = [(kind, ref) for kind, ref in foreign_refs(scenario) if not exists(kind, ref)]
    assert not missing, f"prune removed what was not its own: {missing}"
    assert docker.container.inspect(scenario.running).state.running
    data = docker.container.run(BASE, ["cat", "/data/file"], volumes=[(scenario.named_volume, "/data")], remove=True)
    assert str(data).strip() == "precious-data"
    plan = json.loads((scenario.project.reports / "prune.json").read_text())["plan"]
    kept = {i["id"]: i["why"] for i in plan["keep"]}
    assert kept[scenario.by_hand] == "run outside compose: its owner's, never the suite's"


def test_this_projects_garbage_is_gone_and_kept_builds_stay(
    scenario: Scenario, pruned: subprocess.CompletedProcess[str]
) -> None:
    left = [(kind, ref) for kind, ref in garbage_refs(scenario) if exists(kind, ref)]
    assert not left, f"prune left this project's garbage: {left}"
    # The newest KEEP builds, the oldest one (a running container uses it), the only frontend build.
    kept = [scenario.builds[0], *scenario.builds[-KEEP:], scenario.frontend]
    assert all(exists("image", i) for i in kept)
    assert docker.image.inspect(f"{scenario.name}-backend:moved").id == scenario.builds[-1]
    assert not docker.image.exists(f"{scenario.name}-backend:b2-alias")


def test_the_build_cache_step_is_engine_wide_and_leaves_records_younger_than_its_until(
    scenario: Scenario, before: Before, pruned: subprocess.CompletedProcess[str]
) -> None:
    """BuildKit's records name no project: the step says it is engine-wide, and prunes by age alone (its
    selection is test_cleanup's); this project's records, minutes old, are younger than --until."""

    def steps(descriptions: list[str]) -> set[str]:
        return {step for d in descriptions for step in ("b2", "b5", "dangling") if f"{scenario.mark}-{step} " in d}

    assert steps(before.cache) == {"b2", "b5", "dangling"}
    assert steps(cache_descriptions()) == {"b2", "b5", "dangling"}
    report = json.loads((scenario.project.reports / "prune.json").read_text())
    assert report["build_cache_scope"] == "engine-wide"
    assert isinstance(report["build_cache_pruned_bytes"], int)
    assert report["tools"]["space_flag"] in ("--keep-storage", "--reserved-space", "--max-used-space")
    assert "engine-wide, every project's: buildx freed " in pruned.stdout


def test_prune_writes_schema_valid_junit_and_json_with_the_figures(
    scenario: Scenario, pruned: subprocess.CompletedProcess[str]
) -> None:
    root = assert_junit_valid(scenario.project.reports / "junit-prune.xml").getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == [
        "arguments",
        "engine",
        "before",
        "plan",
        "containers",
        "images",
        "build cache",
        "after",
    ]
    assert all(c.find("failure") is None and c.find("skipped") is None for c in cases)
    props = {p.get("name"): p.get("value") for p in root.findall(".//property")}
    for kind in ("images", "containers", "volumes", "build_cache"):
        for figure in ("size_bytes_before", "reclaimable_bytes_before", "size_bytes_after", "reclaimable_bytes_after"):
            assert (props.get(f"{kind}_{figure}") or "").lstrip("-").isdigit(), (kind, figure)
    assert props["containers_removed"] == "1" and props["images_removed"] == "2" and props["volumes_removed"] == "1"
    assert props["build_cache_scope"] == "engine-wide"
    report = json.loads((scenario.project.reports / "prune.json").read_text())
    assert set(report["before"]) == set(report["after"]) == {"images", "containers", "volumes", "build_cache"}
    assert report["reclaimed_bytes"]["total"] == sum(
        report["before"][t]["size"] - report["after"][t]["size"] for t in report["before"]
    )
    assert {(i["kind"], i["id"]) for i in report["removed"]} == set(garbage_refs(scenario))


@pytest.mark.first_pass  # no engine at all, so no plugin is asked (time)
def test_no_engine_is_one_line_and_junit_is_written(make_project: Callable[[str], Project], tmp_path: Path) -> None:
    project = make_project(f"mainzatest-prune-{uuid.uuid4().hex[:6]}")
    run = project.ci("prune", env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert run.returncode == 3
    [line] = error_lines(run)
    line = json.loads((project.reports / "prune.json").read_text())["line"]  # whole: printed cut to the width
    assert f"no Docker engine answers at unix://{tmp_path}/no-such.sock" in line
    root = assert_junit_valid(project.reports / "junit-prune.xml").getroot()
    results = {
        c.get("name"): "failed"
        if c.find("failure") is not None
        else "skipped"
        if c.find("skipped") is not None
        else "ok"
        for c in root.findall(".//testcase")
    }
    assert results["arguments"] == "ok" and results["engine"] == "failed"
    assert {results[s] for s in ("before", "plan", "containers", "images", "build cache", "after")} == {"skipped"}


# first_pass: BuildKit's prune beside its own build is the engine's, the same in both passes; the buildx
# flags prune passes are in test_prune_succeeds... on both plugin sets.
@pytest.mark.first_pass
def test_a_prune_during_a_bake_does_not_fail_the_build(
    scenario: Scenario, pruned: subprocess.CompletedProcess[str]
) -> None:
    """The second and last real prune of the run: build cache unused for the floor, 1 h, while a bake works."""
    context = scenario.context
    # The second stage sleeps long enough to outlast any prune; the prune starts once that stage has
    # started (read from the bake's own output), not after a guessed delay.
    (context / "Dockerfile.slow").write_text(
        f"FROM {BASE} AS first\nRUN echo {scenario.mark}-first > /first\n"
        f"FROM {BASE}\nCOPY --from=first /first /first\nRUN sleep 25 && echo {scenario.mark}-second > /second\n"
    )
    tag = f"{scenario.name}-backend:during-prune"
    (context / "bake.hcl").write_text(
        f'target "slow" {{\n  context = "."\n  dockerfile = "Dockerfile.slow"\n  tags = ["{tag}"]\n'
        f'  labels = {{ "mainza.project" = "{scenario.name}" }}\n}}\n'
    )
    bake = subprocess.Popen(
        ["docker", "buildx", "bake", "-f", "bake.hcl", "--no-cache", "--load", "--progress=plain", "slow"],
        cwd=context,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert bake.stdout is not None
    seen: list[str] = []
    try:
        for line in bake.stdout:
            seen.append(line)
            if "RUN sleep 25" in line:
                break
        assert bake.poll() is None, "the bake finished before the prune started:\n" + "".join(seen)
        # Something of the project's for it to remove, whatever the engine's cache holds: a runner's engine may
        # have no record older than the hour (CI caught it so: nothing planned, no `remove:` line). Its image,
        # builds[0], is the running container's, which every prune keeps.
        garbage = docker.container.run(
            scenario.builds[0],
            ["true"],
            detach=True,
            name=f"{scenario.name}-stopped-again",
            labels={"com.docker.compose.project": scenario.name},
        )
        scenario.stopped.append(garbage.id)  # removed after the module, should the prune not
        docker.container.wait(garbage)
        # The overlap that matters: the bake still runs once the prune has made its plan and starts removing
        # (its `remove:` line, printed before any removal), however long the removal then takes.
        env = {**os.environ, **scenario.project.env, "PYTHONUNBUFFERED": "1"}
        env.pop("VIRTUAL_ENV", None)
        prune = subprocess.Popen(
            [sys.executable, "-m", "ci", "prune", "--until", "1h"], cwd=scenario.project.root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert prune.stdout is not None
        printed: list[str] = []
        baking_while_removing = False
        for line in prune.stdout:
            printed.append(line)
            if line.startswith("remove: "):
                baking_while_removing = bake.poll() is None
        prune.wait(timeout=300)
        print("".join(printed))
        rest, _ = bake.communicate(timeout=120)
        output = "".join(seen) + rest
    finally:
        if bake.poll() is None:
            bake.kill()
    assert prune.returncode == 0, "".join(printed)
    assert baking_while_removing, "the bake had ended before the prune removed anything"
    assert not docker.container.exists(garbage.id)
    assert bake.returncode == 0, output
    assert docker.image.exists(tag)
    try:
        docker.container.run(tag, ["cat", "/first", "/second"], remove=True)
    except DockerException as err:
        pytest.fail(f"the image built during the prune is broken: {err.stderr}")
