"""What a build is made of, read from the tree and from git alone (no engine): git as a subprocess, the
Dockerfile parser, a build context's files as BuildKit selects them and their fingerprint, each target's
identity (the commit that last changed its inputs) and its inputs down git's history.
"""
