"""The registry of the sessions, ci/sessions/__init__.py: its table of each session's options says what the
session's parser takes, so the frame reads the table and imports no other session (the pipeline rule). Every
session module still imports with the run-time requirements alone (the docs and this table's test load them
all): what one session installs for itself is imported where it is used."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from ci import frame, sessions

OWN_REQUIREMENTS = {"watchfiles", "playwright", "ci.watch.bursts", "ci.probe.browser"}
SESSIONS = Path(sessions.__file__).parent


def module_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.parse(path.read_text()).body:  # top level only; `if TYPE_CHECKING:` is not run
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


@pytest.mark.parametrize("name", sessions.names())
def test_a_session_imports_no_other_sessions_requirements_at_module_level(name: str) -> None:
    assert not module_level_imports(SESSIONS / f"{name}.py") & OWN_REQUIREMENTS


def test_the_table_of_options_has_a_row_for_every_session_module() -> None:
    assert sorted(sessions.OPTIONS) == sessions.names()


@pytest.mark.parametrize("name", sessions.names())
def test_the_table_of_options_is_each_sessions_parser(name: str) -> None:
    """Each option the session's parser declares (`--help` aside), in order, and whether it takes a value."""
    actions = [a for a in frame.parser(sessions.load(name))._actions if not isinstance(a, argparse._HelpAction)]
    declared = {option: 0 if a.nargs == 0 else 1 for a in actions for option in a.option_strings}
    assert list(sessions.OPTIONS[name].items()) == list(declared.items())


def test_the_registry_imports_neither_the_frame_nor_any_session() -> None:
    """Data the frame reads; the frame imports the one session it runs (test_frame.py)."""
    found = set()
    for node in ast.walk(ast.parse((SESSIONS / "__init__.py").read_text())):  # functions and TYPE_CHECKING too
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {"." * node.level + (node.module or "")}
    assert sorted(n for n in found if n.startswith(("ci", "."))) == []


def test_every_session_module_declares_its_session() -> None:
    names = sessions.names()
    assert {"dev", "prod", "verify", "prune", "doctor", "lint", "bench"} <= set(names)
    for name in names:
        assert sessions.load(name).name == name
