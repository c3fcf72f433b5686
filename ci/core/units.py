"""Units as the sessions read and show them: docker's human sizes read as bytes, sizes a user gives read as docker
reads them, bytes shown; an image id or a source digest shown short."""

from __future__ import annotations

import re

# docker prints "%.4g" of a value in decimal units, so also "8.706e+07B", and negative sizes while an
# image is being written ("-3.228e+06B"); "2.761GB (92%)" in the reclaimable column.
_HUMAN = re.compile(r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*([kKMGTPE]?)i?B")
_DECIMAL = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
# docker's own input syntax (go-units RAMInBytes): binary units, an optional "b" or "ib".
_INPUT = re.compile(r"(\d+(?:\.\d+)?) ?(?:([kmgtp])(?:i?b)?|b)?", re.I)
_BINARY = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_docker_size(text: str | None) -> int:
    """Bytes of a size as the docker CLI prints it ("57.8MB", "8.192kB", "0B", "2.761GB (92%)"); 0 for
    "N/A" or nothing."""
    match = _HUMAN.fullmatch((text or "").strip().split(" (")[0])
    return round(float(match.group(1)) * _DECIMAL[match.group(2)]) if match else 0


def parse_input_size(text: str) -> int | None:
    """Bytes of a size given as docker reads one (`512MB`, `10GB`, `1.5g`; 1k = 1024); None if it is not one."""
    match = _INPUT.fullmatch(text.strip())
    return round(float(match.group(1)) * _BINARY[(match.group(2) or "").lower()]) if match else None


def human(size: float) -> str:
    """Bytes in decimal units, as docker shows them: "10.5 MB", "812 B", "-1.2 GB"."""
    sign, size = ("-" if size < 0 else ""), abs(size)
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{sign}{size / factor:.1f} {unit}"
    return f"{sign}{int(size)} B"


def short_id(digest: str) -> str:
    """An image id or a source digest (`sha256:<hex>`) as docker shows an image id: its first 12 hex digits."""
    return digest.removeprefix("sha256:")[:12]
