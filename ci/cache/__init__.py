"""prod's registry cache: which registry and whether it answers, its refs per identity and per branch, the
cache through one prod build, and a registry's manifests and tags over its API.
"""
