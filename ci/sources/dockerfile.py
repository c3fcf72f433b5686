"""A Dockerfile parser, as far as this project reads Dockerfiles: instructions with continuations joined,
the context sources of COPY and ADD, the base images of FROM with ARGs substituted."""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ci.sources.build_context import go_clean


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
    rel = go_clean(source).lstrip("/")
    if rel in ("", "."):
        return [], [""]
    if any(c in rel for c in "*?["):
        matches = sorted(glob.glob(rel, root_dir=root, include_hidden=True))
    else:
        matches = [rel] if (root / rel).exists() or (root / rel).is_symlink() else []
    files = [m for m in matches if not (root / m).is_dir() or (root / m).is_symlink()]
    dirs = [m for m in matches if m not in files]
    return files, dirs
