"""watch's turns: a failed turn ends the loop only when the engine no longer answers."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn, cast

import pytest

from ci import docker as dk
from ci import frame
from ci.builds.record import BuildRecord
from ci.core.errors import CiError, DockerFailed, EngineUnreachable, Exit, UsageError
from ci.core.report import Report
from ci.core.session import Run, Session
from ci.core.settings import Settings
from ci.phases import start
from ci.sessions import watch
from ci.sources.identity import Inputs
from ci.stack import preflight, rollback
from ci.watch.bursts import Burst
from tests.conftest import junit_results


def loop_of(tmp_path: Path) -> watch.Loop:
    settings = Settings(root=tmp_path, project="p", reports_dir=tmp_path, ports={})
    args = argparse.Namespace(logs=False, once=False, down=False, no_sync=False)
    run = Run(watch.SESSION, args, settings, Report("watch"))
    return watch.Loop(run, dk.Engine(_client=None, project="p"))  # type: ignore[arg-type]


def listing_fails(engine: dk.Engine) -> dict[str, dk.ContainerInfo]:
    raise DockerFailed("could not list the p containers: Cannot connect to the Docker daemon")


def engine_gone(engine: dk.Engine) -> str:
    raise EngineUnreachable("no Docker engine answers")


def test_a_failed_turn_whose_engine_no_longer_answers_ends_the_loop_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dk, "service_containers", listing_fails)
    monkeypatch.setattr(dk, "require_engine", engine_gone)
    loop = loop_of(tmp_path)
    with pytest.raises(EngineUnreachable, match=r"any more \(turn 1 failed on it\): start it or fix DOCKER_HOST"):
        watch.turn(loop, ["backend/main.py"], ["backend"], 0.0)
    [turn] = loop.turns
    assert turn.result == "no engine"
    [case] = loop.run.report.main.checks
    assert case.name == "turn 1: backend" and case.status == "failed" and case.exit_code == Exit.NO_ENGINE


def test_a_failed_turn_whose_engine_still_answers_is_recorded_and_the_loop_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dk, "service_containers", listing_fails)
    monkeypatch.setattr(dk, "require_engine", lambda engine: "26.1.5")
    loop = loop_of(tmp_path)
    watch.turn(loop, ["backend/main.py"], ["backend"], 0.0)
    [turn] = loop.turns
    assert turn.result == "failed" and "Cannot connect" in turn.detail
    assert loop.run.report.main.checks[0].exit_code == Exit.FAILED


def lose_the_engine(*args: object, **kwargs: object) -> NoReturn:
    raise EngineUnreachable("no Docker engine answers")


@pytest.mark.parametrize("where", ["listing", "build", "up"])
def test_an_engine_lost_inside_a_turn_ends_the_loop_and_is_not_taken_for_a_failed_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    def build(loop: watch.Loop, targets: object, current: object = None) -> None:
        if where == "build":
            lose_the_engine()
        loop.record = BuildRecord("dev", "p", "dev", "", {}, {})

    monkeypatch.setattr(dk, "service_containers", lose_the_engine if where == "listing" else lambda engine: {})
    monkeypatch.setattr(rollback, "keeping", lambda *args: nullcontext({}))
    monkeypatch.setattr(watch, "build", build)
    monkeypatch.setattr(start, "replace", lose_the_engine)
    loop = loop_of(tmp_path)
    with pytest.raises(EngineUnreachable, match=r"^no Docker engine answers$"):
        watch.turn(loop, ["backend/main.py"], [], 0.0)  # no target: nothing to resolve
    [turn] = loop.turns
    assert (turn.result, turn.detail) == ("no engine", "no Docker engine answers")
    [case] = loop.run.report.main.checks
    assert case.status == "failed" and case.exit_code == Exit.NO_ENGINE


def test_an_engine_lost_while_reading_the_definitions_again_ends_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch.Loop, "read_definitions", lose_the_engine)
    loop = loop_of(tmp_path)
    with pytest.raises(EngineUnreachable):
        watch.on_burst(loop, Burst(frozenset(loop.definitions), 0.0))
    assert loop.unreadable == "" and loop.turns == []


def test_an_image_missing_from_new_definitions_is_a_turn_that_touches_nothing_and_each_save_asks_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """compose.yaml now names a database image nobody can pull: a failed turn, nothing built; a pull needs no
    edit of the definitions, so the next save of any file reads them again, and the turn runs."""
    pulled: list[bool] = []
    turns: list[list[str]] = []

    def read(loop: watch.Loop) -> str:
        if not pulled:
            raise preflight.ImagesMissing("db's image team/db:1 is not on this engine and cannot be pulled: ...")
        loop.inputs = {"backend": Inputs.of(tmp_path, Path("Dockerfile"))}
        return "definitions resolve"

    monkeypatch.setattr(watch.Loop, "read_definitions", read)
    monkeypatch.setattr(watch, "turn", lambda loop, files, targets, seen: turns.append(targets))
    loop = loop_of(tmp_path)
    watch.on_burst(loop, Burst(frozenset([loop.run.settings.compose_file]), 0.0))
    [turn] = loop.turns
    assert turn.result == "image missing" and turn.targets == [] and turns == []
    assert turn.detail.startswith("db's image team/db:1") and turn.detail.endswith("; the stack runs unchanged")
    pulled.append(True)  # `docker pull team/db:1`, then a save of a source
    watch.on_burst(loop, Burst(frozenset([tmp_path / "backend" / "main.py"]), 0.0))
    assert loop.unreadable == "" and turns == [["backend"]] and len(loop.turns) == 1


def test_definitions_that_do_not_parse_are_read_again_only_when_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []

    def read(loop: watch.Loop) -> str:
        reads.append(1)
        raise CiError("compose.yaml:4:4: did not find expected key")

    monkeypatch.setattr(watch.Loop, "read_definitions", read)
    loop = loop_of(tmp_path)
    watch.on_burst(loop, Burst(frozenset([loop.run.settings.compose_file]), 0.0))
    watch.on_burst(loop, Burst(frozenset([tmp_path / "backend" / "main.py"]), 0.0))
    assert [t.result for t in loop.turns] == ["does not parse", "does not parse"] and reads == [1]


def test_the_junit_a_watch_writes_at_ctrl_c_is_valid_whatever_its_turns_saw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 32, item 11: a file name with control characters, a failing step's coloured log, then Ctrl-C
    during a turn; the JUnit file written then is schema-valid, the turns in it, the stop named."""
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    monkeypatch.setattr(dk, "service_containers", lambda engine: {})
    monkeypatch.setattr(dk, "require_engine", lambda engine: "26.1.5")
    monkeypatch.setattr(rollback, "keeping", lambda *args: nullcontext({}))
    saves = ["backend/na\x1bme\u202e.py", "backend/main.py"]  # a failed build, then Ctrl-C

    def build(loop: watch.Loop, targets: object, current: object = None) -> None:
        if loop.turns[-1].files[0] == "backend/main.py":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, mid-turn
            time.sleep(5)
        raise CiError("backend [runtime 5/5] RUN make failed (exit 2)", output="\x1b[31merror\x1b[0m\x00\ud800")

    def body(run: Run) -> None:
        loop = watch.Loop(run, dk.Engine(_client=None, project="p"))  # type: ignore[arg-type]
        loop.targets = {"backend": None}  # type: ignore[dict-item]
        run.report_decides = False
        try:
            for name in saves:
                watch.turn(loop, [name], ["backend"], time.monotonic())
        except KeyboardInterrupt:
            pass
        watch.finish(loop)

    monkeypatch.setattr(watch, "build", build)
    args = ["--once"]  # parsed (watch's options are the registry's), not acted on: the body above is the loop
    assert frame.run(Session("watch", "loop", (), body), args) == 0
    found = junit_results(tmp_path / "reports" / "junit-watch.xml")  # schema-valid
    assert found == {"turn 1: backend": "failure", "turn 2: backend": "error"}
    turns = json.loads((tmp_path / "reports" / "watch.json").read_text())["turns"]
    assert turns[0]["files"] == ["backend/na\\x1bme\\u202e.py"]
    assert turns[1]["detail"] == "stopped by SIGINT during the turn"
    assert "\x1b" not in "".join(capsys.readouterr())


def planned_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proven: bool) -> tuple[watch.Loop, list[str]]:
    """A loop on a backend with a sync+restart rule on its sources; what each burst did: `sync SERVICE`,
    `rebuild TARGETS FILES`."""
    from ci.stack.develop import Action, WatchRule
    from ci.stack.services import Checks, Service

    root = tmp_path.resolve()
    (root / "backend").mkdir()
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / ".dockerignore").write_text("*\n!backend/\n!requirements-docker.txt\n")
    loop = loop_of(root)
    loop.inputs = {"backend": Inputs.of(root, Path("Dockerfile"))}
    loop.services = [Service("backend", "backend", "p-backend:dev", (), Checks())]
    loop.rules = {"backend": (WatchRule("backend", 1, "backend", Action.SYNC_RESTART, "/app/backend"),)}
    done: list[str] = []
    running = dk.ContainerInfo("c1", "p-backend-1", "backend", "sha256:img", True, "running", 0, "healthy")
    monkeypatch.setattr(dk, "service_containers", lambda engine: {"backend": running})
    loop.known = {"backend": "c1"}  # the container the loop last saw at the tree

    def sync_turn(
        loop: watch.Loop, sync: object, container: object, seen: float, files: list[str], then: str = ""
    ) -> bool:
        done.append(f"sync {getattr(sync, 'service', '')} {files}")
        return proven

    monkeypatch.setattr(watch, "sync_turn", sync_turn)
    monkeypatch.setattr(watch, "turn", lambda loop, files, targets, seen: done.append(f"rebuild {targets} {files}"))
    return loop, done


def test_a_source_edit_under_a_sync_rule_is_a_sync_turn_and_a_dependency_file_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, done = planned_loop(tmp_path, monkeypatch, proven=True)
    root = loop.run.settings.root
    (root / "backend" / "main.py").write_text("x = 1\n")
    watch.on_burst(loop, Burst(frozenset([root / "backend" / "main.py"]), 0.0))
    assert done == ["sync backend ['backend/main.py']"]
    watch.on_burst(loop, Burst(frozenset([root / "requirements-docker.txt"]), 0.0))
    assert done[1:] == ["rebuild ['backend'] ['requirements-docker.txt']"]


def test_a_container_the_loop_did_not_prove_is_compared_whole_before_its_sync_or_rebuilt_without_a_build_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci.builds.record import BuildRecord, TargetRecord
    from ci.watch import sync as sync_
    from ci.watch.plan import Copy, Sync

    loop, done = planned_loop(tmp_path, monkeypatch, proven=True)
    loop.known = {"backend": "c0"}  # recreated since (by hand, by compose): its earlier syncs are gone
    root = loop.run.settings.root
    (root / "backend" / "main.py").write_text("x = 1\n")
    copies = (Copy("backend/main.py", "/app/backend/main.py"), Copy("backend/a.py", "/app/backend/a.py"))
    whole = Sync("backend", copies, ("/app/backend/old.py",), restart=True)
    shown = ("backend/a.py", "backend/main.py", "backend/old.py (deleted)")
    monkeypatch.setattr(sync_, "catch_up", lambda *args: sync_.CatchUp(whole, compared=3, files=shown))
    monkeypatch.setattr(dk, "container_user", lambda engine, cid: dk.ContainerUser("", 0, 0, frozenset()))
    watch.on_burst(loop, Burst(frozenset([root / "backend" / "main.py"]), 0.0))
    assert done == ["rebuild ['backend'] ['backend/main.py']"]  # no build record: nothing says what it runs
    built = TargetRecord("p-backend:dev", "sha256:img", "sha256:" + "0" * 64)
    loop.record = BuildRecord("watch", "p", "dev", "2026-12-07T00:00:00Z", {}, {"backend": built})
    watch.on_burst(loop, Burst(frozenset([root / "backend" / "main.py"]), 0.0))
    assert done[1:] == ["sync backend ['backend/a.py', 'backend/main.py', 'backend/old.py (deleted)']"]


def test_a_sync_that_fails_falls_back_to_a_rebuild_of_its_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, done = planned_loop(tmp_path, monkeypatch, proven=False)
    root = loop.run.settings.root
    watch.on_burst(loop, Burst(frozenset([root / "backend" / "gone.py"]), 0.0))  # a delete: a sync too
    assert done == ["sync backend ['backend/gone.py (deleted)']", "rebuild ['backend'] ['backend/gone.py']"]


def test_a_service_without_a_running_container_is_rebuilt_not_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, done = planned_loop(tmp_path, monkeypatch, proven=True)
    monkeypatch.setattr(dk, "service_containers", lambda engine: {})
    root = loop.run.settings.root
    watch.on_burst(loop, Burst(frozenset([root / "backend" / "main.py"]), 0.0))
    assert done == ["rebuild ['backend'] ['backend/main.py']"]


def test_a_proven_sync_is_recorded_for_verify_and_a_failed_proof_is_named_and_forgets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci.builds import synced
    from ci.watch import proof
    from ci.watch import sync as sync_
    from ci.watch.plan import Copy, Sync

    sync_turn = watch.sync_turn  # the real one: the loop's own is a fake
    loop, _ = planned_loop(tmp_path, monkeypatch, proven=True)
    root = loop.run.settings.root
    (root / "backend" / "main.py").write_text("x = 1\n")
    container = dk.ContainerInfo("c1" * 32, "p-backend-1", "backend", "sha256:" + "e" * 64, True, "running", 0, None)
    monkeypatch.setattr(dk, "container_user", lambda engine, cid: dk.ContainerUser("", 0, 0, frozenset()))
    monkeypatch.setattr(dk, "require_engine", lambda engine: "26.1.5")
    answers = [
        proof.Proven(1, 0, 0.012),
        proof.Failed(
            container.id, (proof.Difference("/app/backend/main.py", proof.Why.UNREADABLE, "mode 0000"),), 0.01
        ),
    ]
    monkeypatch.setattr(sync_, "carry", lambda *args: sync_.Carried(answers.pop(0), 0.05, 0.3))
    planned = Sync("backend", (Copy("backend/main.py", "/app/backend/main.py"),), ())
    assert sync_turn(loop, planned, container, 0.0, ["backend/main.py"])
    entry = synced.read_synced(root, "p").of("backend", container.id)
    assert entry is not None and entry.files == ("/app/backend/main.py",) and entry.image == container.image
    assert entry.rules == (synced.SyncedRule("backend", "/app/backend"),)
    assert loop.turns[0].detail.startswith("proven: 1 file read back in 12 ms (1 file, proven at ")
    assert not sync_turn(loop, planned, container, 0.0, ["backend/main.py"])
    failed = loop.turns[1]
    assert (failed.action, failed.result) == ("synced", "not proven")
    assert failed.detail == (
        "backend: p-backend-1: not proven: /app/backend/main.py: unreadable by the container's user (mode 0000); "
        "rebuilding it"
    )
    assert synced.read_synced(root, "p").services == {}
    assert [c.name for c in loop.run.report.main.checks] == ["turn 1: backend synced", "turn 2: backend synced"]


def test_the_services_lines_are_followed_from_the_start_and_stopped_at_the_end_unless_no_logs_or_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-logs: none followed, unless the live page is open, which then has them alone (quiet)."""
    made: list[list[str]] = []

    class Follower:
        def __init__(self, engine: dk.Engine, names: list[str], listener: object = None, quiet: bool = False) -> None:
            made.append(["made", *names, *(["quiet"] if quiet else [])])

        def start(self) -> None:
            made[-1].append("started")

        def resume(self) -> None:
            made[-1].append("resumed")

        def stop(self) -> None:
            made[-1].append("stopped")

    monkeypatch.setattr(watch.logs, "Follower", Follower)
    for flags, page, expected in (
        ({}, False, [["made", "started", "resumed", "stopped"]]),
        ({"no_logs": True}, False, []),
        ({"no_logs": True}, True, [["made", "quiet", "started", "resumed", "stopped"]]),
        ({"once": True}, True, []),
    ):
        made.clear()
        loop = loop_of(tmp_path)
        loop.board = cast(Any, SimpleNamespace(log=lambda *line: None)) if page else None
        loop.run.args.no_logs = False
        vars(loop.run.args).update(flags)
        watch.follow(loop)
        watch.resume(loop)
        watch.finish(loop)
        assert made == expected, flags


def test_a_container_others_started_is_noticed_compared_whole_and_synced_never_rebuilt_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci.builds.record import BuildRecord, TargetRecord
    from ci.watch import sync as sync_
    from ci.watch.plan import Copy, Sync

    loop, done = planned_loop(tmp_path, monkeypatch, proven=True)
    events = SimpleNamespace(pending=lambda: [dk.ContainerEvent("c1", "start", None, "backend")])
    assert not watch.started_by_others(loop, events)  # type: ignore[arg-type]  # the loop's own: known
    events = SimpleNamespace(pending=lambda: [dk.ContainerEvent("c2", "start", None, "backend"),
                                              dk.ContainerEvent("f2", "start", None, "frontend")])  # fmt: skip
    assert watch.started_by_others(loop, events)  # type: ignore[arg-type]
    assert loop.started == {"backend": "c2"}  # a service without sync rules is not watch's to compare
    starting = dk.ContainerInfo("c2", "p-backend-1", "backend", "sha256:img", True, "running", 0, "starting")
    monkeypatch.setattr(dk, "service_containers", lambda engine: {"backend": starting})
    watch.recreated(loop)  # its starter may be waiting for its health: left alone, asked again later
    assert done == [] and loop.started == {"backend": "c2"}
    other = dk.ContainerInfo("c2", "p-backend-1", "backend", "sha256:img", True, "running", 0, "healthy")
    monkeypatch.setattr(dk, "service_containers", lambda engine: {"backend": other})
    monkeypatch.setattr(dk, "container_user", lambda engine, cid: dk.ContainerUser("", 0, 0, frozenset()))
    whole = Sync("backend", (Copy("backend/main.py", "/app/backend/main.py"),), ())
    monkeypatch.setattr(sync_, "catch_up", lambda *args: sync_.CatchUp(whole, compared=2, files=("backend/main.py",)))
    watch.recreated(loop)  # no build record: said, left to the next save
    assert done == [] and loop.started == {} and loop.known["backend"] == "c2"
    built = TargetRecord("p-backend:dev", "sha256:img", "sha256:" + "0" * 64)
    loop.record = BuildRecord("watch", "p", "dev", "2026-12-07T00:00:00Z", {}, {"backend": built})
    loop.known, loop.started = {"backend": "c1"}, {"backend": "c2"}
    watch.recreated(loop)
    assert done == ["sync backend ['backend/main.py']"]
    monkeypatch.setattr(sync_, "catch_up", lambda *args: sync_.CatchUp(rebuild="requirements.txt differs"))
    loop.known, loop.started = {"backend": "c1"}, {"backend": "c2"}
    watch.recreated(loop)
    assert done[1:] == [] and loop.known["backend"] == "c2"  # no rebuild by itself: a failing one would repeat


def test_the_live_page_is_served_on_its_port_said_first_and_not_with_once_port_0_or_a_port_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    loop = loop_of(tmp_path)
    loop.run.args.port = 0  # no page
    watch.serve_page(loop)
    assert loop.page is None and loop.board is None
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    loop.run.args.port = holder.getsockname()[1]
    watch.serve_page(loop)
    assert loop.page is None and "is in use: watching without it" in capsys.readouterr().err
    holder.close()
    loop.run.args.once = True
    watch.serve_page(loop)
    assert loop.page is None
    loop.run.args.once = False
    watch.serve_page(loop)  # the port just freed
    assert loop.page is not None and loop.board is not None
    assert capsys.readouterr().out == f"page: {loop.page.address} (live, read-only)\n"
    loop.unreadable = "compose.yaml: line 3: mapping values are not allowed here"
    watch.unread(loop, ["compose.yaml"])  # a turn with no `taking`: on the page all the same
    [shown] = loop.board.state.turns
    assert (shown.result, shown.ok) == ("does not parse", False) and shown.detail.startswith("compose.yaml: line 3")
    watch.finish(loop)
    assert loop.board.state.closed
    with pytest.raises(UsageError, match=r"--port 70000 is not a port number"):
        watch.check_args(argparse.Namespace(port=70000))


def test_at_start_a_stale_target_a_job_also_runs_is_rebuilt_not_synced_and_a_lone_one_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci.builds.record import TargetRecord
    from ci.stack.services import Checks, Service
    from ci.watch import sync as sync_
    from ci.watch.plan import Copy, Sync

    loop, done = planned_loop(tmp_path, monkeypatch, proven=True)
    built = TargetRecord("p-backend:dev", "sha256:img", "sha256:" + "0" * 64)
    loop.record = BuildRecord("watch", "p", "dev", "2026-12-07T00:00:00Z", {}, {"backend": built})
    monkeypatch.setattr(watch, "stale_targets", lambda engine, services, inputs: ["backend"])
    monkeypatch.setattr(dk, "container_user", lambda engine, cid: dk.ContainerUser("", 0, 0, frozenset()))
    whole = Sync("backend", (Copy("backend/main.py", "/app/backend/main.py"),), (), restart=True)
    monkeypatch.setattr(sync_, "catch_up", lambda *args: sync_.CatchUp(whole, compared=2, files=("backend/main.py",)))
    assert watch.catch_up(loop) == ([], {"backend"}) and done == ["sync backend ['backend/main.py']"]
    # A job on the backend's image (no rules, not running): it must run again on the new code, so a rebuild.
    loop.services.append(Service("prestart", "backend", "p-backend:dev", (), Checks()))
    assert watch.catch_up(loop) == (["backend"], set()) and done[1:] == []
