"""Git as the suite reads it (ci/sources/git.py): every file name as it is, whatever git would quote, and a user's
value never taken for one of git's options."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.sources.git import (
    changes,
    commit_all,
    copy_worktree,
    current_branch,
    git,
    resolve_commit,
    tracked_files,
    tree_blobs,
    unborn,
)
from tests.conftest import git_repo

# Names `git log --name-only` quotes or splits without -z, whatever core.quotePath says.
AWKWARD_NAMES = [
    'a"quote.py',
    "a\\backslash.py",
    "a\ttab.py",
    "a\nnewline.py",
    "\nleading-newline.py",
    "an\x1b[31mescape.py",
    "\x01starts-like-a-header.py",
    "nön-äscii.py",
    "a*glob[1].py",
]


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_a_commit_changing_only_an_awkwardly_named_file_is_in_the_history_with_that_name(
    tmp_path: Path, name: str
) -> None:
    root = git_repo(tmp_path, {"main.py": "x = 1\n"})
    (root / name).write_text("changed\n")
    second = commit_all(root, "only the awkward file")
    found = list(changes(root, [str(root)]))
    assert [(c.short, paths) for c, paths in found] == [(second, [name]), (found[1][0].short, ["main.py"])]
    assert found[0][0].subject == "only the awkward file"
    assert name in tree_blobs(root) and name in (tracked_files(root) or set())


def test_a_commit_changing_nothing_named_still_ends_its_neighbours(tmp_path: Path) -> None:
    root = git_repo(tmp_path, {"a.py": "1\n"})
    git(root, "commit", "-q", "--allow-empty", "-m", "empty")
    (root / "b.py").write_text("2\n")
    commit_all(root, "b")
    found = [(c.subject, paths) for c, paths in changes(root, [])]
    assert found == [("b", ["b.py"]), ("empty", []), ("first", ["a.py"])]


def test_paths_are_literal_not_globs(tmp_path: Path) -> None:
    root = git_repo(tmp_path, {"svc[1]/app.py": "1\n", "svc1/app.py": "1\n"})
    (root / "svc[1]" / "app.py").write_text("2\n")
    commit_all(root, "the bracketed one")
    (root / "svc1" / "app.py").write_text("2\n")
    commit_all(root, "the plain one")
    assert [c.subject for c, _ in changes(root, [str(root / "svc[1]")])] == ["the bracketed one", "first"]


def test_a_commit_value_that_looks_like_an_option_names_no_commit_and_writes_nothing(tmp_path: Path) -> None:
    root = git_repo(tmp_path, {"a.py": "1\n"})
    out = tmp_path / "written-by-git"
    for value in (f"--output={out}", f"-o{out}", "--all", "-h"):
        assert resolve_commit(root, value) is None
    assert not out.exists() and not list(tmp_path.glob("written-by-git*"))
    head = resolve_commit(root, "HEAD")
    assert head is not None and head.subject == "first" and resolve_commit(root, head.full[:10]) == head


def test_no_commit_yet_names_none_and_has_no_history(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("1\n")
    assert resolve_commit(tmp_path, "HEAD") is None
    assert list(changes(tmp_path, [str(tmp_path)])) == []
    assert tree_blobs(tmp_path) == {}


def test_a_copy_of_the_tree_keeps_awkward_names(tmp_path: Path) -> None:
    files = {name: f"{i}\n" for i, name in enumerate(AWKWARD_NAMES)}
    root = git_repo(tmp_path / "src", files)
    (root / 'untracked "too".py').write_text("u\n")
    dest = tmp_path / "copy"
    dest.mkdir()
    copy_worktree(root, dest)
    assert {p.name for p in dest.iterdir() if p.name != ".git"} == {*files, 'untracked "too".py'}


def test_a_branch_with_no_commit_yet_is_checked_out_and_unborn(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "feature/x")
    assert (unborn(tmp_path), current_branch(tmp_path)) == (True, "feature/x")
    (tmp_path / "a").write_text("1\n")
    git(tmp_path, "config", "user.email", "t@localhost")
    git(tmp_path, "config", "user.name", "t")
    commit_all(tmp_path, "first")
    assert (unborn(tmp_path), current_branch(tmp_path)) == (False, "feature/x")
    git(tmp_path, "checkout", "-q", "--detach")
    assert current_branch(tmp_path) is None
    outside = tmp_path.parent / f"{tmp_path.name}-not-git"
    outside.mkdir()
    assert (unborn(outside), current_branch(outside)) == (False, None)
