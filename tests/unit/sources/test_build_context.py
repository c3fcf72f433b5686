"""ci.sources.build_context: the files of a build context, as BuildKit selects them.

The expected results of the tree cases were recorded from real builds (`FROM scratch` + `COPY . /` with a
local output, BuildKit 0.13 in Docker Engine 26.1), so a change in these semantics is a change against
BuildKit, not a matter of taste.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.sources import build_context as ctx
from ci.sources.build_context import (
    context_files,
    go_clean,
    ignore_file,
    ignore_patterns,
    is_ignored,
    is_pruned,
    matches,
    parse_ignore_file,
)
from tests.conftest import APP, app_tree


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("", "."),
        (".", "."),
        ("./a//b/", "a/b"),
        ("a/./b/../c", "a/c"),
        ("../a", "../a"),
        ("a/../..", ".."),
        ("/..", "/"),
        ("//a/b", "/a/b"),
        ("/", "/"),
    ],
)
def test_go_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned


def test_parse_ignore_file_normalizes_like_buildkit() -> None:
    text = (
        "\ufefftest1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
        "! /inverted/abs/path\n  # not a comment: only a # at the very start is\nb/./c/../d/\r\n  spaced  \n"
    )
    assert parse_ignore_file(text) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "# not a comment: only a # at the very start is",
        "b/d",
        "spaced",
    ]


# (patterns as an ignore file's lines, path, ignored?)
CASES = [
    # plain names: the top level only, and everything below a matched directory
    (["foo"], "foo", True),
    (["foo"], "foo/bar/baz", True),
    (["foo"], "dir/foo", False),
    (["foo"], "foobar", False),
    # leading "/" and "./" mean the context root; trailing "/" is cleaned away
    (["/foo"], "foo", True),
    (["/foo"], "dir/foo", False),
    (["./foo/"], "foo/x", True),
    # "*" and "?" stay within one segment
    (["*"], "a", True),
    (["*"], "a/b/c", True),
    (["*.txt"], "a.txt", True),
    (["*.txt"], "dir/a.txt", False),
    (["?.txt"], "a.txt", True),
    (["?.txt"], "ab.txt", False),
    (["*/*.txt"], "dir/a.txt", True),
    (["*/*.txt"], "dir/sub/a.txt", False),  # exactly two segments
    # "**" spans any number of segments, none included
    (["**/*.pyc"], "a.pyc", True),
    (["**/*.pyc"], "a/b/c.pyc", True),
    (["**/*.pyc"], "a/b/c.py", False),
    (["**/node_modules"], "node_modules/x", True),
    (["**/node_modules"], "frontend/node_modules/react/index.js", True),
    (["**/node_modules"], "frontend/my_node_modules/x", False),
    (["src/**/deep"], "src/deep/x", True),
    (["src/**/deep"], "src/a/b/deep/x", True),
    (["src/**"], "src", False),
    (["src/**"], "src/x", True),
    # the matcher's fast paths: "foo**" is a prefix, "**foo" a suffix (not segment-bound)
    (["foo**"], "foobar/baz", True),
    (["**foo"], "xfoo", True),
    (["**foo"], "dir/foo", True),
    # character classes and escapes
    (["[ab].txt"], "a.txt", True),
    (["[^ab].txt"], "a.txt", False),
    (["[^ab].txt"], "c.txt", True),
    (["weird\\[1\\].txt"], "weird[1].txt", True),
    (["a.b"], "axb", False),  # "." is literal
    # exceptions: the last matching line wins
    (["*.txt", "!a.txt"], "a.txt", False),
    (["*.txt", "!a.txt"], "b.txt", True),
    (["!a.txt", "*.txt"], "a.txt", True),
    (["b", "!b/e"], "b/e/f.txt", False),
    (["b", "!b/e"], "b/c.txt", True),
    (["*", "!backend/", "**/__pycache__"], "backend/__pycache__/m.pyc", True),
    (["*", "!backend/", "**/__pycache__"], "backend/main.py", False),
    # an exception that matched a parent only counts if it was evaluated there (BuildKit's rule):
    # nothing was excluded at "keep", so "!keep" was skipped and keep/x.pyc stays excluded
    (["**/*.pyc", "!keep"], "keep/x.pyc", True),
    (["**/*.pyc", "!keep/*.pyc"], "keep/x.pyc", False),
    (["**", "!src"], "src/app.py", False),
    (["**", "!src"], "other/app.py", True),
]


@pytest.mark.parametrize(("lines", "path", "ignored"), CASES)
def test_is_ignored(lines: list[str], path: str, ignored: bool) -> None:
    assert is_ignored(path, parse_ignore_file("\n".join(lines))) is ignored


def test_is_ignored_accepts_unclean_paths_and_never_ignores_the_root() -> None:
    patterns = ["**"]
    assert is_ignored("./a//b", patterns)
    assert not is_ignored(".", patterns)
    assert not is_ignored("", patterns)
    assert not is_ignored("anything", [])


@pytest.mark.parametrize("bad", [["!"], ["! "], ["!/"], ["[a"]])
def test_invalid_patterns_are_errors(bad: list[str]) -> None:
    with pytest.raises(ValueError):
        is_ignored("a", parse_ignore_file("\n".join(bad)))


FILES = [
    "a.txt",
    "a.pyc",
    "b/c.txt",
    "b/d.pyc",
    "b/e/f.txt",
    "keep/x.pyc",
    "keep/y.txt",
    "node_modules/m/i.js",
    "src/node_modules/z.js",
    "src/app.py",
    "src/sub/deep/file.md",
    "foo",
    "foobar/baz",
    "dir/foo",
]

# (ignore file lines, the files of FILES BuildKit left out): recorded from real builds.
TREE_CASES = [
    (
        ["*", "!b", "**/*.pyc"],
        [
            "a.pyc",
            "a.txt",
            "b/d.pyc",
            "dir/foo",
            "foo",
            "foobar/baz",
            "keep/x.pyc",
            "keep/y.txt",
            "node_modules/m/i.js",
            "src/app.py",
            "src/node_modules/z.js",
            "src/sub/deep/file.md",
        ],
    ),
    (["**/*.pyc", "!keep"], ["a.pyc", "b/d.pyc", "keep/x.pyc"]),
    (["**/*.pyc", "!keep/*.pyc"], ["a.pyc", "b/d.pyc"]),
    (["**/node_modules"], ["node_modules/m/i.js", "src/node_modules/z.js"]),
    (["node_modules"], ["node_modules/m/i.js"]),
    (
        ["*", "!src/", "src/**/deep"],
        [
            "a.pyc",
            "a.txt",
            "b/c.txt",
            "b/d.pyc",
            "b/e/f.txt",
            "dir/foo",
            "foo",
            "foobar/baz",
            "keep/x.pyc",
            "keep/y.txt",
            "node_modules/m/i.js",
            "src/sub/deep/file.md",
        ],
    ),
    (["/foo", "dir"], ["dir/foo", "foo"]),
    (["foo**"], ["foo", "foobar/baz"]),
    (["**foo"], ["dir/foo", "foo"]),
    (["b", "!b/e"], ["b/c.txt", "b/d.pyc"]),
    (
        ["*/*", "!*/c.txt"],
        [
            "b/d.pyc",
            "b/e/f.txt",
            "dir/foo",
            "foobar/baz",
            "keep/x.pyc",
            "keep/y.txt",
            "node_modules/m/i.js",
            "src/app.py",
            "src/node_modules/z.js",
            "src/sub/deep/file.md",
        ],
    ),
    (
        ["**", "!src"],
        [
            "a.pyc",
            "a.txt",
            "b/c.txt",
            "b/d.pyc",
            "b/e/f.txt",
            "dir/foo",
            "foo",
            "foobar/baz",
            "keep/x.pyc",
            "keep/y.txt",
            "node_modules/m/i.js",
        ],
    ),
    (["?.txt", "b/*/", "./keep/../src/app.py"], ["a.txt", "b/c.txt", "b/d.pyc", "b/e/f.txt", "src/app.py"]),
]


def make_tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


@pytest.mark.parametrize(("lines", "left_out"), TREE_CASES)
def test_context_files_match_buildkit(tmp_path: Path, lines: list[str], left_out: list[str]) -> None:
    make_tree(tmp_path, FILES)
    (tmp_path / ".dockerignore").write_text("\n".join(lines) + "\n")
    files = [f for f in context_files(tmp_path) if f != ".dockerignore"]
    assert files == sorted(set(FILES) - set(left_out))
    # is_ignored says the same of every file, with no walk
    patterns = ignore_patterns(tmp_path)
    assert [f for f in FILES if not is_ignored(f, patterns)] == [f for f in FILES if f in files]


def test_no_ignore_file_sends_everything(tmp_path: Path) -> None:
    make_tree(tmp_path, FILES)
    assert ignore_patterns(tmp_path) == []
    assert ignore_file(tmp_path) is None
    assert context_files(tmp_path) == sorted(FILES)


def test_symlinks_are_files_and_never_followed(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real/a.txt"])
    (tmp_path / "link-dir").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "link-file").symlink_to(tmp_path / "real" / "a.txt")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert context_files(tmp_path) == ["dangling", "link-dir", "link-file", "real/a.txt"]


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.txt", "b/c.txt", "sub/App.Dockerfile"])
    (tmp_path / ".dockerignore").write_text("a.txt\n")
    (tmp_path / "sub" / "App.Dockerfile.dockerignore").write_text("b\n")
    # recorded: `docker buildx build -f ctx/sub/App.Dockerfile ctx` sent exactly these
    assert context_files(tmp_path, Path("sub/App.Dockerfile")) == [
        ".dockerignore",
        "a.txt",
        "sub/App.Dockerfile",
        "sub/App.Dockerfile.dockerignore",
    ]
    assert ignore_patterns(tmp_path, tmp_path / "sub" / "App.Dockerfile") == ["b"]
    # another Dockerfile, or none, gets the context's file
    assert ignore_patterns(tmp_path, Path("Dockerfile")) == ["a.txt"]
    assert "b/c.txt" in context_files(tmp_path)


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The directories context_files reads."""
    seen: list[str] = []
    real = os.scandir

    def spy(path: str) -> object:
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(ctx.os, "scandir", spy)
    yield seen


def test_excluded_directories_are_not_walked(tmp_path: Path, scanned: list[str]) -> None:
    make_tree(tmp_path, ["backend/main.py", "frontend/node_modules/pkg/index.js", ".git/HEAD", "README.md"])
    (tmp_path / ".dockerignore").write_text("*\n!backend/\n!frontend/\n**/node_modules\n")
    assert context_files(tmp_path) == ["backend/main.py"]
    walked = {Path(p).relative_to(tmp_path).as_posix() for p in scanned}
    assert walked == {".", "backend", "frontend"}


def test_excluded_directories_are_walked_when_an_exception_may_reinclude_below(
    tmp_path: Path, scanned: list[str]
) -> None:
    make_tree(tmp_path, ["vendor/a/keep.md", "vendor/a/drop.txt", "docs/x.md"])
    (tmp_path / ".dockerignore").write_text("vendor\n!vendor/a/keep.md\ndocs\n")
    assert context_files(tmp_path) == [".dockerignore", "vendor/a/keep.md"]
    walked = {Path(p).relative_to(tmp_path).as_posix() for p in scanned}
    assert {"vendor", "vendor/a"} <= walked
    assert "docs" not in walked  # no exception starts with docs/
    # a wildcard exception could match anywhere: then BuildKit walks every excluded directory
    (tmp_path / ".dockerignore").write_text("vendor\n!**/keep.md\ndocs\n")
    scanned.clear()
    assert context_files(tmp_path) == [".dockerignore", "vendor/a/keep.md"]
    assert "docs" in {Path(p).relative_to(tmp_path).as_posix() for p in scanned}


# --- the repository's own ignore files: each service's inputs, and nothing of the other's ----------------


@pytest.mark.parametrize(
    ("path", "backend", "frontend"),
    [
        ("frontend/node_modules/x", True, True),
        ("frontend/node_modules/react/cjs/react.development.js", True, True),
        ("frontend/dist/index.html", True, True),
        ("backend/main.py", False, True),
        ("backend/__pycache__/main.cpython-311.pyc", True, True),
        ("backend/stale.pyc", True, True),
        ("frontend/src/main.ts", True, False),
        ("frontend/package-lock.json", True, False),
        ("requirements-docker.txt", False, True),
        (".git/HEAD", True, True),
        (".nox/lint/bin/python", True, True),
        ("reports/junit-dev.xml", True, True),
        ("README.md", True, True),
        ("Dockerfile", True, True),  # bake sends the Dockerfile on its own
    ],
)
def test_each_service_sees_its_own_files_only(path: str, backend: bool, frontend: bool) -> None:
    assert is_ignored(path, ignore_patterns(APP, APP / "Dockerfile")) is backend
    assert is_ignored(path, ignore_patterns(APP, APP / "Dockerfile.frontend")) is frontend


def test_repository_contexts_are_sources_only(tmp_path: Path) -> None:
    root = app_tree(tmp_path)
    backend = context_files(root, root / "Dockerfile")
    frontend = context_files(root, root / "Dockerfile.frontend")
    assert "backend/main.py" in backend and "requirements-docker.txt" in backend
    assert "frontend/src/main.ts" in frontend
    assert not set(backend) & set(frontend)
    for files in (backend, frontend):
        assert not [f for f in files if f.startswith(".git/") or "/node_modules/" in f or f.startswith("ci/")]


@pytest.mark.parametrize(
    ("folder", "patterns", "pruned"),
    [
        ("node_modules", ["node_modules"], True),
        ("node_modules/pkg", ["node_modules"], True),
        ("src", ["node_modules"], False),
        ("frontend", ["*", "!backend/"], True),
        ("backend/generated", ["*", "!backend/"], False),
        ("docs", ["docs", "!docs/keep.md"], False),  # an exception may bring a file below it back
        ("anything", [], False),
    ],
)
def test_a_folder_is_pruned_only_when_nothing_below_it_can_be_an_input(
    folder: str, patterns: list[str], pruned: bool
) -> None:
    assert is_pruned(folder, patterns) is pruned


@pytest.mark.parametrize(
    ("path", "patterns", "matched"),
    [
        ("api/src/x.pyc", ["api/src/*.pyc"], True),
        ("api/src/tests/a.py", ["api/src/tests"], True),  # its parent folder matches
        ("api/src/tests/conftest.py", ["api/src/tests", "!api/src/tests/conftest.py"], False),  # the last decides
        ("api/src/deep/x.pyc", ["api/src/*.pyc"], False),  # `*` stops at a slash
        ("api/src/deep/x.pyc", ["api/**/*.pyc"], True),
        ("api/./src//x.pyc", ["api/src/*.pyc"], True),  # cleaned first
        ("api/src/x.py", [], False),
    ],
)
def test_matches_is_a_pattern_on_the_path_or_a_parent_folder_as_compose_watch_reads_a_rules_patterns(
    path: str, patterns: list[str], matched: bool
) -> None:
    assert matches(path, patterns) is matched
