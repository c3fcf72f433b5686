"""The ground every other package stands on: the project's errors and exit codes, the settings and the one
view of the environment, what a session is (`Session`, `Run`), the report and its files, the terminal,
text from outside made inert, the secrets to redact, stop signals, the project's lock, bounded HTTP reads
and whom they trust over TLS, minimum versions, sizes and ids as shown. It imports nothing of the others.
"""
