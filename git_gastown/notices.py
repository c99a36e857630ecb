"""Warnings the domain raises without failing the command; the CLI layer prints them."""

from __future__ import annotations

_pending: list[tuple[str, str]] = []


def warn(code: str, message: str) -> None:
    """Queue a one-line warning (CODE is stable, for --json consumers)."""
    _pending.append((code, message))


def drain() -> list[tuple[str, str]]:
    """Take every queued warning, oldest first."""
    out = list(_pending)
    _pending.clear()
    return out
