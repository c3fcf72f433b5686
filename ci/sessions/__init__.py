"""The sessions, a module each: `ci/sessions/NAME.py` declares `SESSION`, what `nox -s NAME` runs, and
`OPTIONS` below names the options its parser takes. Adding one is adding a module here and its row in
`OPTIONS`; the frame finds it by name.

The registry is data: it imports no session module (the frame imports the one it runs) and not the frame.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

FLAG, VALUE = 0, 1  # how many values an option takes

# Each session's options as its parser declares them (`--help` aside), and how many values each takes: a
# pipeline's sessions share their arguments (`nox -s prod verify -- --down`), and each lets the others'
# options pass without importing their modules. tests/unit/sessions/test_sessions.py holds every row to its parser.
OPTIONS: dict[str, dict[str, int]] = {
    "bench": {"--keep": FLAG, "--heavy": FLAG},
    "dev": {"--logs": FLAG},
    "doctor": {"--context-budget-mb": VALUE, "--cache-warn-gb": VALUE},
    "lint": {},
    "prod": {"--push": FLAG, "--builder": VALUE, "--strict-cache": FLAG, "--no-cache": FLAG, "--logs": FLAG},
    "prune": {"--until": VALUE, "--keep-storage": VALUE, "--keep": VALUE, "--volumes": FLAG, "--dry-run": FLAG},
    "verify": {
        "--browser": FLAG,
        "--up": FLAG,
        "--down": FLAG,
        "--url": VALUE,
        "--commit": VALUE,
        "--tree": FLAG,
        "--samples": VALUE,
        "--wait": VALUE,
        "--header": VALUE,
        "--header-env": VALUE,
    },
    "watch": {"--once": FLAG, "--down": FLAG, "--logs": FLAG},
}


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> Any:
    """The session declared by ci/sessions/NAME.py, its `SESSION` (a `ci.core.session.Session`: the registry names
    no type, so that it imports nothing), imported only when it runs: imports cost time."""
    return importlib.import_module(f"{__name__}.{name}").SESSION
