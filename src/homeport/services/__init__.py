"""Use cases: the only write path. Each function takes a Context explicitly."""
