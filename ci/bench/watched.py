"""What the bench reads of `nox -s watch`, as a user sees it: a turn's line on screen (ci/watch/turns.py `line`:
rebuilt and verified, synced and proven, or failed, with its result's words) and the turns of watch.json (each
turn's parts: built or synced, up, verified or proven, from the change; a sync's proof's own time, from its
detail). Pure: the bench's loop (ci/bench/loop.py) runs watch and times it."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ci.core.errors import CiError

SYNCED, REBUILT = "synced", "rebuilt"  # a turn's action, as watch.json says it
# A turn that ended well: `SERVICES  FILES  built 0.6s  up 0.9s  DETAIL  1.9s from change` (`synced` for a sync
# turn); DETAIL `verified: running = tree` or `proven: 1 file read back in 12 ms (...)`, or the bare word when
# the line would not fit the terminal.
DONE = re.compile(
    r"  (?P<made>built|synced) \d+\.\ds  up \d+\.\ds  (?P<detail>.+)  \d+\.\ds from change$"
)  # fmt: skip
# A turn that did not: `TARGETS  FILES  RESULT: DETAIL`, RESULT one of watch's (ci/watch/turns.py `Turn.result`,
# ci/sessions/watch.py's sync turns).
FAILED = re.compile(
    r"  (?P<result>sync failed|not proven|build failed|not verified|does not parse|image missing|unhealthy"
    r"|no engine|interrupted|failed): "
)
PROOF_TIME = re.compile(r"\bread back in (?P<ms>\d+) ms\b")  # ci/watch/proof.py `Proven.line`


@dataclass(frozen=True)
class TurnLine:
    """A turn's line: how it ended (`verified`, `proven`, or the failed turn's result) and what it did."""

    text: str
    result: str
    action: str = ""  # synced | rebuilt; "" for a failed turn

    @property
    def verified(self) -> bool:
        """A rebuild turn that ended verified."""
        return self.action == REBUILT and self.result == "verified"

    @property
    def proven(self) -> bool:
        """A sync turn that ended proven."""
        return self.action == SYNCED and self.result == "proven"


def turn_line(text: str) -> TurnLine | None:
    """TEXT as a turn's line; None when it is another line of watch's (its start, a service's log)."""
    done = DONE.search(text)
    if done:
        action = SYNCED if done["made"] == "synced" else REBUILT
        return TurnLine(text, done["detail"].split(":", 1)[0], action)
    failed = FAILED.search(text)
    return TurnLine(text, failed["result"]) if failed else None


@dataclass(frozen=True)
class TurnReport:
    """One turn as watch.json keeps it: its action, result and parts, in seconds."""

    number: int
    action: str
    result: str
    build_seconds: float
    sync_seconds: float  # a sync turn's copy, delete and restart
    up_seconds: float  # the wait for health
    verify_seconds: float  # verify's checks, or a sync's proof (and what the turn does after the wait)
    from_change_seconds: float  # from when watch saw the change to its line
    proof_seconds: float | None  # the proof's own time (its line's `read back in N ms`); None: not a proven sync
    timeline_seconds: float = 0.0  # a rebuild turn's timeline drawn, of build_seconds


def proof_seconds(detail: str) -> float | None:
    found = PROOF_TIME.search(detail)
    return int(found["ms"]) / 1000 if found else None


def read_turns(path: Path) -> list[TurnReport]:
    """watch.json's turns at PATH; CiError when it is missing or holds none in the form watch writes."""
    try:
        turns = json.loads(path.read_text()).get("turns")
    except (OSError, ValueError, AttributeError) as err:
        raise CiError(f"bench: cannot read watch's turns from {path}: {err}") from None
    if not isinstance(turns, list):
        raise CiError(f"bench: {path} holds no turns")
    try:
        return [
            TurnReport(
                int(t["number"]), str(t["action"]), str(t["result"]), float(t["build_seconds"]),
                float(t["sync_seconds"]), float(t["up_seconds"]), float(t["verify_seconds"]),
                float(t["from_change_seconds"]), proof_seconds(str(t.get("detail", ""))),
                float(t.get("timeline_seconds", 0.0)),
            )
            for t in turns
        ]  # fmt: skip
    except (KeyError, TypeError, ValueError) as err:
        raise CiError(f"bench: a turn of {path} lacks {err}") from None


def where_time_went(samples: Sequence[float], turns: Sequence[TurnReport]) -> list[tuple[str, float]]:
    """Where the timed turns' time went, each part's median in seconds: from the write until watch saw the burst
    (its quiet period), the build or the sync (copy and restart), the wait for health, the verification or the
    proof, and the rest (the plan, the line). SAMPLES: each turn's seconds from the write to its line, as timed."""
    if not turns or len(turns) != len(samples):
        return []
    synced = turns[0].action == SYNCED
    parts = {
        "until seen": [s - t.from_change_seconds for s, t in zip(samples, turns, strict=True)],
        "synced" if synced else "built": [t.sync_seconds if synced else t.build_seconds for t in turns],
        "up": [t.up_seconds for t in turns],
        "proof" if synced else "verified": [t.verify_seconds for t in turns],
        "rest": [t.from_change_seconds - t.build_seconds - t.sync_seconds - t.up_seconds - t.verify_seconds
                 for t in turns],
    }  # fmt: skip
    proofs = [t.proof_seconds for t in turns if t.proof_seconds is not None]
    if synced and len(proofs) == len(turns):
        parts["of which read back"] = proofs
    return [(name, statistics.median(values)) for name, values in parts.items()]
