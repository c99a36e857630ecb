"""Beads: work items stored in refs/gt/beads."""
