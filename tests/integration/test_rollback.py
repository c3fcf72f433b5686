"""A new build that does not come up gives way to the previous one, on the real engine: in `nox -s dev`,
`nox -s verify -- --up` and `nox -s watch` (its turns and its start), the failed service is named with its
exception (never one that only waited for it), the previous build serves again and the build record says so,
tagged as compose runs it: a dev that fails on prod's stack leaves verify failing on the backend, never
dropping it; without a previous build, the line says the stack is down. watch also survives a compose.yaml or
docker-bake.hcl that does not parse, and ends (exit 3) when its engine goes away: a proxy to the shared
engine's socket, closed by the test.

One project and its builds serve every test, in order: each starts from the state the previous one left."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest
import requests
from python_on_whales import docker

from ci.docker import SOURCE_DIGEST_LABEL
from tests.conftest import Project
from tests.integration.engine_proxy import EngineProxy
from tests.integration.test_exit_codes import outcome, stale_pass
from tests.integration.test_watch import started, watching
from tests.integration.watching import Watch, without_watch_rules

pytestmark = pytest.mark.integration

NAME = "mainzatest-rollback"
BROKEN = 'BUILD = load_build_info()\nraise RuntimeError("broken at import")\n'
# Passes `nginx -t` at build (run as root there), fails at start as nginx's UID 101: Debian's default pid path.
BROKEN_NGINX = ("pid /tmp/nginx.pid;", "pid /run/nginx.pid;")


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return without_watch_rules(make_project(NAME))  # rebuild turns: a sync turn's are test_watch_sync's


def break_backend(text: str) -> str:
    return text.replace("BUILD = load_build_info()\n", BROKEN)


def raise_line(project: Project) -> int:
    """The line of main.py the broken backend raises at."""
    lines = (project.root / "backend" / "main.py").read_text().splitlines()
    return lines.index('raise RuntimeError("broken at import")') + 1


def backend_sources(project: Project) -> str:
    return str(requests.get(f"{project.backend_url}/build/info", timeout=5).json()["source_digest"])


def frontend_sources(project: Project) -> str:
    text = requests.get(f"{project.frontend_url}/build-info.js", timeout=5).text
    found = re.search(r'sourceDigest: "([^"]+)"', text)
    assert found, text
    return found.group(1)


def only_error(run: subprocess.CompletedProcess[str]) -> str:
    """The one `error:` line; no traceback of the session's own (the containers' logs hold theirs)."""
    assert not re.search(r'File "[^"]*/ci/', run.stdout + run.stderr) and "a bug" not in run.stderr
    [line] = [x for x in run.stderr.splitlines() if x.startswith("error: ")]
    return line


def dev_with_a_broken_backend(project: Project) -> str:
    """`python -m ci dev` with a backend that raises at import: exit 1, the stale JUnit file rewritten, one
    line naming the backend and its exception; returns what the line says serves then."""
    stale_pass(project, "dev")
    with project.edited("backend/main.py", lambda text: text if BROKEN in text else break_backend(text)):
        number = raise_line(project)
        run = project.ci("dev")
    assert run.returncode == 1
    assert "RuntimeError: broken at import" in run.stderr.split("last log lines of backend (the new build)")[1]
    status, cases = outcome(project, "dev")
    assert status == "failed" and cases["bake"] == "passed" and cases["up"] == "failure" and cases["clean"] == "skipped"
    head = "error: backend: the new build is unhealthy (exited 1: RuntimeError: broken at import at "
    head += f"backend/main.py:{number}); "
    line = only_error(run)
    assert line.startswith(head), line
    return line.removeprefix(head)


def test_a_first_dev_with_a_broken_backend_says_there_is_no_previous_build(project: Project) -> None:
    assert dev_with_a_broken_backend(project) == (
        "there is no previous build to bring back: the stack is down (frontend not started: waits for backend)"
    )


def test_the_next_dev_replaces_the_projects_own_restarting_backend_on_its_port(project: Project) -> None:
    run = project.ci("dev")  # the broken backend restarts in a loop on BACKEND_PORT meanwhile
    assert run.returncode == 0, run.stderr
    assert f"held by {NAME}'s own containers (backend " in run.stdout and "), replaced" in run.stdout


def test_dev_with_a_backend_that_raises_at_import_brings_the_previous_build_back(project: Project) -> None:
    before = backend_sources(project)
    with project.edited("backend/main.py", break_backend):
        assert dev_with_a_broken_backend(project) == (
            f"the previous build (sources {before[7:19]}) serves again; back on its previous build too: frontend"
        )
        assert backend_sources(project) == before
        assert requests.get(f"{project.frontend_url}/api/build/info", timeout=5).json()["source_digest"] == before
        # The record describes what runs: verify passes the image and build info, and names the edit.
        verify = project.ci("verify")
        assert verify.returncode == 1
        assert only_error(verify) == (
            "error: backend source fingerprint: backend is stale: the tree changed since the build: modified "
            "backend/main.py: rebuild (`nox -s dev` or `nox -s prod`)"
        )
        assert "backend image" in verify.stdout and "frontend source fingerprint  passed" in verify.stdout


@pytest.mark.first_pass  # verify's reading of the record a rollback leaves, whichever plugins built it
def test_dev_on_prods_stack_with_a_backend_that_raises_at_import_brings_prods_build_back_and_verify_names_it(
    project: Project,
) -> None:
    """The issue's case: `prod verify -- --up`, then a dev whose backend fails: the backend runs prod's older
    build again under dev's tag, the frontend dev's new one. The record says so, and verify judges the backend
    by what it runs (not the tree), never dropping it from the stack it checks."""
    up = project.ci("prod")
    assert up.returncode == 0, up.stderr
    up = project.ci("verify", "--up")
    assert up.returncode == 0, up.stdout + up.stderr
    before = backend_sources(project)
    with project.edited("backend/main.py", break_backend):
        assert dev_with_a_broken_backend(project) == (
            f"the previous build (sources {before[7:19]}) serves again; back on its previous build too: frontend"
        )
        assert backend_sources(project) == before
        # The record describes what runs, tagged as compose runs it: prod's build of the backend, at :dev.
        record = json.loads((project.reports / "last-build.json").read_text())
        assert record["tag"] == "dev" and record["targets"]["backend"]["tags"] == [f"{NAME}-backend:dev"]
        assert record["targets"]["backend"]["source_digest"] == before
        assert record["targets"]["backend"]["image_id"] == docker.image.inspect(f"{NAME}-backend:dev").id
        stale_pass(project, "verify")
        verify = project.ci("verify")
    assert verify.returncode == 1
    assert only_error(verify) == (
        "error: backend source fingerprint: backend is stale: the tree changed since the build: modified "
        "backend/main.py: rebuild (`nox -s dev` or `nox -s prod`)"
    )
    status, cases = outcome(project, "verify")
    assert status == "failed", cases
    assert cases["backend image"] == cases["backend build info"] == cases["frontend source fingerprint"] == "passed"
    assert cases["backend source fingerprint"] == "failure", cases


@pytest.mark.first_pass  # verify --up brings a build back by dev's compose path, run on both plugin sets (time)
def test_verify_up_with_a_broken_latest_build_brings_the_running_one_back(project: Project) -> None:
    """Every service `verify --up` replaced goes back with the backend that did not come up: the frontend too,
    when the build brought it a new image (which depends on what ran before: CI's second pass skips a test)."""
    before, frontend_before = backend_sources(project), frontend_sources(project)
    running_frontend = project.running("frontend").image
    with project.edited("backend/main.py", break_backend):
        built = project.ci("prod")
        assert built.returncode == 0, built.stderr  # it builds: the sources compile
        stale_pass(project, "verify")
        run = project.ci("verify", "--up")
    assert run.returncode == 1
    line = only_error(run)
    assert line.startswith("error: backend: the new build is unhealthy (exited 1: RuntimeError: broken at import at")
    replaced = docker.image.inspect(f"{NAME}-frontend:latest").id != running_frontend
    too = "; back on its previous build too: frontend" if replaced else ""
    assert line.endswith(f"; the previous build (sources {before[7:19]}) serves again{too}"), line
    assert backend_sources(project) == before and frontend_sources(project) == frontend_before
    assert outcome(project, "verify")[0] == "failed"
    # The record says what runs: the build the backend ran before, under the new build's tag, which compose runs.
    with project.edited("backend/main.py", break_backend):
        verify = project.ci("verify")
    assert verify.returncode == 1 and "backend is stale: the tree changed since the build" in only_error(verify)
    assert outcome(project, "verify")[1]["backend image"] == "passed"


def image_sources(ref: str) -> str:
    return str(docker.image.inspect(ref).config.labels[SOURCE_DIGEST_LABEL])


@pytest.mark.first_pass  # the backend's case runs on both plugin sets; this is the same compose path for the frontend
def test_verify_up_with_a_frontend_whose_nginx_cannot_start_brings_the_running_one_back(project: Project) -> None:
    before = frontend_sources(project)
    with project.edited("frontend/nginx.conf", lambda text: text.replace(*BROKEN_NGINX)):
        built = project.ci("prod")
        assert built.returncode == 0, built.stderr  # `nginx -t` passes at build, as root
        run = project.ci("verify", "--up")
    assert run.returncode == 1
    # nginx says it twice, on stderr ("nginx: [emerg] ...") and in its error log, also stderr, timestamped:
    # which of the two the container's log ends with is the engine's interleaving of the two writes.
    said = re.fullmatch(
        r"error: frontend: the new build is unhealthy \(exited 1: (nginx: |\d{4}/\d\d/\d\d [\d:]+ )\[emerg\] (1#1: )?"
        r'open\(\) "/run/nginx.pid" failed \(13: Permission denied\)\); the previous build \(sources (\w{12})\) '
        r"serves again",
        only_error(run),
    )
    assert said and said.group(3) == before[7:19], only_error(run)
    assert frontend_sources(project) == before
    # What runs moved back, what was built did not: only compose's tag names the previous build again.
    tag = json.loads((project.reports / "last-build.json").read_text())["tag"]
    assert image_sources(f"{NAME}-frontend:{tag}") == before
    broken = docker.image.inspect(f"{NAME}-frontend:latest")
    assert broken.config.labels[SOURCE_DIGEST_LABEL] != before
    assert f"{NAME}-frontend:{tag}" not in broken.repo_tags  # latest, and its own commit's where it has one


@pytest.mark.first_pass  # watch builds and starts by dev's phases; it starts on the prod build the test above left
def test_a_watch_whose_start_fails_brings_the_previous_build_back_and_watches(project: Project) -> None:
    before = backend_sources(project)
    stale_pass(project, "watch")
    running = None
    try:
        with project.edited("backend/main.py", break_backend):  # the last build is prod's: watch starts the stack
            running = started(project)
            [line] = [x for x in running.seen if x.startswith("start: ")]
            assert line == (
                "start: backend: the new build is unhealthy (exited 1: RuntimeError: broken at import at "
                f"backend/main.py:{raise_line(project)}); the previous build (sources {before[7:19]}) serves again; "
                "back on its previous build too: frontend; watching: the next save retries"
            )
            assert backend_sources(project) == before
        fixed = running.wait_for(is_turn)  # the file restored: a save
        assert fixed.startswith("backend  backend/main.py  built ") and "verified" in fixed, fixed
        running.proc.send_signal(signal.SIGINT)
        assert running.proc.wait(timeout=30) == 0
    finally:
        if running is not None and running.proc.poll() is None:
            running.proc.kill()
    status, cases = outcome(project, "watch")
    turns = {name: result for name, result in cases.items() if name.startswith("turn ")}
    assert status == "passed" and cases["stack"] == "failure", cases
    assert turns and set(turns.values()) == {"passed"} and any("backend" in name for name in turns), cases


@pytest.mark.first_pass  # dev's backend case runs on both plugin sets; this is the same compose path for the frontend
def test_a_frontend_whose_nginx_cannot_start_gives_way_to_its_previous_build(project: Project) -> None:
    before = frontend_sources(project)
    with project.edited("frontend/nginx.conf", lambda text: text.replace(*BROKEN_NGINX)):
        run = project.ci("dev")
    assert run.returncode == 1
    assert only_error(run) == (
        'error: frontend: the new build is unhealthy (exited 1: nginx: [emerg] open() "/run/nginx.pid" failed '
        f"(13: Permission denied)); the previous build (sources {before[7:19]}) serves again; back on its previous "
        "build too: backend"  # dev rebuilt it: it came up on the new build, and goes back with the frontend
    )
    assert frontend_sources(project) == before
    assert requests.get(f"{project.backend_url}/health", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def watch(project: Project) -> Iterator[Watch]:
    yield from watching(project)


def is_turn(line: str) -> bool:
    return " from change" in line or any(f"  {r}: " in line for r in ("build failed", "unhealthy", "does not parse"))


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_watch_brings_the_previous_backend_back_and_the_next_save_retries(project: Project, watch: Watch) -> None:
    before = backend_sources(project)
    main = project.root / "backend" / "main.py"
    good = main.read_text()
    main.write_text(break_backend(good))
    line = watch.wait_for(is_turn)
    assert line.startswith(
        "backend  backend/main.py  unhealthy: backend: the new build is unhealthy (exited 1: RuntimeError: broken "
        f"at import at backend/main.py:{raise_line(project)}); the previous build (sources {before[7:19]}) serves again"
    ), line
    assert backend_sources(project) == before
    main.write_text(good + "\n# fixed\n")
    fixed = watch.wait_for(is_turn)
    assert fixed.startswith("backend  backend/main.py  built ") and "verified" in fixed, fixed


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_watch_brings_the_previous_frontend_back(project: Project, watch: Watch) -> None:
    before = frontend_sources(project)
    conf = project.root / "frontend" / "nginx.conf"
    good = conf.read_text()
    conf.write_text(good.replace(*BROKEN_NGINX))
    line = watch.wait_for(is_turn)
    assert line.startswith(
        "frontend  frontend/nginx.conf  unhealthy: frontend: the new build is unhealthy (exited 1"
    ), line
    assert line.endswith(f"the previous build (sources {before[7:19]}) serves again"), line
    assert frontend_sources(project) == before
    conf.write_text(good)
    fixed = watch.wait_for(is_turn)
    assert fixed.startswith("frontend  frontend/nginx.conf  built ") and "verified" in fixed, fixed


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
@pytest.mark.parametrize(
    ("name", "mistake", "says"),
    [
        ("compose.yaml", lambda t: t.replace("    pull_policy: never\n", "    pull_policy: never\n   oops: [\n", 1),
         r"compose\.yaml:(\d+):4: did not find expected key"),
        ("docker-bake.hcl", lambda t: t + '\ntarget "broken" {\n  tags = [\n', r"docker-bake\.hcl:(\d+),\d+-\d+: "),
    ],
    ids=["compose.yaml", "docker-bake.hcl"],
)  # fmt: skip
def test_watch_survives_a_definition_that_does_not_parse_and_the_fix_verifies(
    project: Project, watch: Watch, name: str, mistake: Callable[[str], str], says: str
) -> None:
    before = backend_sources(project)
    path = project.root / name
    good = path.read_text()
    path.write_text(mistake(good))
    line = watch.wait_for(is_turn)
    found = re.search(rf"^{re.escape(name)}  does not parse: {says}", line)
    assert found and line.endswith("; the stack runs unchanged"), line
    if name == "compose.yaml":  # its real line, not the one above its block that compose's parser names
        assert path.read_text().splitlines()[int(found.group(1)) - 1] == "   oops: ["
    assert watch.proc.poll() is None and backend_sources(project) == before
    path.write_text(good)
    fixed = watch.wait_for(is_turn)
    assert "verified: running = tree" in fixed, fixed


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_watch_ends_on_ctrl_c_having_kept_every_turn(project: Project, watch: Watch) -> None:
    watch.proc.send_signal(signal.SIGINT)
    assert watch.proc.wait(timeout=30) == 0
    status, cases = outcome(project, "watch")
    assert status == "passed"
    turns = [c for c in cases if c.startswith("turn ")]
    assert [cases[c] for c in turns][-8:] == ["failure", "passed"] * 4


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProxy]:
    with EngineProxy(tmp_path_factory.mktemp("engine") / "docker.sock") as running:
        yield running


@pytest.fixture(scope="module")
def proxied_watch(project: Project, proxy: EngineProxy) -> Iterator[Watch]:
    """A watch through PROXY, started with a backend that raises at import and none of the project's
    containers left: no previous build to bring back."""
    gone = docker.container.list(all=True, filters=[("label", f"com.docker.compose.project={NAME}")])
    if gone:
        docker.container.remove(gone, force=True)
    with project.edited("backend/main.py", break_backend):
        yield from watching(project, {"DOCKER_HOST": proxy.host})


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_a_watch_that_starts_with_no_previous_build_says_the_stack_is_down_and_the_fix_brings_it_up(
    project: Project, proxied_watch: Watch
) -> None:
    [line] = [x for x in proxied_watch.seen if x.startswith("start: ")]
    assert line == (
        "start: backend: the new build is unhealthy (exited 1: RuntimeError: broken at import at "
        f"backend/main.py:{raise_line(project)}); there is no previous build to bring back: the stack is down "
        "(frontend not started: waits for backend); watching: the next save retries"
    )
    main = project.root / "backend" / "main.py"
    main.write_text(main.read_text().replace(BROKEN, "BUILD = load_build_info()\n"))
    fixed = proxied_watch.wait_for(is_turn)  # the frontend, held back, comes up with it
    assert fixed.startswith("backend, frontend  backend/main.py  built ") and "verified" in fixed, fixed
    assert requests.get(f"{project.frontend_url}/api/build/info", timeout=5).json()["source_digest"] == (
        backend_sources(project)
    )


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_a_watch_whose_engine_goes_away_ends_with_exit_3_and_its_reports(
    project: Project, proxy: EngineProxy, proxied_watch: Watch
) -> None:
    stale_pass(project, "watch")
    proxy.close()  # the shared engine stays; this watch's is gone
    since = len(proxied_watch.seen)
    main = project.root / "backend" / "main.py"
    main.write_text(main.read_text() + "\n# saved with no engine\n")
    assert proxied_watch.proc.wait(timeout=60) == 3
    assert proxied_watch.wait_for(lambda x: x.startswith("error: "), timeout=10) == (
        f"error: no Docker engine answers at {proxy.host} any more (turn 2 failed on it): start it or fix "
        "DOCKER_HOST, then run `nox -s watch` again"
    )
    assert not [x for x in proxied_watch.seen[since:] if "Traceback" in x]  # none of the session's own
    report = json.loads((project.reports / "watch.json").read_text())
    assert report["status"] == "no engine" and report["exit_code"] == 3
    assert [t["result"] for t in report["turns"]] == ["verified", "no engine"]
    assert outcome(project, "watch")[1]["turn 2: backend"] == "failure"
