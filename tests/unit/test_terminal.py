"""Output for people: tables that fit the terminal, colour only on a terminal and never with NO_COLOR."""

from __future__ import annotations

import io

from ci import terminal


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_wide_table_fits_the_columns_shortening_the_widest_cells() -> None:
    rows = [("images", "failed", "0.0s", "backend runs image 5d3370cdc19a but the latest build produced " * 5)]
    text = terminal.table(("step", "result", "time", "detail"), rows, columns=120)
    assert max(len(line) for line in text.splitlines()) <= 120
    assert text.splitlines()[2].startswith("images  failed  0.0s  backend runs image")
    assert text.splitlines()[2].endswith(terminal.ELLIPSIS)


def test_without_a_limit_nothing_is_shortened() -> None:
    detail = "x" * 300
    assert detail in terminal.table(("a", "b"), [("1", detail)])


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    assert terminal.colour_on(Tty(), {"TERM": "xterm"})
    assert not terminal.colour_on(Tty(), {"TERM": "xterm", "NO_COLOR": "1"})
    assert not terminal.colour_on(Tty(), {"TERM": "xterm", "NO_COLOR": ""})  # set at all, per no-color.org
    assert not terminal.colour_on(io.StringIO(), {"TERM": "xterm"})
    assert terminal.paint("failed", "failed", on=True) == "\033[31mfailed\033[0m"
    assert terminal.paint("failed", "failed", on=False) == "failed"


def test_width_is_columns_when_set_and_unlimited_off_a_terminal() -> None:
    assert terminal.width({"COLUMNS": "120"}, io.StringIO()) == 120
    assert terminal.width({}, io.StringIO()) is None
