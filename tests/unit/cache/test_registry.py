"""ci/cache/registry.py: the cache registry of prod, and the one reachability check's address."""

from __future__ import annotations

from typing import cast

import pytest

from ci import docker as dk
from ci.cache.registry import probe, selected_builder
from ci.cache.registry import probe_url as registry_probe_url
from ci.core.errors import UsageError
from tests.hostile import Hostile


@pytest.mark.parametrize(
    ("registry", "url", "loopback"),
    [
        ("localhost:5000", "http://localhost:5000/v2/", True),
        ("127.0.0.1:5000/cache", "http://127.0.0.1:5000/v2/", True),
        ("registry.example.com", "https://registry.example.com/v2/", False),
        ("[::1]:5000", "http://[::1]:5000/v2/", True),
    ],
)
def test_registry_probe_url(registry: str, url: str, loopback: bool) -> None:
    assert registry_probe_url(registry) == (url, loopback)


@pytest.mark.parametrize("name", ["--bootstrap", "-x", "a b", "--output=/tmp/x"])
def test_a_builder_name_that_is_no_name_is_a_usage_error_before_docker_is_asked(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dk, "buildx_version_line", lambda _: pytest.fail("docker was asked"))
    with pytest.raises(UsageError, match="is not a builder name"):
        selected_builder(cast(dk.Engine, None), name)
    monkeypatch.setenv("BUILDX_BUILDER", name)
    with pytest.raises(UsageError, match="BUILDX_BUILDER"):
        selected_builder(cast(dk.Engine, None), None)


def test_the_probe_reads_through_the_bounded_fetch() -> None:
    # Its deadline and cap are fetch's (tests/unit/core/test_fetch.py): an endless answer stops at the cap.
    with Hostile(default="endless") as hostile:
        answer = probe(hostile.base.removeprefix("http://"))
    assert answer.problem is not None and "an answer over 4194304 bytes" in answer.problem
