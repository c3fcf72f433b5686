"""The secrets this run was given (a header's value, a URL's password, a registry login), each replaced by
`***` wherever it appears as a substring in what leaves the process: the terminal, the reports, the job
summary. Whoever learns a secret registers it; the sinks redact. One registry per process: a session is
one process.

A secret is found in the forms it takes on its way out: as given, escaped as JSON or a Python repr would
(a token holding `\\` or `"`), URL-encoded, HTML-escaped; and an Authorization value (`Bearer X`, `Basic X`,
`token X`) also as its bare credential X, a Basic one's password too (its `user:password` decoded).

A secret of fewer than SHORT characters is redacted only where it stands alone (not inside a longer word or
number): masking every `a` or `42` would make every output unreadable while hiding nothing, as a value that
short is guessed in a few tries anyway; standing alone, as a header's or a password's echo shows it, it goes.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from urllib.parse import quote, quote_plus

MASK = "***"
SHORT = 4
# An Authorization (or Proxy-Authorization) value: its scheme, then the credential itself.
_SCHEMED = re.compile(r"^\s*(bearer|basic|token|digest|negotiate)\s+(\S+)\s*$", re.IGNORECASE)

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None  # every form of every secret, longest first; None: none registered


def credentials(value: str) -> list[str]:
    """VALUE and what it holds: an Authorization value's bare credential, a Basic one's `user:password` and
    password."""
    found = [value]
    schemed = _SCHEMED.match(value)
    if schemed:
        credential = schemed.group(2)
        found.append(credential)
        if schemed.group(1).lower() == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            _, colon, password = decoded.partition(":")
            found += [decoded, password] if colon else []
    return [v for v in found if v]


def forms(secret: str) -> set[str]:
    """The ways SECRET is written in what leaves the process."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret, safe=""),
        html.escape(secret),
    }


def _form_pattern(form: str, secret: str) -> str:
    if len(secret) >= SHORT:
        return re.escape(form)
    return rf"(?<![^\W_]){re.escape(form)}(?![^\W_])"  # alone: no letter or digit either side


def register(*values: str) -> None:
    """VALUES are secrets from now on (blank ones are ignored), with the credentials they hold."""
    global _pattern
    _secrets.update(c for v in values if v.strip() for c in credentials(v) if c.strip())
    found = {(form, secret) for secret in _secrets for form in forms(secret)}
    ordered = sorted(found, key=lambda pair: (-len(pair[0]), pair[0]))
    _pattern = re.compile("|".join(_form_pattern(form, secret) for form, secret in ordered)) if ordered else None


def redact(text: str) -> str:
    """TEXT with every registered secret, in each of its forms, replaced by MASK; at each place the longest
    form first (a token inside a longer header value goes with it)."""
    return text if _pattern is None else _pattern.sub(MASK, text)


def forget() -> None:
    """No secret any more: for tests."""
    global _pattern
    _secrets.clear()
    _pattern = None
