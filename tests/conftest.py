"""Test fixtures: real repositories in temp dirs, a scrubbed environment, real commands."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent


def scrubbed_env(home: Path) -> dict[str, str]:
    """A clean environment: own HOME, no system git config, fixed identities."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TERM")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.com",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
        "GT_ACTOR": "tester",
        "NO_COLOR": "1",
    })
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Author\n\temail = author@example.com\n"
        "[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n"
    )
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Repo:
    """A real repository and the environment to run git and gastown in it."""

    path: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, input: str | None = None,
            cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run(list(args), cwd=cwd or self.path, env=env or self.env,
                              input=input, capture_output=True, text=True,
                              stdin=None if input is not None else subprocess.DEVNULL)
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return result

    def git(self, *args: str, check: bool = True) -> str:
        return self.run("git", *args, check=check).out.strip()

    def gt(self, family: str, *args: str, check: bool = True,
           input: str | None = None) -> Result:
        return self.run(f"git-gt-{family}", *args, check=check, input=input)

    def bead(self, *args: str, check: bool = True) -> Result:
        return self.gt("bead", *args, check=check)

    def create(self, title: str, *args: str) -> str:
        return self.bead("create", title, *args).out.strip()

    def show(self, bead_id: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = self.bead("show", bead_id, "--json").json()
        return data[0]

    def commit_file(self, name: str, content: str, message: str | None = None) -> str:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        self.git("add", name)
        self.git("commit", "-q", "-m", message or f"edit {name}")
        return self.git("rev-parse", "HEAD")


def make_repo(path: Path, env: dict[str, str], *, init_gt: bool = True,
              prefix: str = "gt") -> Repo:
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo(path, env)
    repo.git("init", "-q", "-b", "main")
    repo.commit_file("README.md", "hello\n", "initial commit")
    if init_gt:
        repo.gt("init", "--prefix", prefix)
    return repo


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return scrubbed_env(tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str]) -> Iterator[Repo]:
    yield make_repo(tmp_path / "rig", env)


@pytest.fixture
def plain_repo(tmp_path: Path, env: dict[str, str]) -> Iterator[Repo]:
    yield make_repo(tmp_path / "plain", env, init_gt=False)


# -- polecats: fake agents on PATH, waiting, and no process left behind ---------------------

FAKE_AGENTS = Path(__file__).parent / "fake_agents"


# Waits are for things that must happen, so a longer one only delays a failure: on a busy
# shared machine (CI's 2 cores running two test workers) every wait gets this much slack.
PATIENCE = float(os.environ.get("GT_TEST_PATIENCE", "3"))


def wait_for(cond: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll COND until it returns something truthy; fail after TIMEOUT seconds (times the
    PATIENCE factor)."""
    import time

    timeout *= PATIENCE
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def kill_polecats(repo_path: Path) -> None:
    """Kill every runner (and its agent's process group) a test left running."""
    import signal

    for live in (repo_path / ".git" / "gt" / "polecats").glob("*/live.json"):
        try:
            data = json.loads(live.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for key in ("runner_pid", "pid"):
            pid = int(data.get(key) or 0)
            if pid > 0:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)  # runner and agent each lead a group


@pytest.fixture
def rig(tmp_path: Path, env: dict[str, str]) -> Iterator[Repo]:
    """A gastown repo whose PATH has the fake agents (claude, codex) first; every polecat
    still running at the end is killed."""
    env = dict(env)
    env["PATH"] = f"{FAKE_AGENTS}{os.pathsep}{env['PATH']}"
    env["TMUX_TMPDIR"] = str(tmp_path / "tmux")
    (tmp_path / "tmux").mkdir()
    r = make_repo(tmp_path / "rig", env)
    try:
        yield r
    finally:
        kill_polecats(r.path)
        subprocess.run(["tmux", "kill-server"], env=env, capture_output=True, check=False,
                       stdin=subprocess.DEVNULL)
