"""The services' lines followed (`compose logs --follow`): compose's lines read as (service, line), its own notes
and sequences dropped, a hostile line cut with memory bounded, the follower's child ended and reaped, a failing
compose the project's error. A stand-in compose (a Python child) plays compose: no engine."""

from __future__ import annotations

import io
import sys
import textwrap
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ci import docker as dk
from ci.core.errors import DockerFailed
from ci.docker import compose


def test_a_compose_line_is_its_service_without_the_replica_number_and_its_line() -> None:
    assert dk.log_line(b"backend-1  | INFO:     Application startup complete.\n") == dk.LogLine(
        "backend", "INFO:     Application startup complete."
    )
    assert dk.log_line(b"frontend-1 | a | b\n") == dk.LogLine("frontend", "a | b")  # the first bar parts them
    assert dk.log_line(b"backend-1  |\n") == dk.LogLine("backend", "")  # an empty line of the service's
    assert dk.log_line(b"my_db.2  | x\r\n") == dk.LogLine("my_db.2", "x")  # a container_name kept whole


def test_compose_s_own_notes_and_sequences_are_not_a_service_s_line() -> None:
    assert dk.log_line(b"\x1b[2Kbackend-1  | hi\n") == dk.LogLine("backend", "hi")  # 2.26, even with --no-color
    assert dk.log_line(b"\r\x1b[Kbackend-1 exited with code 137 (restarting)\n") is None  # 2.40's note
    assert dk.log_line(b"backend-1 has been recreated\n") is None
    assert dk.log_line(b"\n") is None
    # The service's own sequences are its text: shown inert by watch, never dropped here.
    assert dk.log_line(b"backend-1  | \x1b[31mred\x1b[0m\n") == dk.LogLine("backend", "\x1b[31mred\x1b[0m")


def test_a_line_past_the_cap_is_cut_the_rest_dropped_and_the_next_read_whole() -> None:
    endless = b"backend-1  | " + b"x" * (5 * compose.LOG_LINE_BYTES) + b"\n"
    out = io.BytesIO(endless + b"backend-1  | next\n" + b"\xff\xfe junk without a bar\n")
    read = list(compose._read_lines(out))
    assert [(line.service, line.cut) for line in read] == [("backend", True), ("backend", False)]
    assert len(read[0].text) < compose.LOG_LINE_BYTES and read[1].text == "next"


def test_a_service_line_as_watch_shows_it_cannot_pass_for_one_of_watch_s_own() -> None:
    forged = dk.LogLine("backend", "backend  backend/main.py  built 0.6s  verified: running = tree  1s from change")
    assert forged.shown(8).startswith("backend  | backend  backend/main.py")
    assert dk.is_service_line(forged.shown(8)) and dk.is_service_line(dk.LogLine("frontend", "").shown(8))
    for own in (
        "backend  backend/main.py  built 0.6s  up 1.1s  verified: running = tree (sources 83b0fdac)  1.9s from change",
        "backend, frontend  (catch-up)  built 3.1s  up 2.0s  verified  5.2s from change",
        "backend/notes.txt  not proven: backend: mainza-backend-1: not proven: /app/backend/notes.txt: unreadable",
        "stack: running the latest build: backend, frontend (0.4s)",
        "watching the inputs of backend, frontend",
        "logs: the services' logs stopped: boom; following them again after the next turn",
    ):
        assert not dk.is_service_line(own), own


def stand_in(script: str) -> dk.Engine:
    """An engine whose compose is SCRIPT, a Python child given compose's arguments."""
    config = SimpleNamespace(docker_compose_cmd=[sys.executable, "-c", textwrap.dedent(script)])
    return dk.Engine(cast(Any, SimpleNamespace(client_config=config)), "p")


def test_a_follower_passes_compose_s_arguments_and_ends_when_closed_its_child_reaped() -> None:
    engine = stand_in("""
        import sys, time
        print("backend-1  | " + " ".join(sys.argv[1:]), flush=True)
        time.sleep(60)
    """)
    logs = dk.ServiceLogs(engine, ["backend"], since=0.0)
    lines = logs.lines()
    first = next(lines)
    assert first.text == "logs --follow --no-color --since 1970-01-01T00:00:00.000000Z backend"
    began = time.monotonic()
    logs.close()
    assert list(lines) == [] and not logs.running and time.monotonic() - began < 5


def test_a_compose_that_fails_is_the_project_s_error_with_its_last_line() -> None:
    engine = stand_in("""
        import sys
        print("no such service: nope", file=sys.stderr)
        sys.exit(1)
    """)
    with pytest.raises(DockerFailed, match="the services' logs stopped: no such service: nope"):
        list(dk.ServiceLogs(engine, ["nope"], since=0.0).lines())


def test_a_compose_that_ends_by_itself_ends_its_lines_quietly() -> None:
    engine = stand_in("""print("backend-1  | bye")""")  # 2.26, once none of the containers runs
    assert list(dk.ServiceLogs(engine, (), since=0.0).lines()) == [dk.LogLine("backend", "bye")]
