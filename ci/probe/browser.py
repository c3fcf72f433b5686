"""verify --browser: the page in a real headless browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

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


def check_page(url: str, expected: dict[str, str]) -> str:
    """Open URL; each badge `[data-testid=NAME-badge]` must show the commit EXPECTED[NAME], and every badge
    that polls its service (`data-polls`) must have polled it again."""
    if not CHROMIUM.exists():
        raise CiError(f"no chromium at {CHROMIUM}: run `ci/provision` as root (or set CHROMIUM)")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            try:
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda err: errors.append(str(err)))
                page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
                polling = "[...document.querySelectorAll('[data-polls]')]"
                page.wait_for_function(
                    f"() => {polling}.every(b => Number(b.dataset.polls || 0) >= {POLLS})", timeout=TIMEOUT_MS
                )
                shown = {
                    name: page.get_attribute(f"[data-testid={name}-badge]", "data-commit") or "" for name in expected
                }
                name = "b.dataset.testid.replace(/-badge$/, '')"
                polls = page.evaluate(f"{polling}.map(b => {name} + ' polled ' + b.dataset.polls + ' times')")
            finally:
                browser.close()
    except PlaywrightError as err:
        raise CiError(f"browser: {str(err).splitlines()[0]}") from None
    problems = [f"{name} badge shows {shown[name]!r}, expected {want!r}" for name, want in expected.items()
                if shown[name] != want]  # fmt: skip
    if errors:
        problems.append(f"page errors: {'; '.join(errors)[:200]}")
    if problems:
        raise CiError("browser: " + "; ".join(problems))
    badges = ", ".join(f"{name} {commit}" for name, commit in shown.items())
    return f"badges {badges}" + (f"; {', '.join(polls)}" if polls else "")
