"""The progress shown and the failure text: each step once as it ends, a failure named by its step."""

from __future__ import annotations

import base64
import io
import json

import pytest

from ci.builds.progress import Progress, failing_step_output, failure_message
from ci.builds.trace import BuildTrace
from ci.core.errors import DockerFailed
from tests.unit.builds.test_trace import T0, at, vertex


def test_failure_message_names_the_failing_step_and_keeps_its_log_tail() -> None:
    trace = BuildTrace(["backend", "frontend"])
    trace.add({"vertexes": [vertex("x", "[backend deps 3/3] RUN make", error="exit code: 2", started="t")]})
    trace.add({"vertexes": [vertex("x", "[backend deps 3/3] RUN make", error="exit code: 2", started="t")]})
    trace.add({"logs": [{"vertex": "x", "data": base64.b64encode(b"compiling\nboom: missing thing\n").decode()}]})
    err = DockerFailed("ERROR: failed to solve", stderr="ERROR: failed to solve")
    message = failure_message(trace, err)
    assert message == "backend [deps 3/3] RUN make failed (exit 2)"
    assert "boom: missing thing" in failing_step_output(trace)


def test_a_failing_run_is_one_short_line_with_its_command_once_and_the_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = (
        'RUN --network=none python -c \'import compileall, json, os, sys; compileall.compile_dir("backend", '
        'quiet=1) or sys.exit("backend does not compile"); json.dump({k.lower(): os.environ[k] for k in '
        '("BUILD_DATE", "GIT_COMMIT", "CACHE_BUST", "SOURCE_DIGEST")}, open("backend/build-info.json", "w"))\''
    )
    error = f'process "/bin/sh -c {command[19:]}" did not complete successfully: exit code: 1'
    trace = BuildTrace(["backend", "frontend"])
    trace.add({"vertexes": [vertex("x", f"[backend runtime 5/5] {command}", error=error, started="t")]})
    log = b'  File "backend/main.py", line 3\n    def broken(:\n               ^\nSyntaxError: invalid syntax\n'
    trace.add({"logs": [{"vertex": "x", "data": base64.b64encode(log).decode()}]})
    message = failure_message(trace, DockerFailed("bake exited with 1"))
    assert message == "backend [runtime 5/5] RUN python -c 'import compileall,... failed (exit 1)"
    assert len(message) < 200 and message.count("python -c") == 1
    shown = capsys.readouterr().err
    assert "    def broken(:\n               ^\nSyntaxError: invalid syntax\n" in shown  # untouched, above it


def test_failure_message_prefers_the_cause_over_steps_cancelled_in_other_targets() -> None:
    trace = BuildTrace(["backend", "frontend"])
    trace.add({"vertexes": [vertex("c", "[frontend deps 4/4] RUN npm ci", error="exit code: 137: context canceled")]})
    trace.add({"vertexes": [vertex("x", "[backend runtime 1/6] RUN false", error="exit code: 3")]})
    err = DockerFailed("bake exited with 1")
    assert failure_message(trace, err) == "backend [runtime 1/6] RUN false failed (exit 3)"


def test_a_step_without_an_exit_code_fails_with_its_error() -> None:
    trace = BuildTrace(["frontend"])
    error = 'failed to compute cache key: "/frontend/package-lock.json": not found'
    trace.add({"vertexes": [vertex("x", "[deps 3/4] COPY frontend/package-lock.json ./", error=error)]})
    message = failure_message(trace, DockerFailed("bake exited with 1"))
    assert message == f"frontend [deps 3/4] COPY frontend/package-lock.json ./ failed: {error}"


def test_failure_message_without_a_failing_step_uses_buildx_error_line() -> None:
    trace = BuildTrace(["backend"])
    trace.text.append('ERROR: target "nope" not found')
    err = DockerFailed("bake exited with 1")
    assert failure_message(trace, err) == 'bake failed: target "nope" not found'


def test_a_bake_with_one_failing_target_shows_no_other_target_failed() -> None:
    out = io.StringIO()
    progress = Progress(BuildTrace(["backend", "frontend"]), out, show_logs=False)
    events = [
        vertex("c", "[backend runtime 2/5] COPY --from=deps /opt/venv /opt/venv", error="context canceled"),
        vertex("x", "[frontend build 3/3] RUN --network=none npm run build", error="exit code: 2"),
    ]
    progress.feed("".join(json.dumps({"vertexes": [e]}) for e in events))
    progress.close(failed=True)
    lines = out.getvalue().splitlines()
    assert lines == [
        "frontend FAILED    exit 2: [build 3/3] RUN npm run build",
        "backend  cancelled [runtime 2/5] COPY --from=deps /opt/venv /opt/venv",
    ]


def test_a_successful_bake_never_shows_a_duplicate_solve_it_cancelled() -> None:
    out = io.StringIO()
    progress = Progress(BuildTrace(["backend"]), out, show_logs=False)
    name = "[runtime 2/5] COPY --from=deps /opt/venv /opt/venv"
    done = {"vertexes": [vertex("d", name, started=T0, completed=at(0.2))]}
    progress.feed(json.dumps({"vertexes": [vertex("c", name, error="context canceled")]}) + json.dumps(done))
    progress.close()
    assert out.getvalue().splitlines() == ["backend     0.2s   [runtime 2/5] COPY --from=deps /opt/venv /opt/venv"]
