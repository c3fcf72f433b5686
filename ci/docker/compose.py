"""The project's compose stack: its resolved configuration, `up`, logs (a service's tail, and the services' lines
followed as they come: `ServiceLogs`) and stop, the cache registry service, compose's version, and `compose watch`
run in the background (the bench's compose case).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from ci.core.errors import DockerFailed, UsageError
from ci.docker.engine import Engine, end_process, error_line, failed
from ci.docker.images import refusal

# compose's own words for `${X?message}` or `${X:?message}` that nothing sets (2.26 and 2.40 alike): "error while
# interpolating services.db.environment.X: required variable X is missing a value: message".
REQUIRED = re.compile(r"required variable (?P<name>\w+) is missing a value(?::\s*(?P<said>.*))?")
REQUIRED_ROUNDS = 20  # compose names one at a time: how many more it is asked for before the list is cut
STAND_IN = "mainza-stand-in"  # a value given to a variable already found missing, to find the next one


class MissingVariables(UsageError):
    """compose.yaml requires variables that neither the environment nor .env sets: each by name, with the
    message its definition gives (`${X?message}`), as compose said it (`problem`), and what to do (`fix`)."""

    def __init__(self, said: Mapping[str, str]) -> None:
        self.said = dict(sorted(said.items()))  # by name: compose finds them in no set order
        first, *others = self.said
        self.problem = f"required variable {first} is missing a value" + (f": {said[first]}" if said[first] else "")
        if others:
            self.problem += "; so are " + ", ".join(n + (f" ({said[n]})" if said[n] else "") for n in others)
        self.fix = "set them in .env or export them" if others else "set it in .env or export it"
        output = "\n".join(f"{n}: {m}" if m else n for n, m in self.said.items())
        super().__init__(f"compose.yaml does not resolve: {self.problem}; {self.fix}", output=output)


def compose_config(engine: Engine) -> dict[str, Any]:
    """`docker compose config`: the compose file resolved (interpolated, active profiles only). Every required
    variable nothing sets is MissingVariables (a usage error) naming them all, by compose's own messages."""
    try:
        return _config(engine)
    except DockerException as err:
        required = REQUIRED.search(err.stderr or "")
        if required:
            raise MissingVariables(_missing(engine, {required["name"]: (required["said"] or "").strip()})) from None
        where = yaml_problem(error_line(err), engine._client.client_config.compose_files or ())
        if where:
            raise DockerFailed(where, command=err.docker_command, stderr=err.stderr or "") from None
        raise failed(err, "compose.yaml does not resolve") from None


def _config(engine: Engine, stand_ins: Mapping[str, str] | None = None) -> dict[str, Any]:
    # The client's own compose command (files, env files, project), STAND_INS in its environment, which compose
    # ranks above every env file.
    command = [*engine._client.client_config.docker_compose_cmd, "config", "--format", "json"]
    config = json.loads(str(run(command, env=dict(stand_ins or {}))))
    return config if isinstance(config, dict) else {}


def _missing(engine: Engine, found: dict[str, str]) -> dict[str, str]:
    """FOUND (name -> compose's message) and the required variables compose names once those are given a
    stand-in, one more each round: compose stops at the first."""
    for _ in range(REQUIRED_ROUNDS):
        try:
            _config(engine, dict.fromkeys(found, STAND_IN))
        except DockerException as err:
            more = REQUIRED.search(err.stderr or "")
            if more and more["name"] not in found:
                found[more["name"]] = (more["said"] or "").strip()
                continue
        break  # resolved, or another error: a stand-in may not be a valid value where the variable is used
    return found


def yaml_problem(line: str, files: Iterable[str | Path]) -> str | None:
    """compose's YAML error (`yaml: line 8: did not find expected key`) at the line of the problem itself,
    `compose.yaml:12:4: did not find expected key`: its parser (go-yaml) names the line above the block the
    problem is in. None when LINE is no YAML error, or no file of FILES fails to parse."""
    said = re.match(r"(?:.*: )?yaml: line \d+: (.+)", line)
    if not said:
        return None
    for name in files:
        path = Path(name)
        try:
            yaml.safe_load(path.read_text())
        except yaml.MarkedYAMLError as err:
            if err.problem_mark is not None:
                return f"{path.name}:{err.problem_mark.line + 1}:{err.problem_mark.column + 1}: {said.group(1)}"
        except (OSError, yaml.YAMLError):
            continue
    return None


def compose_up(engine: Engine, built: Sequence[str], *, only: bool = False) -> Iterator[str]:
    """`compose up --detach`, yielding its output lines; DockerFailed on failure. The services the project
    builds (BUILT) are recreated from their new images (`--force-recreate --pull never`; ONLY: those alone,
    `--no-deps`). The others (a database, a queue: not the project's images) come up first by compose's own
    rules: recreated only when their definition changed, so their containers keep their data and
    connections, and pulled by their `pull_policy` (default: when missing). Compose waits for the health
    of a dependency that another service needs; the caller waits for the rest (stack.up)."""
    if not only:
        others = [name for name in compose_config(engine).get("services") or {} if name not in built]
        if others:
            yield from _up(engine, others, dependencies=True, force=False)
    yield from _up(engine, built, dependencies=not only, force=True)


def _up(engine: Engine, services: Sequence[str], *, dependencies: bool, force: bool) -> Iterator[str]:
    stream = engine._client.compose.up(
        services=list(services) or None,
        dependencies=dependencies,
        detach=True,
        force_recreate=force,
        pull="never" if force else None,
        stream_logs=True,
    )
    try:
        for _, line in stream:
            yield line.decode(errors="replace").rstrip()
    except DockerException as err:
        raise failed(err, line=pull_failure(err.stderr or "")) from None


PULL_FAILED = re.compile(r'^\s*(?P<service>\S+) Error failed to resolve reference "(?P<image>[^"]+)": (?P<cause>.+)$')


def pull_failure(output: str) -> str | None:
    """One line for the first service whose image compose could not pull (OUTPUT: compose's): the service,
    the image, why in a few words and what to do; None when no pull failed. The engine's own sentence names
    neither the service nor the fix, and ends in a URL's worth of detail."""
    found = next((m for m in map(PULL_FAILED.match, output.splitlines()) if m), None)
    if found is None:
        return None
    service, image = found["service"], found["image"]
    return f"could not pull {service}'s image {image}: {refusal(image, found['cause'].strip()).why}"


def service_logs(engine: Engine, service: str, tail: int = 20) -> str:
    try:
        return str(engine._client.compose.logs(services=[service], tail=str(tail), no_log_prefix=True))
    except DockerException:
        return ""


# --- the services' own lines, followed (watch) ------------------------------------------------------------

LOG_LINE_BYTES = 8 * 1024  # a longer line of compose's is cut there (the engine splits a container's at 16 KiB)
LOG_SEPARATOR = " | "  # compose's, between a service and its line: `backend  | listening on :8000`
# A line compose writes: the container's name (the service and its replica number, `backend-1`), padded, then
# LOG_SEPARATOR and the container's line; compose's own notes (`backend-1 exited with code 0`, `has been
# recreated`) have none. 2.26 starts a line with `\x1b[2K` on some outputs, 2.40 its notes with `\r\x1b[K`,
# even with --no-color: compose's own sequences, dropped before the line is read.
_COMPOSE_LINE = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) *\|(?: (?P<text>.*))?")
_COMPOSE_SEQUENCES = re.compile(r"^(?:\r|\x1b\[[0-9;]*[A-Za-z])+")
_REPLICA = re.compile(r"-\d+$")
# A line as watch prints it back (`LogLine.shown`): what no line of watch's own starts with, so that a reader of
# watch's output (the bench, the tests) tells a service's line from a turn's whatever the service prints.
SERVICE_LINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]* *\| ")


@dataclass(frozen=True)
class LogLine:
    """One line a service's container wrote (stdout or stderr), as compose passes it on: bytes decoded, not yet
    made inert (text from outside). CUT: it went on past LOG_LINE_BYTES, and the rest was dropped."""

    service: str
    text: str
    cut: bool = False

    def shown(self, width: int) -> str:
        """`SERVICE | text`, the service padded to WIDTH as compose pads its names (inert it is not yet)."""
        return f"{self.service.ljust(width)}{LOG_SEPARATOR}{self.text}" + (" [cut]" if self.cut else "")


def is_service_line(line: str) -> bool:
    """Whether LINE of watch's output is a service's (`SERVICE | text`), which a reader of turn lines skips."""
    return SERVICE_LINE.match(line) is not None


def log_line(raw: bytes, cut: bool = False) -> LogLine | None:
    """RAW, a line of `compose logs`'s output, as the service's line it carries; None for compose's own notes.
    The service: the container's name without its replica number (replicas share it; a `container_name:` is
    kept whole unless it ends so)."""
    text = _COMPOSE_SEQUENCES.sub("", raw.decode(errors="replace").rstrip("\r\n"))
    found = _COMPOSE_LINE.fullmatch(text)
    if found is None:
        return None
    return LogLine(_REPLICA.sub("", found["name"]), found["text"] or "", cut)


def _death_signal() -> Callable[[], None] | None:
    """What a child runs between fork and exec to get SIGKILL when the thread that started it ends, however the
    session ends (a SIGKILL too): Linux's prctl(PR_SET_PDEATHSIG), found here, in the parent (a library looked
    up in the child could wait on a lock another thread held at the fork); None where there is none."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


class ServiceLogs:
    """`docker compose logs --follow` of SERVICES (none: every one) from SINCE (a time.time()): each service's lines
    as its containers write them, a recreated or restarted container's included (compose 2.26 and 2.40 alike). It ends
    by itself when no container of them runs (2.26: when the last one stops; at once when none runs), or on
    `close`. A child of the session (ci/core/signals.py stops it with the others) that dies with the thread that
    made it (the docker CLI's compose plugin ends with the CLI): make it on the main thread."""

    def __init__(self, engine: Engine, services: Sequence[str], since: float) -> None:
        self.services = tuple(services)
        stamp = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cmd = [*engine._client.client_config.docker_compose_cmd, "logs", "--follow", "--no-color", "--since", stamp]
        self._cmd = [str(part) for part in [*cmd, *self.services]]
        self._process = subprocess.Popen(
            self._cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=_death_signal(),  # a prctl alone: no lock taken, safe beside threads
        )  # fmt: skip
        self._closed = False

    def lines(self) -> Iterator[LogLine]:
        """Its lines as they come, until it ends; DockerFailed when compose failed (not when closed). A line
        longer than LOG_LINE_BYTES is cut there, the rest read and dropped: memory stays bounded, whatever the
        service prints."""
        out = self._process.stdout
        assert out is not None
        yield from _read_lines(out)
        code = self._process.wait()
        err = self._process.stderr.read(LOG_LINE_BYTES) if self._process.stderr else b""
        for stream in (out, self._process.stderr):
            if stream is not None:
                stream.close()
        if code != 0 and not self._closed:
            said = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
            raise failed_logs(self._cmd, code, said[-1] if said else "")

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """Ends it (SIGTERM, then SIGKILL after 5 s) and reaps it; `lines` then ends, its pipes drained."""
        self._closed = True
        end_process(self._process)


def _read_lines(out: IO[bytes]) -> Iterator[LogLine]:
    while True:
        raw = out.readline(LOG_LINE_BYTES)
        if not raw:
            return
        cut = not raw.endswith(b"\n") and len(raw) >= LOG_LINE_BYTES
        while cut:  # the rest of the line, read and dropped
            rest = out.readline(LOG_LINE_BYTES)
            if not rest or rest.endswith(b"\n"):
                break
        found = log_line(raw, cut)
        if found is not None:
            yield found


def failed_logs(command: Sequence[str], code: int, said: str) -> DockerFailed:
    """compose's logs that ended with CODE, having SAID (its last line on stderr): the project's error, or the
    interruption after a stop signal, as every failed docker call."""
    return failed(DockerException(list(command), code, b"", said.encode()), "the services' logs stopped")


def stop_services(engine: Engine, services: list[str]) -> None:
    """Stop and remove the stack's containers (verify --down); volumes and the cache registry stay."""
    try:
        engine._client.compose.rm(services=services, stop=True, volumes=False)
    except DockerException as err:
        raise failed(err, "could not stop the stack") from None


def start_cache_registry(engine: Engine) -> None:
    """The project's own registry (compose service `registry`, profile `cache`, named volume); ENGINE must
    be connected with the `cache` profile."""
    try:
        engine._client.compose.up(services=["registry"], detach=True, pull="missing", quiet=True)
    except DockerException as err:
        raise failed(err, "could not start the project's cache registry") from None


def compose_version_line(engine: Engine) -> str:
    """`docker compose version`, e.g. "Docker Compose version v2.29.1"; CiError when compose is missing."""
    try:
        return engine._client.compose.version().strip()
    except DockerException as err:
        raise failed(err, "docker compose does not answer") from None


# --- compose watch ------------------------------------------------------------------------------------------

WATCH_READY = "Watch enabled"  # compose's line once it watches (2.32 and later; checked on 2.40)
# compose's words when no service it would watch has a develop section it takes: before 2.32 (docker/compose#12343)
# it skips every service without `build:`, which is every service of a bake-built stack.
WATCH_NONE = "none of the selected services is configured for watch"
WATCH_STOP_SECONDS = 10.0  # compose ends on SIGINT at once; then SIGKILL


class WatchRefused(DockerFailed):
    """compose watch found no service to watch (WATCH_NONE): the compose in use skips them."""


class ComposeWatch:
    """`docker compose watch --no-up` on the project's stack as it runs (compose neither builds nor starts
    anything), in the background: its output lines, each with when it was read, on a thread of its own. Made by
    `compose_watch`, which stops it: it never outlives the block."""

    def __init__(self, engine: Engine) -> None:
        self._command = [*map(str, engine._client.client_config.docker_compose_cmd), "watch", "--no-up"]
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.said: list[str] = []  # every line so far, for a failure's message
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put((time.monotonic(), line.rstrip("\n")))

    def next(self, timeout: float) -> tuple[float, str] | None:
        """The next line within TIMEOUT seconds and when it was read (time.monotonic()), else None. DockerFailed
        when compose has ended and said everything."""
        try:
            found = self._lines.get(timeout=timeout)
        except queue.Empty:
            if self._process.poll() is not None and self._lines.empty():
                last = next((line for line in reversed(self.said) if line.strip()), "")
                raise DockerFailed(
                    f"docker compose watch exited with {self._process.returncode}: {last or 'no output'}",
                    command=self._command,
                    stdout="\n".join(self.said),
                ) from None
            return None
        self.said.append(found[1])
        return found

    def ready(self, timeout: float) -> None:
        """Until compose watches (WATCH_READY); WatchRefused when it finds nothing to watch, DockerFailed when it
        ends otherwise or says nothing of the kind within TIMEOUT seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                found = self.next(0.05)
            except DockerFailed as err:
                if any(WATCH_NONE in line for line in self.said):
                    raise WatchRefused(str(err), command=err.command, stdout=err.stdout) from None
                raise
            if found and WATCH_READY in found[1]:
                return
        raise DockerFailed(f"docker compose watch did not say {WATCH_READY!r} within {timeout:.0f}s")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=WATCH_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


@contextlib.contextmanager
def compose_watch(engine: Engine) -> Iterator[ComposeWatch]:
    """`docker compose watch --no-up` while the block runs (see ComposeWatch)."""
    watching = ComposeWatch(engine)
    try:
        yield watching
    finally:
        watching.stop()
