"""The stack compose runs: the services as the definitions declare them (jobs included, their develop.watch
rules), the preflight before any build, the live stack (compose up, the one health rule, what runs), and the
rollback that brings back what a failed start replaced.
"""
