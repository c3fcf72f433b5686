"""verify --browser: the page in a real headless browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from ci.errors import CiError

# Debian's chromium (installed by ci/provision); Playwright's own browser download cannot be had here.
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
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
POLLS = 2  # the page polls the backend every 5 s: seeing a second answer proves it polls again
TIMEOUT_MS = 20_000


def check_page(url: str, expected: dict[str, str]) -> str:
    """Open URL; the frontend and backend badges must show EXPECTED commits and the backend be polled again."""
    if not CHROMIUM.exists():
        raise CiError(f"no chromium at {CHROMIUM}: run `sudo ci/provision` (or set CHROMIUM)")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            try:
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda err: errors.append(str(err)))
                page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
                polled = "document.querySelector('[data-testid=backend-badge]')?.dataset.polls"
                page.wait_for_function(f"() => Number({polled} || 0) >= {POLLS}", timeout=TIMEOUT_MS)
                shown = {
                    name: page.get_attribute(f"[data-testid={name}-badge]", "data-commit") or ""
                    for name in ("frontend", "backend")
                }
                polls = page.get_attribute("[data-testid=backend-badge]", "data-polls")
                status = page.get_attribute("[data-testid=commit-status]", "data-status")
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
    return f"badges frontend {shown['frontend']}, backend {shown['backend']} ({status}); backend polled {polls} times"
