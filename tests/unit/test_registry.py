"""ci/registry.py: the cache registry of prod, and the one reachability check's address."""

from __future__ import annotations

import time

import pytest

from ci.registry import probe
from ci.registry import probe_url as registry_probe_url
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


@pytest.mark.parametrize(("mode", "says"), [("trickle", "no full answer within 2.4s"), ("endless", "an answer over")])
def test_the_probe_of_a_hostile_registry_ends_in_bounded_time_naming_why(mode: str, says: str) -> None:
    with Hostile(default=mode) as hostile:
        start = time.monotonic()
        answer = probe(hostile.base.removeprefix("http://"), timeout=1.2)  # a read's; the answer's twice that
        assert time.monotonic() - start < 2.4 + 1.0
    assert answer.problem is not None and says in answer.problem
