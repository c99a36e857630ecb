"""Durations in settings ("90s", "15m", "2h") and the ISO times beads record."""

from __future__ import annotations

import calendar
import re
import time

from git_gastown.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from 90, "90", "90s", "15m", "2h" or "1d"; UsageError names the setting."""
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a duration, not {value!r}", hint='e.g. "15m" or 900')
    if isinstance(value, int | float):
        if value < 0:
            raise UsageError(f"{what} cannot be negative", hint='e.g. "15m" or 900')
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise UsageError(f"{what} must be a duration, not {value!r}",
                         hint='write seconds or a number with s, m, h or d, e.g. "15m"')
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def iso_to_epoch(text: str) -> float | None:
    """Epoch seconds of an ISO time as beads record it (…Z); None when empty or malformed."""
    if not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def epoch_to_iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def human_age(seconds: float | None) -> str:
    """A short age: 42s, 5m, 3h, 2d; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
