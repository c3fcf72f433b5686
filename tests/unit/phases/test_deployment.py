"""`verify --url`'s phase (ci/phases/deployment.py): the addresses and headers it takes, and the values it
never shows; the services each address reaches, the answers sampled, --wait's rounds and the last line."""

from __future__ import annotations

import base64
import time

import pytest

from ci.core import secrets
from ci.core.errors import UsageError
from ci.phases import deployment
from ci.probe.buildinfo import Answer
from ci.probe.verdicts import Verdict
from ci.stack.services import Checks, Endpoint, Service
from tests.hostile import Hostile
from tests.unit.probe.test_verdicts import NEW, answer, want


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


def test_header_values_and_url_user_info_are_secrets_from_the_moment_they_are_read() -> None:
    deployment.parse_header("Authorization: Bearer abc")
    deployment.header_from_env("X-Key=K", {"K": "xyz"})
    deployment.parse_address("backend=https://u53r:p%40ss@host/x")
    basic = base64.b64encode(b"u53r:p@ss").decode()  # the URL's credentials as requests sends them
    text = f"denied: Bearer abc, abc alone, xyz, https://u53r:p%40ss@host/x, p@ss, Basic {basic}"
    assert secrets.redact(text) == "denied: ***, *** alone, ***, https://***@host/x, ***, Basic ***"


@pytest.mark.parametrize(
    "raw",
    [
        "http://user:s3cret@host:port/",
        "backend=http://user:s3cret@host:port",
        "user:s3cret@staging.example",
        "http:/user:s3cret@host/",
    ],
)
def test_a_malformed_address_never_shows_its_user_info(raw: str) -> None:
    with pytest.raises(UsageError) as refused:
        deployment.parse_address(raw)
    assert "s3cret" not in str(refused.value) and "***@" in str(refused.value)
    assert secrets.redact("s3cret") == "***"  # registered before it was refused


def test_a_bad_header_is_a_secret_all_the_same() -> None:
    with pytest.raises(UsageError):
        deployment.parse_header("Bearer topsecretvalue")
    assert secrets.redact("Bearer topsecretvalue") == "***"


def test_the_url_in_the_last_line_has_its_user_info_masked() -> None:
    request = deployment.Request((deployment.Address("https://me:pw@stage"),), {}, 1, 0.0, "HEAD", False)
    assert request.where == "https://***@stage"


@pytest.mark.parametrize(
    ("urls", "headers", "exposed"),
    [
        (["http://stage.example"], {"Authorization": "Bearer x"}, "--header values go over plain HTTP, unencrypted, "
         "to http://stage.example: use https://, or a loopback address"),
        (["http://u:p@10.0.0.5:8000"], {}, "the URL's user info go over plain HTTP, unencrypted, to http://***@10.0.0.5"),
        (["http://stage.example"], {}, ""),  # nothing to expose
        (["https://stage.example"], {"Authorization": "Bearer x"}, ""),
        (["http://127.0.0.1:8080", "http://localhost", "http://[::1]:80"], {"Authorization": "Bearer x"}, ""),
    ],
)  # fmt: skip
def test_credentials_bound_for_plain_http_off_this_machine_are_named(
    urls: list[str], headers: dict[str, str], exposed: str
) -> None:
    request = deployment.Request(tuple(deployment.Address(u) for u in urls), headers, 1, 0.0, "HEAD", False)
    assert request.exposed.startswith(exposed) and bool(request.exposed) == bool(exposed)


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


def test_sampling_stops_asking_once_no_time_is_left() -> None:
    given = iter([answer(NEW, url="http://r1"), None])
    asked: list[str] = []

    def ask(url: str) -> Answer | None:
        asked.append(url)
        return next(given)

    assert len(deployment.sample(["http://r1", "http://r2"], 3, ask)) == 1
    assert asked == ["http://r1", "http://r1"]  # r2 never: --wait's deadline came


def test_a_round_the_deadline_cut_keeps_the_verdict_before_it_or_says_what_it_has() -> None:
    urls = ["http://stage/x"]
    cut = Answer(urls[0], problem="no full answer within 0.4s", kind="unreachable", cut=True)
    before = Verdict("backend", "behind", "behind by 1 commit", behind=1)
    whole = deployment.round_verdict("backend", urls, [answer(NEW, url=urls[0])], want(NEW), before)
    assert whole.word == "runs"  # a whole round is judged whatever came before
    assert deployment.round_verdict("backend", urls, [cut], want(NEW), before) is before
    assert deployment.round_verdict("backend", urls, [], want(NEW), before) is before
    first = deployment.round_verdict("backend", urls, [answer(NEW, url=urls[0]), cut], want(NEW), None)
    assert first.word == "runs"  # the answers that came whole
    alone = deployment.round_verdict("backend", urls, [cut], want(NEW), None)
    assert alone.word == "unreachable" and "no full answer within 0.4s" in alone.detail
    never = deployment.round_verdict("backend", urls, [], want(NEW), None)
    assert never.word == "unreachable" and never.detail == "unreachable: not asked: --wait's deadline came first"


def test_wait_never_waits_past_its_duration_a_request_in_flight_included() -> None:
    # A trickling backend and a frontend that never answers: --wait 1.5s ends at 1.5 s, not at a whole
    # answer's deadline of each, nor after five samples of each.
    with Hostile() as hostile:
        asked = deployment.Asked(
            {"backend": [hostile.url("trickle")], "frontend": [hostile.url("stall")]},
            [],
            {"backend": want(NEW), "frontend": want(NEW)},
            "ccccccc",
            NEW.commit,
        )
        request = deployment.Request((deployment.Address(hostile.base),), {}, 5, 1.5, "HEAD", False)
        start = time.monotonic()
        backend, frontend = deployment.verdicts(asked, request)
        elapsed = time.monotonic() - start
    assert 1.5 <= elapsed < 2.5
    assert backend.word == "unreachable" and "no full answer within 1.5s" in backend.detail
    assert frontend.word == "unreachable" and "not asked: --wait's deadline came first" in frontend.detail
