"""The file watcher of `nox -s watch`: changes to the targets' inputs, in bursts, through watchfiles (the
native notify backend, batching in Rust). A path is reported only when it is one of a target's inputs by
that target's own ignore rules (`ci/sources/build_context.py`), or a definition the targets come from; editors' and
tools' temporary files, `.git`, `node_modules` and everything else never make a burst.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from ci.sources.identity import Inputs

QUIET_MS = 200  # a burst ends after this long without a change (Tilt waits 200 ms, compose watch 500 ms)
LONGEST_MS = 5000  # and is cut here however long the changes go on
# How often the native watcher looks at what it collected: a batch ends after one step without a change,
# and a burst after no batch for the rest of QUIET_MS. With a step of QUIET_MS itself, the end of a burst
# was seen 200 to 400 ms after the last change; with this one, 200 to 250 ms.
STEP_MS = 50
# Swap, backup and lock files of editors: never a change, wherever they are (watchfiles' own list)...
EDITOR_FILES = watchfiles.DefaultFilter(ignore_dirs=())
# ... and what it leaves out: `sed -i`'s sedXXXXXX, vim's 4913 (its test of a folder's write access), and
# swap (*.swp, *.swo...), backup (*~) and Emacs lock (.#*) files by name, as editors other than those make them.
TEMPORARY = re.compile(r"sed[A-Za-z0-9]{6}|4913|\.#.*|.*~|.*\.sw[a-z]")


def is_temporary(path: Path) -> bool:
    """An editor's or a tool's temporary file: never a change, never named as one."""
    return TEMPORARY.fullmatch(path.name) is not None or not EDITOR_FILES(watchfiles.Change.modified, str(path))


@dataclass(frozen=True)
class Burst:
    """The paths (absolute) that changed together, and when the watcher saw the first of them: a file's
    modification time says when it was written, not when it changed here (`cp -p` keeps an old one)."""

    paths: frozenset[Path]
    seen: float  # time.monotonic() when the burst's first change came


def relevant(inputs: Sequence[Inputs], definitions: Sequence[Path]) -> Callable[[Path], bool]:
    """The filter: an input of some target, or one of the DEFINITIONS (bake and compose files)."""
    defined = {p.resolve() for p in definitions}

    def keep(path: Path) -> bool:
        if path in defined:
            return True
        if path.is_dir():
            return False  # its files are the inputs
        return not is_temporary(path) and any(i.includes(path) for i in inputs)

    return keep


def changed_paths(change: watchfiles.Change, raw: str, inputs: Sequence[Inputs]) -> list[Path]:
    """The paths a change stands for. A folder that was added stands for the files in it: those written
    before the native watcher watched the new folder (a `git checkout` or a generator is faster than
    that) are reported by nobody else. A folder no input can lie in (a new node_modules) is not read."""
    path = Path(os.path.normpath(raw))
    if change == watchfiles.Change.added and path.is_dir():
        return [p for p in path.rglob("*") if p.is_file()] if any(i.may_hold(path) for i in inputs) else []
    return [path]


def roots(inputs: Sequence[Inputs], definitions: Sequence[Path]) -> list[Path]:
    """What to watch: each context folder (new files in it count), the Dockerfiles and ignore files outside
    them, the definitions; no folder inside another."""
    found: set[Path] = {i.context for i in inputs}
    for path in (*[p for i in inputs for p in (i.dockerfile, i.ignore_file) if p], *definitions):
        if not any(path.resolve().is_relative_to(c) for c in found):
            found.add(path.resolve().parent)
    return sorted(p for p in found if not any(p != q and p.is_relative_to(q) for q in found))


def watching(
    inputs: Mapping[str, Inputs], definitions: Sequence[Path], wake: Callable[[], bool] = lambda: False
) -> Iterator[Burst]:
    """The bursts of changes to the inputs of each target (INPUTS: by name) and to DEFINITIONS until Ctrl-C;
    a line says when the watcher runs: a save after it is never missed. An empty burst when WAKE says so."""
    names = ", ".join(inputs)

    def ready() -> None:
        print(f"watching the inputs of {names}; Ctrl-C to stop", flush=True)

    return bursts(list(inputs.values()), definitions, lambda: False, ready, wake)


def bursts(
    inputs: Sequence[Inputs],
    definitions: Sequence[Path],
    stop: Callable[[], bool],
    ready: Callable[[], None] = lambda: None,
    wake: Callable[[], bool] = lambda: False,
) -> Iterator[Burst]:
    """Each burst of changes to the inputs, as it ends; changes made while the caller works on one burst are
    kept by the watcher and make the next. READY is called once the watcher sees changes (its first batch,
    empty or not): a save before then would be missed. Ends when STOP says so (checked at least every
    second) or on Ctrl-C (which raises KeyboardInterrupt). While no burst is under way, WAKE (asked as often)
    may ask for an empty one: something besides the files needs the caller (a container recreated)."""
    keep = relevant(inputs, definitions)
    pending: set[Path] = set()
    first = last = 0.0  # when the burst's first and newest relevant batch came
    said = False
    # The filter runs here, not in watchfiles: a batch of other files' changes (a build writing reports,
    # git's own files) must still come back here, for a burst to end on time while they go on.
    for changes in watchfiles.watch(
        *roots(inputs, definitions),
        watch_filter=None,
        debounce=LONGEST_MS,
        step=STEP_MS,
        rust_timeout=QUIET_MS - STEP_MS,  # an empty batch: no change at all for that long
        yield_on_timeout=True,
    ):
        if not said:
            ready()
            said = True
        if stop():
            return
        now = time.monotonic()
        found = {path for change, raw in changes for path in changed_paths(change, raw, inputs) if keep(path)}
        if found:
            first = first if pending else now
            last = now
            pending |= found
        # A batch comes one step after its last change: QUIET_MS in all since the newest relevant one.
        if pending and (now - last >= (QUIET_MS - STEP_MS) / 1000 or now - first >= LONGEST_MS / 1000):
            yield Burst(frozenset(pending), first)
            pending = set()
        elif not pending and wake():
            yield Burst(frozenset(), now)
