"""Pure parsing in the door to Docker: event lines, log timestamps, when a container exited, a failed pull,
compose's YAML errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci import docker as dk
from ci.docker import containers, disk
from ci.docker.compose import yaml_problem
from ci.errors import CiError, DockerFailed


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


def test_when_a_container_last_exited_is_read_to_the_second_and_never_is_empty() -> None:
    def finished(stamp: str) -> str:
        return containers._container_info({"Id": "c", "State": {"FinishedAt": stamp}}).finished

    assert finished("2026-12-07T06:01:02.123456789Z") == "2026-12-07T06:01:02Z"
    assert finished("2026-12-07T06:01:02Z") == "2026-12-07T06:01:02Z"
    assert finished("0001-01-01T00:00:00Z") == finished("") == ""


PULLS = {  # compose's stderr for a service whose image could not be pulled (engine 26, compose 2.26 and 2.40)
    "not found": ' db Pulling \n db Error failed to resolve reference "localhost:5000/team/db:1": '
    "localhost:5000/team/db:1: not found\nError response from daemon: failed to resolve reference ...\n",
    "refused": ' db Error failed to resolve reference "127.0.0.1:1/team/db:1": failed to do request: Head '
    '"https://127.0.0.1:1/v2/team/db/manifests/1": dial tcp 127.0.0.1:1: connect: connection refused\n',
    "no host": ' db Error failed to resolve reference "registry.nowhere.invalid/db:1": failed to do request: Head '
    '"https://registry.nowhere.invalid/v2/db/manifests/1": dial tcp: lookup registry.nowhere.invalid on '
    "10.255.255.53:53: no such host\n",
    "denied": ' db Error failed to resolve reference "registry.team.example:5000/team/db:1": pull access denied, '
    "repository does not exist or may require authorization: authorization failed: no basic auth credentials\n",
}


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("not found", "could not pull db's image localhost:5000/team/db:1: not found in localhost:5000: check"),
        ("refused", "could not pull db's image 127.0.0.1:1/team/db:1: 127.0.0.1:1 is unreachable (connection"),
        ("no host", "registry.nowhere.invalid/db:1: registry.nowhere.invalid is unreachable (no such host)"),
        ("denied", "registry.team.example:5000 denied the pull: check the name, or log in (`docker login registry.te"),
    ],
)  # fmt: skip
def test_a_failed_pull_is_one_line_naming_the_service_the_image_the_cause_and_the_fix(case: str, said: str) -> None:
    line = dk.pull_failure(PULLS[case])
    assert line is not None and said in line, line
    assert "\n" not in line and "https://" not in line


def test_compose_output_without_a_failed_pull_gives_no_pull_line() -> None:
    assert dk.pull_failure(" db Pulling \nError response from daemon: driver failed programming connectivity") is None


def test_a_yaml_error_of_compose_is_placed_at_the_line_of_the_problem(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  backend:\n    image: x\n   ports: [1]\n")
    assert yaml_problem("yaml: line 1: did not find expected key", [compose]) == (
        "compose.yaml:4:4: did not find expected key"
    )
    assert yaml_problem("services.backend.ports must be a list", [compose]) is None


def test_system_df_is_asked_again_when_a_container_goes_while_it_lists_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone else's container removed meanwhile fails `docker system df` on the containerd store."""
    gone = "Error response from daemon: failed to retrieve container list: rw layer snapshot not found for container ab"
    answers = [DockerFailed("x", stderr=gone), DockerFailed("x", stderr=gone), '{"Type": "Images", "Size": "1kB"}']

    def cli(_engine: object, *_args: str) -> str:
        answer = answers.pop(0)
        if isinstance(answer, DockerFailed):
            raise answer
        return answer

    monkeypatch.setattr(disk, "_cli", cli)
    monkeypatch.setattr(disk, "DF_PAUSE", 0)
    assert dk.disk_use(None)["images"]["size"] == 1000
    answers[:] = [DockerFailed("x", stderr=gone)] * disk.DF_TRIES
    with pytest.raises(CiError, match=r"^`docker system df --verbose` failed"):
        dk.disk_usage_detail(None)
    answers[:] = [DockerFailed("permission denied", stderr="permission denied")]
    with pytest.raises(CiError, match="permission denied"):
        dk.disk_use(None)
    assert answers == []  # another failure is not asked again
