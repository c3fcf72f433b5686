"""The bake file as text (its groups, its variables' defaults), read without buildx: for what must work
even when buildx cannot resolve it."""

from __future__ import annotations

import re


def bake_groups(bake_text: str) -> list[str]:
    """The group names declared in an HCL bake file, in order."""
    return list(dict.fromkeys(re.findall(r'^\s*group\s+"([^"]+)"', bake_text, re.M)))


def bake_variable_default(bake_text: str, name: str) -> str | None:
    """The literal default of `variable "NAME"` in an HCL bake file."""
    match = re.search(rf'variable\s+"{re.escape(name)}"\s*\{{[^}}]*?default\s*=\s*"([^"]*)"', bake_text, re.S)
    return match.group(1) if match else None
