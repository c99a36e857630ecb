"""Starting the Refinery: one run per rig (a lock), drained to empty, kicked in the background."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from git_gastown.git import Repo, scrubbed_env
from git_gastown.refinery import config as config_mod
from git_gastown.refinery.engine import Log, Refinery, RunReport
from git_gastown.refinery.queue import Queue, is_paused
from git_gastown.rig import Rig
from git_gastown.store.refs import pid_alive, try_locked

LOCK = "refinery"
MAX_STALLS = 3  # drains in a row that decided nothing before a run gives up


def lock_path(repo: Repo) -> Path:
    return repo.runtime_path("locks", f"{LOCK}.lock")


def info_path(repo: Repo) -> Path:
    return repo.runtime_path("refinery", "run.json")


def log_path(repo: Repo) -> Path:
    return repo.runtime_path("logs", "refinery.log")


def _try_lock(repo: Repo) -> contextlib.AbstractContextManager[bool]:
    return try_locked(repo, LOCK)


def running(repo: Repo) -> dict[str, Any] | None:
    """The live run's pid and start time, or None when no run holds the lock."""
    with _try_lock(repo) as got:
        if got:
            return None
    try:
        data: dict[str, Any] = json.loads(info_path(repo).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"pid": 0, "started_at": ""}
    return data if pid_alive(int(data.get("pid", 0))) else {"pid": 0, "started_at": ""}


def current(repo: Repo) -> dict[str, Any] | None:
    """The batch and gate run in progress, as the live run last wrote it."""
    try:
        data: dict[str, Any] = json.loads((repo.gt_dir / "refinery" / "current.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def run(rig: Rig, log: Log | None = None, target: str | None = None) -> RunReport | None:
    """Drain the queue; None when another run holds the lock (it will see our work).

    After releasing the lock the queue is checked again, so an MR enqueued while this run
    was finishing (whose own kick found the lock taken) is never left behind.
    """
    total = RunReport()
    first = True
    stalls = 0
    while True:
        with _try_lock(rig.repo) as got:
            if not got:
                return None if first else total
            first = False
            info_path(rig.repo).write_text(json.dumps(
                {"pid": os.getpid(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                 time.gmtime())}))
            total.stopped = ""
            for cfg in _configs(rig, target):
                _merge(total, Refinery(rig, cfg, log).drain())
                if total.stopped and not total.stopped.startswith("held"):
                    break
            with contextlib.suppress(FileNotFoundError):
                info_path(rig.repo).unlink()
            with contextlib.suppress(FileNotFoundError):
                (rig.repo.gt_dir / "refinery" / "current.json").unlink()
        if is_paused(rig.repo) is not None:
            return total
        # MRs held by a dirty checkout wait for a later run (a commit there starts one);
        # only others enqueued meanwhile bring this one back.
        held = set(total.held)
        if total.stopped.startswith("no progress"):
            stalls += 1
            if stalls >= MAX_STALLS:
                return total  # the Deacon or the next enqueue starts a later run
            time.sleep(1.0)
        if not _waiting(rig, target, held):
            return total


def _configs(rig: Rig, target: str | None) -> list[config_mod.Config]:
    """The target asked for; else the default one first, then any other a queued MR names."""
    first = config_mod.load(rig, target)
    if target:
        return [first]
    others = sorted({m.target for m in Queue(rig).all()
                     if m.state == "queued" and m.target and m.target != first.target})
    return [first, *(config_mod.load(rig, t) for t in others)]


def _waiting(rig: Rig, target: str | None, held: set[str] | None = None) -> bool:
    queue = Queue(rig)
    targets = {target} if target else {m.target for m in queue.all() if m.state == "queued"}
    return any(m.id not in (held or set()) for t in targets if t for m in queue.ready(t))


def _merge(total: RunReport, part: RunReport) -> None:
    total.batches += part.batches
    total.landed += part.landed
    total.rejected += part.rejected
    total.conflicts += part.conflicts
    total.runs += part.runs
    total.stopped = part.stopped or total.stopped
    total.held = sorted({*total.held, *part.held})


def main_checkout(repo: Repo) -> Path:
    """Where detached children start: the main checkout, not a Hook's worktree that may be
    pruned while they run."""
    main = repo.common_dir.parent if repo.common_dir.name == ".git" else None
    return main if main is not None and (main / ".git").is_dir() else repo.common_dir


def kick(repo: Repo, *, explicit: bool = False) -> int | None:
    """Start a detached run unless one is running (that one re-checks the queue on exit).

    Automatic kicks (enqueue, git gt-done, post-merge) are skipped when
    gt.refinery.autostart is false; EXPLICIT ones (`git gt-refinery run`) are not.
    Returns the new process id, or None when none was needed.
    """
    if is_paused(repo) is not None:
        return None
    if not explicit and not repo.config_bool("gt.refinery.autostart", True):
        return None
    with _try_lock(repo) as got:
        if not got:
            return None
    log = open(log_path(repo), "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "git_gastown.cli.refinery", "run", "--foreground"],
            cwd=main_checkout(repo), env=scrubbed_env({"GT_HOOKS": "0"}), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    finally:
        log.close()
    return proc.pid
