"""Gate runs: the target's gate commands in the persistent refinery worktree, with a timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown.errors import GtError
from git_gastown.git import Repo, scrubbed_env

LOG_TAIL = 4000
# Our own git commands in the refinery worktree run no hooks at all (ours or chained).
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")


@dataclass
class GateResult:
    command: str
    exit: int
    duration: float
    timed_out: bool = False
    log: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "exit": self.exit, "duration": round(self.duration, 3),
                "timed_out": self.timed_out, "log": self.log}


@dataclass
class RunResult:
    candidate: str
    passed: bool
    gates: list[GateResult] = field(default_factory=list)
    duration: float = 0.0

    @property
    def failed_gate(self) -> GateResult | None:
        return next((g for g in self.gates if g.exit != 0), None)

    def output(self) -> str:
        g = self.failed_gate
        if g is None:
            return ""
        what = f"timed out after {g.duration:.0f}s" if g.timed_out else f"exited {g.exit}"
        return f"$ {g.command}\n({what})\n{g.log}"


def worktree_path(repo: Repo) -> Path:
    return repo.gt_dir / "refinery-worktree"


def prepare_worktree(repo: Repo, commit: str) -> Path:
    """The dedicated refinery worktree, detached at COMMIT with a clean tree."""
    path = worktree_path(repo)
    env = {"GT_HOOKS": "0"}
    healthy = (path / ".git").exists() and repo.git(
        "rev-parse", "--git-dir", cwd=path, check=False, env=env).returncode == 0
    if not healthy:
        if path.exists():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        repo.git("worktree", "prune", check=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        repo.git(*NO_HOOKS, "worktree", "add", "--detach", "--force", str(path), commit,
                 env=env)
        repo.git("worktree", "lock", "--reason", "git-gastown refinery", str(path),
                 check=False)
    repo.git(*NO_HOOKS, "checkout", "--quiet", "--detach", "--force", commit, cwd=path, env=env)
    repo.git("clean", "-ffdq", cwd=path, env=env)
    return path


def kill_leftover(repo: Repo) -> None:
    """A run killed -9 may leave its gate running: stop that process group."""
    pidfile = repo.gt_dir / "refinery" / "gate.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    if cwd and Path(cwd).resolve().is_relative_to(worktree_path(repo).resolve()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()


def run_gates(
    repo: Repo,
    candidate: str,
    gates: Sequence[str],
    timeout: float,
    extra_env: Mapping[str, str],
    log_dir: Path,
) -> RunResult:
    """Check out CANDIDATE and run each gate in order until one fails."""
    start = time.monotonic()
    result = RunResult(candidate=candidate, passed=True)
    if not gates:
        return result
    path = prepare_worktree(repo, candidate)
    env = scrubbed_env({**extra_env, "GT_HOOKS": "0", "GT_REFINERY": "1",
                        "GT_CANDIDATE": candidate})
    log_dir.mkdir(parents=True, exist_ok=True)
    _prune_logs(log_dir)
    for n, command in enumerate(gates, 1):
        log_path = log_dir / f"{candidate[:12]}-{n}.log"
        gate = _run_one(repo, command, path, env, timeout, log_path)
        result.gates.append(gate)
        if gate.exit != 0:
            result.passed = False
            break
    result.duration = time.monotonic() - start
    return result


def _run_one(repo: Repo, command: str, cwd: Path, env: Mapping[str, str], timeout: float,
             log_path: Path) -> GateResult:
    pidfile = repo.runtime_path("refinery", "gate.pid")
    started = time.monotonic()
    timed_out = False
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd, env=dict(env),
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise GtError(f"cannot run gate {command!r}: {exc}") from exc
        pidfile.write_text(f"{proc.pid}\n")
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
            code = 124
        finally:
            # Whatever the gate left in the background goes with it.
            _kill_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
    duration = time.monotonic() - started
    return GateResult(command, code if code >= 0 else 128 - code, duration, timed_out,
                      _tail(log_path))


def _prune_logs(log_dir: Path, keep: int = 500) -> None:
    """Full gate logs are for looking into a recent failure; the ledger keeps the tails."""
    try:
        logs = sorted(log_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return
    for old in logs[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - LOG_TAIL))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return ("…" + text) if size > LOG_TAIL else text
