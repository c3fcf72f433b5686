"""The build pipeline behind the nox sessions: building, running, reporting.

Every module is importable and testable without nox; `python -m ci SESSION` is what the noxfile runs.
"""
