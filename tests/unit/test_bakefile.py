"""The resolved bake definition read in one shape, whichever buildx printed it: strings up to 0.18,
objects for cache-from, cache-to and output from 0.19 and attest from 0.20; the bake file's groups and
variable defaults read as text."""

from __future__ import annotations

from ci.bakefile import bake_groups, bake_variable_default, entries, resolved_targets
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


def test_bake_groups_and_variable_defaults_of_the_example() -> None:
    text = (EXAMPLE / "docker-bake.hcl").read_text()
    assert {"default", "dev", "prod", "validate"} <= set(bake_groups(text))
    assert bake_variable_default(text, "CACHE_REGISTRY") == "localhost:5000"
    assert bake_variable_default(text, "NO_SUCH_VARIABLE") is None
