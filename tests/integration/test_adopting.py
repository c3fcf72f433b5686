"""The suite on an app it did not make: a service it does not build, a store that keeps its data in its
process, as Redis does without a volume, and in a named volume, from an image in a registry that the
engine does not have yet; a backend whose Dockerfile sets no OCI date or commit labels. compose pulls the
store; dev and `verify --up` never recreate it, so its data survives them; doctor checks its image; prune
plans nothing of it; the suite labels the backend's image itself."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from python_on_whales import docker

from ci.core.settings import HOST_ENV, read_env_file
from ci.stack.live import free_port
from tests.conftest import Project, junit_results
from tests.integration.test_prod import error_line
from tests.integration.test_services import add_built_service
from tests.integration.test_watch import started
from tests.integration.tls_registry import tls_registry
from tests.integration.watching import is_turn

# CI's second pass leaves the module out (time: its dev and verify --up take about 70 s there): the compose
# paths they take run on both plugin sets in test_dev and test_rollback; what the newest compose says of a
# store image it cannot pull is then checked on the host's compose only.
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-adopt"
STORE = Path(__file__).resolve().parent.parent / "data" / "store"
TALLY = Path(__file__).resolve().parent.parent / "data" / "tally"
TALLY_SERVICE = """  tally:
    image: ${COMPOSE_PROJECT_NAME:-mainza}-tally:${TAG:-dev}
    pull_policy: never
    restart: unless-stopped

"""
IMAGE = f"localhost:5000/{NAME}/store:1"
BASE = read_env_file(HOST_ENV).get("PYTHON_IMAGE") or "localhost:5000/mirror/python:3.11-slim"
SERVICE = """  store:
    image: %s
    ports:
      - "127.0.0.1:${STORE_PORT:-7000}:7000"
    volumes:
      - store-data:/data
    restart: unless-stopped

"""


@dataclass(frozen=True)
class Adopted:
    project: Project
    url: str
    backend_port: str
    frontend_port: str

    def stored(self) -> dict[str, object]:
        answer = requests.get(self.url, timeout=5)
        answer.raise_for_status()
        result: dict[str, object] = answer.json()
        return result

    def container(self) -> str:
        listed = docker.container.list(filters=[("label", f"com.docker.compose.project={NAME}")], all=True)
        found = [c.id for c in listed if c.config.labels.get("com.docker.compose.service") == "store"]
        assert len(found) == 1, found
        return found[0]


def pushed_and_absent() -> None:
    """The store's image in the local registry, and not in the engine: compose must pull it."""
    docker.buildx.build(STORE, build_args={"PYTHON_IMAGE": BASE}, tags=[IMAGE], load=True)
    docker.image.push(IMAGE, quiet=True)
    docker.image.remove(IMAGE, force=True)
    assert not docker.image.exists(IMAGE)


@pytest.fixture(scope="module")
def adopted(make_project: Callable[[str], Project]) -> Iterator[Adopted]:
    project = make_project(NAME)
    compose = project.root / "compose.yaml"
    text = compose.read_text()
    anchor = "  # The project's own build-cache registry"
    assert anchor in text and text.rstrip().endswith("registry-data:")
    compose.write_text(text.replace(anchor, SERVICE % IMAGE + anchor).rstrip() + "\n  store-data:\n")
    # A service built from its own folder with no build-info endpoint, no healthcheck and no OCI labels.
    add_built_service(project, "tally", TALLY, TALLY_SERVICE)
    # The backend's Dockerfile as many teams write it: no OCI date or commit labels; the suite gives them.
    dockerfile = project.root / "Dockerfile"
    lines = dockerfile.read_text().splitlines(keepends=True)
    unlabelled = [line for line in lines if not re.search(r"org\.opencontainers\.image\.(created|revision)=", line)]
    assert len(unlabelled) == len(lines) - 2
    dockerfile.write_text("".join(unlabelled))
    project.commit("a service it does not build: store; one with no build info or healthcheck: tally")
    # The ports in the project's .env, not the environment: every session must read them there, as compose does.
    port = free_port()
    ports = {name: project.env.pop(name) for name in ("BACKEND_PORT", "FRONTEND_PORT")}
    (project.root / ".env").write_text("".join(f"{k}={v}\n" for k, v in {**ports, "STORE_PORT": port}.items()))
    pushed_and_absent()
    yield Adopted(project, f"http://127.0.0.1:{port}/", ports["BACKEND_PORT"], ports["FRONTEND_PORT"])
    project.remove()
    docker.volume.remove([v for v in docker.volume.list() if v.name == f"{NAME}_store-data"])
    if docker.image.exists(IMAGE):
        docker.image.remove(IMAGE, force=True)


def test_its_image_is_pulled_and_its_data_survives_dev_and_verify_up(adopted: Adopted) -> None:
    project = adopted.project
    first = project.ci("dev")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert docker.image.exists(IMAGE)  # compose pulled it: its pull_policy, default missing
    requests.post(adopted.url, data="vote-1", timeout=5).raise_for_status()
    before = adopted.stored()
    container = adopted.container()
    for session in (("dev",), ("verify", "--up")):
        run = project.ci(*session)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert adopted.container() == container, f"{session}: the store was recreated"
        assert adopted.stored() == before, session  # in its process and on its volume alike
    assert before["memory"] == ["vote-1"] and before["disk"] == ["vote-1"]
    # dev waited for, and verify asked, the backend on the port .env sets
    assert requests.get(f"http://127.0.0.1:{adopted.backend_port}/health", timeout=5).ok
    # tally has no healthcheck: by the one health rule it must be running, in dev's words and verify's
    assert "tally running" in first.stdout, first.stdout[-3000:]


def test_verify_checks_the_service_with_no_build_info_by_its_image_and_sources(adopted: Adopted) -> None:
    run = adopted.project.ci("verify")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    results = junit_results(adopted.project.reports / "junit-verify.xml")
    assert results["tally image"] == results["tally source fingerprint"] == "passed", results
    # the store, which it does not build: its health alone, a testcase of its own
    assert [(c, r) for c, r in results.items() if c.startswith("store ")] == [("store health", "passed")], results


def test_verify_url_says_in_its_last_line_which_services_it_could_not_check(adopted: Adopted) -> None:
    run = adopted.project.ci("verify", "--url", f"http://127.0.0.1:{adopted.frontend_port}", "--tree")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert "runs" in last and "backend" in last and "frontend" in last, last
    # tally is built here but serves no build info; the store is not built here: no commit of it to check
    assert "(tally not checked: no public address)" in last and "store" not in last, last


def test_the_images_it_builds_carry_date_and_commit_labels_its_dockerfile_does_not_set(adopted: Adopted) -> None:
    labels = docker.image.inspect(f"{NAME}-backend:dev").config.labels or {}
    assert labels.get("org.opencontainers.image.created", "").startswith("20"), labels
    assert labels.get("org.opencontainers.image.revision") not in (None, "", "unknown"), labels
    assert "mainza.source-digest" in labels


def test_doctor_checks_the_image_of_the_service_it_does_not_build(adopted: Adopted) -> None:
    run = adopted.project.ci("doctor")
    report = json.loads((adopted.project.reports / "doctor.json").read_text())
    [images] = [c for c in report["report"]["suites"][0]["checks"] if c["name"] == "service images"]
    assert f"store's image {IMAGE}: " in images["output"], images  # local once dev pulled it, else registry
    assert images["status"] == "passed", (images, run.stdout[-2000:])


def test_prune_plans_nothing_of_the_service_it_does_not_build(adopted: Adopted) -> None:
    run = adopted.project.ci("prune", "--dry-run")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert IMAGE not in run.stdout and "store-data" not in run.stdout, run.stdout


@pytest.mark.parametrize("cause", ["not found", "unreachable", "denied"])
def test_a_store_image_that_cannot_be_pulled_is_one_line_with_its_cause_and_the_running_store_stays(
    adopted: Adopted, cause: str, tmp_path: Path
) -> None:
    """compose's own error names neither the service nor what to do; the last line names both, and the store,
    whose definition now names an image no one can pull, keeps running with its data."""
    project = adopted.project
    if not docker.image.exists(IMAGE):  # run alone: the first test's dev is what pulls and starts the store
        assert project.ci("dev").returncode == 0
    container, before = adopted.container(), adopted.stored()
    compose = project.root / "compose.yaml"
    text = compose.read_text()
    with contextlib.ExitStack() as stack:
        if cause == "denied":  # a TLS registry with a login, and none given: as a private registry answers
            served = stack.enter_context(tls_registry(tmp_path / "registry", password="mainza-never-given"))
            bad, host = f"{served.host}/team/store:1", served.host
        else:
            host = {"not found": "localhost:5000", "unreachable": "127.0.0.1:1"}[cause]
            bad = f"{host}/{NAME}/missing:1"
        compose.write_text(text.replace(IMAGE, bad))
        try:
            run = project.ci("verify", "--up")
        finally:
            compose.write_text(text)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    line = error_line(run)
    assert f"could not pull store's image {bad}: " in line, line
    said = {"not found": f"not found in {host}", "unreachable": f"{host} is unreachable (connection refused)",
            "denied": f"{host} denied the pull: check the name, or log in (`docker login {host}`)"}[cause]  # fmt: skip
    assert said in line, line
    assert adopted.container() == container and adopted.stored() == before


def test_watch_rebuilds_and_proves_the_service_it_builds_and_never_recreates_the_store(adopted: Adopted) -> None:
    """The inner loop on an app it did not make: an edit of tally's sources is one turn of tally alone, proven
    by its image and sources (it serves no build info); the store keeps its container and its data."""
    project = adopted.project
    if not docker.image.exists(IMAGE):  # run alone: the first test's dev is what pulls and starts the store
        assert project.ci("dev").returncode == 0
    container, before = adopted.container(), adopted.stored()
    watch = started(project)
    try:
        main = project.root / "tally" / "main.py"
        main.write_text(main.read_text() + "\n# watch: an edit of a service the suite did not make\n")
        line = watch.wait_for(is_turn)
        assert line.startswith("tally  tally/main.py  built "), line
        assert "  verified" in line and line.endswith("s from change"), line
    finally:
        watch.proc.kill()
        watch.proc.wait()
    assert adopted.container() == container and adopted.stored() == before


def test_a_stopped_store_fails_verify_named(adopted: Adopted) -> None:
    """The store is not the project's build, and the app does not work without it: verify checks its health,
    a testcase of its own."""
    project = adopted.project
    if not docker.image.exists(IMAGE):  # run alone: the first test's dev is what pulls and starts the store
        assert project.ci("dev").returncode == 0
    container = adopted.container()
    docker.container.kill(container)  # by hand: its restart policy leaves it down
    try:
        run = project.ci("verify")
    finally:
        docker.container.start(container)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert error_line(run).startswith("error: store health: store: exited (exit code "), error_line(run)
    results = junit_results(project.reports / "junit-verify.xml")
    assert results["store health"] == "failure" and results["services"] == results["backend image"] == "passed"
