"""doctor's own parts: its checks of the host and the tree."""
