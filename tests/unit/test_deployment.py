"""`verify --url`'s phase (ci/phases/deployment.py): the addresses and headers it takes, and the values it
never shows; the services each address reaches, the answers sampled, --wait's rounds and the last line."""

from __future__ import annotations

import pytest

from ci.buildinfo import Answer
from ci.errors import UsageError
from ci.phases import deployment
from ci.services import Checks, Endpoint, Service
from ci.verdicts import Verdict
from tests.unit.test_verdicts import NEW, answer


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("https://staging.example.com/", deployment.Address("https://staging.example.com")),
        ("backend=http://10.0.0.5:8000", deployment.Address("http://10.0.0.5:8000", "backend")),
        ("https://x.example/?a=b", deployment.Address("https://x.example/?a=b")),
    ],
)
def test_an_address_is_a_url_or_a_service_and_its_url(raw: str, address: deployment.Address) -> None:
    assert deployment.parse_address(raw) == address


@pytest.mark.parametrize("raw", ["staging.example.com", "ftp://x", "backend=", "http://", "http://x:port"])
def test_a_malformed_address_is_a_usage_error(raw: str) -> None:
    with pytest.raises(UsageError):
        deployment.parse_address(raw)


def test_a_header_is_name_colon_value_and_a_bad_one_never_echoes_its_value() -> None:
    assert deployment.parse_header("Authorization: Bearer abc:def") == ("Authorization", "Bearer abc:def")
    with pytest.raises(UsageError) as err:
        deployment.parse_header("Bearer topsecretvalue")
    assert "topsecretvalue" not in str(err.value)


def test_the_redactor_hides_header_values_and_url_credentials() -> None:
    redact = deployment.Redactor(["Bearer abc", "xyz"])
    assert redact("denied: Bearer abc at https://u:p@host/x, xyz") == "denied: *** at https://***@host/x, ***"


def service(name: str, public: str = "", own: str = "") -> Service:
    checks = Checks(build_info=Endpoint(8000, own) if own else None, public_build_info=public)
    return Service(name, name, f"{name}:dev", (), checks)


def test_each_service_is_reached_at_its_public_path_its_own_address_or_not_checked() -> None:
    services = [service("backend", "/api/build/info", "/build/info"), service("frontend", "/build-info.js"),
                service("worker")]  # fmt: skip
    stack = deployment.Address("https://stage")
    urls, unchecked = deployment.service_urls(services, [stack])
    assert urls == {"backend": ["https://stage/api/build/info"], "frontend": ["https://stage/build-info.js"]}
    assert unchecked == ["worker"]
    replicas = [deployment.Address("http://r1:8000", "backend"), deployment.Address("http://r2:8000/x/info", "backend")]
    urls, _ = deployment.service_urls(services, [stack, *replicas])
    assert urls["backend"] == ["http://r1:8000/build/info", "http://r2:8000/x/info"]
    with pytest.raises(UsageError, match="no service 'nosuch'"):
        deployment.service_urls(services, [deployment.Address("http://x", "nosuch")])


def test_sampling_stops_asking_an_address_that_timed_out() -> None:
    asked: list[str] = []

    def ask(url: str) -> Answer:
        asked.append(url)
        return Answer(url, problem="no answer within 3s", kind="unreachable") if "slow" in url else answer(NEW, url=url)

    answers = deployment.sample(["http://slow", "http://fast"], 4, ask)
    assert asked == ["http://slow"] + ["http://fast"] * 4
    assert len(answers) == 5


def test_wait_polls_until_every_service_runs_the_commit_printing_each_change_once() -> None:
    now = [0.0]
    printed: list[str] = []
    rounds = iter([["mixed"], ["mixed"], ["runs"]])

    def one_round() -> list[Verdict]:
        return [Verdict("backend", word, "") for word in next(rounds)]

    waiting = deployment.Rounds(
        20, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s), out=printed.append
    )
    assert [v.word for v in waiting.run(one_round)] == ["runs"]
    assert printed == ["waiting (0s of 20s): backend mixed"]


def test_wait_ends_at_the_deadline_with_the_last_state() -> None:
    now = [0.0]
    waiting = deployment.Rounds(3, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s), out=print)
    verdicts = waiting.run(lambda: [Verdict("backend", "behind", "", behind=1)])
    assert verdicts[0].word == "behind" and 2.0 <= now[0] <= 3.0


def test_the_last_line_says_what_runs_what_does_not_and_what_was_not_checked() -> None:
    verdicts = [Verdict("backend", "behind", "", behind=1), Verdict("frontend", "runs", "")]
    line = deployment.last_line("https://stage", "ccccccc", verdicts, ["worker"])
    assert (
        line
        == "https://stage runs ccccccc: frontend; backend behind by 1 commit (worker not checked: no public address)"
    )


def test_a_header_from_the_environment_takes_its_value_there_and_never_repeats_it() -> None:
    environ = {"VERIFY_AUTHORIZATION": "Bearer s3cr3t"}
    assert deployment.header_from_env("Authorization=VERIFY_AUTHORIZATION", environ) == (
        "Authorization",
        "Bearer s3cr3t",
    )
    with pytest.raises(UsageError, match="the environment variable UNSET is not set"):
        deployment.header_from_env("Authorization=UNSET", environ)
    with pytest.raises(UsageError, match="is not NAME=VARIABLE") as refused:
        deployment.header_from_env("Authorization: Bearer s3cr3t", environ)
    assert "s3cr3t" not in str(refused.value)
