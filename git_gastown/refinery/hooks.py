"""What the Refinery needs from Hooks (W3): which Hook a worktree is, its beads, release, resume.

The Hook API lives in git_gastown.hook; it is used when present, and otherwise the few
facts needed are read from what every Hook has: the gt-hook marker in its worktree's
git dir, its branch gt/<prefix>/<name>, and state.json in refs/gt/hooks/<name>.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from git_gastown.git import Repo, scrubbed_env

MARKER = "gt-hook"
HOOK_REF = "refs/gt/hooks/"


@dataclass(frozen=True)
class HookInfo:
    name: str
    branch: str
    beads: tuple[str, ...] = ()
    base: str = ""
    base_commit: str = ""
    status: str = ""
    attempts: int = 0


def _hook_module() -> ModuleType | None:
    try:
        return importlib.import_module("git_gastown.hook")
    except ImportError:
        return None


def hook_of_worktree(repo: Repo) -> str | None:
    """The Hook name of this worktree, from the marker W3 writes into its git dir."""
    try:
        return (repo.git_dir / MARKER).read_text().strip() or None
    except OSError:
        return None


def hook_for_branch(repo: Repo, branch: str) -> str | None:
    """The Hook whose branch is BRANCH (gt/<prefix>/<name>), if its state ref exists."""
    if not branch.startswith("gt/"):
        return None
    name = branch.rsplit("/", 1)[-1]
    info = load(repo, name)
    return name if info is not None and info.branch == branch else None


def load(repo: Repo, name: str) -> HookInfo | None:
    proc = repo.git("cat-file", "blob", f"{HOOK_REF}{name}:state.json", check=False)
    if proc.returncode != 0:
        return None
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None
    attempts = data.get("attempts") or {}
    most = max((int(v) for v in attempts.values()), default=0) if isinstance(attempts, dict) \
        else 0
    return HookInfo(name=name, branch=str(data.get("branch", "")),
                    beads=tuple(str(b) for b in data.get("beads") or ()),
                    base=str(data.get("base", "")),
                    base_commit=str(data.get("base_commit", "")),
                    status=str(data.get("status", "")),
                    attempts=most)


def names(repo: Repo) -> list[str]:
    out = repo.out("for-each-ref", "--format=%(refname)", HOOK_REF)
    return [line.removeprefix(HOOK_REF) for line in out.splitlines() if line]


def add_note(repo: Repo, name: str, text: str, author: str) -> bool:
    mod = _hook_module()
    if mod is None or not hasattr(mod, "add_note") or load(repo, name) is None:
        return False
    mod.add_note(repo, name, text, author)
    return True


def checkpoint(repo: Repo, name: str, worktree: Path, reason: str) -> str | None:
    """Checkpoint the Hook's uncommitted work with W3's API; None when it is absent."""
    mod = _hook_module()
    if mod is None or not hasattr(mod, "checkpoint"):
        return None
    result: str = mod.checkpoint(repo, name, reason, worktree=worktree)
    return result


def release(repo: Repo, name: str, status: str = "done") -> bool:
    """Mark the Hook finished (its work landed or was handed over)."""
    mod = _hook_module()
    if mod is None or not hasattr(mod, "update_state"):
        return False
    if load(repo, name) is None:
        return False
    mod.update_state(repo, name, "done", subject=f"refinery: {status}", status=status)
    return True


def resume(repo: Repo, name: str, cwd: Path) -> bool:
    """Start the polecat again on its Hook (detached) so it fixes what failed."""
    exe = Path(sys.executable).parent / "git-gt-polecat"
    found = str(exe) if exe.exists() else shutil.which("git-gt-polecat")
    if not found or load(repo, name) is None:
        return False
    subprocess.Popen([found, "spawn", "--resume", name], cwd=cwd, env=scrubbed_env(),
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
    return True
