"""rawjson decoding and step accounting: pure logic, no engine."""

from __future__ import annotations

import json

from ci.builds.figures import target_figures
from ci.builds.progress import step_line
from ci.builds.trace import BuildTrace, RawJsonDecoder, split_step_name


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
    assert [v.digest for v in events] == ["1"]  # ended: completed
    trace.add(
        {"vertexes": [vertex("2", "[backend deps 2/2] COPY . .", cached=True, started=started, completed=started)]}
    )
    trace.add({"vertexes": [vertex("3", "[backend internal] load build context", started=started, completed=started)]})
    trace.add({"vertexes": [vertex("4", "[frontend build 1/1] RUN npm ci", started=started)]})
    trace.add({"vertexes": [vertex("5", "[backend base 1/1] FROM localhost:5000/python@sha256:ab", started=started)]})
    figures = target_figures(trace, "backend")
    assert figures["steps"] == 2
    assert figures["cached_steps"] == 1
    assert figures["cache_hit_ratio"] == 0.5
    assert figures["wall_seconds"] == 2.5
    assert target_figures(trace, "frontend")["steps"] == 1


T0 = "2026-11-23T10:00:00.000000000Z"


def at(seconds: float) -> str:
    return f"2026-11-23T10:00:{seconds:09.6f}Z"


def bake_began(trace: BuildTrace, seconds: float = 0.0) -> None:
    trace.add({"vertexes": [vertex("b", "[internal] load local bake definitions", started=at(seconds))]})


def test_a_step_is_shown_once_when_it_ends_with_its_time_or_cached() -> None:
    trace = BuildTrace(["backend", "frontend"])
    bake_began(trace)
    assert trace.add({"vertexes": [vertex("1", "[backend deps 1/2] RUN pip install", started=at(1))]}) == []
    [done] = trace.add({"vertexes": [vertex("1", "[backend deps 1/2] RUN pip install", completed=at(3.5))]})
    assert step_line(trace, done) == "backend     2.5s   [deps 1/2] RUN pip install"
    assert trace.add({"vertexes": [vertex("1", "[backend deps 1/2] RUN pip install", cached=True)]}) == []
    [cached] = trace.add({"vertexes": [vertex("2", "[backend deps 2/2] COPY a b", cached=True, completed=at(4))]})
    assert step_line(trace, cached) == "backend  CACHED    [deps 2/2] COPY a b"


def test_steps_are_numbered_within_their_stage_as_counted_froms_left_out_and_run_flags_dropped() -> None:
    trace = BuildTrace(["frontend"])
    trace.add({"vertexes": [vertex("f", "[runtime 1/7] FROM nginx@sha256:ab")]})
    [v] = trace.add({"vertexes": [vertex("r", "[runtime 2/7] RUN --network=none rm -rf /x", completed=T0)]})
    assert trace.step_name(v) == "[runtime 1/6] RUN rm -rf /x"
    [v] = trace.add({"vertexes": [vertex("c", "[build 2/3] COPY src ./src", completed=T0)]})
    assert trace.step_name(v) == "[build 2/3] COPY src ./src"  # a stage FROM another stage: no FROM vertex
    assert step_line(trace, trace.vertexes["f"]) is None


def test_a_no_cache_build_counts_no_step_cached() -> None:
    trace = BuildTrace(["frontend"], no_cache=True)
    [v] = trace.add({"vertexes": [vertex("w", "[deps 2/4] WORKDIR /app", cached=True, started=T0, completed=T0)]})
    assert target_figures(trace, "frontend")["cached_steps"] == 0
    assert step_line(trace, v) == "frontend    0.0s   [deps 2/4] WORKDIR /app"


def test_a_step_an_earlier_build_ran_counts_as_cached_and_outside_the_targets_time() -> None:
    # BuildKit hands on vertexes of an earlier solve with that solve's times and no cached mark.
    trace = BuildTrace(["backend"])
    old = vertex("u", "[runtime 1/5] RUN useradd app", started="2026-11-23T09:59:40Z", completed="2026-11-23T09:59:44Z")
    bake_began(trace, 1.0)
    trace.add({"vertexes": [old]})
    trace.add({"vertexes": [vertex("c", "[runtime 2/5] COPY a b", started=at(1.2), completed=at(1.5))]})
    figures = target_figures(trace, "backend", limit=0.25)
    assert figures["cached_steps"] == 1 and figures["ran_steps"] == ["[runtime 2/5] COPY a b"]
    assert figures["wall_seconds"] == 0.25  # its own span (0.3 s) never more than the bake's
    assert step_line(trace, trace.vertexes["u"]) == "backend  CACHED    [runtime 1/5] RUN useradd app"


def test_steps_cancelled_by_another_targets_failure_are_cancelled_not_failed() -> None:
    trace = BuildTrace(["backend", "frontend"])
    [v] = trace.add({"vertexes": [vertex("c", "[frontend build 3/3] RUN npm run build", error="context canceled")]})
    assert step_line(trace, v) == "frontend cancelled [build 3/3] RUN npm run build"


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
