"""Ids as the sessions show them."""

from __future__ import annotations


def short_id(digest: str) -> str:
    """An image id or a source digest (`sha256:<hex>`) as docker shows an image id: its first 12 hex digits."""
    return digest.removeprefix("sha256:")[:12]
