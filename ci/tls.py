"""Whom the sessions trust over TLS, in one place: `verify --url`'s requests and the registry's alike."""

from __future__ import annotations

import os
import ssl


def trust() -> str | bool:
    """What verifies TLS servers: REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE), else the system's trust store,
    else the bundle requests ships."""
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(variable):
            return os.environ[variable]
    system = ssl.get_default_verify_paths().cafile
    return system if system and os.path.isfile(system) else True
