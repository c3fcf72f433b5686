"""The secrets this run was given (a header's value, a URL's password, a registry login), each replaced by
`***` wherever it appears as a substring in what leaves the process: the terminal, the reports, the job
summary. Whoever learns a secret registers it; the sinks redact. One registry per process: a session is
one process.
"""

from __future__ import annotations

MASK = "***"

_secrets: set[str] = set()


def register(*values: str) -> None:
    """VALUES are secrets from now on (empty ones are ignored)."""
    _secrets.update(v for v in values if v)


def redact(text: str) -> str:
    """TEXT with every registered secret replaced by MASK, the longest first (a token inside a longer
    header value goes with it)."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def forget() -> None:
    """No secret any more: for tests."""
    _secrets.clear()
