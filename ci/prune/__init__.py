"""prune's own parts: what is the project's to remove and the plan of what goes and why, and what a prune
found and did.
"""
