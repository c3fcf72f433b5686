"""An image id or a source digest as the sessions show it."""

from __future__ import annotations

from ci.ids import short_id


def test_a_short_id_is_the_first_12_hex_digits_after_the_algorithm() -> None:
    assert short_id("sha256:0123456789abcdef0123") == "0123456789ab"
    assert short_id("0123456789abcdef0123") == "0123456789ab"  # an id docker printed without it
    assert short_id("") == ""
