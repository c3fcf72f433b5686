"""The verdicts of `verify --url` (ci/probe/verdicts.py), from answers and a history made up here: runs, behind by N
naming the commits and files, not a commit of the history (shallow said), mixed with counts."""

from __future__ import annotations

from collections.abc import Iterator

from ci.probe import verdicts
from ci.probe.buildinfo import Answer
from ci.sources.fingerprint import Fingerprint, of_files
from ci.sources.git import Commit
from ci.sources.git_history import State


def state(short: str, subject: str, files: dict[str, str], dirty: bool = False) -> State:
    return State(Commit(short, short * 5, 0, dirty, subject), Fingerprint(of_files(files), files))


NEW = state("ccccccc", "backend: greet", {"main.py": "2", "x.py": "1"})
MID = state("bbbbbbb", "backend: tidy", {"main.py": "1", "x.py": "1"})
OLD = state("aaaaaaa", "first", {"main.py": "0"})


def want(*states: State, shallow: bool = False) -> verdicts.Expected:
    def each() -> Iterator[State]:
        yield from states

    return verdicts.Expected("ccccccc", each(), shallow)


def answer(s: State, label: str = "", url: str = "http://stage/api/build/info") -> Answer:
    return Answer(url, {"source_digest": s.sources.digest, "git_commit": label or s.commit.short})


def test_equal_fingerprints_run_the_commit_whatever_commit_label_the_image_carries() -> None:
    verdict = verdicts.judge("frontend", [answer(NEW, "aaaaaaa")] * 5, want(NEW, OLD))
    assert verdict.passed
    assert (
        verdict.detail
        == f"runs ccccccc: sources {NEW.sources.short}, built as aaaaaaa (the last commit to change its inputs)"
    )


def test_an_older_fingerprint_is_behind_by_the_commits_since_naming_them_and_the_files() -> None:
    verdict = verdicts.judge("backend", [answer(OLD)] * 3, want(NEW, MID, OLD))
    assert (verdict.word, verdict.behind) == ("behind", 2)
    assert verdict.commits == ["ccccccc backend: greet", "bbbbbbb backend: tidy"]
    assert verdict.files == ["modified main.py", "added x.py"]
    assert verdict.detail.startswith("behind by 2 commits: it runs aaaaaaa")
    assert verdict.summary == "backend behind by 2 commits"


def test_a_fingerprint_no_commit_has_is_not_of_the_history_and_says_what_it_claims() -> None:
    dirty = state("ccccccc", "", {"main.py": "edited"})
    verdict = verdicts.judge("backend", [answer(dirty, "ccccccc-dirty")], want(NEW, OLD))
    assert verdict.word == "not a commit"
    assert "it claims commit ccccccc-dirty" in verdict.detail
    assert "the last 2 commits that changed its inputs" in verdict.detail
    shallow = verdicts.judge("backend", [answer(dirty, "x")], want(NEW, shallow=True))
    assert "shallow: its history is too short to count commits" in shallow.detail


def test_replicas_that_disagree_are_mixed_with_the_count_of_each_answer() -> None:
    answers = [answer(NEW)] * 3 + [answer(OLD)] * 2
    verdict = verdicts.judge("backend", answers, want(NEW, OLD))
    assert verdict.word == "mixed"
    assert sorted(verdict.answers.values()) == [2, 3]
    assert "3 run ccccccc" in verdict.detail and "2 behind by 1 commit (aaaaaaa" in verdict.detail
    assert verdict.summary == "backend mixed (3 + 2 answers)"


def test_a_replica_that_does_not_answer_makes_the_service_mixed_not_passed() -> None:
    down = Answer("http://replica-2/build/info", problem="connection refused by replica-2:80", kind="unreachable")
    verdict = verdicts.judge("backend", [answer(NEW), down], want(NEW))
    assert verdict.word == "mixed" and not verdict.passed
    assert "1 unreachable (connection refused by replica-2:80)" in verdict.detail


def test_the_working_tree_state_counts_no_commit_when_behind() -> None:
    tree = state("ccccccc", "", {"main.py": "3"}, dirty=True)
    expected = verdicts.Expected("the working tree", iter([tree, NEW, OLD]), False)
    verdict = verdicts.judge("backend", [answer(NEW)], expected)
    assert (verdict.word, verdict.behind) == ("behind", 0)
    assert "behind by 0 commits and the working tree's uncommitted changes" in verdict.detail


def test_a_claimed_commit_label_is_shown_cut_however_long_the_service_makes_it() -> None:
    dirty = state("ccccccc", "", {"main.py": "edited"})
    flood = Answer("http://stage/x", {"source_digest": dirty.sources.digest, "git_commit": "x" * 100_000})
    verdict = verdicts.judge("backend", [flood], want(NEW))
    assert verdict.word == "not a commit" and len(verdict.detail) < 400
    assert f"it claims commit {'x' * 64}..., sources" in verdict.detail
    mixed = verdicts.judge("backend", [flood, answer(NEW)], want(NEW))
    assert all(len(what) < 200 for what in mixed.answers)
