"""`python -m ci SESSION [ARGS]`: run a session in the frame; exit 0 passed, 1 failed, 2 bad arguments or
variables, 3 no engine; interrupted 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP)."""

from __future__ import annotations

import os
import sys

from ci import frame, sessions
from ci.core.errors import Exit
from ci.core.session import Session
from ci.core.settings import ROOT


def detach_stdin() -> None:
    """No session reads standard input, and nothing it starts may wait on it: bake (buildx >= 0.20) asks
    y/N for an entitlement on a terminal. Every docker, buildx and compose call inherits /dev/null."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in sessions.names():
        print(f"usage: python -m ci {{{','.join(sessions.names())}}} [ARGS]", file=sys.stderr)
        return Exit.USAGE
    detach_stdin()
    # Sessions run in the project: bake resolves the contexts of the bake file from the working directory,
    # and buildx >= 0.20 reads nothing outside it without a grant.
    os.chdir(ROOT)
    session: Session = sessions.load(argv[0])  # the one session module imported
    return frame.run(session, argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
