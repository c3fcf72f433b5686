"""The layers of docs/layout.md, read from the imports: the sessions call the phases and the shared modules,
never each other; nothing below them (the phases, the shared modules) imports a session, and only the frame
uses their registry, ci/sessions/__init__.py; no shared module imports a phase; nothing below the sessions
imports the frame."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.sessions.test_sessions import OWN_REQUIREMENTS, module_level_imports

CI = ROOT / "ci"
SESSIONS = "ci.sessions"
PHASES = "ci.phases"
REGISTRY = CI / "sessions" / "__init__.py"
FRAME = (CI / "frame.py", CI / "__main__.py")  # the frame finds a session by name in the registry
FRAME_MODULES = ("ci.frame", "ci.__main__")
# The modules below the sessions that must import the frame, each with the reason: none does. What they share
# with it lives below it (SessionStatus and Exit in ci/core/errors.py, Findings in ci/core/report.py).
MUST_IMPORT_THE_FRAME: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, source: str | None = None) -> set[str]:
    """Every module PATH (or SOURCE, as if at PATH) imports, anywhere in it (functions, `if TYPE_CHECKING:`),
    by its full dotted name: `from A import B` names A and A.B (B may be a module); relative imports resolved."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
    return found


def of_sessions(names: set[str]) -> list[str]:
    return sorted(n for n in names if n == SESSIONS or n.startswith(f"{SESSIONS}."))


def of_phases(names: set[str]) -> list[str]:
    return sorted(n for n in names if n == PHASES or n.startswith(f"{PHASES}."))


def of_frame(names: set[str]) -> list[str]:
    return sorted(n for n in names if n in FRAME_MODULES or n.startswith(tuple(f"{m}." for m in FRAME_MODULES)))


def modules(under: Path) -> list[Path]:
    return sorted(under.rglob("*.py"))


def test_every_form_of_importing_a_session_is_seen() -> None:
    source = (
        "import ci.sessions.verify\nfrom ci.sessions import dev\nfrom ci import sessions\nfrom . import prod\n"
        "from .lint import SESSION\n\n\ndef later() -> None:\n    from ci.sessions.bench import SESSION\n"
    )
    assert of_sessions(imported(CI / "sessions" / "example.py", source)) == [
        "ci.sessions", "ci.sessions.bench", "ci.sessions.bench.SESSION", "ci.sessions.dev", "ci.sessions.lint",
        "ci.sessions.lint.SESSION", "ci.sessions.prod", "ci.sessions.verify",
    ]  # fmt: skip
    assert of_sessions(imported(CI / "phases" / "check.py", "from ci import docker as dk\n")) == []


@pytest.mark.parametrize("path", [p for p in modules(CI / "sessions") if p != REGISTRY], ids=lambda p: p.stem)
def test_no_session_imports_another(path: Path) -> None:
    """What two sessions share is a phase (ci/phases/) or a shared module, which both call."""
    assert of_sessions(imported(path)) == [], f"{path.relative_to(ROOT)}: move what it shares into ci/phases/"


def test_nothing_below_the_sessions_imports_one_and_only_the_frame_uses_their_registry() -> None:
    below = [p for p in modules(CI) if not p.is_relative_to(CI / "sessions")]
    wrong = {str(p.relative_to(ROOT)): of_sessions(imported(p)) for p in below}
    allowed = {str(p.relative_to(ROOT)): [SESSIONS] for p in FRAME}
    assert {path: names for path, names in wrong.items() if names and names != allowed.get(path)} == {}


@pytest.mark.parametrize("path", modules(CI / "phases"), ids=lambda p: p.stem)
def test_a_phase_imports_no_sessions_own_requirements_at_module_level(path: Path) -> None:
    """The sessions import the phases at module level: the pipeline rule (test_sessions.py) holds for them too."""
    assert not module_level_imports(path) & OWN_REQUIREMENTS


def test_the_shared_modules_import_no_phase() -> None:
    """The phases put the shared modules together (ci/phases/build.py: ci/builds/bake.py, ci/builds/finished.py, ...);
    what a phase returns lives in a shared module, which never imports the phase back."""
    shared = [p for p in modules(CI) if not p.is_relative_to(CI / "sessions") and not p.is_relative_to(CI / "phases")]
    wrong = {str(p.relative_to(ROOT)): of_phases(imported(p)) for p in shared if p not in FRAME}
    assert {path: names for path, names in wrong.items() if names} == {}
    assert of_phases(imported(CI / "bake.py", "from ci.phases.build import BuildRequest\n")) == [
        "ci.phases.build", "ci.phases.build.BuildRequest",
    ]  # fmt: skip


def test_nothing_below_the_frame_imports_it() -> None:
    """The frame runs a session, which calls the phases and the packages below (ci/docker/ among them): none of
    those, and no session, imports the frame or ci/__main__.py back; what they share with it lives below it
    (`Session` and `Run` in ci/core/session.py)."""
    below = [p for p in modules(CI) if p not in FRAME]
    wrong = {str(p.relative_to(ROOT)): of_frame(imported(p)) for p in below}
    assert {path: names for path, names in wrong.items() if names and path not in MUST_IMPORT_THE_FRAME} == {}
    assert set(MUST_IMPORT_THE_FRAME) <= {str(p.relative_to(ROOT)) for p in below}


def test_every_form_of_importing_the_frame_is_seen() -> None:
    source = (
        "from ci.frame import Run\nfrom ci import frame\nimport ci.__main__\nfrom .. import frame as f\n\n\n"
        "def later() -> None:\n    from ..frame import SessionStatus\n"
    )
    assert of_frame(imported(CI / "phases" / "example.py", source)) == [
        "ci.__main__", "ci.frame", "ci.frame.Run", "ci.frame.SessionStatus",
    ]  # fmt: skip
    below = "from ci.core.errors import SessionStatus\nfrom ci.core import report\n"
    assert of_frame(imported(CI / "watch" / "turns.py", below)) == []


# --- the packages ---------------------------------------------------------------------------------------
# Which package of ci/ may import which (its own always): each floor stands on those below it, drawn in
# docs/layout.md. A package not in the table, or an import outside its row, fails below.
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "docker": {"core"},
    "sources": {"core"},
    "sign": {"core"},
    # the SBOM generator runs alone, in its own image (BuildKit runs it): it imports nothing of the suite
    "sbom": set(),
    "builds": {"core", "docker", "sources"},
    "cache": {"core", "docker", "sources", "builds"},
    "stack": {"core", "docker", "sources", "builds"},
    "probe": {"core", "sources"},
    "phases": {"core", "docker", "sources", "builds", "stack", "probe", "sign"},
    "watch": {"core", "docker", "sources", "builds", "stack"},
    # bench signs the pushes of its case 11 with a key of its own, opens pages in chromium as verify does
    "bench": {"core", "docker", "sources", "builds", "cache", "stack", "sign", "probe"},
    "prune": {"core", "docker", "builds", "stack"},
    # doctor says what a prune with its defaults would take, by prune's own plan
    "doctor": {"core", "docker", "sources", "builds", "cache", "stack", "prune", "sign"},
    "sessions": {
        "core",
        "docker",
        "sources",
        "builds",
        "cache",
        "stack",
        "probe",
        "phases",
        "watch",
        "bench",
        "prune",
        "doctor",
        "sign",
    },
    "frame": {"core", "sessions"},
    "__main__": {"core", "frame", "sessions"},
}


def package_of(path: Path) -> str:
    """ci/builds/bake.py: build; ci/frame.py: frame."""
    return path.relative_to(CI).with_suffix("").parts[0]


def packages_imported(path: Path, source: str | None = None) -> set[str]:
    return {name.split(".")[1] for name in imported(path, source) if name.startswith("ci.")} - {package_of(path)}


def test_every_package_of_ci_is_in_the_table_and_its_row_names_packages() -> None:
    found = {package_of(p) for p in modules(CI) if p != CI / "__init__.py"}
    assert found == set(MAY_IMPORT)
    assert set().union(*MAY_IMPORT.values()) <= found


def test_each_package_imports_only_what_its_row_allows() -> None:
    wrong = {
        str(p.relative_to(ROOT)): sorted(packages_imported(p) - MAY_IMPORT[package_of(p)])
        for p in modules(CI)
        if p != CI / "__init__.py"
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_the_table_has_no_import_that_runs_back_up() -> None:
    """No cycle among the packages: each can be put on a floor above everything it imports."""
    placed: list[str] = []
    while len(placed) < len(MAY_IMPORT):
        ready = sorted(p for p in MAY_IMPORT if p not in placed and MAY_IMPORT[p] <= set(placed))
        assert ready, f"a cycle among {sorted(set(MAY_IMPORT) - set(placed))}"
        placed += ready


def test_an_import_outside_the_row_is_seen() -> None:
    assert packages_imported(CI / "core" / "settings.py", "from ci.builds.bakefile import bake_variables\n") == {
        "builds"
    }
    assert packages_imported(CI / "stack" / "live.py", "from ci.prune import plan\nfrom ci.stack import owned\n") == {
        "prune"
    }
