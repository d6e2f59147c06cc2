"""The pure core: states, transitions and decisions, with no I/O."""
