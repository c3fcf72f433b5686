"""The watcher's bursts on a real folder (watchfiles' native backend; no engine): changes closer together
than the quiet period are one burst, seen no sooner than the quiet period after the last of them."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import watchfiles

from ci.sources.identity import Inputs
from ci.watch import bursts


class Collected:
    def __init__(self) -> None:
        self.bursts: list[tuple[float, bursts.Burst]] = []  # when each was seen, and the burst

    def wait(self, count: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while len(self.bursts) < count and time.monotonic() < end:
            time.sleep(0.02)
        assert len(self.bursts) >= count, f"{len(self.bursts)} bursts, {count} expected"


@pytest.fixture
def context(tmp_path: Path) -> Path:
    folder = tmp_path / "service"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (folder / ".dockerignore").write_text("*.tmp\n")
    return folder


@pytest.fixture
def collected(context: Path) -> Iterator[Collected]:
    found = Collected()
    done, ready = threading.Event(), threading.Event()

    def collect() -> None:
        for burst in bursts.bursts([Inputs.of(context, Path("Dockerfile"))], [], done.is_set, ready.set):
            found.bursts.append((time.monotonic(), burst))

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    # No settling time: a change made as soon as the watcher says it is ready is seen (watch prints
    # "watching" then).
    assert ready.wait(timeout=10), "the watcher never said it was ready"
    yield found
    done.set()
    thread.join(timeout=5)


def names(burst: bursts.Burst) -> set[str]:
    return {p.name for p in burst.paths}


def write_all(context: Path, files: list[str], pause: Callable[[], None]) -> float:
    for name in files:
        (context / name).write_text(name)
        pause()
    return time.monotonic()


def test_fifty_files_written_in_quick_succession_are_one_burst_after_the_quiet_period(
    context: Path, collected: Collected
) -> None:
    files = [f"module_{i}.py" for i in range(50)]
    last = write_all(context, files, lambda: time.sleep(0.002))
    collected.wait(1)
    seen, burst = collected.bursts[0]
    assert names(burst) == set(files)
    assert seen - last >= bursts.QUIET_MS / 1000


def test_a_pause_longer_than_the_quiet_period_starts_a_new_burst(context: Path, collected: Collected) -> None:
    (context / "first.py").write_text("1")
    collected.wait(1)
    time.sleep(1.0)
    (context / "second.py").write_text("2")
    collected.wait(2)
    assert [names(b) for _, b in collected.bursts] == [{"first.py"}, {"second.py"}]


def test_ignored_files_make_no_burst(context: Path, collected: Collected) -> None:
    (context / "scratch.tmp").write_text("ignored by .dockerignore")
    (context / ".main.py.swp").write_text("an editor's swap file")
    time.sleep(1.0)
    (context / "real.py").write_text("an input")
    collected.wait(1)
    assert [names(b) for _, b in collected.bursts] == [{"real.py"}]


def test_an_added_folder_stands_for_the_files_already_in_it(context: Path) -> None:
    inputs = [Inputs.of(context, Path("Dockerfile"))]
    folder = context / "generated"
    (folder / "deep").mkdir(parents=True)
    (folder / "a.py").write_text("a")
    (folder / "deep" / "b.py").write_text("b")
    found = bursts.changed_paths(watchfiles.Change.added, str(folder), inputs)
    assert sorted(p.relative_to(folder).as_posix() for p in found) == ["a.py", "deep/b.py"]
    assert bursts.changed_paths(watchfiles.Change.modified, str(folder / "a.py"), inputs) == [folder / "a.py"]


def test_an_added_folder_the_ignore_file_leaves_out_whole_is_not_read(context: Path) -> None:
    (context / ".dockerignore").write_text("node_modules\n")
    inputs = [Inputs.of(context, Path("Dockerfile"))]
    (context / "node_modules" / "pkg").mkdir(parents=True)
    (context / "node_modules" / "pkg" / "index.js").write_text("x")
    assert bursts.changed_paths(watchfiles.Change.added, str(context / "node_modules"), inputs) == []


def test_a_new_folder_of_sources_is_one_burst(context: Path, collected: Collected) -> None:
    folder = context / "generated"
    folder.mkdir()
    for n in range(50):
        (folder / f"module_{n}.py").write_text(f"VALUE = {n}\n")
    collected.wait(1)
    assert names(collected.bursts[0][1]) == {f"module_{n}.py" for n in range(50)}


TEMPORARY = ["sedx0ga7i", "sedAB12cd", "4913", "main.py.swp", ".main.py.swo", "main.py~", ".#main.py"]


@pytest.mark.parametrize("name", TEMPORARY)
def test_editors_and_tools_temporary_files_are_temporary(name: str) -> None:
    assert bursts.is_temporary(Path("backend") / name)


@pytest.mark.parametrize("name", ["main.py", "sed.py", "sedimentary", "49130", "swap.py", "notes.sw"])
def test_sources_are_not_temporary(name: str) -> None:
    assert not bursts.is_temporary(Path("backend") / name)


def test_sed_in_place_is_one_burst_naming_only_the_edited_file(context: Path, collected: Collected) -> None:
    (context / "main.py").write_text("VALUE = 1\n")
    collected.wait(1)
    subprocess.run(["sed", "-i", "s/1/2/", str(context / "main.py")], check=True)
    collected.wait(2)
    assert [names(b) for _, b in collected.bursts] == [{"main.py"}, {"main.py"}]


def test_a_burst_is_timed_from_when_it_was_seen_not_from_the_files_modification_time(
    context: Path, collected: Collected, tmp_path: Path
) -> None:
    old = tmp_path / "old.py"
    old.write_text("OLD = True\n")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    before = time.monotonic()
    subprocess.run(["cp", "-p", str(old), str(context / "old.py")], check=True)
    collected.wait(1)
    received, burst = collected.bursts[0]
    assert names(burst) == {"old.py"} and (context / "old.py").stat().st_mtime < time.time() - 7000
    assert before <= burst.seen <= received


def test_a_wake_asked_while_no_burst_is_under_way_is_an_empty_burst(context: Path) -> None:
    asked = threading.Event()
    found: list[bursts.Burst] = []
    done = threading.Event()

    def wake() -> bool:
        return asked.is_set() and not found  # once: the caller has what woke it by the next ask

    def collect() -> None:
        for burst in bursts.bursts([Inputs.of(context, Path("Dockerfile"))], [], done.is_set, wake=wake):
            found.append(burst)

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    asked.set()
    end = time.monotonic() + 5
    while not found and time.monotonic() < end:
        time.sleep(0.02)
    done.set()
    thread.join(timeout=5)
    assert [b.paths for b in found] == [frozenset()]
