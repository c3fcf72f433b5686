"""The phases the sessions call, one layer under them: a module each, named after what it does (`check`:
check the stack; `build`: build a group and record it, and a dev build's values). A phase imports no
session; the sessions call the phases and never each other (tests/unit/test_layers.py)."""
