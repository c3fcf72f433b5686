"""The resolved bake definition read in one shape, whichever buildx printed it: strings up to 0.18,
objects for cache-from, cache-to and output from 0.19 and attest from 0.20; the bake file's groups and
variable defaults read as text."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ci.builds.bakefile import bake_groups, bake_variables, entries, outside, resolved_targets
from tests.conftest import EXAMPLE

OLD = {  # buildx 0.13.1, this repository's prod backend
    "target": {
        "backend": {
            "context": ".",
            "dockerfile": "Dockerfile",
            "args": {"GIT_COMMIT": "abc"},
            "tags": ["mainza-backend:abc"],
            "cache-from": ["type=registry,ref=localhost:5000/mainza/backend:buildcache"],
            "cache-to": ["type=registry,ref=localhost:5000/mainza/backend:buildcache,mode=max,ignore-error=true"],
            "attest": ["type=provenance,disabled=true"],
            "output": ["type=cacheonly"],
        }
    }
}
NEW = {  # buildx 0.29.1, the same definition
    "target": {
        "backend": {
            "context": ".",
            "dockerfile": "Dockerfile",
            "args": {"GIT_COMMIT": "abc"},
            "tags": ["mainza-backend:abc"],
            "cache-from": [{"ref": "localhost:5000/mainza/backend:buildcache", "type": "registry"}],
            "cache-to": [
                {
                    "ignore-error": "true",
                    "mode": "max",
                    "ref": "localhost:5000/mainza/backend:buildcache",
                    "type": "registry",
                }
            ],
            "attest": [{"disabled": True, "type": "provenance"}],
            "output": [{"type": "cacheonly"}],
        }
    }
}


def test_both_shapes_of_the_resolved_definition_read_the_same() -> None:
    old, new = resolved_targets(OLD)["backend"], resolved_targets(NEW)["backend"]
    assert old == new
    assert new.cache_refs() == ["localhost:5000/mainza/backend:buildcache"]
    assert new.cache_to == ({"type": "registry", "ref": "localhost:5000/mainza/backend:buildcache", "mode": "max",
                             "ignore-error": "true"},)  # fmt: skip
    assert new.attest == ({"type": "provenance", "disabled": "true"},)
    assert new.output == ({"type": "cacheonly"},)


def test_entries_take_a_single_value_or_nothing() -> None:
    assert entries("type=local,dest=out") == ({"type": "local", "dest": "out"},)
    assert entries(None) == () and entries([]) == ()


def test_bake_groups_and_variables_of_the_example() -> None:
    text = (EXAMPLE / "docker-bake.hcl").read_text()
    assert {"default", "dev", "prod", "validate"} <= set(bake_groups(text))
    assert {"CACHE_REGISTRY", "TAG"} <= set(bake_variables(text)) and "NO_SUCH_VARIABLE" not in bake_variables(text)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "work" / "app"
    (root / "backend").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "secrets").mkdir()
    os.symlink(tmp_path / "secrets", root / "linked")  # a folder in the project that leads out of it
    os.symlink(root, tmp_path / "app-link")  # the project reached through a link: still inside
    return root


@pytest.mark.parametrize(
    ("raw", "what", "path"),
    [
        ({"context": "../../../../etc"}, "context", "../../../../etc"),
        ({"context": "/etc"}, "context", "/etc"),
        ({"context": "linked"}, "context", "linked"),
        ({"context": "backend/../.."}, "context", "backend/../.."),
        ({"context": ".", "dockerfile": "/etc/passwd"}, "dockerfile", "/etc/passwd"),
        ({"context": "backend", "dockerfile": "../../Dockerfile"}, "dockerfile", "backend/../../Dockerfile"),
        ({"context": ".", "contexts": {"extra": "../.."}}, "context extra", "../.."),
    ],
)
def test_a_target_reading_outside_the_project_is_named_with_what_and_where(
    tmp_path: Path, raw: dict[str, Any], what: str, path: str
) -> None:
    root = project(tmp_path)
    target = resolved_targets({"target": {"api": raw}})["api"]
    line = outside(root, [target])
    assert line is not None and line.startswith(f"target api: its {what} {path} is outside the project (")
    assert "\n" not in line and str(root) in line
    assert outside(tmp_path / "app-link", [target]) is not None


@pytest.mark.parametrize(
    "raw",
    [
        {"context": "."},
        {"context": "backend", "dockerfile": "../Dockerfile"},
        {"context": "backend/..", "dockerfile-inline": "FROM x"},
        {"context": "https://github.com/x/y.git", "dockerfile": "../../Dockerfile"},
        {"context": "git@github.com:x/y.git"},
        {"context": ".", "contexts": {"base": "docker-image://alpine", "t": "target:other", "w": "backend"}},
    ],
)
def test_a_target_reading_only_the_project_or_remote_sources_passes(tmp_path: Path, raw: dict[str, Any]) -> None:
    root = project(tmp_path)
    targets = resolved_targets({"target": {"api": raw}}).values()
    assert outside(root, targets) is None
    assert outside(tmp_path / "app-link", targets) is None
