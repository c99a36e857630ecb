"""What the health features (Witness, Deacon, Dogs, convoy dispatch) read from and do to
polecats: the one module that calls the Hook and polecat layers (hook.py, polecat/).

Everything above works on the frozen `Polecat` view built here, so a change in how
Hooks store their state is absorbed in this file alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from git_gastown import timeutil
from git_gastown.git import Repo
from git_gastown.rig import Rig

COMMITTED = "committed"  # touched by the post-commit hook in a polecat's worktree
LIVE_STATUSES = ("spawning", "setup", "running")


@dataclass(frozen=True)
class Polecat:
    name: str
    status: str  # as recorded: spawning, setup, running, exited, done, stopped, nuked
    beads: tuple[str, ...]
    agent: str
    convoy: str
    branch: str
    worktree: Path
    run_id: str
    pid: int
    runner_pid: int
    pgid: int  # the agent's process group (its children live there after it)
    agent_alive: bool
    runner_alive: bool
    waiting: str  # "input" (it asked a question nobody can answer) or ""
    exit_code: int | None
    finished: tuple[str, ...]
    attempts: Mapping[str, int] = field(default_factory=dict)
    started_at: float | None = None  # when this run was spawned or resumed
    last_event_at: float | None = None
    last_commit_at: float | None = None
    heartbeat_at: float | None = None  # the runner touches it every few seconds while alive
    base: str = ""  # the target branch its work is for
    base_commit: str = ""  # where its branch started
    branch_tip: str = ""  # "" when the branch is gone
    denied: tuple[str, ...] = ()  # tool uses the agent was refused in this run
    done_error: str = ""  # why its closing `git gt-done` was refused ("" if it was not)

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    def last_progress(self) -> float | None:
        """The latest sign of work: an agent event, a commit, or the start of the run."""
        times = [t for t in (self.last_event_at, self.last_commit_at, self.started_at) if t]
        return max(times) if times else None

    def last_alive(self) -> float | None:
        """The latest sign the polecat was alive (its runner's heartbeat included)."""
        times = [t for t in (self.last_progress(), self.heartbeat_at) if t]
        return max(times) if times else None


# -- the adapter: reading --------------------------------------------------------------------


def observe(rig: Rig) -> list[Polecat]:
    """Every polecat of the rig, as the Witness sees it (one pass over the hook refs)."""
    repo = rig.repo
    if not _any_hook(repo):
        return []  # no polecat ever spawned here: nothing to load
    import git_gastown.hook as hk

    tips = _branch_times(repo)
    out = []
    for h in hk.list_hooks(repo):
        st = h.state
        commit_at = _mtime(repo.gt_dir / "polecats" / h.name / COMMITTED)
        branch = tips.get(st.branch)
        if branch is not None and branch[1] != st.base_commit:
            commit_at = max(commit_at or 0.0, branch[0]) or None
        out.append(Polecat(
            name=h.name, status=st.status, beads=tuple(st.beads), agent=st.agent,
            convoy=st.convoy, branch=st.branch, worktree=h.worktree, run_id=st.run_id,
            pid=st.pid, runner_pid=st.runner_pid, pgid=st.pgid, agent_alive=h.agent_alive(),
            runner_alive=h.runner_alive(), waiting=st.waiting or "", exit_code=st.exit_code,
            finished=tuple(st.finished), attempts=dict(st.attempts),
            started_at=_run_start(h), last_event_at=timeutil.iso_to_epoch(st.last_event_at),
            last_commit_at=commit_at, heartbeat_at=timeutil.iso_to_epoch(st.heartbeat),
            base=st.base, base_commit=st.base_commit, branch_tip=branch[1] if branch else "",
            denied=tuple(st.denied), done_error=st.done_error,
        ))
    return out


def _any_hook(repo: Repo) -> bool:
    """Whether any refs/gt/hooks/* ref exists, from the ref files (no git process)."""
    loose = repo.common_dir / "refs" / "gt" / "hooks"
    if loose.is_dir() and any(loose.iterdir()):
        return True
    try:
        return " refs/gt/hooks/" in (repo.common_dir / "packed-refs").read_text()
    except OSError:
        return False


def _run_start(h: object) -> float | None:
    import git_gastown.hook as hk

    assert isinstance(h, hk.Hook)
    live_dir = h.repo.gt_dir / "polecats" / h.name
    started = _mtime(live_dir / "launch.json")
    return started or timeutil.iso_to_epoch(h.state.updated_at or h.state.created_at)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _branch_times(repo: Repo) -> dict[str, tuple[float, str]]:
    """branch -> (committer time, tip) of every gt/ branch, in one git call."""
    out = repo.out("for-each-ref", "--format=%(refname:short) %(committerdate:unix) %(objectname)",
                   "refs/heads/gt/")
    times: dict[str, tuple[float, str]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            times[parts[0]] = (float(parts[1]), parts[2])
    return times


def unsaved(rig: Rig, name: str) -> list[str]:
    """Why removing this polecat's worktree would lose work (empty: nothing would be lost)."""
    import git_gastown.hook as hk

    return [str(r) for r in hk.unsaved_work(hk.load_hook(rig.repo, name)).reasons]


def unlanded(rig: Rig, p: Polecat, queued: Mapping[str, Collection[str]]) -> str:
    """What of P's branch is neither merged into its target nor in a merge request (QUEUED:
    branch -> commits of its merge requests), as a phrase; "" when nothing is left out."""
    tip = p.branch_tip
    if not tip or tip == p.base_commit or tip in queued.get(p.branch, ()):
        return ""
    target = f"refs/heads/{p.base}" if p.base else "HEAD"
    repo = rig.repo
    if repo.git("merge-base", "--is-ancestor", tip, target, check=False).returncode == 0:
        return ""
    ahead = repo.out("rev-list", "--count", tip, f"^{target}", check=False).strip() or "?"
    return (f"{ahead} commit{'' if ahead == '1' else 's'} on {p.branch} neither merged into "
            f"{p.base or 'HEAD'} nor queued")


def merged(rig: Rig, p: Polecat) -> bool:
    """Whether P's branch tip is in its target (landed, or merged by a person)."""
    target = f"refs/heads/{p.base}" if p.base else "HEAD"
    return bool(p.branch_tip) and rig.repo.git(
        "merge-base", "--is-ancestor", p.branch_tip, target, check=False).returncode == 0


def hook_base(rig: Rig, name: str) -> str:
    import git_gastown.hook as hk

    return str(hk.load_hook(rig.repo, name, live=False).state.base)


# -- the adapter: acting ---------------------------------------------------------------------


def checkpoint(rig: Rig, name: str, reason: str) -> str:
    """Save the worktree's uncommitted changes into the hook ref; return the commit id."""
    import git_gastown.hook as hk

    return str(hk.checkpoint(rig.repo, name, reason))


def stop(rig: Rig, name: str) -> None:
    """Stop the polecat's runner and its agent's whole process group, and make sure both
    are gone (a replacement must never run beside a leftover)."""
    import git_gastown.hook as hk
    import git_gastown.polecat.spawn as sp

    sp.stop(rig, name, timeout=5.0)
    hook = hk.load_hook(rig.repo, name)
    if hook.agent_alive() or hook.runner_alive():
        from git_gastown.errors import GtError

        left = hk.group_members(hook.state.pgid, hook.state.sid, hook.state.pid_start)
        raise GtError(f"polecat {name} did not stop (processes {left or [hook.state.pid]})",
                      hint=f"end them by hand, then: git gt-polecat spawn --resume {name}")


def resume(rig: Rig, name: str, actor: str) -> None:
    """Start a replacement agent on the same Hook (it reuses the session when it can)."""
    import git_gastown.polecat.spawn as sp

    sp.resume(rig, name, actor=actor)


def spawn(rig: Rig, beads: Sequence[str], agent: str | None, actor: str) -> str:
    """Start a new polecat on BEADS; return its name."""
    import git_gastown.polecat.spawn as sp

    hook = sp.spawn(rig, sp.SpawnRequest(beads=tuple(beads), agent=agent, actor=actor))
    return str(hook.name)


def mark_reaped(rig: Rig, name: str) -> None:
    """Record that a polecat's runner died without recording its exit (status exited)."""
    import git_gastown.hook as hk

    hk.fold(rig.repo, name, reason="reaped: the runner died", status="exited")


def remove_worktree(rig: Rig, name: str) -> None:
    """Remove a landed polecat's worktree and merged branch (refused if work would be lost)."""
    import git_gastown.polecat.spawn as sp

    sp.nuke(rig, name, force=False, purge=False)


def agent_pid_alive(pid: int, start: int = 0) -> bool:
    import git_gastown.hook as hk

    return bool(hk.process_alive(pid, start))


def touch_committed(repo: Repo, name: str) -> None:
    """The post-commit heartbeat of a polecat's worktree."""
    path = repo.gt_dir / "polecats" / name / COMMITTED
    try:
        os.utime(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        pass


def now() -> float:
    return time.time()
