"""A service's build info read from an HTTP response, or one line saying why there is none; asked of a hostile
server, bounded in time and memory."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from ci.probe import buildinfo
from tests.conftest import ROOT
from tests.hostile import HOSTILE_TEXT, Hostile


def response(status: int, body: str, content_type: str = "application/json", **headers: str) -> requests.Response:
    made = requests.Response()
    made.status_code, made._content, made.url = status, body.encode(), "https://stage/api/build/info"
    made.headers.update({"Content-Type": content_type, **headers})
    return made


def test_json_and_the_js_object_both_read_as_build_info() -> None:
    js = 'window.BUILD_INFO = {buildDate: "2026-11-23T10:00:00Z", gitCommit: "abc", sourceDigest: "sha256:1"};'
    read = buildinfo.read(response(200, js, "application/javascript"))
    assert read.identity == ("sha256:1", "abc") and not read.problem
    assert buildinfo.read(response(200, '{"source_digest": "sha256:2", "git_commit": "d"}')).identity == (
        "sha256:2",
        "d",
    )


@pytest.mark.parametrize(
    ("made", "says"),
    [
        (response(302, "", "text/html", Location="https://sso.example/login"), "HTTP 302 redirect to https://sso.example/login"),
        (response(200, "<html><title>Sign in</title></html>", "text/html"), "an HTML page ('Sign in') where build"),
        (response(503, "upstream down", "text/plain"), "HTTP 503: 'upstream down'"),
        (response(200, '{"source_digest": '), "invalid JSON"),
        (response(200, "hello", "text/plain"), "not build info: 'hello'"),
        (response(200, '{"git_commit": "abc"}'), "build info without source_digest"),
    ],
)  # fmt: skip
def test_a_response_without_build_info_says_why(made: requests.Response, says: str) -> None:
    read = buildinfo.read(made)
    assert read.info is None and read.kind == "no build info"
    assert read.problem.startswith(says)


def test_parse_build_info_js_reads_the_object_literal() -> None:
    text = 'window.BUILD_INFO = {buildDate: "2026-11-23T10:00:00Z", gitCommit: "abc", buildTimestamp: 1795428000000};\n'
    assert buildinfo.parse_js(text) == {
        "buildDate": "2026-11-23T10:00:00Z",
        "gitCommit": "abc",
        "buildTimestamp": 1795428000000,
    }
    assert buildinfo.parse_js("<html>not it</html>") is None


def test_build_info_reads_json_and_the_javascript_form_alike() -> None:
    js = 'window.BUILD_INFO = {buildDate: "2026-11-23T10:00:00Z", gitCommit: "abc", buildTimestamp: 1};'
    assert buildinfo.parse(js) == {"build_date": "2026-11-23T10:00:00Z", "git_commit": "abc",
                                              "build_timestamp": 1}  # fmt: skip
    assert buildinfo.parse('{"git_commit": "abc"}') == {"git_commit": "abc"}
    assert buildinfo.parse("[1]") is None


# --- asked of a hostile server: bounded, and each answer named ------------------------------------------


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


# Each way of being late is fetch's to bound (tests/unit/core/test_fetch.py): one here, to name it.
@pytest.mark.parametrize(
    ("mode", "kind", "says"),
    [
        ("endless", "no build info", "an answer over 1048576 bytes"),
        ("bomb", "no build info", "an answer over 1048576 bytes"),
        ("trickle", "unreachable", "no full answer within 1s"),
        ("deep", "no build info", "JSON nested too deep: '[[[["),
        ("echo", "no build info", "HTTP 401: 'denied: token t0ken is not valid"),
    ],
)
def test_a_hostile_answer_is_no_build_info_named_within_the_time_given(
    hostile: Hostile, mode: str, kind: str, says: str
) -> None:
    start = time.monotonic()
    read = buildinfo.ask(hostile.url(mode), {"Authorization": "Bearer t0ken"}, True, within=1.0)
    assert time.monotonic() - start < 2.0
    assert read.info is None and read.kind == kind
    assert read.problem.startswith(says), read.problem
    assert read.cut == (kind == "unreachable")  # 1 s is less than a whole answer's time: the caller's cut
    assert read.timed_out == (kind == "unreachable")


def test_build_info_full_of_escapes_is_read_as_it_is_sent(hostile: Hostile) -> None:
    read = buildinfo.ask(hostile.url("escapes"), {}, True)
    assert read.identity == (f"sha256:{HOSTILE_TEXT}", HOSTILE_TEXT)  # shown made visible by the sinks


def test_a_gzip_bomb_costs_verify_no_more_memory_than_its_cap(hostile: Hostile) -> None:
    # In a process of its own: its peak resident memory, C allocations included, against the cap.
    code = (
        "import resource, sys\nfrom ci.probe import buildinfo\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "read = buildinfo.ask(sys.argv[1], {}, True)\n"
        "print(read.problem, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, hostile.url("bomb")], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    problem, grown = done.stdout.rsplit(" ", 1)
    assert problem.startswith("an answer over 1048576 bytes"), done.stderr
    assert int(grown) < 16 * 1024, f"{grown} KiB more at the peak"  # KiB: a few times the 1 MiB cap at most


def test_deep_json_is_no_build_info_in_parse_too() -> None:
    assert buildinfo.parse("[" * 100_000 + "]" * 100_000) is None
    assert buildinfo.parse("window.BUILD_INFO = {a: " + "[" * 100_000 + "]" * 100_000 + "};") is None


def test_an_answer_shows_its_url_and_redirect_without_user_info() -> None:
    made = response(302, "", "text/html", Location="https://u:p4ss@sso.example/login?" + "x" * 500)
    made.url = "https://me:s3cret@stage/api/build/info"
    read = buildinfo.read(made)
    assert read.url == "https://***@stage/api/build/info"
    assert "p4ss" not in read.problem and "https://***@sso.example/login?" in read.problem
    assert len(read.problem) < 300
