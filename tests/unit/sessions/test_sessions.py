"""The registry of the sessions, ci/sessions/__init__.py: its table declares every option once, with the sessions
it serves; the frame makes each session's parser from it and lets the others' options pass by it, importing no
other session (the pipeline rule). Every session module still imports with the run-time requirements alone (the
docs and this table's test load them all): what one session installs for itself is imported where it is used."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

from ci import frame, sessions
from ci.core.session import Session
from ci.core.settings import PROCESS_VARIABLES

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


def test_every_session_the_table_serves_is_a_session_module() -> None:
    served = [name for option in sessions.OPTION_TABLE for name in option.sessions]
    assert all(option.sessions for option in sessions.OPTION_TABLE)
    assert sorted(set(served) - set(sessions.names())) == []
    assert {"bench", "dev", "doctor", "prod", "prune", "verify", "watch"} <= set(served)


def groups(parser: argparse.ArgumentParser) -> dict[argparse.Action, str | None]:
    return {action: group.title for group in parser._action_groups for action in group._group_actions}


@pytest.mark.parametrize("name", sessions.names())
def test_each_sessions_parser_is_its_rows_of_the_table(name: str) -> None:
    """Each option the session's parser takes (`--help` aside), in the table's order, as the table declares
    it: its flags, its help (the session's wording), its default, its type, its metavar, its group, and the
    values it takes, parsed."""
    p = frame.parser(sessions.load(name))
    actions = [a for a in p._actions if not isinstance(a, argparse._HelpAction)]
    declared = sessions.options_of(name)
    assert [a.option_strings for a in actions] == [list(option.flags) for option in declared]
    kinds = {"store": argparse._StoreAction, "store_true": argparse._StoreTrueAction, "append": argparse._AppendAction}
    titles = groups(p)
    for action, option in zip(actions, declared, strict=True):
        assert type(action) is kinds[option.action], option
        assert (action.help, action.type, action.metavar) == (option.help_in(name), option.type, option.metavar or None)
        assert titles[action] == (option.group or "options"), option
        default = {"store_true": False, "append": []}.get(option.action, option.default)
        assert action.default == default, option
        given = [option.flags[0], "1"][: 1 + option.values]
        parsed = getattr(p.parse_args(given), action.dest)
        taken = {"store_true": True, "append": ["1"]}.get(option.action, (option.type or str)("1"))
        assert (parsed, 0 if action.nargs == 0 else 1) == (taken, option.values), option
    assert p.format_help()  # every help expands (`%(default)s`)


def test_an_option_is_declared_once_and_a_flag_once_per_session() -> None:
    """An option several sessions take is one row serving them all; two rows with one flag are two options
    (bench's --keep keeps its copy, prune's takes a number), each session taking one of them."""
    for name in sessions.names():
        flags = [flag for option in sessions.options_of(name) for flag in option.flags]
        assert len(flags) == len(set(flags)), name
    rows = [(o.flags, o.action, o.default, o.type, o.metavar, o.group) for o in sessions.OPTION_TABLE]
    assert len(rows) == len(set(rows))
    assert [o.sessions for o in sessions.OPTION_TABLE if o.flags == ("--logs",)] == [("dev", "prod", "watch")]


@pytest.mark.parametrize("name", sessions.names())
def test_the_options_a_session_lets_pass_are_the_other_sessions_rows(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each with its owners by name and the values the first of them takes (the frame's pipeline rule),
    whatever the order of the rows."""
    foreign = frame.foreign_options(name)
    monkeypatch.setattr(sessions, "OPTION_TABLE", sessions.OPTION_TABLE[::-1])
    assert frame.foreign_options(name) == foreign
    monkeypatch.undo()
    owners: dict[str, list[str]] = {}
    for option in sessions.OPTION_TABLE:
        for flag in option.flags:
            owners.setdefault(flag, []).extend(other for other in option.sessions if other != name)
    assert {flag: f.owners for flag, f in foreign.items()} == {f: sorted(o) for f, o in owners.items() if o}
    for flag, found in foreign.items():
        first = next(o for o in sessions.OPTION_TABLE if flag in o.flags and found.owners[0] in o.sessions)
        assert found.values == first.values


def test_the_defaults_the_table_writes_are_those_of_the_modules_that_use_them() -> None:
    from ci.prune import plan
    from ci.sessions import verify
    from ci.sources import build_context

    declared = {(o.sessions[0], o.flags[0]): o for o in sessions.OPTION_TABLE}
    assert declared["doctor", "--context-budget-mb"].default == build_context.BUDGET_MB
    assert declared["prune", "--until"].default == plan.DEFAULT_UNTIL
    assert f"at least {plan.MIN_UNTIL})" in declared["prune", "--until"].help
    assert f"(default {verify.SAMPLES})" in declared["verify", "--samples"].help


def test_an_options_environment_variable_is_one_the_session_reads_exported_and_its_help_names_it() -> None:
    with_env = [o for o in sessions.OPTION_TABLE if o.env]
    assert [o.flags for o in with_env] == [("--builder",)]
    for option in with_env:
        assert option.env in PROCESS_VARIABLES and option.env in option.help


def test_no_session_module_declares_options_of_its_own() -> None:
    """The table is the one declaration: no parser is added to in a session module, and `Session` has no
    options of its own."""
    for path in SESSIONS.glob("*.py"):
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Attribute)]
        assert not [n.attr for n in calls if n.attr.startswith("add_argument")], path.name
    assert "options" not in {f.name for f in dataclasses.fields(Session)}


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
