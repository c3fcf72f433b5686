"""Signing the published images: cosign, as a plain subprocess (it is not Docker: nothing here goes through
ci/docker/), key-based and offline (no transparency log, nothing reached but the registry)."""
