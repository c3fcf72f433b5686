"""Each target's figures from the trace: where its time went, what it pulled, the phases as text."""

from __future__ import annotations

import pytest

from ci.builds.figures import phase_spans, phases, phases_text, pulled_bytes, target_figures, task_phase
from ci.builds.trace import BuildTrace, parse_time
from tests.unit.builds.test_trace import vertex


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
    found = phases(trace, "backend")
    assert found == {"cache_import": 0.4, "steps": 1.0, "image_export": 1.6, "unpack": 1.4, "cache_export": 2.0}
    assert list(found) == ["cache_import", "steps", "image_export", "unpack", "cache_export"]  # a build's order
    assert target_figures(trace, "backend")["phases"] == found
    spans = phase_spans(trace, "backend")  # the same, as stretches of the clock: the timeline's bars
    assert spans["steps"] == [(parse_time(at(1)), parse_time(at(2)))] and list(spans) == list(found)
    clipped = phases(trace, "backend", limit=5.0)  # the span, from 0.1 s, ends at 5.1 s: the cache export is cut
    assert clipped["cache_export"] == pytest.approx(0.1) and all(s <= 5.0 for s in clipped.values())
    assert phases(trace, "frontend") == {}


def test_pulled_bytes_count_each_blob_a_target_fetched_once() -> None:
    trace = BuildTrace(["backend", "frontend"])
    layer, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    trace.add({"vertexes": [vertex("d", "[backend deps 3/3] RUN pip install", cached=True)]})
    trace.add({"vertexes": [vertex("f", "[frontend build 1/1] RUN npm ci", cached=True)]})
    trace.add({"statuses": [{"vertex": "d", "id": layer, "current": 10, "total": 2000}]})
    trace.add({"statuses": [{"vertex": "d", "id": layer, "current": 2000, "total": 2000}]})
    trace.add({"statuses": [{"vertex": "d", "id": f"extracting {layer}"}, {"vertex": "f", "id": other, "total": 7}]})
    assert pulled_bytes(trace, "backend") == 2000 and pulled_bytes(trace, "frontend") == 7
    times = {"started": "2026-12-06T01:00:01Z", "completed": "2026-12-06T01:00:03Z"}
    trace.add({"statuses": [{"vertex": "d", "id": layer, **times}]})
    trace.add({"statuses": [{"vertex": "d", "id": f"extracting {layer}", "started": "2026-12-06T01:00:03Z",
                             "completed": "2026-12-06T01:00:04Z"}]})  # fmt: skip
    assert task_phase(layer) == "pull" and task_phase(f"extracting {layer}") == "unpack"
    assert target_figures(trace, "backend")["pulled_bytes"] == 2000


def test_the_phases_as_text_name_each_phase_that_shows_at_a_tenth_of_a_second_in_its_order() -> None:
    text = phases_text({"pull": 2.04, "steps": 145.64, "cache_import": 0.01, "image_export": 68.66})
    assert text == "pulling 2.0s, steps 145.6s, image export 68.7s"
