"""ci/core/versions.py: versions read from the tools' output, and the minimums, the one place they live."""

from __future__ import annotations

import pytest

from ci.core.versions import HOST_MINIMUMS, parse_version, tool_version
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("26.1.5+dfsg1", "26.1.5"),
        ("v2.29.1", "2.29.1"),
        ("0.13.1+ds1-3", "0.13.1"),
        ("2.26.1-4", "2.26.1"),
        ("25.0", "25.0"),
        ("dev", None),
    ],
)
def test_parse_version(text: str, version: str | None) -> None:
    parsed = parse_version(text)
    assert (str(parsed) if parsed else None) == version


def test_tool_version_reads_the_cli_output() -> None:
    assert tool_version("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3") == "0.13.1+ds1"
    assert tool_version("github.com/docker/buildx v0.16.2 abc1234") == "0.16.2"
    assert tool_version("Docker Compose version v2.29.1-desktop.1") == "2.29.1-desktop.1"
    assert tool_version("Docker Compose version 2.26.1-4") == "2.26.1-4"


def test_the_toolchains_page_states_the_minimums_of_the_one_constant() -> None:
    page = (ROOT / "docs" / "toolchains.md").read_text()
    for name, minimum in HOST_MINIMUMS.items():
        assert f"{name} ≥ {minimum.version}" in page.lower(), name
