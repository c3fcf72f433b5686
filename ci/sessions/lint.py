"""`nox -s lint`: the repository checks itself. Python (ruff, mypy strict), every Dockerfile the bake
file names and the root's (hadolint, zero findings), the workflows (actionlint), the bake definition of
every group, the bake file's one compression for its images and cache exports, and buildx's build checks
when the installed buildx has them. Every step runs even after one
fails; the JUnit file lists them all.

The nox session installs the linters (ci/requirements-lint.txt); run outside it, a missing tool is a
failed step saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from ci import docker as dk
from ci.builds.bakefile import bake_environment, bake_groups, resolved_targets
from ci.core.errors import CiError, DockerFailed
from ci.core.report import Check
from ci.core.session import Run, Session
from ci.core.settings import Settings
from ci.core.versions import BUILDX_CHECK, at_least, tool_version

PYTHON_PATHS = ("ci", "tests", "noxfile.py")
# The suite's ruff and mypy settings (and pytest's: noxfile.py's TOOL_SETTINGS), named on the command line:
# the root's pyproject.toml is the app's, and ruff would take a folder's own for the files in it.
TOOL_SETTINGS = "ci/pyproject.toml"
HADOLINT_CONFIG = ".hadolint.yaml"
WORKFLOWS = Path(".github/workflows")
STEPS = ("ruff check", "ruff format", "mypy", "hadolint", "actionlint", "bake print", "bake compression", "bake check")
NOT_INSTALLED = "{tool} is not installed here: run `nox -s lint`, which installs the linters"


def dockerfiles(root: Path, named: Iterable[Path] = ()) -> list[Path]:
    """The Dockerfiles to lint: those the bake file NAMES (a service's own, in its folder) and the root's
    `Dockerfile` and `Dockerfile.*`, not their `.dockerignore` files."""
    found = {p.resolve() for p in root.glob("Dockerfile*") if p.is_file() and not p.name.endswith(".dockerignore")}
    found |= {p.resolve() for p in named if p.is_file()}
    return sorted(found)


def named_dockerfiles(settings: Settings) -> list[Path]:
    """The Dockerfiles of every target of every group, from the resolved bake definition; none when it does
    not resolve (`bake print` then says why)."""
    groups = bake_groups(settings.bake_file.read_text()) if settings.bake_file.is_file() else []
    try:
        definition = dk.bake_definition(
            dk.connect(settings), settings.bake_file, groups or ["default"], bake_environment(settings)
        )
    except CiError:
        return []
    paths = (t.dockerfile_path(settings.root) for t in resolved_targets(definition).values())
    return [p for p in paths if p is not None]


def hadolint(check: Check, settings: Settings) -> None:
    root = settings.root.resolve()
    files = [
        str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
        for p in dockerfiles(root, named_dockerfiles(settings))
    ]
    run_tool(check, settings.root, ["hadolint", "--no-color", "--config", HADOLINT_CONFIG, *files], findings_first=True)


def workflow_files(root: Path) -> list[Path]:
    folder = root / WORKFLOWS
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yml", ".yaml")) if folder.is_dir() else []


def summary(output: str, *, first: bool = False) -> str:
    """One line for a tool's output: its first finding or its closing line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[0] if first else lines[-1]


def run_tool(check: Check, root: Path, command: list[str], *, findings_first: bool = False) -> None:
    """Run a linter in ROOT; its output goes to the screen and the report, a non-zero exit fails the step."""
    executable = shutil.which(command[0])
    if executable is None:
        raise CiError(NOT_INSTALLED.format(tool=command[0]))
    print(f"$ {' '.join(command)}", flush=True)
    proc = subprocess.run([executable, *command[1:]], cwd=root, capture_output=True, text=True)
    output = "\n".join(part.rstrip() for part in (proc.stdout, proc.stderr) if part.strip())
    if output:
        print(output, flush=True)
    check.output = output
    if proc.returncode != 0:
        found = len([line for line in output.splitlines() if line and not line.startswith(" ")])
        line = summary(output, first=findings_first) or f"exited with {proc.returncode}"
        raise CiError(f"{line} ({found} lines of findings)" if findings_first and found > 1 else line, output)
    check.message = summary(output) or "no findings"


def bake_print(check: Check, settings: Settings) -> None:
    """Every group of the bake file resolves, with the host's base images as the sessions pass them."""
    groups = bake_groups(settings.bake_file.read_text()) or ["default"]
    engine = dk.connect(settings)
    resolved = []
    for group in groups:
        print(f"$ docker buildx bake -f {settings.bake_file.name} --print {group}", flush=True)
        try:
            definition = dk.bake_definition(engine, settings.bake_file, [group], bake_environment(settings))
        except DockerFailed as err:
            raise CiError(f"{settings.bake_file.name}: {str(err).removeprefix('ERROR: ')}") from None
        resolved.append(f"{group} ({len(definition.get('target') or {})} targets)")
    check.message = f"{len(groups)} groups resolve: {', '.join(resolved)}"


# --- the bake file's one compression ---------------------------------------------------------------------

# The exporters whose layers a compression applies to: an image's outputs (loaded, pushed, written as an OCI
# layout) and the cache exports that hold layers of their own (inline cache rides in the image's).
IMAGE_OUTPUTS = ("docker", "image", "oci", "registry")
CACHE_EXPORTS = ("registry", "local", "gha", "s3", "azblob")
_OPTION = re.compile(r"(?<![\w-])(compression|compression-level|force-compression|oci-mediatypes)=([^,\"\s\]]*)")
_CALL = re.compile(r"\$\{\s*([A-Za-z_][\w-]*)\s*\(([^)]*)\)\s*\}")
_FUNCTION = re.compile(r'^[ \t]*function[ \t]+"?([A-Za-z_][\w-]*)"?[ \t]*\{(.*?)^[ \t]*\}', re.M | re.S)
_TARGET = re.compile(r'^\s*target\s+"?([\w.-]+)"?\s*\{')
_EXPORT = re.compile(r"^\s*(output|cache-to)\s*=(.*)$")


@dataclass(frozen=True)
class Export:
    """An image output or cache export as the bake file writes it: where, and the compression it declares
    (its options sorted, then the calls of a function declaring one; "" when none)."""

    line: int
    target: str
    attribute: str  # output, cache-to
    kind: str  # its type=
    declared: str


def bake_exports(text: str) -> list[Export]:
    """The image outputs and cache exports of a bake file's targets, read as text (`output` and `cache-to`,
    a list on several lines included; comments left out). What a function returns whole is not seen: the
    rule holds for exports written in the targets, as the project's are."""
    functions = {name for name, block in _FUNCTION.findall(text) if "compression=" in block}
    lines = [_uncommented(line) for line in text.splitlines()]
    found, target = [], ""
    for number, line in enumerate(lines, start=1):
        if header := _TARGET.match(line):
            target = header.group(1)
        if not (attribute := _EXPORT.match(line)):
            continue
        value, more = attribute.group(2), iter(lines[number:])
        while value.count("[") > value.count("]") and (following := next(more, None)) is not None:
            value += " " + following
        kinds = IMAGE_OUTPUTS if attribute.group(1) == "output" else CACHE_EXPORTS
        for kind, spec in _specs(value):
            if kind in kinds:
                declared = sorted(f"{k}={v}" for k, v in _OPTION.findall(spec))
                declared += [f"${{{n}({a})}}" for n, a in _CALL.findall(spec) if n in functions]
                found.append(Export(number, target, attribute.group(1), kind, ",".join(declared)))
    return found


def _specs(value: str) -> Iterator[tuple[str, str]]:
    """Each exporter in an attribute's value, from its `type=` to the next one's."""
    starts = list(re.finditer(r"type=([\w-]+)", value))
    for i, start in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(value)
        yield start.group(1), value[start.start() : end]


def _uncommented(line: str) -> str:
    """LINE without its `#` or `//` comment (a quote opens or closes a string, as HCL's do)."""
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif not quoted and (char == "#" or line.startswith("//", i)):
            return line[:i]
    return line


def compression_findings(text: str, shown: str) -> list[str]:
    """The image outputs and cache exports of a bake file (SHOWN: its path) that do not declare the one
    compression the others do, a line each: `PATH:LINE OneCompression: what it declares; the one`. The one is
    the declaration most of them share (the first, on a tie); where none declares any, each is a finding."""
    exports = bake_exports(text)
    counts = Counter(e.declared for e in exports if e.declared)
    one = counts.most_common(1)[0][0] if counts else ""
    first = next((e for e in exports if e.declared == one), None) if one else None
    lines = []
    for e in exports:
        if e.declared and e.declared == one:
            continue
        what = f"declares {e.declared}" if e.declared else "declares no compression"
        rule = f"declare one: {one} ({shown}:{first.line})" if first else "declare one, the same on each"
        where = f'target "{e.target}" {e.attribute} type={e.kind}' if e.target else f"{e.attribute} type={e.kind}"
        lines.append(f"{shown}:{e.line} OneCompression: {where} {what}; images and cache exports {rule}")
    return lines


def bake_compression(check: Check, settings: Settings) -> None:
    """The bake file's image outputs and cache exports declare one compression: a layer is then compressed
    once, the loaded image's and the cache's the same blob (docs/benchmark.md), and LAYER_COMPRESSION says it
    for all of them. A line per finding, by the bake file's path in the project (compression_findings)."""
    bake_file = settings.bake_file
    if not bake_file.is_file():
        raise CiError(f"bake file not found: {bake_file}")
    shown = bake_file.name
    text = bake_file.read_text()
    findings = compression_findings(text, shown)
    check.output = "\n".join(findings)
    print(check.output or "no findings", flush=True)
    if findings:
        more = f" ({len(findings)} findings)" if len(findings) > 1 else ""
        raise CiError(findings[0] + more, check.output)
    exports = bake_exports(text)
    check.message = (
        f"{len(exports)} image outputs and cache exports declare {exports[0].declared}"
        if exports
        else "no image output or cache export declared"
    )


def bake_check(check: Check, settings: Settings) -> None:
    """buildx's build checks over every group, when this buildx has `bake --check`; skipped with a note if not.
    Each finding is a line naming its Dockerfile by its path in the project (check_findings)."""
    engine = dk.connect(settings)
    version = tool_version(dk.buildx_version_line(engine))
    if not at_least(version, BUILDX_CHECK):
        check.status = "skipped"
        check.message = f"buildx {version} has no `bake --check` (it came in {BUILDX_CHECK})"
        print(f"skipped: {check.message}", flush=True)
        return
    groups = bake_groups(settings.bake_file.read_text()) or ["default"]
    print(f"$ docker buildx bake -f {settings.bake_file.name} --call check,format=json {' '.join(groups)}", flush=True)
    try:
        findings = check_findings(
            dk.bake_check(engine, settings.bake_file, groups, bake_environment(settings)), settings.root
        )
    except DockerFailed as err:
        findings = check_findings(err.stdout, settings.root)
        if not findings:  # no findings to show: bake itself failed, its own words say why
            output = "\n".join(p for p in (err.stdout, err.stderr) if p)
            print(output, flush=True)
            # BuildKit before 0.15 has no build checks in its Dockerfile frontend: buildx then asks for the
            # docker/dockerfile frontend image, which a host without Docker Hub cannot pull.
            if "subrequest" in output or "not support" in output or "docker/dockerfile" in output:
                check.status = "skipped"
                check.message = f"the builder's BuildKit cannot run build checks: {err}"
                return
            lines = [line for line in output.splitlines() if "WARN" in line or "ERROR" in line]
            raise CiError(lines[0].strip() if lines else str(err), output) from None
    check.output = "\n".join(findings or [])
    print(check.output or "no findings", flush=True)
    if findings:
        more = f" ({len(findings)} findings)" if len(findings) > 1 else ""
        raise CiError(findings[0] + more, check.output)
    check.message = "no findings"


def check_findings(output: str, root: Path) -> list[str] | None:
    """The findings of `bake --call check,format=json` as lines, `PATH:LINE RULE: what (its page)`, PATH the
    Dockerfile's path in the project ROOT from the target's own definition: buildx names it relative to the
    target's context (`Dockerfile`, for every service in a folder of its own). A finding two targets share
    (a target and its validate twin) once. None when OUTPUT is no such JSON."""
    try:
        data = json.loads(output)
    except ValueError:
        return None
    results = data.get("target") if isinstance(data, dict) else None
    if not isinstance(results, dict):
        return None
    results = {name: entry for name, entry in results.items() if isinstance(entry, dict)}
    targets = resolved_targets({"target": {name: entry.get("build") or {} for name, entry in results.items()}})
    top = root.resolve()
    lines: list[str] = []
    for name, target in targets.items():
        found = results[name].get("check")
        if not isinstance(found, dict):
            continue
        path = target.dockerfile_path(root)
        shown = str(path.relative_to(top)) if path and path.is_relative_to(top) else str(path or target.dockerfile)
        for warning in found.get("warnings") or []:
            where = _location(shown, warning.get("location"))
            page = f" ({warning['url']})" if warning.get("url") else ""
            lines.append(f"{where} {warning.get('ruleName', '?')}: {warning.get('detail', '')}{page}")
        error = found.get("buildError")
        if isinstance(error, dict):
            lines.append(f"{_location(shown, error.get('location'))} error: {error.get('message', '')}")
        elif isinstance(found.get("error"), str):
            lines.append(f"{shown} error: {found['error'].strip()}")
    return list(dict.fromkeys(lines))


def _location(path: str, location: object) -> str:
    """PATH:LINE, the first line of a finding's location (BuildKit's pb.Location, zero values left out)."""
    ranges = location.get("ranges") if isinstance(location, dict) else None
    if not isinstance(location, dict) or location.get("sourceIndex", 0) < 0 or not ranges:
        return path
    line = (ranges[0].get("start") or {}).get("line", 0)
    return f"{path}:{line}" if line else path


def steps(settings: Settings) -> list[tuple[str, Callable[[Check], None]]]:
    root = settings.root
    ruff = ["--config", TOOL_SETTINGS, *PYTHON_PATHS]
    return [
        ("ruff check", lambda c: run_tool(c, root, ["ruff", "check", *ruff])),
        ("ruff format", lambda c: run_tool(c, root, ["ruff", "format", "--check", *ruff])),
        ("mypy", lambda c: run_tool(c, root, ["mypy", "--config-file", TOOL_SETTINGS])),  # its files, strictness
        ("hadolint", lambda c: hadolint(c, settings)),
        # -pyflakes= : no Python in run: steps, and the same result with or without pyflakes on PATH.
        ("actionlint", lambda c: run_tool(c, root, ["actionlint", "-no-color", "-pyflakes="], findings_first=True)),
        ("bake print", lambda c: bake_print(c, settings)),
        ("bake compression", lambda c: bake_compression(c, settings)),
        ("bake check", lambda c: bake_check(c, settings)),
    ]


def body(run: Run) -> None:
    """Every linter runs, even after one fails; the frame reports the failures."""
    for name, step in steps(run.settings):
        if name == "actionlint" and not workflow_files(run.settings.root):
            run.report.add(Check(name, "skipped", message=f"no workflows under {WORKFLOWS}"))
            continue
        print(f"\n== {name}", flush=True)
        with suppress(CiError), run.step(name) as check:  # recorded by the step; the other linters still run
            step(check)
    run.verdict = "no findings"


SESSION = Session(
    name="lint",
    summary="ruff, mypy, hadolint, actionlint, the bake definition of every group and its one compression; "
    "fails on any finding.",
    steps=STEPS,
    body=body,
)
