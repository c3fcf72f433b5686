"""The bench's picture (reports/bench.html): one valid HTML file that names each case with its samples and where
its time went, each goal met or missed against its limit, fetches nothing and runs nothing, whatever a case is
named, and stays small."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ci.bench import goals, picture
from ci.bench.loop import ComposeCase, ComposeTurn, LoopCase
from ci.bench.watched import REBUILT, SYNCED, TurnReport
from tests.unit.builds.test_timeline import SECRET, parsed, rows, secret  # noqa: F401 (secret: the fixture, used below)


def turns(action: str, count: int, made: float, up: float, verify: float, proof: float | None) -> list[TurnReport]:
    built, synced = (0.0, made) if action == SYNCED else (made, 0.0)
    return [
        TurnReport(n, action, "proven" if action == SYNCED else "verified", built, synced, up, verify,
                   made + up + verify + 0.2, proof)
        for n in range(count)
    ]  # fmt: skip


def loop_run() -> tuple[list[LoopCase], ComposeCase]:
    """A `--only loop` run as the bench measures one: dev, two rebuild turns, a sync turn, compose watch."""
    dev = LoopCase("6 dev (no cache)", [13.2, 17.4, 13.2, 20.9, 18.5], "")
    first = LoopCase(
        "7 watch: first target edited", [2.8, 3.2, 3.5, 6.7, 3.0], "", turns(REBUILT, 5, 0.95, 1.4, 0.47, None)
    )
    last = LoopCase(
        "8 watch: last target edited", [6.8, 6.1, 7.8, 7.8, 3.9], "", turns(REBUILT, 5, 4.0, 1.0, 0.5, None)
    )
    synced = LoopCase(
        "7s watch: first target synced", [1.63, 1.32, 1.55, 1.71], "", turns(SYNCED, 4, 0.68, 0.62, 0.05, 0.019)
    )
    marks = [ComposeTurn(0.5, 1.2, 2.4), ComposeTurn(0.5, 1.1, 1.8)]
    composed = ComposeCase("7c compose watch: first target synced", [2.4, 1.8], "", marks=marks)
    return [dev, first, last, synced], composed


def loop_goals(cases: list[LoopCase], composed: ComposeCase) -> list[goals.Goal]:
    _, first, _, synced = cases
    return [
        goals.Goal(first.name, "over dev's time", 0.18, 0.15, "18.0%", "15%"),
        *goals.sync_goals("7s", synced.samples, first.samples),
        goals.compose_goal("7s against 7c", synced.samples, composed.samples),
        goals.proof_goal("7s", [t.proof_seconds or 0.0 for t in synced.turns]),
    ]


def drawn(*extra: picture.Figure, title: str = "nox -s bench -- --only loop") -> str:
    cases, composed = loop_run()
    figures = [*extra, *picture.loop_figures(cases, composed)]
    return picture.page(picture.Picture(title, "2026-12-08 10:00 UTC, 2 cores", figures, loop_goals(cases, composed)))


def test_the_picture_names_each_case_with_its_samples_and_where_its_time_went() -> None:
    document = drawn(picture.build_figure("1 cold (every step run)", 17.0, [
        {"target": "backend", "phases": {"steps": 8.0, "image_export": 1.2, "cache_export": 1.6}},
        {"target": "frontend", "phases": {"steps": 9.0, "pull": 2.0, "unpack": 0.0}},
    ]))  # fmt: skip
    tags = parsed(document)
    names = re.findall(r"<h2>(.*?) <small>", document)
    assert names == ["1 cold (every step run)", "6 dev (no cache)", "7 watch: first target edited",
                     "8 watch: last target edited", "7s watch: first target synced",
                     "7c compose watch: first target synced", "goals"]  # fmt: skip
    assert "median 17.40s of 5" in document and "median 1.59s of 4" in document
    samples = rows(tags, "r d")
    assert len(samples) == 6 and samples[1]["title"] == "samples: 13.20s, 17.40s, 13.20s, 20.90s, 18.50s; median 17.40s"
    stacks = [a["title"] for a in rows(tags, "r s")]
    assert stacks == [
        "backend: steps 8.00s, image export 1.20s, cache export 1.60s",
        "frontend: steps 9.00s, pulling 2.00s",  # a phase of no time is left out
        "each part's median: until seen 0.18s, built 0.95s, up 1.40s, verified 0.47s, rest 0.20s",
        "each part's median: until seen 1.10s, built 4.00s, up 1.00s, verified 0.50s, rest 0.20s",
        "each part's median: until seen 0.04s, synced 0.68s, up 0.62s, proof 0.05s, rest 0.20s",
        "each part's median: until `Syncing` 0.50s, to `restarted` 0.65s, to healthy 0.95s",
    ]
    assert "read-back and comparison: median 19 ms" in document  # the proof's own part, said beside its stack
    assert "6 dev (no cache)" in document and len(re.findall(r'class="r a"', document)) == 6  # an axis each


def test_each_goal_is_drawn_against_its_limit_met_green_missed_red() -> None:
    tags = parsed(drawn())
    judged = [(a["class"], a["title"]) for a in rows(tags, "r g")]
    assert judged == [
        ("r g no", "7 watch: first target edited: over dev's time 18.0% (goal at most 15%: missed)"),
        ("r g no", "7s: over the rebuild turn 1.59s / 3.20s = 0.50 (goal at most 0.35: missed)"),
        ("r g no", "7s: seconds 1.59s (goal at most 1s: missed)"),
        ("r g ok", "7s against 7c: beyond compose watch 1.59s - 2.10s = -0.51s (goal at most +0.15s: met)"),
        ("r g ok", "7s: proof p95 19 ms of 4 turns (19, 19, 19, 19 ms) (goal at most 100 ms: met)"),
    ]
    document = drawn()
    assert "2 of 5 met" in document
    assert document.count('class="m z"') == 1  # a figure below zero: zero marked


def test_compose_watch_not_measured_is_said_not_drawn() -> None:
    cases, _ = loop_run()
    refused = ComposeCase("7c compose watch: first target synced", [], "", refused="compose 2.26: no service")
    figures = picture.loop_figures(cases, refused)
    document = picture.page(picture.Picture("bench", "today", figures, []))
    assert "not measured: compose 2.26: no service" in document and "no sample" in document


@pytest.mark.usefixtures("secret")  # SECRET registered as a secret, as a session registers one
def test_a_hostile_case_name_is_shown_escaped_inert_and_redacted() -> None:
    hostile = f"1 cold <script>alert(1)</script> \x1b[31m\u202e {SECRET} \"x' & <img src=x onerror=alert(1)>"
    document = drawn(picture.build_figure(hostile, 17.0, [{"target": hostile, "phases": {hostile: 1.0}}]))
    tags = parsed(document)
    assert [t for t, _ in tags.seen if t in ("script", "img")] == []
    assert SECRET not in document and "***" in document
    assert "\x1b" not in document and "\u202e" not in document and "\\x1b[31m" in document and "\\u202e" in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document and "<script>alert(1)</script>" in "".join(tags.text)


def test_the_picture_fetches_nothing_runs_nothing_and_stays_small(tmp_path: Path) -> None:
    many = [picture.Figure(f"10 commit {n}", [12.0 + n / 10]) for n in range(8)]
    document = drawn(*many, title="nox -s bench")
    tags = parsed(document)
    assert not re.search(r"(?i)https?:|//|@import|url\(|<script|<link|<img|<iframe|\bsrc=|\bhref=|\bon\w+=", document)
    policy = next(a["content"] for t, a in tags.seen if t == "meta" and a.get("http-equiv"))
    assert policy is not None and policy.startswith("default-src 'none'") and "script-src" not in policy
    assert len(document.encode()) < 40_000, "every case of a run and its goals: tens of KB at most"
    written = picture.write(tmp_path, picture.Picture("nox -s bench", "today", many, []))
    assert written == tmp_path / "bench.html" and written.read_text().startswith("<!doctype html>")
