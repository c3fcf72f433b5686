"""`python -m ci SESSION [ARGS]`: run a session; foreseeable failures are one line and an exit code."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from ci.errors import CiError

# session name -> "module:function"; each function takes the session's arguments and returns the exit code.
SESSIONS = {
    "dev": "ci.sessions:dev",
    "doctor": "ci.doctoring:main",
    "lint": "ci.linting:main",
    "prune": "ci.pruning:main",
    "prod": "ci.sessions:prod",
    "verify": "ci.verifying:main",
    "bench": "ci.benchmarking:main",
}


def load(name: str) -> Callable[[list[str]], int]:
    module, _, function = SESSIONS[name].partition(":")
    entry: Callable[[list[str]], int] = getattr(importlib.import_module(module), function)
    return entry


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SESSIONS:
        print(f"usage: python -m ci {{{','.join(SESSIONS)}}} [ARGS]", file=sys.stderr)
        return 2
    try:
        return load(argv[0])(argv[1:])
    except CiError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
