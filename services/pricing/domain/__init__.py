"""Pure pricing logic: no I/O."""
