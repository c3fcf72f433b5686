"""A target's inputs read from git's objects: the fingerprint equals the one computed from the files of a
checkout of that commit (what a build bakes in), and the history lists the commits that changed them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ci.sources.fingerprint import fingerprint
from ci.sources.git import commit_all, git, is_shallow
from ci.sources.git_history import Repository, TargetFiles
from tests.conftest import app_tree, git_repo, write_files


def repo(tmp_path: Path) -> Path:
    files = {
        "Dockerfile": "FROM x\nCOPY api/ /api/\n",
        ".dockerignore": "*\n!api/\n**/*.pyc\n",
        "Dockerfile.web": "FROM y\nCOPY web/ /web/\n",
        "Dockerfile.web.dockerignore": "*\n!web/\n!Dockerfile.web\n",
        "api/main.py": "print('api')\n",
        "api/cache.pyc": "junk\n",
        "api/deep/er/module.py": "x = 1\n",
        "web/index.html": "<p>web</p>\n",
        "README.md": "neither\n",
    }
    write_files(tmp_path, files)
    os.symlink("main.py", tmp_path / "api" / "link.py")
    return git_repo(tmp_path, {})


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.web"])
def test_the_fingerprint_from_git_objects_equals_the_one_from_the_checkout(tmp_path: Path, dockerfile: str) -> None:
    root = repo(tmp_path)
    on_disk = fingerprint(root, root / dockerfile)
    from_git = Repository(root).sources("HEAD", TargetFiles.of(root, root, Path(dockerfile)))
    assert from_git.files == on_disk.files
    assert from_git.digest == on_disk.digest


@pytest.mark.parametrize(("context", "dockerfile"), [(".", "Dockerfile"), (".", "Dockerfile.frontend")])
def test_the_projects_own_targets_fingerprint_the_same_from_git_as_from_the_tree(
    tmp_path: Path, context: str, dockerfile: str
) -> None:
    app_tree(tmp_path, committed=True)
    on_disk = fingerprint(tmp_path / context, tmp_path / context / dockerfile)
    from_git = Repository(tmp_path).sources("HEAD", TargetFiles.of(tmp_path, tmp_path / context, Path(dockerfile)))
    assert from_git.digest == on_disk.digest
    assert len(from_git.files) > 3


def test_a_context_in_a_subfolder_reads_the_same_as_on_disk(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "svc").mkdir()
    (root / "svc" / "Dockerfile").write_text("FROM z\n")
    (root / "svc" / "app.py").write_text("y = 2\n")
    (root / "svc" / ".dockerignore").write_text("*.log\n")
    (root / "svc" / "x.log").write_text("noise\n")
    commit_all(root, "svc")
    from_git = Repository(root).sources("HEAD", TargetFiles.of(root, root / "svc", Path("Dockerfile")))
    assert from_git.digest == fingerprint(root / "svc", root / "svc" / "Dockerfile").digest
    assert sorted(from_git.files) == [".dockerignore", "Dockerfile", "app.py"]


def test_the_history_lists_newest_first_only_the_commits_that_changed_the_inputs(tmp_path: Path) -> None:
    root = repo(tmp_path)
    first = git(root, "rev-parse", "--short=7", "HEAD")
    (root / "web" / "index.html").write_text("<p>web 2</p>\n")
    commit_all(root, "web only")
    (root / "api" / "main.py").write_text("print('api 2')\n")
    second = commit_all(root, "api: two")
    (root / "README.md").write_text("still neither\n")
    commit_all(root, "readme")
    states = list(Repository(root).states("HEAD", TargetFiles.of(root, root, Path("Dockerfile"))))
    assert [(s.commit.short, s.commit.subject) for s in states] == [(second, "api: two"), (first, "first")]
    assert states[0].sources.digest == fingerprint(root, root / "Dockerfile").digest
    assert states[0].sources.files["api/main.py"] != states[1].sources.files["api/main.py"]


def test_a_shallow_clone_still_reads_the_commits_inputs_and_says_it_is_shallow(tmp_path: Path) -> None:
    root = repo(tmp_path / "origin")
    (root / "api" / "main.py").write_text("print('api 2')\n")
    commit_all(root, "api: two")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{root}", str(clone)], check=True)
    assert is_shallow(clone) and not is_shallow(root)
    target = TargetFiles.of(clone, clone, Path("Dockerfile"))
    states = list(Repository(clone).states("HEAD", target))
    assert len(states) == 1
    assert states[0].sources.digest == fingerprint(root, root / "Dockerfile").digest


@pytest.mark.parametrize("name", ['say"hi".py', "back\\slash.py", "tab\there.py", "new\nline.py", "esc\x1b.py"])
def test_a_commit_changing_only_a_file_git_would_quote_is_a_state_of_its_own(tmp_path: Path, name: str) -> None:
    root = repo(tmp_path)
    (root / "api" / name).write_text("print('new')\n")
    second = commit_all(root, "the awkward file alone")
    states = list(Repository(root).states("HEAD", TargetFiles.of(root, root, Path("Dockerfile"))))
    assert [s.commit.short for s in states][:1] == [second] and len(states) == 2
    assert f"api/{name}" in states[0].sources.files and f"api/{name}" not in states[1].sources.files
    assert states[0].sources.digest == fingerprint(root, root / "Dockerfile").digest
