"""Every session's options are read by every other (the pipeline rule), so every session module must import
with the run-time requirements alone: what one session installs for itself is imported where it is used."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ci import sessions

OWN_REQUIREMENTS = {"watchfiles", "playwright", "ci.watcher", "ci.browser"}
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
