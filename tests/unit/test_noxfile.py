"""noxfile.py: what nox echoes of the command it runs never holds a --header's value."""

from __future__ import annotations

import importlib.util
import tomllib
from functools import cache
from types import ModuleType
from typing import Any

import pytest

from ci.sessions import lint as linting
from tests.conftest import ROOT


@cache  # nox registers each session as the file is run: once
def noxfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Session:
    """What `_ci` asks of a nox session: its arguments after `--`, and the command it runs."""

    def __init__(self, posargs: list[str]) -> None:
        self.posargs = posargs
        self.ran: list[tuple[tuple[str, ...], dict[str, str]]] = []

    def run(self, *args: str, env: dict[str, str], **kwargs: Any) -> None:
        self.ran.append((args, env))


@pytest.mark.parametrize(
    ("posargs", "command", "env"),
    [
        (["--url", "http://x", "--header", "Authorization: Bearer s3cret"],
         ["--url", "http://x", "--header-env", "Authorization=MAINZA_HEADER_1"],
         {"MAINZA_HEADER_1": "Bearer s3cret"}),
        (["--header=X-Key: s3cret", "--header", "Cookie: a=s3cret; b=1", "--header-env", "A=B"],
         ["--header-env", "X-Key=MAINZA_HEADER_1", "--header-env", "Cookie=MAINZA_HEADER_2", "--header-env", "A=B"],
         {"MAINZA_HEADER_1": "s3cret", "MAINZA_HEADER_2": "a=s3cret; b=1"}),
        (["--header", "Bearer s3cret"], ["--header", "***"], {}),  # not Name: value, refused by python -m ci
        (["--header", "Bad name: s3cret"], ["--header", "***"], {}),
        (["--header", "X-Empty:"], ["--header", "X-Empty:"], {}),
        (["--header"], ["--header", "***"], {}),
    ],
)  # fmt: skip
def test_a_header_value_goes_to_the_childs_environment_not_its_command_line(
    posargs: list[str], command: list[str], env: dict[str, str]
) -> None:
    session = Session(posargs)
    noxfile()._ci(session, "verify")
    [(args, given)] = session.ran
    assert list(args) == ["python", "-m", "ci", "verify", *command]
    assert given == env
    assert "s3cret" not in " ".join(args)


def test_the_tests_session_and_lint_name_the_suites_own_tool_settings_never_the_roots_pyproject() -> None:
    """The root's pyproject.toml is the app's (a uv workspace's root, its own ruff and mypy): pytest, ruff
    and mypy take the suite's settings from the one file both name."""
    assert noxfile().TOOL_SETTINGS == linting.TOOL_SETTINGS
    settings = tomllib.loads((ROOT / linting.TOOL_SETTINGS).read_text())["tool"]
    assert {"ruff", "mypy", "pytest"} <= set(settings)
    assert "--strict-markers" in settings["pytest"]["ini_options"]["addopts"]
