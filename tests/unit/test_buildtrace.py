"""rawjson decoding, step accounting and build args: pure logic, no engine."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from ci.bake import dev_build_args, failing_step_output, failure_message
from ci.buildtrace import BuildTrace, RawJsonDecoder, progress_line, split_step_name
from ci.errors import DockerFailed


def vertex(digest: str, name: str, **extra: object) -> dict[str, object]:
    return {"digest": digest, "name": name, **extra}


def test_decoder_reassembles_indented_objects_fed_line_by_line() -> None:
    objs = [{"vertexes": [vertex("a", "[backend deps 1/2] RUN x")]}, {"statuses": [{"id": "s"}]}]
    text = "".join(json.dumps(o, indent=2) + "\n" for o in objs)
    decoder = RawJsonDecoder()
    out = [item for line in text.splitlines(keepends=True) for item in decoder.feed(line)]
    assert out == objs
    assert list(decoder.close()) == []


def test_decoder_passes_plain_text_lines_through() -> None:
    decoder = RawJsonDecoder()
    out = list(decoder.feed('ERROR: docker-bake.hcl:3: bad\n{"logs": []}\ntrailing'))
    assert out == ["ERROR: docker-bake.hcl:3: bad", {"logs": []}]
    assert list(decoder.close()) == ["trailing"]


def test_split_step_name_with_several_targets_strips_the_target() -> None:
    assert split_step_name("[frontend build 3/3] RUN npm run build", ["backend", "frontend"]) == (
        "frontend",
        "[build 3/3] RUN npm run build",
    )


def test_split_step_name_with_one_target_attributes_steps_to_it() -> None:
    assert split_step_name("[deps 2/3] COPY a b", ["backend"]) == ("backend", "[deps 2/3] COPY a b")
    assert split_step_name("[internal] load .dockerignore", ["backend"]) == (None, "[internal] load .dockerignore")


def test_trace_merges_vertex_updates_and_counts_cached_steps_per_target_without_froms() -> None:
    trace = BuildTrace(["backend", "frontend"])
    started = "2026-11-23T10:00:00.100000000Z"
    trace.add({"vertexes": [vertex("1", "[backend deps 1/2] RUN pip install", started=started)]})
    events = trace.add(
        {
            "vertexes": [
                vertex("1", "[backend deps 1/2] RUN pip install", started=started, completed="2026-11-23T10:00:02.600Z")
            ]
        }
    )
    assert [e for e, _ in events] == ["done"]
    trace.add(
        {"vertexes": [vertex("2", "[backend deps 2/2] COPY . .", cached=True, started=started, completed=started)]}
    )
    trace.add({"vertexes": [vertex("3", "[backend internal] load build context", started=started, completed=started)]})
    trace.add({"vertexes": [vertex("4", "[frontend build 1/1] RUN npm ci", started=started)]})
    trace.add({"vertexes": [vertex("5", "[backend base 1/1] FROM localhost:5000/python@sha256:ab", started=started)]})
    figures = trace.target_figures("backend")
    assert figures["steps"] == 2
    assert figures["cached_steps"] == 1
    assert figures["cache_hit_ratio"] == 0.5
    assert figures["wall_seconds"] == 2.5
    assert trace.target_figures("frontend")["steps"] == 1


def test_failure_message_names_the_failing_step_and_keeps_its_log_tail() -> None:
    trace = BuildTrace(["backend", "frontend"])
    trace.add({"vertexes": [vertex("x", "[backend deps 3/3] RUN make", error="exit code: 2", started="t")]})
    trace.add({"logs": [{"vertex": "x", "data": base64.b64encode(b"compiling\nboom: missing thing\n").decode()}]})
    err = DockerFailed("ERROR: failed to solve", stderr="ERROR: failed to solve")
    message = failure_message(trace, err)
    assert message == "build failed at backend: [deps 3/3] RUN make: exit code: 2"
    assert "boom: missing thing" in failing_step_output(trace)


def test_failure_message_prefers_the_cause_over_steps_cancelled_in_other_targets() -> None:
    trace = BuildTrace(["backend", "frontend"])
    trace.add({"vertexes": [vertex("c", "[frontend deps 4/4] RUN npm ci", error="exit code: 137: context canceled")]})
    trace.add({"vertexes": [vertex("x", "[backend runtime 1/6] RUN false", error="exit code: 3")]})
    err = DockerFailed("bake exited with 1")
    assert failure_message(trace, err) == "build failed at backend: [runtime 1/6] RUN false: exit code: 3"


def test_failure_message_without_a_failing_step_uses_buildx_error_line() -> None:
    trace = BuildTrace(["backend"])
    trace.text.append('ERROR: target "nope" not found')
    err = DockerFailed("bake exited with 1")
    assert failure_message(trace, err) == 'bake failed: target "nope" not found'


def test_progress_line_announces_run_steps_and_reports_cached_ones() -> None:
    trace = BuildTrace(["backend", "frontend"])
    [(event, v)] = trace.add(
        {"vertexes": [vertex("1", "[backend deps 1/2] RUN pip install", started="2026-11-23T10:00:00Z")]}
    )
    assert progress_line(event, v) == "backend    ...    [deps 1/2] RUN pip install"
    [(event, v)] = trace.add({"vertexes": [vertex("2", "[backend deps 2/2] COPY a b", started="2026-11-23T10:00:00Z")]})
    assert progress_line(event, v) is None
    [(event, v)] = trace.add(
        {"vertexes": [vertex("2", "[backend deps 2/2] COPY a b", cached=True, completed="2026-11-23T10:00:00Z")]}
    )
    assert progress_line(event, v) == "backend  CACHED   [deps 2/2] COPY a b"


def test_dev_build_args_are_fresh_epoch_seconds_and_iso_utc() -> None:
    now = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)
    assert dev_build_args(now, "abc1234") == {
        "CACHE_BUST": "1795428005",
        "BUILD_DATE": "2026-11-23T10:00:05Z",
        "GIT_COMMIT": "abc1234",
    }


def test_split_step_name_handles_bake_prefixes_without_a_stage() -> None:
    targets = ["backend", "frontend"]
    assert split_step_name("[frontend] importing cache manifest from r/x", targets) == (
        "frontend",
        "importing cache manifest from r/x",
    )
    assert split_step_name("[backend internal] load build context", targets) == (
        "backend",
        "[internal] load build context",
    )


def test_cache_errors_count_a_failing_registry_but_not_an_empty_cache() -> None:
    trace = BuildTrace(["backend", "frontend"])
    trace.add(
        {"vertexes": [vertex("1", "[backend] importing cache manifest from r/b", error="r/b:buildcache: not found")]}
    )
    trace.add({"vertexes": [vertex("2", "[frontend] exporting cache to registry", error="unexpected status: 500")]})
    trace.add({"vertexes": [vertex("3", "[frontend] importing cache manifest from r/f", error="connection refused")]})
    assert trace.cache_errors() == [
        "[frontend] exporting cache to registry: unexpected status: 500",
        "[frontend] importing cache manifest from r/f: connection refused",
    ]
