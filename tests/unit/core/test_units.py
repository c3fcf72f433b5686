"""ci/core/units.py: sizes read as Docker prints them, and shown; ids shown short."""

from __future__ import annotations

import pytest

from ci.core.units import human, parse_docker_size, short_id


def test_human_bytes() -> None:
    assert [human(n) for n in (512, 39_800, 5e6, 10_485_760, 2.5e9)] == [
        "512 B",
        "39.8 kB",
        "5.0 MB",
        "10.5 MB",
        "2.5 GB",
    ]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0B", 0),
        ("14B", 14),
        ("583MB", 583_000_000),
        ("1.547GB", 1_547_000_000),
        ("12.29kB", 12_290),
        ("-8.706e+07B", -87_060_000),
    ],
)
def test_parse_size_reads_what_system_df_prints(text: str, size: int) -> None:
    assert parse_docker_size(text) == size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("57.8MB", 57_800_000),
        ("8.192kB", 8192),
        ("0B", 0),
        ("2.761GB (92%)", 2_761_000_000),
        ("-3.228e+06B", -3_228_000),  # what docker prints while an image is being written
        ("N/A", 0),
        (None, 0),
    ],
)
def test_human_sizes_from_docker_are_read_in_decimal_units(text: str | None, size: int) -> None:
    assert parse_docker_size(text) == size


def test_bytes_are_shown_in_decimal_units_with_sign() -> None:
    assert [human(n) for n in (0, 999, 1000, 57_800_000, -2_500_000_000)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "57.8 MB",
        "-2.5 GB",
    ]


def test_a_short_id_is_the_first_12_hex_digits_after_the_algorithm() -> None:
    assert short_id("sha256:0123456789abcdef0123") == "0123456789ab"
    assert short_id("0123456789abcdef0123") == "0123456789ab"  # an id docker printed without it
    assert short_id("") == ""
