"""rawjson decoding and step accounting: pure logic, no engine."""

from __future__ import annotations

import json

import pytest

from ci.builds.trace import BuildTrace, RawJsonDecoder, phases_text, split_step_name, task_phase


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
    figures = trace.target_figures("backend")
    assert figures["steps"] == 2
    assert figures["cached_steps"] == 1
    assert figures["cache_hit_ratio"] == 0.5
    assert figures["wall_seconds"] == 2.5
    assert trace.target_figures("frontend")["steps"] == 1


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
    assert trace.step_line(done) == "backend     2.5s   [deps 1/2] RUN pip install"
    assert trace.add({"vertexes": [vertex("1", "[backend deps 1/2] RUN pip install", cached=True)]}) == []
    [cached] = trace.add({"vertexes": [vertex("2", "[backend deps 2/2] COPY a b", cached=True, completed=at(4))]})
    assert trace.step_line(cached) == "backend  CACHED    [deps 2/2] COPY a b"


def test_steps_are_numbered_within_their_stage_as_counted_froms_left_out_and_run_flags_dropped() -> None:
    trace = BuildTrace(["frontend"])
    trace.add({"vertexes": [vertex("f", "[runtime 1/7] FROM nginx@sha256:ab")]})
    [v] = trace.add({"vertexes": [vertex("r", "[runtime 2/7] RUN --network=none rm -rf /x", completed=T0)]})
    assert trace.step_name(v) == "[runtime 1/6] RUN rm -rf /x"
    [v] = trace.add({"vertexes": [vertex("c", "[build 2/3] COPY src ./src", completed=T0)]})
    assert trace.step_name(v) == "[build 2/3] COPY src ./src"  # a stage FROM another stage: no FROM vertex
    assert trace.step_line(trace.vertexes["f"]) is None


def test_a_no_cache_build_counts_no_step_cached() -> None:
    trace = BuildTrace(["frontend"], no_cache=True)
    [v] = trace.add({"vertexes": [vertex("w", "[deps 2/4] WORKDIR /app", cached=True, started=T0, completed=T0)]})
    assert trace.target_figures("frontend")["cached_steps"] == 0
    assert trace.step_line(v) == "frontend    0.0s   [deps 2/4] WORKDIR /app"


def test_a_step_an_earlier_build_ran_counts_as_cached_and_outside_the_targets_time() -> None:
    # BuildKit hands on vertexes of an earlier solve with that solve's times and no cached mark.
    trace = BuildTrace(["backend"])
    old = vertex("u", "[runtime 1/5] RUN useradd app", started="2026-11-23T09:59:40Z", completed="2026-11-23T09:59:44Z")
    bake_began(trace, 1.0)
    trace.add({"vertexes": [old]})
    trace.add({"vertexes": [vertex("c", "[runtime 2/5] COPY a b", started=at(1.2), completed=at(1.5))]})
    figures = trace.target_figures("backend", limit=0.25)
    assert figures["cached_steps"] == 1 and figures["ran_steps"] == ["[runtime 2/5] COPY a b"]
    assert figures["wall_seconds"] == 0.25  # its own span (0.3 s) never more than the bake's
    assert trace.step_line(trace.vertexes["u"]) == "backend  CACHED    [runtime 1/5] RUN useradd app"


def test_steps_cancelled_by_another_targets_failure_are_cancelled_not_failed() -> None:
    trace = BuildTrace(["backend", "frontend"])
    [v] = trace.add({"vertexes": [vertex("c", "[frontend build 3/3] RUN npm run build", error="context canceled")]})
    assert trace.step_line(v) == "frontend cancelled [build 3/3] RUN npm run build"


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


def test_phases_say_where_a_targets_time_went_each_once_within_its_span() -> None:
    trace = BuildTrace(["backend", "frontend"])

    def at(second: float) -> str:
        return f"2026-12-06T01:00:{second:06.3f}000000Z"

    trace.add({"vertexes": [vertex("b", "[internal] load build definition", started=at(0), completed=at(0.1))]})
    imported = vertex("i", "[backend] importing cache manifest from r/b:x", started=at(0.1), completed=at(0.5))
    trace.add({"vertexes": [imported]})
    # Two steps in parallel: 1 s of the clock, not 1.5.
    trace.add({"vertexes": [vertex("s1", "[backend deps 1/2] RUN a", started=at(1), completed=at(2))]})
    trace.add({"vertexes": [vertex("s2", "[backend web 1/1] RUN b", started=at(1.5), completed=at(2))]})
    trace.add({"vertexes": [vertex("c", "[backend deps 2/2] COPY c", cached=True, started=at(2), completed=at(2))]})
    trace.add({"vertexes": [vertex("e", "[backend] exporting to image", started=at(2), completed=at(5))]})
    tasks = [("exporting layers", 2, 3.5), ("exporting manifest sha256:1", 3.5, 3.6), ("naming to x", 3.6, 3.6),
             ("unpacking to docker.io/library/x:1", 3.6, 5)]  # fmt: skip
    trace.add({"statuses": [{"vertex": "e", "id": i, "started": at(a), "completed": at(b)} for i, a, b in tasks]})
    trace.add({"vertexes": [vertex("x", "[backend] exporting cache to registry", started=at(5), completed=at(7))]})
    phases = trace.phases("backend")
    assert phases == {"cache_import": 0.4, "steps": 1.0, "image_export": 1.6, "unpack": 1.4, "cache_export": 2.0}
    assert list(phases) == ["cache_import", "steps", "image_export", "unpack", "cache_export"]  # a build's order
    assert trace.target_figures("backend")["phases"] == phases
    clipped = trace.phases("backend", limit=5.0)  # the span, from 0.1 s, ends at 5.1 s: the cache export is cut
    assert clipped["cache_export"] == pytest.approx(0.1) and all(s <= 5.0 for s in clipped.values())
    assert trace.phases("frontend") == {}


def test_pulled_bytes_count_each_blob_a_target_fetched_once() -> None:
    trace = BuildTrace(["backend", "frontend"])
    layer, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    trace.add({"vertexes": [vertex("d", "[backend deps 3/3] RUN pip install", cached=True)]})
    trace.add({"vertexes": [vertex("f", "[frontend build 1/1] RUN npm ci", cached=True)]})
    trace.add({"statuses": [{"vertex": "d", "id": layer, "current": 10, "total": 2000}]})
    trace.add({"statuses": [{"vertex": "d", "id": layer, "current": 2000, "total": 2000}]})
    trace.add({"statuses": [{"vertex": "d", "id": f"extracting {layer}"}, {"vertex": "f", "id": other, "total": 7}]})
    assert trace.pulled_bytes("backend") == 2000 and trace.pulled_bytes("frontend") == 7
    times = {"started": "2026-12-06T01:00:01Z", "completed": "2026-12-06T01:00:03Z"}
    trace.add({"statuses": [{"vertex": "d", "id": layer, **times}]})
    trace.add({"statuses": [{"vertex": "d", "id": f"extracting {layer}", "started": "2026-12-06T01:00:03Z",
                             "completed": "2026-12-06T01:00:04Z"}]})  # fmt: skip
    assert task_phase(layer) == "pull" and task_phase(f"extracting {layer}") == "unpack"
    assert trace.target_figures("backend")["pulled_bytes"] == 2000


def test_the_phases_as_text_name_each_phase_that_shows_at_a_tenth_of_a_second_in_its_order() -> None:
    text = phases_text({"pull": 2.04, "steps": 145.64, "cache_import": 0.01, "image_export": 68.66})
    assert text == "pulling 2.0s, steps 145.6s, image export 68.7s"
