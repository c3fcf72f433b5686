"""The verdicts of `verify --url` on a deployed service, from its build-info answers (ci/probe/buildinfo.py) and the
states of its target's history, newest first (ci/sources/git_history.py): nothing is asked here, both are given.

The verdict places the fingerprint a service serves in the commit's history: the commit's own (runs), an
older one's (behind: by how many commits, which ones, which files), or none (not a commit); answers that
disagree are mixed, with the count of each; unreachable and no build info say why there is nothing to compare.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ci.core.terminal import plural
from ci.core.units import short_id
from ci.probe import buildinfo
from ci.sources.fingerprint import changed_files
from ci.sources.git_history import HISTORY_LIMIT, State

SHOWN = 5  # commits and files named in a verdict; the JSON has them all
CLAIM = 64  # characters of the commit label a service claims, shown: a label is a hash and `-dirty` at most


@dataclass
class Expected:
    """A target's states, newest first (the one to run, then the older ones), read as far as needed."""

    label: str  # what it should run, in words: REF's short hash, or "the working tree"
    states: Iterator[State]
    shallow: bool
    seen: list[State] = field(default_factory=list)

    def place(self, digest: str) -> int | None:
        """The index of the newest state with fingerprint DIGEST; None when no state of the history has it."""
        for index, state in enumerate(self.seen):
            if state.sources.digest == digest:
                return index
        for state in self.states:
            self.seen.append(state)
            if state.sources.digest == digest:
                return len(self.seen) - 1
        return None

    def behind(self, index: int) -> int:
        """How many commits the state at INDEX lacks (the working tree's uncommitted state is none)."""
        return sum(1 for s in self.seen[:index] if not s.commit.dirty)

    @property
    def first(self) -> State:
        if not self.seen:
            self.seen.append(next(self.states))
        return self.seen[0]


@dataclass
class Verdict:
    """One service's: what it runs (or why that is unknown), in words a person acts on."""

    service: str
    word: str  # runs | behind | not a commit | mixed | unreachable | no build info | not checked
    detail: str
    urls: list[str] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # what was answered -> how many times
    claims: str = ""  # the running commit label and fingerprint, as the service says
    behind: int | None = None  # commits that changed its inputs since what it runs
    commits: list[str] = field(default_factory=list)  # those commits: short hash and subject
    files: list[str] = field(default_factory=list)  # what differs from what it should run

    @property
    def passed(self) -> bool:
        return self.word == "runs"

    @property
    def summary(self) -> str:
        """A few words for the last line: `backend behind by 2 commits`."""
        if self.word == "behind":
            return f"{self.service} behind by {plural(self.behind or 0, 'commit')}"
        if self.word == "mixed":
            return f"{self.service} mixed ({' + '.join(str(n) for n in self.answers.values())} answers)"
        return f"{self.service} {self.word}"


def judge(service: str, answers: list[buildinfo.Answer], want: Expected, history_limit: int = HISTORY_LIMIT) -> Verdict:
    """The verdict on SERVICE from its ANSWERS: every one must carry build info, agree, and have WANT's
    first fingerprint."""
    urls = list(dict.fromkeys(a.url for a in answers))
    counts = Counter(describe(a, want) for a in answers)
    if len(counts) > 1:
        shown = ", ".join(f"{n} {what}" for what, n in counts.most_common())
        return Verdict(service, "mixed", f"mixed answers: {shown}", urls, dict(counts))
    answer = answers[0]
    if answer.info is None:
        return Verdict(service, answer.kind, f"{answer.kind}: {answer.url}: {answer.problem}", urls, dict(counts))
    digest, label = answer.identity
    label = buildinfo.cut(label, CLAIM)  # what a service claims is its to choose: never a flood
    claims = f"commit {label}, sources {short_id(digest)}"
    index = want.place(digest)
    verdict = Verdict(service, "runs", "", urls, dict(counts), claims)
    if index == 0:
        built = f", built as {label} (the last commit to change its inputs)" if label != want.label else ""
        verdict.detail = f"runs {want.label}: sources {short_id(digest)}{built}"
        return verdict
    if index is None:
        verdict.word = "not a commit"
        history = f"the last {plural(len(want.seen), 'commit')} that changed its inputs"
        if len(want.seen) >= history_limit:
            history = f"the last {history_limit} commits that changed its inputs, as far as searched"
        verdict.detail = f"not a commit of {want.label}'s history ({history}): it claims {claims}"
        if want.shallow:
            verdict.detail += (
                "; this clone is shallow: its history is too short to count commits (git fetch --unshallow)"
            )
        return verdict
    newer = [s for s in want.seen[:index] if not s.commit.dirty]  # the working tree's state is no commit
    verdict.word, verdict.behind = "behind", len(newer)
    verdict.commits = [f"{s.commit.short} {s.commit.subject}" for s in newer]
    verdict.files = changed_files(want.seen[index].sources.files, want.first.sources.files)
    lag = plural(len(newer), "commit") + (" and the working tree's uncommitted changes" if len(newer) < index else "")
    verdict.detail = f"behind by {lag}: it runs {want.seen[index].commit.short} ({claims})"
    verdict.detail += f"; missing {listed(verdict.commits, '; ')}" if newer else ""
    verdict.detail += f"; files: {listed(verdict.files, ', ')}" if verdict.files else ""
    return verdict


def listed(items: Sequence[str], separator: str) -> str:
    """The first few ITEMS, and how many more."""
    return separator.join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def describe(answer: buildinfo.Answer, want: Expected) -> str:
    """What one answer says, for counting answers that differ: where it stands, or why it said nothing."""
    if answer.info is None:
        return f"{answer.kind} ({answer.problem})"
    digest, label = answer.identity
    index = want.place(digest)
    if index == 0:
        return f"run {want.label} (sources {short_id(digest)})"
    if index is None:
        return f"not of {want.label}'s history (claims {buildinfo.cut(label, CLAIM)}, sources {short_id(digest)})"
    behind = plural(want.behind(index), "commit")
    return f"behind by {behind} ({want.seen[index].commit.short}, sources {short_id(digest)})"
