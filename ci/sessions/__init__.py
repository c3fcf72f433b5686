"""The sessions, a module each: `ci/sessions/NAME.py` declares `SESSION`, what `nox -s NAME` runs, and
`OPTION_TABLE` below declares every option once, with the sessions it serves. Adding a session is adding a
module here (and its options' rows); the frame finds it by name.

The registry is data: it imports no session module (the frame imports the one it runs) and not the frame.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["store", "store_true", "append"]  # argparse's: a value, a flag, a value each time it is given


@dataclass(frozen=True)
class Option:
    """One option as its parser takes it (the frame builds each session's parser from the table) and as the
    other sessions of a pipeline let it pass (`nox -s prod verify -- --down`)."""

    flags: tuple[str, ...]
    sessions: tuple[str, ...]  # the sessions it serves, by name
    help: str  # argparse's: `%(default)s` is the default
    action: Action = "store"
    default: str | float | None = None  # a value's when not given; a flag's is False, a repeated one's a list, empty
    type: Callable[[str], Any] | None = None  # the value's, else a str
    metavar: str = ""  # the value as --help names it, else argparse's (the flag in capitals)
    env: str = ""  # the environment variable it defaults to, read where the value is used
    group: str = ""  # its group's title in --help; "" the parser's own options
    worded: tuple[tuple[str, str], ...] = ()  # (session, help) where a session words it its own way

    @property
    def values(self) -> int:
        """How many values it takes: a pipeline's other sessions skip them."""
        return 0 if self.action == "store_true" else 1

    def help_in(self, session: str) -> str:
        return dict(self.worded).get(session, self.help)


REMOTE = "a deployed stack, from outside (no engine)"  # verify --url's group

# Every option of every session, once; a session's parser takes its own in this order. Defaults that are facts
# of the modules below (a build context's budget, prune's age) are written here too, the registry importing
# nothing: tests/unit/sessions/test_sessions.py holds them to those modules, and docs/sessions.md to the table.
OPTION_TABLE: tuple[Option, ...] = (
    Option(("--keep",), ("bench",), "keep the copy of the tree and its images", "store_true"),
    Option(
        ("--heavy",),
        ("bench",),
        "the heavy profile instead (ci/bench/heavy_app/: gigabytes of ML dependencies, a React frontend); "
        "leaves nothing behind, as one run makes tens of GB",
        "store_true",
    ),
    Option(
        ("--only",),
        ("bench",),
        "only these cases: `loop` (dev, watch's turns, compose watch) or `push` (case 11); nothing pruned",
        metavar="CASES",
    ),
    Option(
        ("--context-budget-mb",),
        ("doctor",),
        "largest build context allowed, in MB (default %(default)g)",
        default=5.0,
        type=float,
    ),
    Option(
        ("--cache-warn-gb",),
        ("doctor",),
        "warn when prune would free more build cache than this, in GB (default %(default)g)",
        default=10.0,  # build cache above this: time for `nox -s prune`
        type=float,
    ),
    Option(("--push",), ("prod",), "also push the images to IMAGE_REGISTRY, with attestations", "store_true"),
    Option(
        ("--no-attest",),
        ("prod",),
        "with --push: no provenance or SBOM attached (a registry that refuses them; the bench's baseline)",
        "store_true",
    ),
    Option(
        ("--sign",),
        ("prod",),
        "with --push: sign each pushed image's digest with cosign (COSIGN_KEY, COSIGN_PASSWORD)",
        "store_true",
    ),
    Option(
        ("--builder",),
        ("prod", "doctor"),
        "buildx builder to use (default: BUILDX_BUILDER, else the current one)",
        env="BUILDX_BUILDER",
    ),
    Option(("--strict-cache",), ("prod",), "fail when the registry cache cannot be imported or exported", "store_true"),
    Option(("--no-cache",), ("prod",), "rebuild every step (the registry cache is still refreshed)", "store_true"),
    Option(
        ("--until",),
        ("prune",),
        "prune build cache unused for this long, engine-wide (default %(default)s, at least 1h)",
        default="24h",
    ),
    Option(
        ("--keep-storage",),
        ("prune",),
        "keep old build cache while the whole cache fits in this size, e.g. 10GB (default %(default)s: age alone)",
        default="0",
    ),
    Option(("--keep",), ("prune",), "builds to keep per service, newest first (default %(default)s)", default="3"),
    Option(("--volumes",), ("prune",), "also remove the anonymous volumes of removed containers", "store_true"),
    Option(("--dry-run",), ("prune",), "show what would be removed and the bytes it frees", "store_true"),
    Option(("--browser",), ("verify",), "also open the page in headless chromium", "store_true"),
    Option(("--up",), ("verify",), "start or recreate the stack from the latest build first", "store_true"),
    Option(
        ("--signed",),
        ("verify",),
        "check each image the latest build pushed, by digest: its signature (COSIGN_PUBLIC_KEY, offline), the "
        "commit its provenance names, its sources against the tree's (or --commit's)",
        "store_true",
    ),
    Option(("--once",), ("watch",), "one turn over what changed since the running build", "store_true"),
    Option(("--no-sync",), ("watch",), "rebuild every turn, whatever the develop.watch rules say", "store_true"),
    Option(("--no-logs",), ("watch",), "hide the services' own log lines (`SERVICE | line`)", "store_true"),
    Option(
        ("--port",),
        ("watch",),
        "the live page's port on 127.0.0.1 (default: WATCH_PORT, else 8390; 0: no page)",
        type=int,
        metavar="PORT",
    ),
    Option(
        ("--down",),
        ("verify", "watch"),
        "stop the stack afterwards",
        "store_true",
        worded=(("watch", "stop the stack when the loop ends"),),
    ),
    Option(
        ("--url",),
        ("verify",),
        "the stack's public address (repeat for more); SERVICE=URL: one service's own",
        "append",
        metavar="[SERVICE=]URL",
        group=REMOTE,
    ),
    Option(("--commit",), ("verify",), "the commit it must run (default HEAD)", metavar="REF", group=REMOTE),
    Option(("--tree",), ("verify",), "compare with the working tree instead of a commit", "store_true", group=REMOTE),
    Option(
        ("--samples",),
        ("verify",),
        "answers asked of each address, on fresh connections (default 5)",
        type=int,
        metavar="N",
        group=REMOTE,
    ),
    Option(
        ("--wait",),
        ("verify",),
        "poll until every answer runs the commit (10m, 90s)",
        metavar="DURATION",
        group=REMOTE,
    ),
    Option(
        ("--header",),
        ("verify",),
        "sent with every request (repeatable); values are never printed",
        "append",
        metavar="'NAME: VALUE'",
        group=REMOTE,
    ),
    Option(
        ("--header-env",),
        ("verify",),
        "header NAME, its value read from the environment variable VARIABLE: never on a command line that nox "
        "or a CI log echoes (repeatable)",
        "append",
        metavar="NAME=VARIABLE",
        group=REMOTE,
    ),
    Option(
        ("--logs",),
        ("dev", "prod", "watch"),
        "stream every build step's output, not only progress",
        "store_true",
        worded=(("watch", "stream every build step's output, not only failures (not the services' lines)"),),
    ),
)


def options_of(session: str) -> tuple[Option, ...]:
    """The options SESSION's parser takes, in the table's order."""
    return tuple(option for option in OPTION_TABLE if session in option.sessions)


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> Any:
    """The session declared by ci/sessions/NAME.py, its `SESSION` (a `ci.core.session.Session`: the registry names
    no type, so that it imports nothing), imported only when it runs: imports cost time."""
    return importlib.import_module(f"{__name__}.{name}").SESSION
