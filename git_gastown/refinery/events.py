"""What git hooks trigger in the Refinery (registered in git_gastown.githooks.HANDLERS)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from git_gastown.git import Repo, scrubbed_env
from git_gastown.refinery import config as config_mod
from git_gastown.refinery import hooks, runner
from git_gastown.refinery.books import Books, Notes, read_sync_state
from git_gastown.refinery.candidate import is_ancestor
from git_gastown.refinery.queue import LIVE, Queue
from git_gastown.rig import Rig
from git_gastown.store import refs

RADAR_EVERY = 60.0  # seconds between conflict radar scans started from hooks


def post_commit(repo: Repo, args: Sequence[str]) -> None:
    """Any commit in the rig lets the conflict radar look for new overlaps (at most once a
    minute); a commit with the trailer `Gt-Done: yes` in a Hook's worktree finishes the
    work; a commit in a checkout that held a landing starts a run to land it now; a merge
    commit on the target (a hand merge whose conflicts were resolved, for which git runs
    post-commit and not post-merge) is what post-merge would have seen."""
    from git_gastown.refinery.done import finish, has_done_trailer

    if repo.worktree is None:
        return
    radar_kick(repo)
    if hooks.hook_of_worktree(repo) is None:
        if repo.git("rev-parse", "-q", "--verify", "HEAD^2", check=False).returncode == 0:
            post_merge(repo, ())  # records the hand merge; kicks a run if one is due
        here = repo.worktree.resolve()
        if any(Path(k).resolve() == here for k in read_sync_state(repo)):
            runner.kick(repo)
        return
    if not has_done_trailer(repo):
        return
    rig = Rig.open(repo.worktree)
    finish(rig, hooks.hook_of_worktree(repo) or "agent", commit_left=False)


def radar_kick(repo: Repo) -> int | None:
    """Start `git gt-refinery radar --notify` detached, at most once a minute, when there
    are Hook branches whose owners could be warned of an overlap."""
    # radar-next's time is when the next scan is due: the post-commit stub compares it
    # with the commit's logs/HEAD and starts Python only then.
    stamp = repo.runtime_path("refinery", "radar-next")
    now = time.time()
    try:
        if stamp.stat().st_mtime > now:
            return None
    except FileNotFoundError:
        pass
    stamp.touch()
    os.utime(stamp, (now + RADAR_EVERY, now + RADAR_EVERY))
    if not refs.list_refs(repo, "refs/heads/gt/"):
        return None
    log = open(repo.runtime_path("logs", "radar.log"), "ab")  # noqa: SIM115 - child's
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "git_gastown.cli.refinery", "radar", "--notify"],
            cwd=runner.main_checkout(repo), env=scrubbed_env({"GT_HOOKS": "0"}),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    finally:
        log.close()
    return proc.pid


def post_merge(repo: Repo, args: Sequence[str]) -> None:
    """New commits on the target: hand-merged Hooks land in the books; the queue re-verifies."""
    if repo.worktree is None:
        return
    rig = Rig.open(repo.worktree, require=False)
    if rig.store.tip() is None:
        return
    cfg = config_mod.load(rig)
    if repo.head_branch() != cfg.target:
        return
    record_hand_merges(rig, cfg)
    if Queue(rig).ready(cfg.target):
        runner.kick(repo)


def record_hand_merges(rig: Rig, cfg: config_mod.Config) -> list[str]:
    """MRs and Hooks whose branch a person merged into the target: closed as landed."""
    repo = rig.repo
    tip = refs.read_ref(repo, cfg.target_ref)
    if tip is None:
        return []
    queue = Queue(rig)
    books = Books(rig, queue, cfg)
    done: list[str] = []
    handled_branches = set()
    for mr in queue.all():
        if mr.state not in (*LIVE, "conflict", "rejected") or mr.target != cfg.target:
            continue
        branch_tip = refs.read_ref(repo, f"refs/heads/{mr.branch}") or mr.commit
        if not is_ancestor(repo, branch_tip, tip):
            continue
        queue.drop_ref(mr)
        books.landed_many([mr], tip, Notes())
        done.append(mr.id)
        handled_branches.add(mr.branch)
    for name in hooks.names(repo):
        info = hooks.load(repo, name)
        if info is None or not info.branch or info.branch in handled_branches:
            continue
        if info.status == "done":
            continue
        info_tip = refs.read_ref(repo, f"refs/heads/{info.branch}")
        if not info_tip or info_tip == info.base_commit or not info.base_commit:
            continue
        if not is_ancestor(repo, info_tip, tip):
            continue
        beads = books.beads
        for bead_id in info.beads:
            bead = beads.cache().get(bead_id)
            if bead is not None and bead.get("status") != "closed":
                beads.update(bead_id, "refinery", {
                    "status": "closed", "landed_commit": tip,
                    "close_reason": f"merged by hand into {cfg.target} ({tip[:12]})"}, op="close")
        hooks.release(repo, name, "done")
        done.append(name)
    return done
