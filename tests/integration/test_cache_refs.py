"""The bake file's branch refs, as buildx's own HCL functions make them, are the ones prod writes and reads
(ci/cache/refs.py branch_tag): a plain `docker buildx bake prod` and `nox -s prod` share a branch's cache, and
no two branches share one. buildx's HCL, so run on both plugin sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci import docker as dk
from ci.builds.bakefile import resolved_targets
from ci.cache import refs
from tests.conftest import EXAMPLE, ROOT

pytestmark = pytest.mark.integration

BRANCHES = [("main", "main"), ("feature/a", "main"), ("feature-a", "main"), ("fëature/ü", "main"),
            ("x" * 120, "main"), ("main", "release/1.0"), ("release/1.0", "release/1.0")]  # fmt: skip


@pytest.mark.usefixtures("engine")
@pytest.mark.parametrize("bake_file", [ROOT / "docker-bake.hcl", EXAMPLE / "docker-bake.hcl"], ids=["root", "example"])
def test_the_bake_files_branch_refs_are_prods(bake_file: Path) -> None:
    engine = dk.connect()
    written = {}
    for branch, default in BRANCHES:
        variables = {"CACHE_BRANCH": branch, "CACHE_DEFAULT_BRANCH": default, "CACHE_REGISTRY": "r", "PROJECT": "p"}
        backend = resolved_targets(dk.bake_definition(engine, bake_file, ["prod"], variables))["backend"]
        tags = [ref.rpartition(":")[2] for ref in backend.cache_refs("cache_from")]
        assert tags == list(refs.Branches(branch, default).tags)
        written[(branch, default)] = backend.cache_refs("cache_to")[0].rpartition(":")[2]
        assert written[(branch, default)] == refs.branch_tag(branch, default)
    assert len({tag for (_, default), tag in written.items() if default == "main"}) == 5
