"""`nox -s watch`'s sync turns on the real engine, in a copy of the example project (its backend's
`sync+restart` rule): a one-line edit copied into the running container and proven, the image untouched, verify
passing it as synced; a deleted file gone, proven; a file the container's user cannot read failing the proof,
named, and rebuilt; a dependency file still rebuilt. One watch serves them all, in order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ci.stack.live import free_port
from tests.conftest import Project, junit_results
from tests.integration.test_watch import started, watching
from tests.integration.watching import Watch, is_turn

# first_pass: copy, exec, restart and the archive API are the engine's; compose only lists and recreates
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-watchsync"


@pytest.fixture(scope="module")
def project(make_project: Callable[[str], Project]) -> Project:
    return make_project(NAME)


@pytest.fixture(scope="module")
def watch(project: Project) -> Iterator[Watch]:
    project.env["WATCH_PORT"] = str(free_port())  # its live page, which test_the_live_page_... opens
    yield from watching(project)


def started_line(watch: Watch, within: float = 10.0) -> str:
    """The backend's line that its server started, once watch showed it."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        found = [line for line in watch.logged if "Application startup complete" in line]
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no startup line of the backend's within {within:.0f}s: {watch.logged[-10:]}")


def compose_processes() -> list[str]:
    """The command lines of every process running docker compose, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in argv)
        if "compose" in line:
            found.append(line)
    return found


def in_container(project: Project, *command: str) -> subprocess.CompletedProcess[str]:
    cid = str(project.running("backend").id)
    return subprocess.run(["docker", "exec", cid, *command], capture_output=True, text=True, timeout=30)


def test_a_backend_edit_is_a_proven_sync_and_verify_passes_it_as_synced(project: Project, watch: Watch) -> None:
    running = project.running("backend")
    before = (str(running.id), str(running.image))  # read now: the object reads its container again when asked
    main = project.root / "backend" / "main.py"
    main.write_text(main.read_text() + "\n# watch: a synced edit\n")
    line = watch.wait_for(is_turn)
    assert line.startswith("backend  backend/main.py  synced "), line
    assert " proven: 1 file read back in " in line and line.endswith("s from change"), line
    after = project.running("backend")
    assert (str(after.id), str(after.image)) == before  # the same container, the same image
    # Its restart between turns, in the backend's own words, as compose up shows them (ci/watch/logs.py).
    assert started_line(watch).startswith("backend  | "), watch.logged[-5:]
    assert "# watch: a synced edit" in in_container(project, "cat", "/app/backend/main.py").stdout
    verify = project.ci("verify")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
    assert "synced from the tree onto " in verify.stdout and "built from an earlier tree (1 file, proven at " in (
        verify.stdout
    ), verify.stdout[-3000:]


def test_a_deleted_backend_file_is_gone_from_the_container_proven(project: Project, watch: Watch) -> None:
    extra = project.root / "backend" / "extra.py"
    extra.write_text("EXTRA = 1\n")
    added = watch.wait_for(is_turn)
    assert added.startswith("backend  backend/extra.py  synced ") and " proven: 1 file " in added, added
    assert in_container(project, "test", "-e", "/app/backend/extra.py").returncode == 0
    extra.unlink()
    gone = watch.wait_for(is_turn)
    assert gone.startswith("backend  backend/extra.py (deleted)  synced "), gone
    assert " proven: 0 files, 1 deleted read back in " in gone, gone
    assert in_container(project, "test", "-e", "/app/backend/extra.py").returncode == 1


def test_a_file_its_user_cannot_read_fails_the_proof_names_the_path_and_is_rebuilt(
    project: Project, watch: Watch
) -> None:
    image = str(project.running("backend").image)
    notes = project.root / "backend" / "notes.txt"
    notes.write_text("not for the app's user\n")
    os.chmod(notes, 0)  # in the same burst: copied as 0000, owned by the container's user, who cannot read it
    failed = watch.wait_for(is_turn)
    assert failed.startswith("backend/notes.txt  not proven: backend: "), failed
    assert "/app/backend/notes.txt: unreadable by the container's user" in failed and "rebuilding it" in failed
    rebuilt = watch.wait_for(is_turn)
    assert rebuilt.startswith("backend  backend/notes.txt  built ") and "verified: running = tree" in rebuilt, rebuilt
    assert str(project.running("backend").image) != image
    verify = project.ci("verify")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
    assert "synced from the tree" not in verify.stdout  # recreated: its image is the tree's


def test_the_live_page_shows_both_services_the_failed_turns_cause_and_follows_a_turn_without_reload(
    project: Project, watch: Watch
) -> None:
    """In chromium: the page watch said it serves, its state live (Server-Sent Events): the earlier failed turn's
    cause shown, an edit's sync turn on it within moments of its line, no reload, no console error."""
    from ci.probe import browser  # playwright: the tests' session installs verify --browser's requirement

    [said] = [line for line in watch.seen if line.startswith("page: http://127.0.0.1:")]
    url = said.split()[1]
    assert url == f"http://127.0.0.1:{project.env['WATCH_PORT']}/"
    with browser.opened() as page:
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("request", lambda r: errors.append(r.url) if not r.url.startswith(url) else None)
        page.goto(url, wait_until="load")
        page.wait_for_selector("#link.live", timeout=5000)
        assert page.locator(".service .name").all_inner_texts() == ["backend", "frontend"]
        failed = page.locator('#turns tr[data-result="not proven"] .cause').first.inner_text()
        assert "/app/backend/notes.txt: unreadable by the container's user" in failed, failed
        page.evaluate("window.loadedOnce = true")  # gone if the page reloaded
        before = int(page.locator("#turns tbody tr").first.get_attribute("data-number") or 0)
        main = project.root / "backend" / "main.py"
        main.write_text(main.read_text() + "\n# watch: seen on the page\n")
        line = watch.wait_for(is_turn)
        printed = time.monotonic()
        assert line.startswith("backend  backend/main.py  synced "), line
        newest = page.locator(f'#turns tbody tr[data-number="{before + 1}"][data-result="verified"]')
        newest.wait_for(timeout=2000)
        shown = time.monotonic() - printed  # the page's update against the turn's line, as this test read both
        backend = page.locator('.service[data-service="backend"]')
        assert backend.get_attribute("data-state") == "synced" and "backend/main.py" in backend.inner_text()
        assert page.evaluate("window.loadedOnce") is True
    print(f"watch page: turn {before + 1} shown {shown * 1000:.0f} ms after its line was read")
    assert shown < 0.5 and errors == [], (shown, errors)


def test_a_requirements_change_is_still_a_rebuild(project: Project, watch: Watch) -> None:
    requirements = project.root / "requirements-docker.txt"
    requirements.write_text(requirements.read_text() + "\n# watch: not something a sync carries\n")
    line = watch.wait_for(is_turn, timeout=300)
    assert line.startswith("backend  requirements-docker.txt  built ") and "verified" in line, line


def test_the_reports_record_each_turn_s_action_and_proof(project: Project, watch: Watch) -> None:
    watch.proc.send_signal(signal.SIGINT)
    assert watch.proc.wait(timeout=30) == 0
    following = [p for p in compose_processes() if f"--project-name {project.name} " in p and " logs --follow " in p]
    assert following == []  # the services' lines' follower ended with the session
    turns = json.loads((project.reports / "watch.json").read_text())["turns"]
    assert [(t["action"], t["result"]) for t in turns] == [
        ("synced", "verified"),
        ("synced", "verified"),
        ("synced", "verified"),
        ("synced", "not proven"),
        ("rebuilt", "verified"),
        ("synced", "verified"),  # the live page's test's edit
        ("rebuilt", "verified"),
    ], turns
    assert turns[0]["detail"].startswith("proven: 1 file read back in ") and turns[0]["verify_seconds"] < 1
    cases = junit_results(project.reports / "junit-watch.xml")
    assert cases["turn 1: backend synced"] == "passed" and cases["turn 4: backend synced"] == "failure", cases
    assert cases["turn 5: backend"] == "passed", cases


@pytest.fixture(scope="module")
def later(project: Project) -> Iterator[list[Watch]]:
    """The second watch of the module, started by the test that edits the tree while the first is stopped."""
    held: list[Watch] = []
    yield held
    for running in held:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait()


def test_edits_and_a_deletion_made_while_watch_is_stopped_are_synced_and_proven_at_its_start(
    project: Project, watch: Watch, later: list[Watch]
) -> None:
    assert watch.proc.poll() is not None  # stopped by the test above
    image = str(project.running("backend").image)
    main = project.root / "backend" / "main.py"
    main.write_text(main.read_text() + "\n# watch: edited while nothing watched\n")
    (project.root / "backend" / "__init__.py").unlink()  # a file of the image, deleted while nothing watched
    (project.root / "backend" / "notes.txt").unlink()  # the unreadable one, in the image since its rebuild
    later.append(started(project))
    turns = [line for line in later[0].seen if is_turn(line)]
    assert len(turns) == 1, later[0].seen
    assert turns[0].startswith("backend  backend/__init__.py (deleted) (+2)  synced "), turns[0]
    assert " proven: 1 file, 2 deleted read back in " in turns[0], turns[0]
    assert "at the tree: backend (synced), frontend (built)" in later[0].seen, later[0].seen
    assert str(project.running("backend").image) == image  # no rebuild
    assert "edited while nothing watched" in in_container(project, "cat", "/app/backend/main.py").stdout
    assert in_container(project, "test", "-e", "/app/backend/__init__.py").returncode == 1


def test_a_container_recreated_by_hand_after_a_sync_is_noticed_compared_whole_and_brought_back_to_the_tree(
    project: Project, later: list[Watch]
) -> None:
    env = {**os.environ, **project.env}
    env.pop("VIRTUAL_ENV", None)
    up = subprocess.run(["docker", "compose", "up", "--detach", "--wait", "--force-recreate", "--no-deps", "backend"],
                        cwd=project.root, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert up.returncode == 0, up.stderr
    # No save: watch sees the container start, and brings its image's files (its syncs gone) back to the tree.
    line = later[0].wait_for(is_turn)
    assert any("was started by someone else: comparing it whole" in s for s in later[0].seen), later[0].seen
    assert line.startswith("backend  backend/__init__.py (deleted) (+2)  synced "), line  # and notes.txt
    assert " proven: 1 file, 2 deleted read back in " in line, line
    assert in_container(project, "test", "-e", "/app/backend/__init__.py").returncode == 1
    verify = project.ci("verify")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]


def test_verify_url_does_not_count_a_synced_container_as_built_from_the_tree(project: Project) -> None:
    remote = project.ci("verify", "--url", f"backend={project.backend_url}", "--tree")
    assert remote.returncode == 1, remote.stdout[-3000:]
    assert "running = tree" not in remote.stdout.splitlines()[-1], remote.stdout[-3000:]
