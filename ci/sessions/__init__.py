"""The sessions, a module each: `ci/sessions/NAME.py` declares `SESSION`, what `nox -s NAME` runs.
Adding one is adding a module here; the frame finds it by name."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ci.frame import Session


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> Session:
    """The session declared by ci/sessions/NAME.py (imported only when it runs: imports cost time)."""
    session: Session = importlib.import_module(f"{__name__}.{name}").SESSION
    return session
