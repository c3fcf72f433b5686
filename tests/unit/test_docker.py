"""Pure parsing in the door to Docker: event lines and log timestamps."""

from __future__ import annotations

import json

from ci import docker as dk
from ci.docker import containers


def test_an_event_line_gives_the_container_and_the_action() -> None:
    line = json.dumps({"Type": "container", "Action": "health_status: healthy", "Actor": {"ID": "abc"}})
    assert dk.parse_event(line) == dk.ContainerEvent("abc", "health_status: healthy")


def test_lines_that_are_no_container_event_are_none() -> None:
    assert dk.parse_event("not json") is None
    assert dk.parse_event(json.dumps({"Type": "network", "Action": "connect"})) is None
    assert dk.parse_event("[]") is None


def test_log_lines_sort_by_time_although_docker_trims_the_fraction() -> None:
    lines = ["2026-12-01T23:17:38.41446Z b", "2026-12-01T23:17:38.4144Z a", "2026-12-01T23:17:39Z c"]
    assert sorted(lines, key=containers._log_time) == [lines[1], lines[0], lines[2]]
