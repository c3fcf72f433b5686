"""The SBOM generator of the host's own, which BuildKit runs for prod --push's SBOM attestation (its SBOM generator
protocol): the scanner (scanner.py) and its image (Dockerfile, ci/requirements-sbom.txt), built on the host's
Python stand-in by ci/provision. It runs alone inside that image: it imports nothing of the suite, and nothing of
the suite imports it."""
