"""The inner loop, timed for `nox -s bench`: on the bench's copy of the tree, `nox -s dev` (no cache), then
`nox -s watch` with the stack up and, for a one-line edit to each of the first and the last target's
sources, the time from writing the edit to the turn's verified line. Compared in one run: the goals are
the first target (the backend) within 15% of dev's time, the last (the frontend) within 35%. That is done
ROUNDS times, dev and the turns side by side in each round, so that the machine's drift weighs on both
alike; each case counts by its median, as one sample of a 2 s turn on a noisy machine decides nothing."""

from __future__ import annotations

import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ci import docker as dk
from ci.core.errors import CiError

GOALS = (0.15, 0.35)  # watch's turn over dev's time: the first target's edit, the last's
TURN_TIMEOUT = 180.0
ROUNDS = 5
TURN_LINE = (" from change", " failed: ", "verified: ")  # what a turn's line holds, whatever its result


@dataclass
class LoopCase:
    name: str
    samples: list[float]  # seconds, one per round
    line: str  # the last round's: the session's last line, or the turn's

    @property
    def seconds(self) -> float:
        return statistics.median(self.samples)

    def figures(self) -> str:
        return f"{self.seconds:.1f}s (median of {', '.join(f'{x:.1f}' for x in self.samples)})"


class Watching:
    """`python -m ci watch` on TREE in the background, its output line by line."""

    def __init__(self, tree: Path, env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ci", "watch"], cwd=tree, env=dict(env), text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not dk.is_service_line(line):  # a service's own line (`SERVICE | ...`) may hold a turn's words
                self.lines.put(line.rstrip("\n"))

    def wait_for(self, wanted: Callable[[str], bool], timeout: float = TURN_TIMEOUT) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise CiError(f"bench: nox -s watch exited with {self.proc.returncode}") from None
                continue
            if wanted(line):
                return line
        raise CiError(f"bench: nox -s watch said nothing awaited within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def measure(
    nox: list[str], tree: Path, env: Mapping[str, str], dev_name: str, edits: list[tuple[str, Callable[[], None]]]
) -> list[LoopCase]:
    """ROUNDS rounds of `nox -s dev`, then a watch turn for each edit of EDITS (name, the write): dev's
    case (DEV_NAME) first, then each edit's."""
    dev = LoopCase(dev_name, [], "")
    cases = {name: LoopCase(name, [], "") for name, _ in edits}
    for _ in range(ROUNDS):
        run_dev(nox, tree, env, dev)
        turns(tree, env, edits, cases)
    return [dev, *cases.values()]


def run_dev(nox: list[str], tree: Path, env: Mapping[str, str], case: LoopCase) -> None:
    start = time.monotonic()
    run = subprocess.run([*nox, "-s", "dev"], cwd=tree, env=dict(env), capture_output=True, text=True)
    case.samples.append(time.monotonic() - start)
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
        raise CiError(f"bench: nox -s dev failed (exit {run.returncode}); its output is above")
    case.line = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    print(f"{case.name}: {case.samples[-1]:.1f}s", flush=True)


def turns(
    tree: Path,
    env: Mapping[str, str],
    edits: Sequence[tuple[str, Callable[[], object]]],
    cases: dict[str, LoopCase],
    start_timeout: float = TURN_TIMEOUT,
) -> None:
    """Each edit of EDITS (name, the write), timed from the write to watch's line for it, into CASES; watch
    may take START_TIMEOUT to start (the stack from the cache when it is not up)."""
    watching = Watching(tree, env)
    try:
        watching.wait_for(lambda line: line.startswith("watching the inputs of"), start_timeout)
        for name, edit in edits:
            time.sleep(1.0)  # a quiet tree: the edit is a burst of its own
            start = time.monotonic()
            edit()
            line = watching.wait_for(lambda text: any(end in text for end in TURN_LINE))
            if "verified: running = tree" not in line:
                raise CiError(f"bench: watch's turn for {name} did not verify: {line}")
            case = cases[name]
            case.samples.append(time.monotonic() - start)
            case.line = line
            print(f"{name}: {case.samples[-1]:.1f}s from the write to `{line}`", flush=True)
    finally:
        watching.stop()
