"""Text from outside made inert: every character a terminal, a bidi-aware viewer or an XML parser acts on is
shown as its escape, secrets go, and the size is capped with the cut said."""

from __future__ import annotations

import unicodedata

import pytest

from ci.core import secrets
from ci.core.inert import capped, inert, visible

C0 = [chr(c) for c in range(0x20) if chr(c) not in "\t\n"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
FORMAT = ["\u200b", "\u200e", "\u200f", "\u061c", "\ufeff", "\u00ad", "\U000e0041"]
ACTED_ON = [*C0, "\x7f", *C1, *BIDI, *FORMAT, "\u2028", "\u2029", "\ud800", "\udfff", "\ufffe", "\uffff"]


def xml_char(c: str) -> bool:
    """XML 1.0's Char production."""
    code = ord(c)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000


@pytest.mark.parametrize("char", ACTED_ON, ids=lambda c: f"U+{ord(c):04X}")
def test_a_character_that_would_be_acted_on_is_shown_as_its_escape(char: str) -> None:
    shown = visible(f"a{char}b")
    code = ord(char)
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    assert shown == f"a{escape}b"
    assert shown.isprintable() and shown.isascii()


def test_escape_sequences_are_shown_as_their_characters_never_run() -> None:
    assert visible("\x1b[31mred\x1b[0m \x1b]0;title\x07 \x9b2J") == "\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 \\x9b2J"
    assert visible("good.py\u202e\u2066txt.exe") == "good.py\\u202e\\u2066txt.exe"


def test_a_carriage_return_alone_is_shown_and_a_crlf_is_a_newline() -> None:
    assert visible("passed\rFAILED") == "passed\\x0dFAILED"
    assert visible("line 1\r\nline 2\r\n") == "line 1\nline 2\n"


def test_tabs_newlines_and_every_language_stay_as_they_are() -> None:
    text = "step\t1.2s\nnaïve café, 日本語, עברית, emoji \U0001f600, math ∑, nbsp\u00a0, private \ue000"
    assert visible(text) == text


def test_every_character_is_valid_xml_and_prints_on_utf_8_once_made_visible() -> None:
    everything = "".join(chr(c) for c in range(0x110000))
    shown = visible(everything)
    assert all(map(xml_char, shown))
    shown.encode("utf-8")  # no lone surrogate left
    assert visible(shown) == shown  # idempotent: made visible twice, the same
    kinds = {unicodedata.category(c) for c in shown}
    assert not kinds & {"Cc", "Cf", "Cs", "Zl", "Zp"} - {"Cc"}  # tab and newline are the only controls
    assert {c for c in shown if unicodedata.category(c) == "Cc"} == {"\t", "\n"}


def test_a_text_over_the_cap_keeps_its_head_and_tail_and_says_the_cut() -> None:
    text = "HEAD" + "x" * 10_000 + "TAIL"
    cut = capped(text, 100)
    assert cut.startswith("HEAD") and cut.endswith("TAIL")
    assert f"[cut: {len(text) - 100} more characters]" in cut
    assert len(cut) < 100 + 50
    assert capped("short", 100) == "short"


def test_inert_redacts_before_the_cut_so_no_part_of_a_secret_shows() -> None:
    secret = "s3cr3t-t0ken-value"
    secrets.register(secret)
    text = "x" * 45 + secret + "y" * 100
    shown = inert(text, 60)
    assert "s3cr3t" not in shown and "t0ken" not in shown and "value" not in shown
    assert inert(f"Bearer {secret}\x1b[2J") == "Bearer ***\\x1b[2J"


def test_a_line_a_ci_runner_would_take_for_a_command_is_shown_not_obeyed() -> None:
    """GitHub Actions reads a log line starting with `::` as a workflow command: an annotation, a mask, or
    `::stop-commands::`, whoever printed it. Only such a line changes, by its first colon."""
    answer = "::error file=ci/frame.py::all good\n  ::add-mask::x\r\n::stop-commands::t\nkeep :: this\n:: "
    assert visible(answer) == (
        "\\x3a:error file=ci/frame.py::all good\n  \\x3a:add-mask::x\n\\x3a:stop-commands::t\nkeep :: this\n\\x3a: "
    )
    assert visible("\r::error::x") == "\\x0d::error::x"  # a lone CR starts no line: it is shown
