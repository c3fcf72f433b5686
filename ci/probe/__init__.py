"""Asking what runs: a service's build info over HTTP, the verdicts on a deployment's answers, the page in
headless chromium.
"""
