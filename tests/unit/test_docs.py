"""The README stays a two-minute read that points into docs/, and the reference there stays true to the
code it describes: every session and option, every label verify reads, every module."""

from __future__ import annotations

import re

import pytest

from ci import frame, sessions
from ci.services import __doc__ as LABELS_DOC
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


@pytest.mark.parametrize("name", sessions.names())
def test_the_sessions_page_names_every_option_of_each_session_in_its_own_section(name: str) -> None:
    page = (DOCS / "sessions.md").read_text()
    section = page.split(f"## `nox -s {name}`", 1)[1].split("\n## ", 1)[0]
    for action in frame.parser(sessions.load(name))._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}" in section, f"{name}: {option}"


def test_the_services_page_names_every_label_verify_reads() -> None:
    page = (DOCS / "services.md").read_text()
    labels = set(re.findall(r"mainza\.verify\.[\w.-]+", LABELS_DOC or ""))
    assert labels
    for label in labels:
        assert label.rstrip(".") in page, label


def test_the_layout_page_names_every_module_of_the_ci_package() -> None:
    page = (DOCS / "layout.md").read_text()
    modules = [p for p in (ROOT / "ci").glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    for module in modules:
        assert f"ci/{module.name}" in page or f"`{module.name}`" in page, module.name
    assert "ci/docker/" in page and "ci/sessions/" in page


def test_the_layout_page_names_every_phase() -> None:
    page = (DOCS / "layout.md").read_text()
    phases = [p for p in (ROOT / "ci" / "phases").glob("*.py") if p.name != "__init__.py"]
    assert phases
    for phase in phases:
        assert f"ci/phases/{phase.name}" in page, phase.name
