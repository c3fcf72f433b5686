"""What a person reads: every line each session prints fits the terminal (COLUMNS=80 and 120, success and
failure), the step figures are true, a failed step ends in one short line, watch times a turn from the
change; and verify waits for services that are still starting (a `docker compose up -d` without --wait)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import Project
from tests.integration.watching import Watch, is_turn, without_watch_rules

pytestmark = pytest.mark.integration
NARROW, WIDE = 80, 120
BROKEN = "\ndef broken(:\n"  # a syntax error: the backend's compile step fails


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return without_watch_rules(make_project("mainzatest-output"))  # rebuild turns (sync turns: test_watch_sync)


def run_at(project: Project, columns: int, *args: str) -> subprocess.CompletedProcess[str]:
    return project.ci(*args, env={"COLUMNS": str(columns)})


def assert_fits(run: subprocess.CompletedProcess[str], columns: int) -> None:
    lines = (run.stdout + run.stderr).splitlines()
    assert lines, "nothing printed"
    too_wide = [line for line in lines if len(line) > columns]
    assert not too_wide, too_wide


def report(project: Project, name: str) -> dict[str, object]:
    found: dict[str, object] = json.loads((project.reports / name).read_text())
    return found


def test_a_no_cache_dev_reports_no_step_cached_and_every_line_fits_80_columns(project: Project) -> None:
    dev = run_at(project, NARROW, "dev")
    assert dev.returncode == 0, dev.stderr
    assert_fits(dev, NARROW)
    build = report(project, "build-dev.json")
    assert [t["cached_steps"] for t in build["targets"]] == [0, 0]  # type: ignore[index]
    assert "CACHED" not in dev.stdout and "FAILED" not in dev.stdout
    steps = [line for line in dev.stdout.splitlines() if re.match(r"^(backend|frontend) +\d+\.\ds +\[", line)]
    assert len(steps) == len(set(steps)) == sum(t["steps"] for t in build["targets"])  # type: ignore[index]


def test_compose_up_without_wait_then_verify_waits_for_the_starting_services(project: Project) -> None:
    env = {**os.environ, **project.env, "TAG": "dev"}
    # Health checks every 3 s while starting (compose.yaml's poll every 0.1 s): verify finds them starting.
    # Compose merges compose.override.yaml when no file is named, as here; the sessions name compose.yaml.
    slow = "".join(f"  {s}:\n    healthcheck:\n      start_interval: 3s\n" for s in ("backend", "frontend"))
    override = project.root / "compose.override.yaml"
    override.write_text(f"services:\n{slow}")
    try:
        subprocess.run(["docker", "compose", "up", "-d", "--force-recreate"], cwd=project.root, env=env, check=True)
    finally:
        override.unlink()
    verify = run_at(project, WIDE, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "waiting for" in verify.stdout and "to finish starting" in verify.stdout
    assert_fits(verify, WIDE)


# The lines at 80 columns on both plugin sets (the bake's progress is buildx's); the wide ones on the first.
@pytest.mark.parametrize("columns", [NARROW, pytest.param(WIDE, marks=pytest.mark.first_pass)])
# lint's lines are its tools' (ruff, mypy, hadolint, actionlint) and the bake file's print: on the first pass alone.
@pytest.mark.parametrize(
    "session",
    [
        ("prod",),
        pytest.param(("verify",), marks=pytest.mark.first_pass),  # verify and doctor print no buildx progress
        pytest.param(("doctor",), marks=pytest.mark.first_pass),
        ("prune", "--dry-run"),
        pytest.param(("lint",), marks=pytest.mark.first_pass),
    ],
)
def test_every_line_fits(project: Project, session: tuple[str, ...], columns: int) -> None:
    # verify after prod fails (the stack runs dev's images): a failure path, its lines fit as well.
    run = run_at(project, columns, *session)
    assert_fits(run, columns)
    if session == ("prod",):
        assert run.returncode == 0, run.stdout + run.stderr
        build = report(project, "build-prod.json")
        times = [t["wall_seconds"] for t in build["targets"]]  # type: ignore[index]
        assert max(times) <= build["seconds"], build  # type: ignore[operator]


@pytest.mark.first_pass  # no engine at all, so no plugin is asked: CI's second pass leaves it out (time)
@pytest.mark.parametrize("columns", [NARROW, WIDE])
def test_bench_without_an_engine_ends_in_one_line_that_fits(project: Project, columns: int) -> None:
    # bench itself prunes the engine's build cache: its failure path here, its figures in `nox -s bench`.
    run = project.ci("bench", env={"COLUMNS": str(columns), "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert run.returncode != 0
    assert_fits(run, columns)
    assert run.stderr.splitlines()[-1].startswith("error: no Docker engine answers")


def test_a_failing_run_ends_in_one_short_line_naming_target_step_and_exit_code(project: Project) -> None:
    with project.edited("backend/main.py", lambda text: text + BROKEN):
        run = run_at(project, WIDE, "dev")
    assert run.returncode == 1
    assert_fits(run, WIDE)
    line = run.stderr.splitlines()[-1]
    assert line == report(project, "dev.json")["line"]  # printed whole: it is short
    assert len(line) < 200 and line.count("python -c") == 1, line
    assert line.startswith("error: backend [runtime 5/5] RUN python -c 'import compileall")
    assert line.endswith(" failed (exit 1); the previous build still serves"), line
    # The compiler's own output above it, untouched; no step of the other target said to have failed.
    assert "SyntaxError: invalid syntax" in run.stderr.split(line)[0]
    assert not [x for x in run.stdout.splitlines() if x.startswith("frontend") and "FAILED" in x]


@pytest.fixture(scope="module")
def watch(project: Project) -> Iterator[Watch]:
    running = Watch(project, env={"COLUMNS": str(NARROW)})
    running.wait_for(lambda line: line.startswith("watching the inputs of"))
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


def turn(watch: Watch) -> tuple[float, str]:
    """The next turn line, and when this test saw it: no sooner than watch printed it."""
    line = watch.wait_for(is_turn)
    return time.monotonic(), line


def seconds_from_change(line: str) -> float:
    match = re.search(r"(\d+\.\d)s from change$", line)
    assert match, line
    return float(match.group(1))


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_watch_times_a_cp_p_of_an_old_file_from_the_change_not_its_mtime(project: Project, watch: Watch) -> None:
    old = project.root / "old_module.py"
    old.write_text("OLD = True\n")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    before = time.monotonic()
    subprocess.run(["cp", "-p", str(old), str(project.root / "backend" / "old_module.py")], check=True)
    seen, line = turn(watch)
    assert line.startswith("backend  backend/old_module.py  built "), line
    assert seconds_from_change(line) <= seen - before, line
    [start] = [x for x in watch.seen if x.startswith("stack: ")]  # watch's start line: what it did, how long
    assert re.fullmatch(r"stack: started from a cached build: backend, frontend \(\d+\.\ds\)", start), start


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_watch_names_only_the_file_sed_i_edited(project: Project, watch: Watch) -> None:
    before = time.monotonic()
    subprocess.run(
        ["sed", "-i", "s/OLD = True/OLD = False/", str(project.root / "backend" / "old_module.py")], check=True
    )
    seen, line = turn(watch)
    assert line.startswith("backend  backend/old_module.py  built "), line
    assert "sed" not in line and seconds_from_change(line) <= seen - before


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_watch_says_a_failed_build_as_dev_does(project: Project, watch: Watch) -> None:
    main = project.root / "backend" / "main.py"
    good = main.read_text()
    main.write_text(good + BROKEN)
    _, line = turn(watch)
    assert line.startswith("backend  backend/main.py  build failed: backend [runtime 5/5] RUN python -c"), line
    main.write_text(good)
    _, fixed = turn(watch)
    assert "  verified" in fixed and fixed.endswith(" from change"), fixed


@pytest.mark.first_pass  # watch builds and starts by dev's phases, which run on both plugin sets (time)
def test_watch_ends_with_every_line_fitting_and_no_temporary_file_in_a_turn(project: Project, watch: Watch) -> None:
    watch.proc.send_signal(signal.SIGINT)
    assert watch.proc.wait(timeout=30) == 0
    last = watch.wait_for(lambda line: line.startswith("watch: "), timeout=5)
    assert last.startswith("watch: 4 turns, 3 verified"), last
    assert not [line for line in watch.seen if len(line) > NARROW]
    turns = report(project, "watch.json")["turns"]
    files = [f for t in turns for f in t["files"]]  # type: ignore[attr-defined]
    assert files == ["backend/old_module.py", "backend/old_module.py", "backend/main.py", "backend/main.py"]
