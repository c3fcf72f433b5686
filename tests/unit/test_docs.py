"""The README stays a two-minute read that points into docs/, and the reference there stays true to the
code it describes: every session and option, every label verify reads, every module."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ci import sessions
from ci.sources.dockerfile import dockerfile_instructions
from ci.stack.services import __doc__ as LABELS_DOC
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def test_the_readme_is_under_150_lines_and_its_first_screen_has_the_setup_and_the_daily_commands() -> None:
    assert len(README.splitlines()) < 150
    first_screen = "\n".join(README.splitlines()[:40])
    for command in ("ci/provision", "nox -s dev", "nox -s watch", "nox -s verify", "nox -s tests"):
        assert command in first_screen, command
    assert "FRONTEND_PORT" in first_screen and "Bare `nox` runs `tests`" in first_screen


def test_the_readme_lists_every_session_in_one_short_line() -> None:
    rows = {m.group(1): m.group(0) for m in re.finditer(r"(?m)^\| `nox -s (\w+)` \|.*$", README)}
    assert set(rows) == {*sessions.names(), "tests"}
    assert all(len(row) <= 140 for row in rows.values()), [r for r in rows.values() if len(r) > 140]


def test_every_page_of_docs_is_linked_from_the_readme_and_every_link_resolves() -> None:
    pages = {p.name for p in DOCS.glob("*.md")}
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", README))
    assert linked == pages
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([\w-]+\.md)(?:#[\w-]*)?\)", page.read_text()):
            assert (DOCS / target).is_file(), f"{page.name} links {target}"


OPTION_ROW = re.compile(r"(?m)^\| `(--[\w-]+)(?: ([^`]+))?` \|.*$")


@pytest.mark.parametrize("name", sessions.names())
def test_the_sessions_page_lists_exactly_each_sessions_options_in_its_own_section(name: str) -> None:
    """Its table of options is the registry's rows for it, in their order and nothing else: each flag, the value
    it takes named as --help names it (VALUE where argparse would name it after the flag), and the environment
    variable it defaults to. The words may be the page's own."""
    page = (DOCS / "sessions.md").read_text()
    section = page.split(f"## `nox -s {name}`", 1)[1].split("\n## ", 1)[0]
    rows = OPTION_ROW.findall(section)
    declared = sessions.options_of(name)
    assert rows == [(o.flags[0], (o.metavar or "VALUE") if o.values else "") for o in declared]
    assert ("| option |" in section) == bool(declared)
    lines = {m.group(1): m.group(0) for m in OPTION_ROW.finditer(section)}
    for option in declared:
        assert all(f"`{flag}" in lines[option.flags[0]] for flag in option.flags), option.flags
        assert option.env in lines[option.flags[0]], option.env


def test_the_services_page_names_every_label_verify_reads() -> None:
    page = (DOCS / "services.md").read_text()
    labels = set(re.findall(r"mainza\.verify\.[\w.-]+", LABELS_DOC or ""))
    assert labels
    for label in labels:
        assert label.rstrip(".") in page, label


def test_the_layout_page_names_every_module_of_the_ci_package() -> None:
    """Each module by its path; ci/docker/ and ci/sessions/ by their package, a module per noun or session."""
    page = (DOCS / "layout.md").read_text()
    ci = ROOT / "ci"
    modules = [p for p in ci.rglob("*.py") if p.name != "__init__.py" and p.parent.name not in ("docker", "sessions")]
    modules = [p for p in modules if not p.is_relative_to(ci / "bench" / "heavy_app")]  # the bench's data
    missing = [str(p.relative_to(ROOT)) for p in modules if str(p.relative_to(ROOT)) not in page]
    assert missing == []
    assert "ci/docker/" in page and "ci/sessions/" in page


def test_every_package_of_ci_says_what_it_holds() -> None:
    """A package's __init__.py opens with a paragraph: a newcomer finds where a concern lives."""
    for init in (ROOT / "ci").glob("*/__init__.py"):
        text = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(text.split()) >= 8, init.relative_to(ROOT)


def test_the_layout_page_names_every_phase() -> None:
    page = (DOCS / "layout.md").read_text()
    phases = [p for p in (ROOT / "ci" / "phases").glob("*.py") if p.name != "__init__.py"]
    assert phases
    for phase in phases:
        assert f"ci/phases/{phase.name}" in page, phase.name


def recipe_step() -> str:
    """The shell command of the RUN step in adopting.md's build-info recipe, its continuations joined."""
    page = (DOCS / "adopting.md").read_text()
    section = page.split("## The smallest build-info endpoint", 1)[1].split("\n## ", 1)[0]
    recipe = section.split("```dockerfile\n", 1)[1].split("```", 1)[0]
    [run] = [i for i in dockerfile_instructions(recipe) if i.keyword == "RUN"]
    return run.args


@pytest.mark.parametrize("broken", [False, True])
def test_the_build_info_recipe_fails_on_a_syntax_error_and_writes_nothing(tmp_path: Path, broken: bool) -> None:
    """adopting.md's step, run as `RUN` runs it (`/bin/sh -c`) in the image's working folder: a syntax error
    fails it, as the example's does, so the build fails instead of the service at start."""
    (tmp_path / "app" / "static").mkdir(parents=True)
    (tmp_path / "app" / "main.py").write_text("def app(:\n" if broken else "def app() -> None: ...\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    args = {"SOURCE_DIGEST": "sha256:0f3c", "GIT_COMMIT": "1a2b3c4", "BUILD_DATE": "2026-12-07T06:00:00Z"}
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", **args}
    done = subprocess.run(["/bin/sh", "-c", recipe_step()], cwd=tmp_path, env=env, capture_output=True, text=True)
    info = tmp_path / "app" / "static" / "build-info.json"
    if broken:
        assert done.returncode != 0 and "main.py" in done.stdout + done.stderr
        assert not info.exists()
    else:
        assert done.returncode == 0, done.stderr
        assert json.loads(info.read_text()) == {k.lower(): v for k, v in args.items()}
