"""The sizes of the code in ci/ (#34): no class longer than CLASS_LINES, no function taking more than
PARAMETERS (self and cls not counted; positional-only, keyword-only, *args and **kwargs each one). What
grows past them is split by what its parts are, or given a typed request (a dataclass) instead."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

CI = ROOT / "ci"
CLASS_LINES = 150
PARAMETERS = 8


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    bound = 1 if names and names[0] in ("self", "cls") else 0
    return len(names) - bound + len(args.kwonlyargs) + (args.vararg is not None) + (args.kwarg is not None)


def oversized(path: Path, source: str | None = None) -> list[str]:
    """Each class over CLASS_LINES lines and function over PARAMETERS parameters in PATH (or SOURCE, as if at
    PATH), nested ones and methods included, as `PATH:LINE what`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        where = f"{path.relative_to(ROOT)}:{node.lineno}" if isinstance(node, ast.stmt) else ""
        if (
            isinstance(node, ast.ClassDef)
            and (lines := (node.end_lineno or node.lineno) - node.lineno + 1) > CLASS_LINES
        ):
            found.append(f"{where} class {node.name}: {lines} lines (at most {CLASS_LINES})")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (count := parameters(node)) > PARAMETERS:
            found.append(f"{where} {node.name}(): {count} parameters (at most {PARAMETERS})")
    return found


def test_no_class_in_ci_is_longer_than_150_lines_and_no_function_takes_more_than_8_parameters() -> None:
    found = [line for path in sorted(CI.rglob("*.py")) for line in oversized(path)]
    assert found == [], "split a long class by what its parts are; give a long signature a dataclass"


def test_the_sizes_are_seen_in_methods_nested_functions_and_keyword_only_parameters() -> None:
    """The check itself, on what slips past a careless one: keyword-only and positional-only parameters,
    *args and **kwargs, a method (self and cls not counted), an async or nested function, a nested class;
    and the limits themselves pass."""
    eight = ", ".join(f"p{i}" for i in range(PARAMETERS))
    body = "".join("    x = 1\n" for _ in range(CLASS_LINES - 1))  # with its header: CLASS_LINES lines
    source = (
        f"def fine({eight}) -> None: ...\n"  # 1
        f"def keywords(a, *, {eight}) -> None: ...\n"
        f"def positional(a, /, {eight}) -> None: ...\n"
        f"def starred({eight}, *args) -> None: ...\n"
        f"def double({eight}, **kwargs) -> None: ...\n"  # 5
        f"class Exactly:\n{body}"  # 6 to 155
        f"class Longer:\n{body}"  # 156 to 309
        f"    def method(self, {eight}) -> None: ...\n"  # 306
        f"    @classmethod\n    def made(cls, {eight}) -> None: ...\n"  # 308
        f"    async def waits(self, {eight}, more) -> None: ...\n"  # 309
        f"def outer() -> None:\n    def inner({eight}, more) -> None: ...\n"  # 310, 311
        f"    class Inner:\n{body.replace('    ', '        ')}        y = 2\n"  # 312 to 462: one line over
    )
    assert sorted(oversized(CI / "example.py", source)) == sorted(
        [
            "ci/example.py:2 keywords(): 9 parameters (at most 8)",
            "ci/example.py:3 positional(): 9 parameters (at most 8)",
            "ci/example.py:4 starred(): 9 parameters (at most 8)",
            "ci/example.py:5 double(): 9 parameters (at most 8)",
            "ci/example.py:156 class Longer: 154 lines (at most 150)",
            "ci/example.py:309 waits(): 9 parameters (at most 8)",
            "ci/example.py:311 inner(): 9 parameters (at most 8)",
            "ci/example.py:312 class Inner: 151 lines (at most 150)",
        ]
    )
