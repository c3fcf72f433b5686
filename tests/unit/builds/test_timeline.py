"""A finished build's timeline (reports/build-PROFILE.html): one valid HTML file that names each target, each
step's time, run or cached, the phases and the table, fetches nothing and runs nothing, whatever a step is named."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ci.builds.bake import TargetBuild
from ci.builds.figures import PHASES, target_figures
from ci.builds.finished import Build, build_table, write_build
from ci.builds.record import BuildRecord
from ci.builds.timeline import Timeline, failed_timeline, page, timeline
from ci.builds.trace import BuildTrace
from ci.core import secrets
from ci.core.report import Report
from ci.core.settings import load_settings
from tests.unit.builds.test_trace import vertex

SECRET = "tok-3f9a61c2d7e84b05"


def at(seconds: float) -> str:
    """A moment of the engine's clock, as BuildKit writes it (nanoseconds)."""
    whole = int(seconds)
    return f"2026-12-07T09:{whole // 60:02d}:{whole % 60:02d}.{round((seconds - whole) * 1e9):09d}Z"


def step(trace: BuildTrace, digest: str, name: str, start: float, end: float, cached: bool = False) -> None:
    """A step as BuildKit streams it: started, then completed (or cached at once)."""
    trace.add({"vertexes": [vertex(digest, name, started=at(start))]})
    trace.add({"vertexes": [vertex(digest, name, started=at(start), completed=at(end), cached=cached)]})


def export(trace: BuildTrace, target: str, start: float) -> float:
    """A target's image export, its sub-tasks, and its cache export; when it ends."""
    name = f"[{target}] exporting to image"
    trace.add({"vertexes": [vertex(f"{target}-x", name, started=at(start), completed=at(start + 3.2))]})
    tasks = [("exporting layers", start, start + 1.4), ("exporting manifest sha256:1", start + 1.4, start + 1.5),
             (f"unpacking to docker.io/library/p-{target}:dev", start + 1.5, start + 3.2)]  # fmt: skip
    statuses = [{"vertex": f"{target}-x", "id": i, "started": at(a), "completed": at(b)} for i, a, b in tasks]
    trace.add({"statuses": statuses})
    cache = f"[{target}] exporting cache to registry"
    trace.add({"vertexes": [vertex(f"{target}-ce", cache, started=at(start + 3.2), completed=at(start + 5.0))]})
    return start + 5.0


def two_targets() -> tuple[BuildTrace, list[TargetBuild]]:
    """A bake of a backend and a frontend as BuildKit reports one: its definitions first, a cache import per
    target, stages in parallel, a base image's layers pulled, steps run, cached in this bake, or handed on from
    an earlier build with that build's times; 38 steps in all."""
    trace = BuildTrace(["backend", "frontend"])
    definitions = vertex("def", "[internal] load local bake definitions", started=at(100), completed=at(100.1))
    trace.add({"vertexes": [definitions]})
    for target, begin in (("backend", 100.2), ("frontend", 100.3)):
        name = f"[{target}] importing cache manifest from localhost:5000/p-{target}:cache"
        trace.add({"vertexes": [vertex(f"{target}-ci", name, started=at(begin), completed=at(begin + 0.6))]})
        ctx = f"[{target} internal] load build context"
        trace.add({"vertexes": [vertex(f"{target}-ctx", ctx, started=at(begin), completed=at(begin + 0.2))]})
    base = "[backend base 1/4] FROM docker.io/library/python:3.12-slim@sha256:ab"
    trace.add({"vertexes": [vertex("bf", base, started=at(100.8), completed=at(102.4))]})
    blob = "sha256:" + "c" * 64
    trace.add({"statuses": [{"vertex": "bf", "id": blob, "total": 29_000_000, "current": 29_000_000,
                             "started": at(100.9), "completed": at(102.4)}]})  # fmt: skip
    earlier = vertex("b-old", "[backend base 2/4] RUN useradd app", started=at(10), completed=at(12))
    trace.add({"vertexes": [earlier]})  # an earlier build's, with its times
    step(trace, "b-w", "[backend base 3/4] WORKDIR /app", 102.5, 102.5, cached=True)
    venv = "[backend base 4/4] RUN --mount=type=cache,target=/root/.cache python -m venv /v"
    step(trace, "b-env", venv, 102.5, 104.0)
    clock = 104.0
    for n in range(1, 9):  # deps and runtime, one after the other
        step(trace, f"b-d{n}", f"[backend deps {n}/8] RUN pip install pkg{n}", clock, clock + 0.8 * n, cached=n < 4)
        clock += 0 if n < 4 else 0.8 * n
    for n in range(1, 9):
        step(trace, f"b-r{n}", f"[backend runtime {n}/8] COPY backend/{n} ./backend/", clock, clock + 0.1)
        clock += 0.1
    backend_end = export(trace, "backend", clock)
    clock = 101.0
    for n in range(1, 11):  # frontend beside it
        name = f"[frontend build {n}/10] RUN npm run step{n}"
        step(trace, f"f-b{n}", name, clock, clock + 0.5 * n, cached=n % 3 == 0)
        clock += 0 if n % 3 == 0 else 0.5 * n
    for n in range(1, 10):
        step(trace, f"f-r{n}", f"[frontend runtime {n}/9] COPY dist/{n} /usr/share/nginx/html/", clock, clock + 0.05)
        clock += 0.05
    frontend_end = export(trace, "frontend", clock)
    seconds = max(backend_end, frontend_end) - 100
    built = [
        TargetBuild(target=name, **target_figures(trace, name, seconds), image=f"p-{name}:dev",
                    image_id="sha256:" + "e" * 64, size_bytes=150_000_000, context_bytes=20_000)
        for name in ("backend", "frontend")
    ]  # fmt: skip
    return trace, built


def drawn(trace: BuildTrace, targets: list[TargetBuild], seconds: float = 60.0) -> Timeline:
    return timeline("dev", trace, targets, seconds, build_table(targets))


class Tags(HTMLParser):
    """The document's elements, and whether every one opened is closed in order."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.seen: list[tuple[str, dict[str, str | None]]] = []
        self.wrong: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.wrong.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(document: str) -> Tags:
    tags = Tags()
    tags.feed(document)
    tags.close()
    assert tags.wrong == [] and tags.open == [], "every tag closed, in order"
    return tags


def rows(tags: Tags, kind: str) -> list[dict[str, str | None]]:
    return [a for t, a in tags.seen if t == "div" and set(kind.split()) <= set((a.get("class") or "").split())]


def test_the_timeline_names_each_target_each_steps_time_run_or_cached_and_the_phases() -> None:
    trace, targets = two_targets()
    document = page(drawn(trace, targets))
    tags = parsed(document)
    assert document.startswith("<!doctype html>") and "<title>build dev</title>" in document
    headings = [t for t, _ in tags.seen if t == "h2"]
    assert len(headings) == 2 and all(f"<h2>{t.target} <small>" in document for t in targets)
    steps = rows(tags, "r s")
    assert len(steps) == sum(t.steps for t in targets) == 38
    assert len(rows(tags, "r s c")) == sum(t.cached_steps for t in targets)
    text = "".join(tags.text)
    for lane in drawn(trace, targets).lanes:
        for s in lane.steps:
            assert any((a.get("title") or "").startswith(s.name + "\n") for a in steps), s.name
            if not s.cached:
                assert f"{s.bar.seconds:.1f}s" in text
        said = {PHASES[p.key] for p in lane.phases}
        target = next(t for t in targets if t.target == lane.target)
        assert said == {PHASES[k] for k in target.phases}  # the phases its figures count, each drawn
    assert {"cache import", "pulling", "steps", "image export", "unpacking", "cache export"} <= set(tags.text)
    # The earlier build's step is cached, drawn at its target's start: not at its own time, minutes before.
    old = next(s for lane in drawn(trace, targets).lanes for s in lane.steps if s.name.startswith("[base 1/3]"))
    assert old.cached and old.earlier and old.bar.start > 0


def test_the_timeline_shows_the_table_the_terminal_shows() -> None:
    trace, targets = two_targets()
    tags = parsed(page(drawn(trace, targets)))
    cells = [t for t, _ in tags.seen if t in ("th", "td")]
    table = build_table(targets)
    assert len(cells) == len(table.headers) * (1 + len(targets))
    text = "\n".join(tags.text)
    assert all(str(c) in text for row in table.rows for c in row) and "hit ratio" in text


def test_the_timeline_fetches_nothing_runs_nothing_and_stays_small() -> None:
    trace, targets = two_targets()
    document = page(drawn(trace, targets))
    tags = parsed(document)
    assert not re.search(r"(?i)https?:|//|@import|url\(|<script|<link|<img|<iframe|\bsrc=|\bhref=|\bon\w+=", document)
    policy = next(a["content"] for t, a in tags.seen if t == "meta" and a.get("http-equiv"))
    assert policy is not None and policy.startswith("default-src 'none'")
    assert len(document.encode()) < 40_000, "2 targets and 38 steps: tens of KB at most"


@pytest.fixture
def secret() -> Iterator[str]:
    secrets.register(SECRET)
    yield SECRET
    secrets.forget()


def test_a_hostile_step_name_is_shown_escaped_inert_and_redacted(secret: str) -> None:
    trace, targets = two_targets()
    hostile = f"[backend runtime 9/9] RUN echo \"<script>alert(1)</script>\" \x1b[31m\u202e {secret} 'x' & <b"
    step(trace, "evil", hostile, 120, 121)
    evil = "<img src=x onerror=alert(1)>"
    targets.append(TargetBuild(evil, 0.0, 0, 0, 0.0, 0, []))  # a target named so: a heading, a row of the table
    document = page(drawn(trace, targets))
    tags = parsed(document)
    assert [t for t, _ in tags.seen if t in ("script", "img")] == []
    assert secret not in document and "***" in document
    assert "\x1b" not in document and "\u202e" not in document and "\\x1b[31m" in document and "\\u202e" in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document and "&lt;img src=x onerror=alert(1)&gt;" in document
    text = "".join(tags.text)
    assert "<script>alert(1)</script>" in text  # shown as it is, as text


def test_a_build_with_no_step_run_and_a_target_with_none_draws_an_axis_all_the_same() -> None:
    trace = BuildTrace(["backend", "frontend"])
    trace.add({"vertexes": [vertex("u", "[backend deps 1/1] RUN pip install", started=at(1), completed=at(2))]})
    targets = [TargetBuild(name, **target_figures(trace, name, 1.0)) for name in ("backend", "frontend")]
    t = drawn(trace, targets, seconds=1.0)
    assert t.span > 0 and t.lanes[1].steps == [] and t.lanes[1].phases == []
    parsed(page(t))


def test_dev_and_prod_write_the_timeline_beside_the_builds_json_which_names_it(tmp_path: Path) -> None:
    trace, targets = two_targets()
    settings = load_settings({}, root=tmp_path)
    build = Build("dev", {"TAG": "dev"}, 60.0, targets, BuildRecord("dev", "p", "dev", "", {}, {}), trace)
    write_build(Report("dev"), settings, build)
    written = settings.reports_dir / "build-dev.html"
    assert '"timeline": "build-dev.html"' in (settings.reports_dir / "build-dev.json").read_text()
    assert json.loads((settings.reports_dir / "build-dev.json").read_text())["timeline_seconds"] >= 0
    assert written.read_text() == page(drawn(trace, targets))
    assert [p.name for p in settings.reports_dir.iterdir() if p.name.startswith(".")] == []  # no temporary file


def test_a_failed_build_s_timeline_opens_with_its_cause_and_marks_the_failing_step_and_those_it_cancelled() -> None:
    trace = BuildTrace(["backend", "frontend"])
    step(trace, "b1", "[backend deps 1/2] RUN pip install", 100.0, 104.0)
    trace.add({"vertexes": [vertex("b2", "[backend 2/2] RUN python -m compileall", started=at(104.0))]})
    exited = "process did not complete successfully: exit code: 1"
    trace.add({"vertexes": [vertex("b2", "[backend 2/2] RUN python -m compileall", started=at(104.0),
                                   completed=at(105.5), error=exited)]})  # fmt: skip
    trace.add({"vertexes": [vertex("f1", "[frontend build 1/1] RUN npm ci", started=at(100.5),
                                   completed=at(105.5), error="context canceled")]})  # fmt: skip
    drawn_ = failed_timeline("dev", trace, 6.0, "backend: RUN python -m compileall failed: SyntaxError <b>")
    document = page(drawn_)
    tags = parsed(document)
    assert '<p class="f">failed: backend: RUN python -m compileall failed: SyntaxError &lt;b&gt;</p>' in document
    failed = rows(tags, "r s x")
    assert [(a.get("title") or "").split("\n")[0] for a in failed] == [
        "[2/2] RUN python -m compileall", "[build 1/1] RUN npm ci"]  # fmt: skip
    assert "exit code: 1" in (failed[0].get("title") or "") and "failed after 1.5s" in "".join(tags.text)
    assert "cancelled" in "".join(tags.text)
    assert drawn_.table.rows[0][-1] == "failed at [2/2] RUN python -m compileall"
    assert drawn_.table.rows[1][-1] == "cancelled"


def test_a_failed_dev_build_writes_its_timeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ci.builds.bake import BakeFailed
    from ci.builds.finished import write_failed_timeline

    settings = load_settings({}, root=tmp_path)
    trace = BuildTrace(["backend"])
    step(trace, "b1", "[backend 1/1] RUN false", 100.0, 100.4)
    path = write_failed_timeline(settings, "dev", BakeFailed("backend: RUN false failed", trace, seconds=0.5))
    assert path.name == "build-dev.html" and "failed: backend: RUN false failed" in path.read_text()
