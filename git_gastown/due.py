"""The two files the git hook stubs look at: `gt/hooks-due` (something is watched in this
rig) and `gt/patrol-next` (whose mtime is the earliest time of the next patrol).

The stubs are POSIX sh and must cost a few stats when there is nothing to do, so the
rate limit is a file time: a patrol moves `patrol-next` into the future, and the stub
starts Python only when the repository's `logs/HEAD` (just written by the commit,
merge or checkout that runs the hook) is newer than it.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from git_gastown.git import Repo

DUE = "hooks-due"
NEXT = "patrol-next"


def due_path(repo: Repo) -> Path:
    return repo.gt_dir / DUE


def next_path(repo: Repo) -> Path:
    return repo.gt_dir / NEXT


def mark_due(repo: Repo) -> None:
    """Something now needs watching (a polecat, an open escalation, a mountain convoy)."""
    path = repo.runtime_path(DUE)
    if not path.exists():
        path.write_text("patrols run from git hooks while this file exists\n")


def clear_due(repo: Repo) -> None:
    with contextlib.suppress(FileNotFoundError):
        due_path(repo).unlink()


def is_due(repo: Repo) -> bool:
    return due_path(repo).exists()


def next_patrol_at(repo: Repo) -> float:
    try:
        return next_path(repo).stat().st_mtime
    except FileNotFoundError:
        return 0.0


def claim_patrol(repo: Repo, interval: float, now: float | None = None) -> bool:
    """Take the next patrol slot: True (and the slot moved `interval` ahead) if it was due.

    Several hooks may fire at once; a short lock makes exactly one of them win.
    """
    from git_gastown.store.refs import locked

    now = time.time() if now is None else now
    if next_patrol_at(repo) > now:
        return False
    with locked(repo, "patrol-slot", timeout=5):
        if next_patrol_at(repo) > now:
            return False
        path = repo.runtime_path(NEXT)
        tmp = path.with_name(f".{NEXT}.{os.getpid()}")
        tmp.write_text("the next patrol is not due before this file's mtime\n")
        os.utime(tmp, (now + interval, now + interval))
        os.replace(tmp, path)
    return True


def log(repo: Repo, what: str, text: str) -> None:
    """Append to gt/logs/health.log: where patrols started from hooks report, never the user."""
    try:
        path = repo.runtime_path("logs", "health.log")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(path, "a") as fh:
            fh.write(f"{stamp} [{os.getpid()}] {what}: {text.rstrip()}\n")
    except OSError:
        pass
