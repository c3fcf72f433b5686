"""The build info a service serves about itself (`/build/info` as JSON, `/build-info.js` as
`window.BUILD_INFO = {...}`), asked over HTTP (ci/core/fetch.py: within a byte cap and a deadline): what it says,
or in one line why there is none (connection refused, a timeout, no full answer in time, an answer over the
cap, a TLS error, an HTTP status, a redirect, an HTML page where build info was expected, JSON nested too deep)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from ci.core import fetch

EXCERPT = 120
# Asked of every cache between us and the service: answer from the service itself.
NO_CACHE = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Connection": "close"}


class Nested(Exception):
    """JSON nested deeper than Python's parser goes (it raises RecursionError)."""


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise Nested("JSON nested too deep") from None


def parse(text: str) -> dict[str, Any] | None:
    """A JSON object, or `window.BUILD_INFO = {...}` with its camelCase keys in snake_case; None for neither
    (JSON nested too deep included)."""
    try:
        return _parse(text)
    except Nested:
        return None


def _parse(text: str) -> dict[str, Any] | None:
    """parse, but Nested for JSON nested too deep."""
    try:
        value = _loads(text)
    except ValueError:
        value = parse_js(text)
        if value is None:
            return None
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): v for key, v in value.items()}
    return value if isinstance(value, dict) else None


def parse_js(text: str) -> dict[str, Any] | None:
    """`window.BUILD_INFO = {buildDate: "...", ...};` (a JS object literal with bare keys) as a dict."""
    match = re.fullmatch(r"\s*window\.BUILD_INFO\s*=\s*(\{.*\})\s*;?\s*", text, re.S)
    if not match:
        return None
    try:
        value = _loads(re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', match.group(1)))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def cut(text: str, limit: int) -> str:
    """TEXT, at most LIMIT characters of it, the cut marked."""
    return text[:limit] + ("..." if len(text) > limit else "")


def excerpt(text: str, limit: int = EXCERPT) -> str:
    flat = " ".join(text.split())
    return repr(flat[:limit] + ("..." if len(flat) > limit else ""))


@dataclass(frozen=True)
class Answer:
    """One request for a service's build info: what it said, or why it said nothing usable."""

    url: str
    info: dict[str, Any] | None = None
    problem: str = ""  # one line: why there is no build info
    kind: str = ""  # unreachable | no build info (with a problem)
    cut: bool = False  # no full answer in the time the caller had left, shorter than a whole answer's

    @property
    def timed_out(self) -> bool:
        """Whether the service kept silent or was too slow: asked again, it would be again."""
        return self.kind == "unreachable" and self.problem.startswith(("no answer", "no full answer"))

    @property
    def identity(self) -> tuple[str, str]:
        """What the answer claims to run: (source fingerprint, commit label)."""
        info = self.info or {}
        return str(info.get("source_digest", "")), str(info.get("git_commit", ""))


def _unreachable(url: str, err: requests.RequestException) -> Answer:
    text = str(err)
    host = urlsplit(url).hostname or url
    if isinstance(err, requests.exceptions.SSLError):
        found = re.search(r"certificate verify failed: ([^(\"']+)", text)
        reason = f"certificate verify failed: {found.group(1).strip()}" if found else excerpt(text)
        problem = f"TLS error: {reason} (give the server's CA in REQUESTS_CA_BUNDLE)"
    elif isinstance(err, requests.Timeout):
        problem = f"no answer within {fetch.seconds_shown(fetch.READ_SECONDS)}"
    elif "Connection refused" in text:
        problem = f"connection refused by {host}:{urlsplit(url).port or 'default port'}"
    elif re.search(r"Name or service not known|Failed to resolve|nodename nor servname|No address", text):
        problem = f"cannot resolve {host}"
    else:
        problem = f"{type(err).__name__}: {excerpt(text)}"
    return Answer(url, problem=problem, kind="unreachable")


def read(response: requests.Response) -> Answer:
    """The build info in RESPONSE, or why it is none."""
    url = fetch.masked(response.url)
    if response.is_redirect or 300 <= response.status_code < 400:
        where = cut(fetch.masked(response.headers.get("Location", "nowhere")), 200)
        login = " (a login page?)" if re.search(r"log-?in|sign-?in|auth|sso", where, re.I) else ""
        return Answer(url, problem=f"HTTP {response.status_code} redirect to {where}{login}", kind="no build info")
    text = response.text
    content_type = response.headers.get("Content-Type", "")
    html = "html" in content_type or text.lstrip()[:1] == "<"
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S) if html else None
    page = f"an HTML page{f' ({excerpt(title.group(1), 60)})' if title else ''}"
    if response.status_code != 200:
        shown = page if html else excerpt(text)
        return Answer(url, problem=f"HTTP {response.status_code}: {shown}", kind="no build info")
    if html:
        return Answer(url, problem=f"{page} where build info was expected", kind="no build info")
    try:
        info = _parse(text)
    except Nested as err:
        return Answer(url, problem=f"{err}: {excerpt(text)}", kind="no build info")
    if info is None:
        what = "invalid JSON" if text.lstrip()[:1] in "{[" or "json" in content_type else "not build info"
        return Answer(url, problem=f"{what}: {excerpt(text)}", kind="no build info")
    missing = [k for k in ("source_digest", "git_commit") if not info.get(k)]
    if missing:
        return Answer(url, problem=f"build info without {' and '.join(missing)}: {excerpt(text)}", kind="no build info")
    return Answer(url, info)


def ask(url: str, headers: Mapping[str, str], verify: str | bool, within: float | None = None) -> Answer:
    """One request on a connection of its own, past every cache, redirects not followed (a redirect to a
    login page is an answer to report, not one to follow), its answer read within fetch's limits for build
    info, or WITHIN seconds when that is less (the time a caller has left)."""
    seconds = fetch.ANSWER_SECONDS if within is None else min(within, fetch.ANSWER_SECONDS)
    shown = fetch.masked(url)
    try:
        response = fetch.get(
            url, cap=fetch.BUILD_INFO_BYTES, seconds=seconds, headers={**NO_CACHE, **headers}, verify=verify
        )
    except fetch.TooLate as err:
        return Answer(shown, problem=str(err), kind="unreachable", cut=seconds < fetch.ANSWER_SECONDS)
    except fetch.BadAnswer as err:
        return Answer(shown, problem=str(err), kind="no build info")
    except requests.RequestException as err:
        return _unreachable(shown, err)
    return read(response)
