"""Text from outside (a service's answer, a tool's output, a file name: anything this code did not write) made
inert before it reaches a person or a report: every secret redacted (ci/core/secrets.py), its size capped with the
cut said, and every character a terminal, a bidi-aware viewer or an XML parser would act on shown as its
escape instead: `\\x1b[31m` stays those seven characters, U+202E is shown as `\\u202e`.

Shown as an escape: the C0 controls but tab and newline (a CRLF is a newline), DEL, the C1 controls, the format
characters (bidi embeddings, overrides and isolates, marks, zero-width ones: Unicode's Cf), the line and
paragraph separators, lone surrogates (undecodable bytes in a file name) and U+FFFE/U+FFFF; and the first
colon of a line that starts with `::`, which GitHub Actions' runner would read as a workflow command. What is
left is valid XML 1.0 and prints on any UTF-8 stream.
"""

from __future__ import annotations

import re
import unicodedata

from ci.core import secrets

# A run of characters that may need an escape: any but printable ASCII, tab and newline (a quick scan of the
# usual text); each is then judged by its Unicode category.
_SUSPECT = re.compile(r"[^\t\n\x20-\x7e]+")
_SHOWN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NONCHARACTERS = frozenset({"\ufffe", "\uffff"})  # not XML 1.0 characters


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _run(found: re.Match[str]) -> str:
    return "".join(_escape(c) if c in _NONCHARACTERS or unicodedata.category(c) in _SHOWN else c for c in found.group())


# A log line that starts with `::` is a command to GitHub Actions' runner (`::error::`, `::add-mask::`,
# `::stop-commands::`), whoever printed it: the first colon of such a line is shown as its escape.
_WORKFLOW_COMMAND = re.compile(r"^([ \t]*):(?=:)", re.M)


def visible(text: str) -> str:
    """TEXT with every character that would be acted on, not shown, replaced by its escape (see above), and no
    line a CI runner would take for a command."""
    return _WORKFLOW_COMMAND.sub(r"\1\\x3a", _SUSPECT.sub(_run, text.replace("\r\n", "\n")))


def capped(text: str, limit: int) -> str:
    """TEXT when it holds at most LIMIT characters; else its head and tail, LIMIT in all, around
    `[cut: N more characters]`: a log's cause is at its end, a message's subject at its start."""
    if len(text) <= limit:
        return text
    head = limit // 2
    tail = limit - head
    return f"{text[:head]} [cut: {len(text) - limit} more characters] {text[len(text) - tail :]}"


def inert(text: str, limit: int | None = None) -> str:
    """TEXT as a sink shows it: secrets redacted (before the cut: a cut secret would show in part), capped to
    LIMIT characters (None: not capped), made visible."""
    redacted = secrets.redact(text)
    return visible(redacted if limit is None else capped(redacted, limit))
