"""`python -m ci watch` in the background for the integration tests, its output read line by line."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from ci import docker as dk
from tests.conftest import Project

TURN_TIMEOUT = 120.0


class Watch:
    """`python -m ci watch` in the background, its output read line by line: watch's own in `lines`, the services'
    (`SERVICE | line`, which a service may fill with a turn's words) apart in `logged`."""

    def __init__(self, project: Project, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, **project.env, **(env or {})}
        env.pop("VIRTUAL_ENV", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ci", "watch"], cwd=project.root, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.logged: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            print(f"watch| {line}", end="")
            if dk.is_service_line(line):
                self.logged.append(line.rstrip("\n"))
            else:
                self.lines.put(line.rstrip("\n"))

    def wait_for(self, wanted: Callable[[str], bool], timeout: float = TURN_TIMEOUT) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, f"watch exited with {self.proc.returncode}"
                continue
            self.seen.append(line)
            if wanted(line):
                return line
        raise AssertionError(f"no such line within {timeout:.0f}s; the last ones: {self.seen[-15:]}")

    def turns_within(self, seconds: float) -> list[str]:
        """The turn lines printed within SECONDS."""
        found, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if is_turn(line):
                found.append(line)
        return found


FAILED_TURNS = (" build failed: ", " unhealthy: ", " not verified: ", " not proven: ", " sync failed: ")


def is_turn(line: str) -> bool:
    return " from change" in line or any(failed in line for failed in FAILED_TURNS)


def without_watch_rules(project: Project) -> Project:
    """PROJECT with no service's `develop.watch` rules in its compose.yaml: every turn of its watch a rebuild,
    as a service without rules has (the modules that pin rebuild turns and their rollbacks)."""
    path = project.root / "compose.yaml"
    kept, inside = [], ""
    for line in path.read_text().splitlines(keepends=True):
        indent = line[: len(line) - len(line.lstrip())]
        if inside and (not line.strip() or len(indent) > len(inside)):
            continue
        inside = indent if line.strip() == "develop:" else ""
        if not inside:
            kept.append(line)
    path.write_text("".join(kept))
    assert "develop:" not in path.read_text()
    project.commit("compose.yaml: no develop.watch rules")  # a clean tree, as the copy was
    return project
