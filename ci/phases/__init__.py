"""The phases every session calls, a module each named after what it does (`check`: check the stack).
A phase imports no session; the sessions call the phases and never each other."""
