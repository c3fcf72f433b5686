"""`nox -s doctor`: the build guide's troubleshooting pages as checks of this host and this tree.

Each check ends ok, warn or fail (or skip, when what it needs is missing) with one line of detail and one
line of advice. The session prints them as a table, writes `junit-doctor.xml` and `doctor.json`, and exits
non-zero only when a check failed. It only reads: it builds, pulls, starts and removes nothing.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import requests
from packaging.version import Version
from python_on_whales import DockerClient

from ci import context as ctx
from ci import docker as dk
from ci.config import Settings, load_settings
from ci.errors import CiError, EngineUnreachable
from ci.reporting import Check, Report, table, write_json, write_junit
from ci.versions import parse_version, tool_version

# --- what this project needs of the host: the one place these numbers live (the README quotes them) ---


@dataclass(frozen=True)
class Minimum:
    version: str
    why: str  # the feature that needs it, and where that version is documented


HOST_MINIMUMS: dict[str, Minimum] = {
    "engine": Minimum(
        "25.0",
        "healthcheck start interval, used by compose.yaml and Dockerfile.frontend (moby v25.0.0 release notes, "
        "API 1.44)",
    ),
    "buildx": Minimum(
        "0.13.0",
        "bake --progress=rawjson without the build-details text (docker/buildx 598bc16, first in v0.13.0) "
        "and --metadata-file",
    ),
    "compose": Minimum(
        "2.24.0",
        "healthcheck start_interval passed to the engine (docker/compose fb3868f, first in v2.24.0); "
        "up --wait (2.1.1) and --wait-timeout (2.17.0)",
    ),
}
# `docker buildx bake --check` (build checks through --call): docker/buildx 8da2857, first in v0.16.0.
BUILDX_CHECK_MINIMUM = "0.16.0"

DEFAULT_CONTEXT_BUDGET_MB = 5.0  # the guide's context went from 388 MB to 14 MB; ours is well under 1 MB
DEFAULT_CACHE_WARN_GB = 10.0  # build cache above this: time for `nox -s prune`
FREE_DISK_WARN_GB = 10.0
FREE_DISK_FAIL_GB = 2.0  # below this, builds fail half-way with "no space left on device"
REGISTRY_TIMEOUT = 2.0  # seconds
LARGEST_SHOWN = 10
STANDIN_ADVICE = "run `sudo ci/provision` (stand-in base images), or set {var} to an image this host can pull"

Level = Literal["ok", "warn", "fail", "skip"]
T = TypeVar("T")
JUNIT_STATUS: dict[str, str] = {"ok": "passed", "warn": "passed", "fail": "failed", "skip": "skipped"}


@dataclass
class Finding:
    name: str
    level: Level
    detail: str
    advice: str = ""
    output: str = ""  # longer evidence: the largest files, every COPY source, each base image
    seconds: float = 0.0
    exit_code: int = 1  # the session's exit code when this is the first failure
    facts: dict[str, str] = field(default_factory=dict)  # JUnit properties


# --- pure helpers ------------------------------------------------------------------------------------


def version_finding(name: str, raw: str, minimum: Minimum, advice: str) -> Finding:
    found = parse_version(raw)
    facts = {f"{name}_version": raw, f"{name}_minimum": minimum.version}
    if found is None:
        return Finding(name, "warn", f"cannot read a version from {raw!r}", advice, facts=facts)
    if found < Version(minimum.version):
        return Finding(
            name, "fail", f"{raw} is older than {minimum.version}, needed for {minimum.why}", advice, facts=facts
        )
    return Finding(name, "ok", f"{raw} (>= {minimum.version})", facts=facts)


def human_bytes(size: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} B"


def bake_groups(bake_text: str) -> list[str]:
    """The group names declared in an HCL bake file, in order."""
    return list(dict.fromkeys(re.findall(r'^\s*group\s+"([^"]+)"', bake_text, re.M)))


def bake_variable_default(bake_text: str, name: str) -> str | None:
    """The literal default of `variable "NAME"` in an HCL bake file."""
    match = re.search(rf'variable\s+"{re.escape(name)}"\s*\{{[^}}]*?default\s*=\s*"([^"]*)"', bake_text, re.S)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line where it starts
    keyword: str  # upper case
    args: str  # continuation lines joined


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments, parser directives and heredoc bodies skipped."""
    escape = "\\"
    lines = text.splitlines()
    for line in lines:  # parser directives come first, before any other line
        directive = re.match(r"^#\s*(\w+)\s*=\s*(\S+)\s*$", line)
        if not directive:
            break
        if directive.group(1).lower() == "escape":
            escape = directive.group(2)
    result: list[Instruction] = []
    i = 0
    while i < len(lines):
        start, line = i, lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        parts = []
        while line.endswith(escape):
            parts.append(line[: -len(escape)])
            while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                i += 1  # comments and blank lines inside a continued instruction
            if i >= len(lines):
                line = ""
                break
            line = lines[i].strip()
            i += 1
        parts.append(line)
        joined = " ".join(p.strip() for p in parts).strip()
        keyword, _, args = joined.partition(" ")
        for marker in re.findall(r"<<-?[\"']?(\w+)[\"']?", args):  # heredocs: skip their bodies
            while i < len(lines) and lines[i].strip() != marker:
                i += 1
            i += 1
        result.append(Instruction(start + 1, keyword.upper(), args.strip()))
    return result


def _arguments(args: str) -> list[str]:
    if args.startswith("["):
        try:
            parsed = json.loads(args)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return parsed
    return args.split()


@dataclass(frozen=True)
class CopySource:
    line: int
    keyword: str
    source: str


def copy_sources(text: str) -> list[CopySource]:
    """The context sources of a Dockerfile's COPY and ADD instructions (not --from=, heredocs or URLs)."""
    sources: list[CopySource] = []
    for ins in dockerfile_instructions(text):
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = _arguments(ins.args)
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue
        operands = [w for w in words if not w.startswith("--")]
        for source in operands[:-1]:
            if source.startswith("<<") or re.match(r"^[a-z][a-z0-9+.-]*://|^git@", source):
                continue
            sources.append(CopySource(ins.line, ins.keyword, source))
    return sources


_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::?([-+])([^}]*))?\}|(\w+))")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Dockerfile variable substitution: $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alternative}."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        value = values.get(name, "")
        if match.group(2) == "-":
            return value or match.group(3)
        if match.group(2) == "+":
            return match.group(3) if value else ""
        return value

    return _VARIABLE.sub(replace, text)


def base_images(text: str, args: Mapping[str, str]) -> list[tuple[str, str]]:
    """(image, how it was named) of each FROM that names an image, with ARGs substituted: ARG defaults
    before the first FROM, overridden by the target's build ARGS. Stage names and scratch are left out."""
    defaults: dict[str, str] = {}
    stages: set[str] = set()
    images: list[tuple[str, str]] = []
    seen_from = False
    for ins in dockerfile_instructions(text):
        if ins.keyword == "ARG" and not seen_from:
            for word in ins.args.split():
                name, _, value = word.partition("=")
                defaults[name] = value.strip("\"'")
        if ins.keyword != "FROM":
            continue
        seen_from = True
        words = [w for w in ins.args.split() if not w.startswith("--")]
        if not words:
            continue
        named, image = words[0], substitute(words[0], {**defaults, **args})
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
        if image.lower() in stages or image == "scratch" or not image:
            continue
        images.append((image, named))
    return images


def expand_source(root: Path, source: str) -> tuple[list[str], list[str]]:
    """(files, directories) of the working tree that a COPY source names, as POSIX paths relative to ROOT."""
    rel = ctx.go_clean(source).lstrip("/")
    if rel in ("", "."):
        return [], [""]
    if any(c in rel for c in "*?["):
        matches = sorted(glob.glob(rel, root_dir=root, include_hidden=True))
    else:
        matches = [rel] if (root / rel).exists() or (root / rel).is_symlink() else []
    files = [m for m in matches if not (root / m).is_dir() or (root / m).is_symlink()]
    dirs = [m for m in matches if m not in files]
    return files, dirs


def git_tracked(root: Path) -> set[str] | None:
    """Files git tracks under ROOT, relative to it; None outside a git work tree."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {p for p in out.decode(errors="replace").split("\0") if p}


def registry_probe_url(registry: str) -> tuple[str, bool]:
    """(the registry's /v2/ URL, whether it is on loopback): loopback registries speak plain HTTP, as the
    engine allows them to; others HTTPS."""
    host = registry.split("/")[0]
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    loopback = name in ("localhost", "[::1]") or name.startswith("127.")
    return f"{'http' if loopback else 'https'}://{host}/v2/", loopback


# --- the checks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    context: Path
    dockerfile: Path
    args: dict[str, str]


class Doctor:
    """The checks of one run. Facts shared by several checks (the engine, the bake definition) are
    futures, so the checks run in parallel and each waits only for what it needs."""

    def __init__(
        self, settings: Settings, docker: DockerClient, *, budget_bytes: float, cache_warn_bytes: float
    ) -> None:
        self.settings = settings
        self.docker = docker
        self.budget_bytes = budget_bytes
        self.cache_warn_bytes = cache_warn_bytes
        self.pool = ThreadPoolExecutor(max_workers=12)
        self.bake_text = settings.bake_file.read_text() if settings.bake_file.is_file() else ""
        self.engine: Future[Finding | list[Finding]] = self.pool.submit(self._timed, "engine", self.check_engine)
        self.definition: Future[dict[str, Any] | str] = self.pool.submit(self._bake_definition)
        self.engine_facts: Future[dk.EngineFacts] = self.pool.submit(self._after_engine, dk.engine_facts)
        self.cache_bytes: Future[int] = self.pool.submit(self._after_engine, dk.build_cache_bytes)

    def run(self) -> list[Finding]:
        checks: list[tuple[str, Callable[[], Finding | list[Finding]]]] = [
            ("buildx", self.check_buildx),
            ("compose", self.check_compose),
            ("builder", self.check_builder),
            ("cache registry", self.check_registry),
            ("disk", self.check_disk),
            ("bake file", self.check_bake_file),
            ("context", self.check_contexts),
            ("dockerignore", self.check_dockerignore),
            ("base images", self.check_base_images),
        ]
        futures = [self.engine] + [self.pool.submit(self._timed, name, check) for name, check in checks]
        findings: list[Finding] = []
        for future in futures:
            result = future.result()
            findings.extend(result if isinstance(result, list) else [result])
        self.pool.shutdown()
        return findings

    def _timed(self, name: str, check: Callable[[], Finding | list[Finding]]) -> Finding | list[Finding]:
        start = time.monotonic()
        try:
            result = check()
        except CiError as err:
            result = Finding(name, "fail", str(err), exit_code=err.exit_code)
        except Exception as err:  # one broken check must not hide the others' answers
            first = (str(err).strip().splitlines() or [""])[0]
            result = Finding(name, "fail", f"{type(err).__name__}: {first}", output=str(err))
        seconds = time.monotonic() - start
        for finding in result if isinstance(result, list) else [result]:
            finding.seconds = seconds
        return result

    def _engine_ok(self) -> bool:
        engine = self.engine.result()
        return isinstance(engine, Finding) and "engine_version" in engine.facts

    def _after_engine(self, fact: Callable[[DockerClient], T]) -> T:
        """A fact more than one check reads, asked once the engine answered (its checks skip otherwise)."""
        self.engine.result()
        return fact(self.docker)

    def _skip_without_engine(self, name: str) -> Finding:
        return Finding(name, "skip", "the engine does not answer (see engine)")

    # engine, buildx, compose ------------------------------------------------------------------------

    def check_engine(self) -> Finding:
        try:
            version = dk.require_engine(self.docker)
        except EngineUnreachable as err:
            detail, sep, advice = str(err).partition(": run ")
            return Finding("engine", "fail", detail, f"run {advice}" if sep else "", exit_code=err.exit_code)
        finding = version_finding(
            "engine", version, HOST_MINIMUMS["engine"], "upgrade Docker Engine (`sudo ci/provision` on Debian 12)"
        )
        finding.detail = f"{finding.detail} at {dk.engine_location()}"
        return finding

    def check_buildx(self) -> Finding:
        raw = tool_version(dk.buildx_version_line(self.docker))
        return version_finding(
            "buildx", raw, HOST_MINIMUMS["buildx"], "install a newer docker-buildx plugin (`sudo ci/provision`)"
        )

    def check_compose(self) -> Finding:
        raw = tool_version(dk.compose_version_line(self.docker))
        return version_finding(
            "compose", raw, HOST_MINIMUMS["compose"], "install a newer docker compose plugin (`sudo ci/provision`)"
        )

    # builder, registry, disk ---------------------------------------------------------------------------

    def check_builder(self) -> Finding:
        if not self._engine_ok():
            return self._skip_without_engine("builder")
        builder = dk.inspect_builder(self.docker)
        facts = {"builder": builder.name, "builder_driver": builder.driver}
        nodes = ", ".join(builder.statuses) or "no nodes"
        # inactive and stopped nodes are started by the next build; anything else (error) is broken.
        if any(s not in ("running", "inactive", "stopped") for s in builder.statuses) or not builder.statuses:
            return Finding(
                "builder",
                "fail",
                f"{builder.name} ({builder.driver} driver): nodes {nodes}",
                f"`docker buildx inspect --bootstrap {builder.name}` shows why; or `docker buildx use default`",
                facts=facts,
            )
        if builder.driver != "docker":
            return Finding(
                "builder", "ok", f"{builder.name} ({builder.driver} driver): exports registry cache", facts=facts
            )
        facts["containerd_image_store"] = str(self.engine_facts.result().containerd_store).lower()
        if facts["containerd_image_store"] == "true":
            detail = f"{builder.name} (docker driver, containerd image store): exports registry cache"
            return Finding("builder", "ok", detail, facts=facts)
        return Finding(
            "builder",
            "warn",
            f"{builder.name} (docker driver, classic image store): cannot export registry cache",
            'enable the containerd image store: {"features": {"containerd-snapshotter": true}} in '
            "/etc/docker/daemon.json, then restart dockerd (`sudo ci/provision` does it)",
            facts=facts,
        )

    def cache_registry(self) -> str:
        return os.environ.get("CACHE_REGISTRY") or bake_variable_default(self.bake_text, "CACHE_REGISTRY") or ""

    def check_registry(self) -> Finding:
        registry = self.cache_registry()
        if not registry:
            return Finding("cache registry", "skip", "no CACHE_REGISTRY set and none in the bake file")
        url, loopback = registry_probe_url(registry)
        facts = {"cache_registry": registry}
        advice = (
            "start it (`sudo ci/provision` serves one on 127.0.0.1:5000) or set CACHE_REGISTRY; "
            "until then prod builds share no cache"
        )
        with requests.Session() as session:
            session.trust_env = not loopback  # a proxy from the environment cannot reach this machine's loopback
            try:
                response = session.get(url, timeout=REGISTRY_TIMEOUT)
            except requests.RequestException as err:
                reason = "connection refused" if "refused" in str(err).lower() else type(err).__name__
                return Finding("cache registry", "warn", f"{registry}: {reason} ({url})", advice, facts=facts)
        if response.status_code in (200, 401):  # 401: it answers, and wants a `docker login`
            return Finding(
                "cache registry", "ok", f"{registry} answers ({url} HTTP {response.status_code})", facts=facts
            )
        return Finding(
            "cache registry", "warn", f"{registry}: {url} answered HTTP {response.status_code}", advice, facts=facts
        )

    def check_disk(self) -> Finding:
        if not self._engine_ok():
            return self._skip_without_engine("disk")
        engine = self.engine_facts.result()
        cache = self.cache_bytes.result()
        facts = {"build_cache_bytes": str(cache)}
        parts = [f"build cache {human_bytes(cache)}"]
        level: Level = "ok"
        advice = ""
        local = dk.engine_location().startswith("unix://") and Path(engine.root_dir).is_dir()
        if local:
            free = shutil.disk_usage(engine.root_dir).free
            facts["free_bytes"] = str(free)
            parts.insert(0, f"{human_bytes(free)} free on {engine.root_dir}")
            if free < FREE_DISK_FAIL_GB * 1e9:
                level, advice = "fail", "builds will fail with no space left: run `nox -s prune`, then free disk"
            elif free < FREE_DISK_WARN_GB * 1e9:
                level, advice = "warn", "little space left for builds: run `nox -s prune`"
        else:
            parts.insert(0, "free disk unknown (the engine is not on this machine)")
        if cache > self.cache_warn_bytes and level == "ok":
            level = "warn"
            advice = f"the build cache is over {human_bytes(self.cache_warn_bytes)}: run `nox -s prune`"
        return Finding("disk", level, "; ".join(parts), advice, facts=facts)

    # the bake definition and what it builds ----------------------------------------------------------

    def _bake_definition(self) -> dict[str, Any] | str:
        """The definition of every group of the bake file, or buildx's error line."""
        if not self.bake_text:
            return f"no bake file at {self.settings.bake_file}"
        groups = bake_groups(self.bake_text) or ["default"]
        try:
            return dk.bake_definition(self.docker, self.settings.bake_file, groups, self.settings.host_defaults)
        except CiError as err:
            return str(err)

    def targets(self) -> list[Target] | str:
        definition = self.definition.result()
        if isinstance(definition, str):
            return definition
        targets = []
        for name, target in sorted((definition.get("target") or {}).items()):
            context = str(target.get("context") or ".")
            if re.match(r"^[a-z][a-z0-9+.-]*://|^git@", context) or "dockerfile-inline" in target:
                continue  # remote contexts and inline Dockerfiles: nothing on this disk to check
            root = (self.settings.root / context).resolve()
            dockerfile = Path(str(target.get("dockerfile") or "Dockerfile"))
            args = {k: str(v) for k, v in (target.get("args") or {}).items()}
            targets.append(Target(name, root, dockerfile if dockerfile.is_absolute() else root / dockerfile, args))
        return targets

    def check_bake_file(self) -> Finding:
        definition = self.definition.result()
        if isinstance(definition, str):
            return Finding("bake file", "fail", definition, "fix the bake file: `nox -s lint` resolves every group")
        groups, targets = definition.get("group") or {}, definition.get("target") or {}
        return Finding(
            "bake file", "ok", f"{self.settings.bake_file.name}: {len(groups)} groups, {len(targets)} targets"
        )

    def _skip_without_bake(self, name: str) -> Finding:
        return Finding(name, "skip", "the bake file does not resolve (see bake file)")

    def check_contexts(self) -> list[Finding]:
        targets = self.targets()
        if isinstance(targets, str):
            return [self._skip_without_bake("context")]
        # Targets with the same context folder and ignore file send the same files: one check for them.
        by_context: dict[tuple[Path, Path | None], list[Target]] = {}
        for target in targets:
            by_context.setdefault((target.context, ctx.ignore_file(target.context, target.dockerfile)), []).append(
                target
            )
        findings = [self._context_finding(t, len(by_context) > 1) for t in by_context.values()]
        return findings or [Finding("context", "skip", "no bake target has a local context")]

    def _context_finding(self, targets: list[Target], several: bool) -> Finding:
        first = targets[0]
        name = f"context {first.name}" if several else "context"
        files = ctx.context_files(first.context, first.dockerfile)
        sizes = sorted(((os.lstat(first.context / f).st_size, f) for f in files), key=lambda s: (-s[0], s[1]))
        total = sum(size for size, _ in sizes)
        ignore = ctx.ignore_file(first.context, first.dockerfile)
        ignore_name = ignore.name if ignore else ".dockerignore"
        where = self._relative(first.context)
        largest = "\n".join(f"{human_bytes(size):>9}  {path}" for size, path in sizes[:LARGEST_SHOWN])
        output = (
            f"build context {where} of {', '.join(t.name for t in targets)} ({ignore_name}): "
            f"{len(files)} files, {human_bytes(total)}; the {min(LARGEST_SHOWN, len(files))} largest:\n{largest}"
        )
        key = name.replace(" ", "_")
        facts = {f"{key}_bytes": str(total), f"{key}_files": str(len(files))}
        budget = human_bytes(self.budget_bytes)
        if total > self.budget_bytes:
            big = ", ".join(f"{path} {human_bytes(size)}" for size, path in sizes[:3])
            return Finding(
                name,
                "fail",
                f"{human_bytes(total)} in {len(files)} files, over the {budget} budget; largest: {big}",
                f"leave what the images do not need out of the context in {ignore_name}, or raise --context-budget-mb",
                output,
                facts=facts,
            )
        detail = f"{human_bytes(total)} in {len(files)} files (budget {budget}) for {len(targets)} targets"
        return Finding(name, "ok", detail, output=output, facts=facts)

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.settings.root.resolve())) or "."
        except ValueError:
            return str(path)

    def check_dockerignore(self) -> Finding:
        targets = self.targets()
        if isinstance(targets, str):
            return self._skip_without_bake("dockerignore")
        problems: list[str] = []  # fail: a named source left out, or a copied folder sending nothing
        doubts: list[str] = []  # warn: tracked files left out of a copied folder
        lines: list[str] = []
        count = 0
        done: set[tuple[Path, Path]] = set()
        for target in targets:
            if (target.context, target.dockerfile) in done or not target.dockerfile.is_file():
                continue
            done.add((target.context, target.dockerfile))
            included = set(ctx.context_files(target.context, target.dockerfile))
            tracked = git_tracked(target.context)
            ignore = ctx.ignore_file(target.context, target.dockerfile)
            ignore_name = ignore.name if ignore else "no ignore file"
            for src in copy_sources(target.dockerfile.read_text()):
                count += 1
                where = f"{target.dockerfile.name}:{src.line} {src.keyword} {src.source}"
                if "$" in src.source:
                    lines.append(f"{where}: uses a variable, not checked")
                    continue
                files, dirs = expand_source(target.context, src.source)
                if not files and not dirs:
                    problems.append(f"{where}: nothing in the tree matches")
                for path in files:
                    if path not in included:
                        problems.append(f"{where}: {path} is excluded by {ignore_name}")
                for folder in dirs:
                    prefix = f"{folder}/" if folder else ""
                    sent = [p for p in included if p.startswith(prefix)]
                    if not sent:
                        problems.append(
                            f"{where}: everything in {folder or 'the context'} is excluded by {ignore_name}"
                        )
                    left_out = sorted(p for p in tracked or () if p.startswith(prefix) and p not in included)
                    if left_out:
                        doubts.append(f"{where}: tracked {', '.join(left_out[:3])} excluded by {ignore_name}")
                    lines.append(f"{where}: {len(sent)} files")
                if files and all(p in included for p in files):
                    lines.append(f"{where}: {len(files)} files")
        output = "\n".join(problems + doubts + lines)
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            return Finding(
                "dockerignore",
                "fail",
                problems[0] + more,
                "re-include it with a `!path` line in the ignore file (the last matching line wins)",
                output,
            )
        if doubts:
            return Finding(
                "dockerignore",
                "warn",
                doubts[0],
                "if the image needs them, add `!path` lines; if not, nothing to do",
                output,
            )
        return Finding("dockerignore", "ok", f"all {count} COPY/ADD sources are in the build context", output=output)

    def check_base_images(self) -> Finding:
        if not self._engine_ok():
            return self._skip_without_engine("base images")
        targets = self.targets()
        if isinstance(targets, str):
            return self._skip_without_bake("base images")
        named: dict[str, str] = {}
        for target in targets:
            if target.dockerfile.is_file():
                for image, how in base_images(target.dockerfile.read_text(), target.args):
                    named.setdefault(image, how)
        results = dict(zip(named, self.pool.map(self._resolve_image, named), strict=True))
        output = "\n".join(f"{named[image]:<16} {image}: {how}" for image, how in results.items())
        missing = [image for image, how in results.items() if how.startswith("not ")]
        if missing:
            variable = re.sub(r"[${}]", "", named[missing[0]])
            return Finding(
                "base images",
                "fail",
                f"{named[missing[0]]}={missing[0]}: {results[missing[0]]}"
                + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""),
                STANDIN_ADVICE.format(var=variable if variable.isupper() else "the base image variable"),
                output,
            )
        where = {how.split()[0] for how in results.values()}
        return Finding("base images", "ok", f"{len(results)} resolvable ({', '.join(sorted(where))})", output=output)

    def _resolve_image(self, image: str) -> str:
        if dk.image_present(self.docker, image):
            return "local"
        error = dk.registry_manifest_error(self.docker, image)
        return "registry" if error is None else f"not local, and the registry says: {error}"


# --- the session ------------------------------------------------------------------------------------


def to_report(findings: Iterable[Finding], settings: Settings) -> Report:
    report = Report("doctor")
    counts = {"ok": 0, "warn": 0, "fail": 0, "skip": 0}
    for finding in findings:
        counts[finding.level] += 1
        message = f"{finding.detail} ({finding.advice})" if finding.advice else finding.detail
        output = finding.output
        if finding.level == "warn":
            output = f"WARN: {message}\n{output}".strip()
        report.main.checks.append(
            Check(finding.name, JUNIT_STATUS[finding.level], finding.seconds, message, output if output else "")
        )
        report.main.properties.update(finding.facts)
    report.main.properties.update({f"{level}_checks": str(n) for level, n in counts.items()})
    report.main.properties.update({f"minimum_{name}": m.version for name, m in HOST_MINIMUMS.items()})
    report.main.properties["project"] = settings.project
    return report


def findings_table(findings: list[Finding]) -> str:
    return table(
        ("check", "result", "detail", "advice"),
        [(f.name, f.level, " ".join(f.detail.split()), f.advice if f.level != "ok" else "") for f in findings],
    )


def failure_line(findings: list[Finding]) -> tuple[str, int] | None:
    """One line for all the failures, and the exit code of the first."""
    failed = [f for f in findings if f.level == "fail"]
    if not failed:
        return None
    first = failed[0]
    line = f"{first.name}: {first.detail}" + (f": {first.advice}" if first.advice else "")
    if len(failed) > 1:
        line += f" (and {len(failed) - 1} more failing: {', '.join(f.name for f in failed[1:])})"
    return line, first.exit_code


def diagnose(settings: Settings, *, budget_bytes: float, cache_warn_bytes: float) -> list[Finding]:
    docker = dk.client(settings)
    return Doctor(settings, docker, budget_bytes=budget_bytes, cache_warn_bytes=cache_warn_bytes).run()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s doctor --",
        description="Check the host and the tree this project builds on; fails only on a failed check.",
    )
    parser.add_argument(
        "--context-budget-mb",
        type=float,
        default=DEFAULT_CONTEXT_BUDGET_MB,
        help=f"largest build context allowed, in MB (default {DEFAULT_CONTEXT_BUDGET_MB:g})",
    )
    parser.add_argument(
        "--cache-warn-gb",
        type=float,
        default=DEFAULT_CACHE_WARN_GB,
        help=f"warn when the build cache is larger, in GB (default {DEFAULT_CACHE_WARN_GB:g})",
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    findings = diagnose(settings, budget_bytes=args.context_budget_mb * 1e6, cache_warn_bytes=args.cache_warn_gb * 1e9)
    report = to_report(findings, settings)
    junit = write_junit(report, settings.reports_dir / "junit-doctor.xml")
    write_json(
        {
            "minimums": {name: asdict(m) for name, m in HOST_MINIMUMS.items()},
            "checks": [asdict(f) for f in findings],
        },
        settings.reports_dir / "doctor.json",
    )
    print(findings_table(findings))
    for finding in findings:
        if finding.name.startswith("context") and finding.output:
            print(f"\n{finding.output}")
    print(f"\nJUnit: {junit}", flush=True)
    failure = failure_line(findings)
    if failure is None:
        return 0
    print(f"error: {failure[0]}", file=sys.stderr)
    return failure[1]
