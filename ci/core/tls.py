"""Whom the sessions trust over TLS, in one place: `verify --url`'s requests and the registry's alike."""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from requests.utils import DEFAULT_CA_BUNDLE_PATH

from ci.core.settings import ca_bundle


def trust() -> str | bool:
    """What verifies TLS servers: REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE), else the system's trust store,
    else the bundle requests ships."""
    bundle = ca_bundle()  # exported only: requests' own variables (settings.PROCESS_VARIABLES)
    if bundle:
        return bundle
    system = ssl.get_default_verify_paths().cafile
    return system if system and os.path.isfile(system) else True


@contextmanager
def trust_with(cas: Sequence[Path]) -> Iterator[str | bool]:
    """What verifies TLS servers with CAS added to the usual trust (`trust()`), for as long as the block
    lasts: a bundle of both in a file of the process's own (mkstemp: a new name, mode 0600, never a file
    or symlink found there), removed on leaving. The usual trust itself when CAS is empty."""
    usual = trust()
    if not cas:
        yield usual
        return
    fd, name = tempfile.mkstemp(prefix="mainza-ca-", suffix=".pem")
    try:
        roots = usual if isinstance(usual, str) else DEFAULT_CA_BUNDLE_PATH  # True: requests' own bundle
        with os.fdopen(fd, "w") as bundle:
            bundle.write("\n".join(p.read_text() for p in (Path(roots), *cas)))
        yield name
    finally:
        Path(name).unlink(missing_ok=True)


@contextmanager
def bundle_file(cas: Sequence[Path]) -> Iterator[str]:
    """For a child that takes its trust as one file (cosign's `--registry-cacert`, Go's SSL_CERT_FILE): the
    path of a bundle of the usual trust and CAS while the block lasts (trust_with); "" without CAS, the
    child keeping its own trust."""
    if not cas:
        yield ""
        return
    with trust_with(cas) as bundle:
        yield str(bundle)
