"""Output for people: tables that fit the terminal, colour only on a terminal and never with NO_COLOR, and
nothing from outside acting on the terminal or showing a secret."""

from __future__ import annotations

import io
import sys

import pytest

from ci.core import secrets, terminal


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_wide_table_fits_the_columns_shortening_the_widest_cells() -> None:
    rows = [("images", "failed", "0.0s", "backend runs image 5d3370cdc19a but the latest build produced " * 5)]
    text = terminal.table(("step", "result", "time", "detail"), rows, columns=120)
    assert max(len(line) for line in text.splitlines()) <= 120
    assert text.splitlines()[2].startswith("images  failed  0.0s  backend runs image")
    assert text.splitlines()[2].endswith(terminal.ELLIPSIS)


def test_a_table_fits_the_terminal_width_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = terminal.table(("a", "b"), [("1", "x" * 300)])
    assert max(len(line) for line in text.splitlines()) == 80


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    assert terminal.colour_on(Tty(), {"TERM": "xterm"})
    assert not terminal.colour_on(Tty(), {"TERM": "xterm", "NO_COLOR": "1"})
    assert not terminal.colour_on(Tty(), {"TERM": "xterm", "NO_COLOR": ""})  # set at all, per no-color.org
    assert not terminal.colour_on(io.StringIO(), {"TERM": "xterm"})
    assert terminal.paint("failed", "failed", on=True) == "\033[31mfailed\033[0m"
    assert terminal.paint("failed", "failed", on=False) == "failed"


def test_width_is_columns_when_set_else_the_terminals_else_120() -> None:
    assert terminal.width({"COLUMNS": "80"}, io.StringIO()) == 80
    assert terminal.width({}, io.StringIO()) == 120
    assert terminal.width({"COLUMNS": "nonsense"}, io.StringIO()) == 120


def test_a_line_too_wide_is_cut_and_marked_and_colour_codes_count_for_nothing() -> None:
    assert terminal.fit("x" * 30, 20) == "x" * 17 + "..."
    assert terminal.fit("short", 20) == "short"
    painted = terminal.paint("passed", "passed", on=True)
    assert terminal.fit(painted + " " * 10, 20) == painted + " " * 10


def test_a_last_line_too_wide_is_cut_in_its_middle_keeping_its_cause() -> None:
    line = "error: worker [internal] load metadata failed: " + "x" * 200 + " lookup mcr.microsoft.com: no such host"
    cut = terminal.fit_middle(line, 100)
    assert len(cut) == 100
    assert cut.startswith("error: worker [internal]") and cut.endswith("lookup mcr.microsoft.com: no such host")
    assert terminal.ELLIPSIS in cut
    assert terminal.fit_middle("short", 100) == "short"


def test_every_line_printed_inside_fitted_fits_and_a_tools_own_output_is_untouched(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with terminal.fitted(40):
        print("a" * 50)
        print("b" * 10, end="")
        print("c" * 40, file=sys.stderr, flush=True)
        print("tool output " * 10, file=terminal.unfitted(sys.stderr))
        print()
    out, err = capsys.readouterr()
    assert out.splitlines() == ["a" * 37 + "...", "b" * 10]
    assert err.splitlines() == ["c" * 40, ("tool output " * 10).rstrip() + " "]


def test_plural() -> None:
    assert [terminal.plural(n, "turn") for n in (0, 1, 2)] == ["0 turns", "1 turn", "2 turns"]


def test_table_aligns_columns() -> None:
    text = terminal.table(("a", "long header"), [("value", 1), ("x", 22)])
    lines = text.splitlines()
    assert lines[0] == "a      long header"
    assert lines[2] == "value  1"
    assert lines[3] == "x      22"


def test_text_printed_inside_fitted_shows_escape_sequences_and_bidi_characters_never_runs_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with terminal.fitted(200):
        print("git_commit \x1b[31mabc\x1b[0m\x1b]0;owned\x07 \u202etxt.exe\rpassed \ud800")
        print("a failing step's log: \x1b[2J\x9b31m", file=terminal.unfitted(sys.stdout), flush=True)
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "git_commit \\x1b[31mabc\\x1b[0m\\x1b]0;owned\\x07 \\u202etxt.exe\\x0dpassed \\ud800",
        "a failing step's log: \\x1b[2J\\x9b31m",
    ]


def test_the_frames_colours_stay_on_a_terminal_while_an_outside_copy_of_them_is_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tty = Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    with terminal.fitted(200):
        rows = [("page", "failed", "answered \x1b[32mpassed\x1b[0m")]
        terminal.show(terminal.table(("check", "result", "detail"), rows, results=1, colour=True))
        terminal.show(terminal.paint("error: said \x1b[32mok\x1b[0m", "failed", on=True))
        print("plain \x1b[31m")
    lines = tty.getvalue().splitlines()
    assert lines[2] == "page   \x1b[31mfailed\x1b[0m  answered \\x1b[32mpassed\\x1b[0m"
    assert lines[3] == "\x1b[31merror: said \\x1b[32mok\\x1b[0m\x1b[0m"
    assert lines[4] == "plain \\x1b[31m"


def test_a_secret_never_reaches_the_terminal_even_split_across_writes(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register("hunter2-token")
    try:
        with terminal.fitted(200):
            sys.stdout.write("sent hunter2-")
            sys.stdout.write("token\n")
            print("log: Bearer hunter2-token", file=terminal.unfitted(sys.stderr), flush=True)
            terminal.show("shown hunter2-token")
    finally:
        secrets.forget()
    out, err = capsys.readouterr()
    assert out.splitlines() == ["sent ***", "shown ***"] and err.splitlines() == ["log: Bearer ***"]


def test_a_tables_cells_are_made_inert() -> None:
    text = terminal.table(("a", "b"), [("\x1b[2Jx", "\u202ey")], columns=80)
    assert text.splitlines()[2] == "\\x1b[2Jx  \\u202ey"
