"""The phases the sessions call, one layer under them: a module each, named after what it does (`check`:
check the stack; `build`: build a group and record it, and a dev build's values; `start`: start or replace
the stack, with the rollback that guards it; `deployment`: read a deployed stack's build info and the
verdicts on it). A phase imports no session; the sessions call the phases and never each other
(tests/unit/test_layers.py)."""
