"""Dogs: the maintenance jobs the Deacon dispatches when they are due.

    reap    polecats whose runner died without recording it are marked exited (their
            events and uncommitted work folded into the hook ref), after their agent's
            whole process group is ended; agents still running for a polecat that is no
            longer live are stopped
    prune   worktrees of landed polecats are removed, only when the branch is merged
            into its target and nothing is left uncommitted (never otherwise)
    gc      the bead store writes loose objects: repack them once they pile up
    locks   git's own *.lock files left by a killed git (they make every later ref
            update fail) are removed once old and held open by no process

Why there is no history-compaction dog: refs/gt/beads keeps one small commit per change,
and git's delta compression packs that history to a few hundred bytes per change (see
README, "Keeping agents healthy"); rewriting it would break `git gt-bead history` and
the merge of clones that still have the old commits, for a saving that `gc` already gets.

When each ran lives in $GIT_COMMON_DIR/gt/dogs.json (runtime, never shared).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown import polecat_view, timeutil
from git_gastown.errors import GtError, UsageError
from git_gastown.rig import Rig

STATE = "dogs.json"


@dataclass
class DogResult:
    dog: str
    ok: bool
    did: list[str] = field(default_factory=list)
    error: str = ""
    elapsed: float = 0.0

    @property
    def summary(self) -> str:
        if not self.ok:
            return f"failed: {self.error}"
        return "; ".join(self.did) if self.did else "nothing to do"

    def to_json(self) -> dict[str, Any]:
        return {"dog": self.dog, "ok": self.ok, "did": list(self.did), "error": self.error,
                "elapsed": round(self.elapsed, 3)}


@dataclass(frozen=True)
class Dog:
    name: str
    summary: str
    every: str  # default interval (setting dogs.<name>.every)
    run: Callable[[Rig, DogResult], None]


# -- the dogs ------------------------------------------------------------------------------------


def reap(rig: Rig, result: DogResult) -> None:
    grace = timeutil.parse_duration(rig.setting("witness.deadGrace", "1m"), "witness.deadGrace")
    now = time.time()
    for p in polecat_view.observe(rig):
        alive = p.last_alive()
        if alive is not None and now - alive < grace:
            continue  # just died: the Witness and whoever killed it get the first move
        if p.live and not p.agent_alive and not p.runner_alive and p.runner_pid:
            polecat_view.mark_reaped(rig, p.name)
            result.did.append(f"{p.name}: runner {p.runner_pid} died; marked exited")
        elif p.live and p.agent_alive and not p.runner_alive and p.runner_pid:
            # Nobody records what an agent without its runner does: end its whole group
            # and mark it exited, so the Witness resumes it with a fresh runner.
            polecat_view.stop(rig, p.name)
            polecat_view.mark_reaped(rig, p.name)
            result.did.append(f"{p.name}: runner {p.runner_pid} died; stopped its agent "
                              f"(group {p.pgid or p.pid}) and marked exited")
        elif p.agent_alive and not p.live:
            polecat_view.stop(rig, p.name)
            result.did.append(f"{p.name}: stopped orphan agent {p.pid} (polecat {p.status})")


def prune(rig: Rig, result: DogResult) -> None:
    repo = rig.repo
    for p in polecat_view.observe(rig):
        if p.status != "done" or p.agent_alive or p.runner_alive or not p.worktree.exists():
            continue
        base = polecat_view.hook_base(rig, p.name)
        tip = repo.out("rev-parse", "-q", "--verify", f"refs/heads/{p.branch}", check=False)
        merged = bool(tip) and bool(base) and repo.git(
            "merge-base", "--is-ancestor", tip, f"refs/heads/{base}", check=False).returncode == 0
        if not merged:
            continue
        reasons = polecat_view.unsaved(rig, p.name)
        if reasons:
            result.did.append(f"{p.name}: kept ({'; '.join(reasons)})")
            continue
        polecat_view.remove_worktree(rig, p.name)
        result.did.append(f"{p.name}: removed worktree {p.worktree} (merged into {base})")
    repo.git("worktree", "prune")


def gc(rig: Rig, result: DogResult) -> None:
    repo = rig.repo
    counts = count_objects(rig)
    loose_limit = int(rig.setting("dogs.gc.looseObjects", 2000))
    pack_limit = int(rig.setting("dogs.gc.packs", 30))
    if counts["packs"] >= pack_limit:
        repo.git("repack", "-a", "-d", "-q")
        repo.git("prune-packed", "-q")
        result.did.append(f"repacked {counts['packs']} packs and {counts['count']} loose objects")
    elif counts["count"] >= loose_limit:
        repo.git("repack", "-d", "-q")
        repo.git("prune-packed", "-q")
        result.did.append(f"packed {counts['count']} loose objects")


def count_objects(rig: Rig) -> dict[str, int]:
    out = rig.repo.out("count-objects", "-v")
    values: dict[str, int] = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        with contextlib.suppress(ValueError):
            values[key.strip().replace("-", "_")] = int(value.strip())
    return {"count": values.get("count", 0), "packs": values.get("packs", 0)}


# git writes these while it changes a file, and removes them a moment later; a killed git
# leaves them behind and every later update of that ref or file fails.
def _lock_candidates(common: Path) -> list[Path]:
    found = [p for p in (common / "refs").rglob("*.lock")] if (common / "refs").is_dir() else []
    for name in ("packed-refs.lock", "HEAD.lock", "config.lock", "index.lock", "shallow.lock",
                 "ORIG_HEAD.lock", "FETCH_HEAD.lock"):
        if (common / name).exists():
            found.append(common / name)
    worktrees = common / "worktrees"
    if worktrees.is_dir():
        for wt in worktrees.iterdir():
            found += [wt / n for n in ("index.lock", "HEAD.lock") if (wt / n).exists()]
    return found


def _open_files() -> set[str] | None:
    """Every file some process holds open (Linux /proc), or None when unknown."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    held: set[str] = set()
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    held.add(os.readlink(fd))
    return held


def stale_locks(rig: Rig) -> tuple[list[tuple[Path, float]], list[Path]]:
    """Git lock files older than dogs.locks.staleAfter: (stale ones, old ones still held)."""
    max_age = timeutil.parse_duration(rig.setting("dogs.locks.staleAfter", "10m"),
                                      "dogs.locks.staleAfter")
    now = time.time()
    old: list[tuple[Path, float]] = []
    for path in _lock_candidates(rig.repo.common_dir):
        with contextlib.suppress(FileNotFoundError):
            age = now - path.stat().st_mtime
            if age >= max_age:
                old.append((path, age))
    if not old:
        return [], []
    held = _open_files()
    stale = [(p, a) for p, a in old if held is None or str(p) not in held]
    kept = [p for p, _ in old if held is not None and str(p) in held]
    return stale, kept


def locks(rig: Rig, result: DogResult) -> None:
    stale, kept = stale_locks(rig)
    for path in kept:
        result.did.append(f"kept {path.relative_to(rig.repo.common_dir)} "
                          "(held open by a running process)")
    for path, age in stale:
        rel = path.relative_to(rig.repo.common_dir)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            result.did.append(f"removed stale {rel} ({timeutil.human_age(age)} old)")


DOGS: dict[str, Dog] = {d.name: d for d in (
    Dog("reap", "mark polecats whose runner died; stop orphan agents", "10m", reap),
    Dog("prune", "remove worktrees of landed polecats (merged, nothing uncommitted)", "1h",
        prune),
    Dog("gc", "repack loose objects once they pile up", "1h", gc),
    Dog("locks", "remove git *.lock files a killed git left behind", "30m", locks),
)}


# -- scheduling ------------------------------------------------------------------------------------


def _state_path(rig: Rig) -> Path:
    return rig.repo.runtime_path(STATE)


def load_state(rig: Rig) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(_state_path(rig).read_text())
        return data
    except (OSError, json.JSONDecodeError):
        return {}


def _save_state(rig: Rig, state: dict[str, Any]) -> None:
    path = _state_path(rig)
    tmp = path.with_name(f".{STATE}.{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


def interval(rig: Rig, dog: Dog) -> float | None:
    value = rig.setting(f"dogs.{dog.name}.every", dog.every)
    if str(value).strip().lower() in ("never", "off", "false"):
        return None
    return timeutil.parse_duration(value, f"dogs.{dog.name}.every")


def check_names(names: Sequence[str]) -> list[Dog]:
    for n in names:
        if n not in DOGS:
            raise UsageError(f"unknown dog {n!r}", hint=f"the dogs are: {', '.join(DOGS)}")
    return [DOGS[n] for n in names]


def status(rig: Rig, now: float | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    state = load_state(rig)
    out = []
    for dog in DOGS.values():
        every = interval(rig, dog)
        last = state.get(dog.name, {})
        last_run = last.get("at")
        next_due = None if every is None else (last_run or 0) + every
        out.append({"dog": dog.name, "summary": dog.summary, "every": every,
                    "last_run": timeutil.epoch_to_iso(last_run) if last_run else "",
                    "last_result": last.get("result", ""), "last_ok": last.get("ok"),
                    "due": every is not None and (next_due or 0) <= now,
                    "next_due": timeutil.epoch_to_iso(next_due) if next_due else ""})
    return out


def run(rig: Rig, names: Sequence[str] = (), *, only_due: bool = False,
        now: float | None = None) -> list[DogResult]:
    """Run the named dogs (all when none are named); with only_due, those whose time came."""
    from git_gastown.store.refs import locked

    now = time.time() if now is None else now
    dogs = check_names(names) if names else list(DOGS.values())
    results = []
    with locked(rig.repo, "dogs", timeout=120):
        state = load_state(rig)
        for dog in dogs:
            if only_due:
                every = interval(rig, dog)
                if every is None or now - state.get(dog.name, {}).get("at", 0) < every:
                    continue
            result = DogResult(dog.name, True)
            start = time.monotonic()
            try:
                dog.run(rig, result)
            except GtError as err:
                result.ok, result.error = False, err.line()
            result.elapsed = time.monotonic() - start
            state[dog.name] = {"at": now, "ok": result.ok, "result": result.summary[:500]}
            _save_state(rig, state)
            results.append(result)
    return results
