"""A target's identity is the commit that last changed its inputs: a commit touching only another
target's files leaves it alone; an uncommitted edit to its inputs, and only to them, marks it dirty."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.sources.fingerprint import fingerprint
from ci.sources.git import Commit, commit_all, git
from ci.sources.identity import Inputs, identity
from tests.conftest import git_repo


def repo(tmp_path: Path) -> Path:
    files = {
        "Dockerfile": "FROM x\nCOPY api/ /api/\n",
        ".dockerignore": "*\n!api/\n**/*.pyc\n",
        "Dockerfile.web": "FROM y\nCOPY web/ /web/\n",
        "Dockerfile.web.dockerignore": "*\n!web/\n",
        "api/main.py": "print('api')\n",
        "web/index.html": "<p>web</p>\n",
        "README.md": "neither\n",
    }
    return git_repo(tmp_path, files)


def of(root: Path, dockerfile: str) -> Commit | None:
    return identity(Inputs.of(root, Path(dockerfile)), fingerprint(root, Path(dockerfile)))


def test_a_commit_touching_another_targets_inputs_leaves_the_identity(tmp_path: Path) -> None:
    root = repo(tmp_path)
    first = git(root, "rev-parse", "--short=7", "HEAD")
    (root / "web" / "index.html").write_text("<p>web 2</p>\n")
    (root / "README.md").write_text("still neither\n")
    second = commit_all(root, "web only")
    api, web = of(root, "Dockerfile"), of(root, "Dockerfile.web")
    assert api is not None and web is not None
    assert (api.label, web.label) == (first, second)


def test_an_edit_marks_only_its_own_target_dirty(tmp_path: Path) -> None:
    root = repo(tmp_path)
    head = git(root, "rev-parse", "--short=7", "HEAD")
    (root / "api" / "main.py").write_text("print('edited')\n")
    (root / "api" / "stale.pyc").write_text("ignored by the api's rules\n")
    api, web = of(root, "Dockerfile"), of(root, "Dockerfile.web")
    assert api is not None and web is not None
    assert (api.label, web.label) == (f"{head}-dirty", head)


def test_an_untracked_input_and_an_edited_dockerfile_are_dirty_an_ignored_file_is_not(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "api" / "cache.pyc").write_text("ignored\n")
    assert not of(root, "Dockerfile").dirty  # type: ignore[union-attr]
    (root / "api" / "new.py").write_text("new\n")
    assert of(root, "Dockerfile").dirty  # type: ignore[union-attr]
    (root / "api" / "new.py").unlink()
    (root / "Dockerfile.web").write_text("FROM z\nCOPY web/ /web/\n")
    assert of(root, "Dockerfile.web").dirty and not of(root, "Dockerfile").dirty  # type: ignore[union-attr]


def test_removing_an_input_in_a_commit_changes_the_identity(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "api" / "extra.py").write_text("x\n")
    commit_all(root, "api: extra")
    (root / "api" / "extra.py").unlink()
    removed = commit_all(root, "api: extra removed")
    assert of(root, "Dockerfile").label == removed  # type: ignore[union-attr]


def test_outside_git_there_is_no_identity(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    assert of(tmp_path, "Dockerfile") is None


@pytest.mark.parametrize("name", ['say"hi".py', "back\\slash.py", "tab\there.py", "new\nline.py", "esc\x1b.py"])
def test_a_commit_changing_only_a_file_git_would_quote_is_the_identity(tmp_path: Path, name: str) -> None:
    root = repo(tmp_path)
    (root / "api" / name).write_text("print('new')\n")
    second = commit_all(root, "the awkward file alone")
    api = of(root, "Dockerfile")
    assert api is not None and api.label == second


def test_a_context_whose_name_is_a_glob_finds_its_own_commits(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "svc[1]").mkdir()
    (root / "svc[1]" / "Dockerfile").write_text("FROM z\n")
    first = commit_all(root, "svc[1]")
    (root / "svc1").mkdir()
    (root / "svc1" / "x").write_text("the glob's match, not the context\n")
    commit_all(root, "svc1")
    found = identity(Inputs.of(root / "svc[1]", Path("Dockerfile")), fingerprint(root / "svc[1]", Path("Dockerfile")))
    assert found is not None and (found.label, found.dirty) == (first, False)
