"""`python -m ci SESSION [ARGS]`: run a session; foreseeable failures are one line and an exit code."""

from __future__ import annotations

import sys

from ci.errors import CiError
from ci.sessions import SESSIONS


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SESSIONS:
        print(f"usage: python -m ci {{{','.join(SESSIONS)}}} [ARGS]", file=sys.stderr)
        return 2
    try:
        return SESSIONS[argv[0]](argv[1:])
    except CiError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
