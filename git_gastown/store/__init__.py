"""The store: the only code that writes refs/gt/*."""
