"""How beads look on stdout: one-line and full views, JSON text, colour; without click.

Kept free of click so that the fast read path (cli/fast.py) prints exactly what the click
commands print without paying for importing click.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from git_gastown import jsonfmt

_STATUS_COLOR = {"open": "green", "in_progress": "yellow", "hooked": "yellow",
                 "blocked": "red", "closed": "bright_black", "deferred": "blue"}


_color: bool | None = None


def use_color() -> bool:
    """Colour only on a terminal that can show it, and only if nothing turned it off:
    NO_COLOR set to a non-empty value (no-color.org), TERM=dumb, or git's color.ui
    (`git -c color.ui=never gt-status` or the config) saying never. Decided once."""
    global _color
    if _color is None:
        _color = (sys.stdout.isatty() and not os.environ.get("NO_COLOR")
                  and os.environ.get("TERM") != "dumb" and _git_color_ui())
    return _color


def _git_color_ui() -> bool:
    import subprocess

    # Not through Repo.git: its scrubbed environment would drop `git -c` settings
    # (GIT_CONFIG_PARAMETERS), which are exactly what this must see.
    try:
        proc = subprocess.run(["git", "config", "--get-colorbool", "color.ui", "true"],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return True
    return proc.stdout.strip() != "false"


def style(text: str, **kw: Any) -> str:
    if not use_color():
        return text
    import click

    return click.style(text, **kw)


def emit_json(value: Any) -> None:
    emit_text(jsonfmt.dumps(value))


def emit_text(text: str | bytes, *, newline: bool = True) -> None:
    """Write possibly megabytes of text (or UTF-8 bytes) to stdout in one go."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    end = b"\n" if newline else b""
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None:  # a text-only stream, e.g. one a test captures
        out.write((data + end).decode("utf-8", "replace"))
    else:
        out.flush()  # whatever was echoed before goes first
        buffer.write(data)
        buffer.write(end)
    out.flush()


def line(b: dict[str, Any]) -> str:
    status = b["status"]
    marks = " [blocked]" if b.get("blocked") and status != "blocked" else ""
    assignee = f" @{b['assignee']}" if b["assignee"] else ""
    return (f"{style(b['id'], bold=True)}  P{b['priority']}"
            f"  {style(status, fg=_STATUS_COLOR.get(status))}"
            f"  {b['type']}{assignee}  {b['title']}{marks}")


def show_text(b: dict[str, Any], blockers: list[dict[str, str]]) -> str:
    out = [f"{style(b['id'], bold=True)}: {b['title']}",
           f"  type {b['type']}  status {b['status']}  priority P{b['priority']}"
           + (f"  assignee {b['assignee']}" if b["assignee"] else "")]
    if b["labels"]:
        out.append(f"  labels: {', '.join(b['labels'])}")
    if b["dependencies"]:
        out.append("  depends on: " + ", ".join(f"{d['id']} ({d['type']})"
                                                for d in b["dependencies"]))
    for r in blockers:
        out.append(f"  blocked: {r['reason']}")
    by = f" by {b['created_by']}" if b["created_by"] else ""
    out.append(f"  created {b['created_at'] or '(time unknown)'}{by}; "
               f"updated {b['updated_at']}")
    if b["closed_at"]:
        out.append(f"  closed {b['closed_at']}"
                   + (f": {b['close_reason']}" if b["close_reason"] else ""))
    for key in ("description", "design", "acceptance", "notes"):
        if b[key]:
            out.append(f"\n{key.capitalize()}:\n" + "\n".join("  " + ln
                                                             for ln in b[key].splitlines()))
    for key, value in sorted(b["fields"].items()):
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append(f"  {key}: {shown}")
    if b["comments"]:
        out.append("\nComments:")
        for c in b["comments"]:
            out.append(f"  [{c['created_at']}] {c['author']}: {c['text']}")
    return "\n".join(out)


def print_list(cache: Any, as_json: bool, **filters: Any) -> None:
    """Print the beads a cache query selects: stored JSON text, or one line each."""
    if as_json:
        emit_text(cache.query_json(**filters))
        return
    emit_text("".join(line(b) + "\n" for b in cache.query_brief(**filters)), newline=False)
