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
from collections.abc import Sequence
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


# -- what the git hook stubs call (registered in githooks.HANDLERS) -------------------------

PROVISIONAL = 60.0  # the slot a hook takes; the patrol itself then sets the real interval
MARKER = "gt-hook"  # in a polecat worktree's git dir: the name of its Hook


def on_git_event(repo: Repo, args: Sequence[str]) -> None:
    """post-commit, post-merge, post-checkout: heartbeat in a polecat's worktree, then at
    most one detached patrol per interval for the whole rig. Returns at once."""
    name = _polecat_of(repo)
    if name:
        _touch(repo.gt_dir / "polecats" / name / "committed")
        mark_due(repo)
    elif not is_due(repo):
        return
    if next_patrol_at(repo) > time.time():
        return
    if claim_patrol(repo, PROVISIONAL):
        start_patrol(repo)


def _polecat_of(repo: Repo) -> str:
    try:
        return (repo.git_dir / MARKER).read_text().strip()
    except OSError:
        return ""


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    except OSError:
        pass


def rig_root(repo: Repo) -> Path:
    """Where a patrol runs: the main checkout when there is one, else the common dir."""
    common = repo.common_dir
    if common.name == ".git" and (common.parent / ".git").is_dir():
        return common.parent
    return repo.worktree or common


def start_patrol(repo: Repo) -> int:
    """Start `git gt-deacon patrol` detached (own session, output to the health log)."""
    import subprocess
    import sys

    from git_gastown.git import scrubbed_env

    log_file = repo.runtime_path("logs", "health.log")
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "git_gastown.cli.deacon", "patrol", "--quiet", "--from-hook"],
            cwd=rig_root(repo), env=scrubbed_env({"GT_HOOKS": "0"}), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    return proc.pid
