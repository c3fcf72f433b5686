"""The files of a build context, as BuildKit selects them from a folder and its ignore file.

The semantics follow moby/patternmatcher (the `.dockerignore` matcher) and tonistiigi/fsutil (the walk
BuildKit's client does), reimplemented here:

- the ignore file: lines starting with `#` are comments (only at the very start of the line); each
  other line is trimmed, a leading `!` marks an exception, the path is cleaned like Go's
  filepath.Clean and a leading `/` is dropped; a Dockerfile-specific `<Dockerfile>.dockerignore`
  beside the Dockerfile replaces the context's `.dockerignore`;
- a pattern matches a path with Go's filepath.Match syntax per segment (`*`, `?`, `[...]`, `\\` escapes),
  `**` matches any number of segments; a pattern that matches a directory matches all below it;
- the last pattern that matches decides (`!` re-includes); each directory carries which patterns
  matched it down to its children, exactly as fsutil does;
- an excluded directory is not walked when no exception pattern can re-include a path below it
  (fsutil's rule: exceptions without wildcards that do not start with the directory's path).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ci.core.units import human

IGNORE_FILE = ".dockerignore"
# What a build context may weigh before doctor fails it and the builds warn (`over_budget`, one rule for
# both): the guide's context went from 388 MB to 14 MB with a .dockerignore; ours is well under 1 MB.
BUDGET_MB = 5.0
# Characters that make an exception pattern a wildcard for fsutil's "can it re-include below" test.
_WILDCARDS = frozenset("*[]?^\\")
# Escaped when turning a pattern into a regular expression: special in regexps, literal in filepath.Match.
_REGEX_LITERALS = frozenset(".+()|{}$")


def go_clean(path: str) -> str:
    """Go's filepath.Clean on a slash-separated path: no empty or `.` segments, `..` resolved lexically."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(segment)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def parse_ignore_file(text: str) -> list[str]:
    """The patterns of an ignore file's text, normalized as BuildKit reads them."""
    patterns: list[str] = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.removesuffix("\r")
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        if line:
            line = go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if exception else line)
    return patterns


def ignore_file(context: Path, dockerfile: Path | None = None) -> Path | None:
    """The ignore file in effect: `<Dockerfile>.dockerignore` beside the Dockerfile when it exists,
    else the context's `.dockerignore`, else none. A relative Dockerfile is taken from the context."""
    if dockerfile is not None:
        path = dockerfile if dockerfile.is_absolute() else context / dockerfile
        specific = path.parent / f"{path.name}{IGNORE_FILE}"
        if specific.is_file():
            return specific
    default = context / IGNORE_FILE
    return default if default.is_file() else None


def ignore_patterns(context: Path, dockerfile: Path | None = None) -> list[str]:
    """The effective ignore patterns of a build context (empty when there is no ignore file)."""
    path = ignore_file(context, dockerfile)
    if path is None:
        return []
    return parse_ignore_file(path.read_text(encoding="utf-8", errors="replace"))


@dataclass(frozen=True)
class _Pattern:
    text: str  # cleaned, without the leading "!"
    exception: bool
    kind: str  # exact | prefix | suffix | regexp: the matcher's fast paths, which differ in edge cases
    regex: re.Pattern[str] | None

    def matches(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            # "**/name" also matches "name" at the top.
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.fullmatch(path) is not None

    @property
    def without_trailing_glob(self) -> str:
        return self.text.removesuffix("/**").removesuffix("/*")


def _double_star(text: str, i: int, kind: str, regex: list[str]) -> tuple[int, str]:
    """`**` at TEXT[i]: any number of segments. Returns the index after it and the pattern's kind."""
    at_start = i == 0
    i += 2
    if i < len(text) and text[i] == "/":
        i += 1  # "**/" is "**"
    if i >= len(text):
        if kind == "exact":
            kind = "prefix"
        else:
            regex.append(".*")
            kind = "regexp"
    else:
        regex.append("(.*/)?")  # any number of segments, none included
        kind = "regexp"
    return i, "suffix" if at_start else kind


def _compile(text: str, exception: bool) -> _Pattern:
    """Translate one cleaned pattern, deciding its kind as the matcher does: a literal is exact, a literal
    ending in `**` a prefix, a pattern starting with `**` a suffix unless later wildcards need a regexp."""
    regex: list[str] = []
    kind = "exact"
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "*" and i + 1 < n and text[i + 1] == "*":
            i, kind = _double_star(text, i, kind, regex)
            continue
        if char == "*":
            regex.append("[^/]*")
            kind = "regexp"
        elif char == "?":
            regex.append("[^/]")
            kind = "regexp"
        elif char in _REGEX_LITERALS:
            regex.append("\\" + char)
        elif char == "\\":
            if i + 1 < n:
                regex.append(re.escape(text[i + 1]))
                kind = "regexp"
                i += 1
            else:
                regex.append("\\\\")
        elif char in "[]":
            regex.append(char)
            kind = "regexp"
        else:
            regex.append(char)
        i += 1
    compiled = None
    if kind == "regexp":
        try:
            compiled = re.compile("".join(regex))
        except re.error as err:
            raise ValueError(f"bad ignore pattern {text!r}: {err}") from None
    return _Pattern(text, exception, kind, compiled)


class _Matcher:
    """Patterns compiled once, evaluated per path with the parent directory's per-pattern results."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        compiled: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = go_clean(text)
            exception = text.startswith("!")
            if exception:
                if len(text) == 1:
                    raise ValueError('illegal exclusion pattern: "!"')
                text = text[1:]
            compiled.append(_compile(text, exception))
        self.patterns = compiled
        self.exceptions = [p for p in compiled if p.exception]
        self.prefix_only_exceptions = not any(_WILDCARDS & set(p.without_trailing_glob) for p in self.exceptions)

    def evaluate(self, path: str, parent: list[bool] | None) -> tuple[bool, list[bool]]:
        """(excluded, which patterns matched this path or were inherited from its parent).

        `parent` is None for a path whose parent results are unknown: then each pattern is also tried
        on every ancestor. A pattern is skipped, and so not recorded, while it cannot change the result
        (an exception while nothing is excluded, an exclusion while already excluded), as in fsutil.
        """
        excluded = False
        matched = [False] * len(self.patterns)
        for index, pattern in enumerate(self.patterns):
            hit = parent[index] if parent is not None else False
            if not hit:
                if pattern.exception != excluded:
                    continue
                hit = pattern.matches(path)
                if not hit and parent is None and "/" in path:
                    segments = path.split("/")[:-1]
                    hit = any(pattern.matches("/".join(segments[: k + 1])) for k in range(len(segments)))
            matched[index] = hit
            if hit:
                excluded = not pattern.exception
        return excluded, matched

    def prunes(self, directory: str) -> bool:
        """Whether an excluded directory can be left unwalked: no exception can re-include below it."""
        if not self.prefix_only_exceptions:
            return False
        below = directory + "/"
        return not any((p.without_trailing_glob + "/").startswith(below) for p in self.exceptions)


@lru_cache(maxsize=32)
def _matcher(patterns: tuple[str, ...]) -> _Matcher:
    return _Matcher(patterns)


def _verdicts(path: str, patterns: list[str]) -> list[tuple[str, bool, _Matcher]]:
    """Each folder from the top down to PATH (relative, slash-separated), with whether PATTERNS exclude it."""
    matcher = _matcher(tuple(patterns))
    cleaned = go_clean(path.replace(os.sep, "/")).lstrip("/")
    if cleaned in (".", "") or not matcher.patterns:
        return []
    segments = cleaned.split("/")
    found = []
    parent: list[bool] | None = None
    for depth in range(len(segments)):
        current = "/".join(segments[: depth + 1])
        excluded, parent = matcher.evaluate(current, parent)
        found.append((current, excluded, matcher))
    return found


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Whether BuildKit leaves PATH (relative to the context, slash-separated) out of the context.

    PATTERNS are as `ignore_patterns` returns them. Raises ValueError on an invalid pattern.
    """
    verdicts = _verdicts(path, patterns)
    if any(excluded and matcher.prunes(current) for current, excluded, matcher in verdicts[:-1]):
        return True  # an ancestor directory is not even walked
    return bool(verdicts) and verdicts[-1][1]


def matches(path: str, patterns: list[str]) -> bool:
    """Whether PATTERNS match PATH (slash-separated) or one of its parent folders, the last matching pattern
    deciding (`!` undoes): moby/patternmatcher's MatchesOrParentMatches, which compose watch applies to its
    rules' `ignore` and `include` (ci/stack/develop.py). No walk: a folder's verdict is not inherited, as in a
    build context. Raises ValueError on an invalid pattern."""
    cleaned = go_clean(path.replace(os.sep, "/"))
    matcher = _matcher(tuple(patterns))
    return bool(matcher.patterns) and matcher.evaluate(cleaned, None)[0]


def is_pruned(directory: str, patterns: list[str]) -> bool:
    """Whether BuildKit leaves the folder DIRECTORY (relative to the context) and all below it out: it, or a
    folder above it, is excluded and no exception can bring anything below it back."""
    return any(excluded and matcher.prunes(current) for current, excluded, matcher in _verdicts(directory, patterns))


def context_files(context: Path, dockerfile: Path | None = None) -> list[str]:
    """Sorted POSIX paths, relative to CONTEXT, of the regular files and symlinks BuildKit sends.

    Symlinks are listed as files and never followed. Raises ValueError on an invalid ignore pattern
    and OSError when an included directory cannot be read.
    """
    matcher = _matcher(tuple(ignore_patterns(context, dockerfile)))
    files: list[str] = []

    def walk(directory: str, prefix: str, parent: list[bool] | None) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                rel = prefix + entry.name
                excluded, matched = matcher.evaluate(rel, parent) if matcher.patterns else (False, [])
                if entry.is_dir(follow_symlinks=False):
                    if excluded and matcher.prunes(rel):
                        continue
                    try:
                        walk(entry.path, rel + "/", matched)
                    except PermissionError:
                        if not excluded:
                            raise
                elif not excluded and (entry.is_symlink() or entry.is_file(follow_symlinks=False)):
                    files.append(rel)

    walk(str(context), "", None)
    return sorted(files)


def input_files(context: Path, dockerfile: Path | None = None) -> list[str]:
    """The files of CONTEXT after its ignore rules, and DOCKERFILE (relative to CONTEXT) wherever it lies: a
    Dockerfile the ignore rules leave out, or one outside the context, is read by the build all the same."""
    paths = context_files(context, dockerfile)
    if dockerfile is not None:
        rel = Path(os.path.relpath(os.path.abspath(context / dockerfile), os.path.abspath(context))).as_posix()
        if rel not in paths and (context / dockerfile).is_file():
            paths.append(rel)
    return paths


def over_budget(size: int, files: int, budget_bytes: float = BUDGET_MB * 1e6) -> str | None:
    """How a context of SIZE bytes in FILES files is over the budget, as doctor and the builds say it; None
    when it is within."""
    return f"{human(size)} in {files} files, over the {human(budget_bytes)} budget" if size > budget_bytes else None
