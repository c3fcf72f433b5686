"""A service's build info read from an HTTP response, or one line saying why there is none."""

from __future__ import annotations

import pytest
import requests

from ci import buildinfo


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
