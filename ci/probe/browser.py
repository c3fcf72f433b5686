"""verify --browser: the page in a real headless browser (Playwright driving Debian's chromium); the bench opens
watch's live page and a build's timeline in it the same way."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from ci.core.errors import CiError
from ci.core.settings import chromium

# Debian's chromium (installed by ci/provision); Playwright's own browser download cannot be had here.
CHROMIUM = chromium()
# Without the background-networking flags chromium keeps dialling Google's hosts on a closed network.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
POLLS = 2  # a badge that polls (data-polls) must have had a second answer: it polls again
TIMEOUT_MS = 20_000


@contextmanager
def opened() -> Iterator[Page]:
    """A blank page of a new headless chromium, closed after; CiError when chromium is missing, or fails in the
    block (a page that does not load in time)."""
    if not CHROMIUM.exists():
        raise CiError(f"no chromium at {CHROMIUM}: run `ci/provision` as root (or set CHROMIUM)")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            try:
                yield browser.new_page()
            finally:
                browser.close()
    except PlaywrightError as err:
        raise CiError(f"browser: {str(err).splitlines()[0]}") from None


def load_seconds(path: Path, times: int = 3) -> float:
    """The median time PATH (a local HTML file) takes to load in chromium, its `load` event (the browser already
    up, as a reader's is); CiError naming the first error the page raised."""
    with opened() as page:
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto("about:blank")
        samples = []
        for _ in range(times):
            start = time.monotonic()
            page.goto(path.resolve().as_uri(), wait_until="load", timeout=TIMEOUT_MS)
            samples.append(time.monotonic() - start)
    if errors:
        raise CiError(f"browser: {path.name}: {errors[0][:200]}")
    return statistics.median(samples)


def check_page(url: str, expected: dict[str, str]) -> str:
    """Open URL; each badge `[data-testid=NAME-badge]` must show the commit EXPECTED[NAME], and every badge
    that polls its service (`data-polls`) must have polled it again."""
    with opened() as page:
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
        polling = "[...document.querySelectorAll('[data-polls]')]"
        page.wait_for_function(
            f"() => {polling}.every(b => Number(b.dataset.polls || 0) >= {POLLS})", timeout=TIMEOUT_MS
        )
        shown = {name: page.get_attribute(f"[data-testid={name}-badge]", "data-commit") or "" for name in expected}
        name = "b.dataset.testid.replace(/-badge$/, '')"
        polls = page.evaluate(f"{polling}.map(b => {name} + ' polled ' + b.dataset.polls + ' times')")
    problems = [f"{name} badge shows {shown[name]!r}, expected {want!r}" for name, want in expected.items()
                if shown[name] != want]  # fmt: skip
    if errors:
        problems.append(f"page errors: {'; '.join(errors)[:200]}")
    if problems:
        raise CiError("browser: " + "; ".join(problems))
    badges = ", ".join(f"{name} {commit}" for name, commit in shown.items())
    return f"badges {badges}" + (f"; {', '.join(polls)}" if polls else "")
