"""Shared engine of the fake agents (claude, codex, gemini, aider): scripted work, real
output formats.

A fake agent runs a script of actions, separated by ';', taken from an environment
variable (FAKE_CLAUDE_SCRIPT / FAKE_CODEX_SCRIPT for a fresh run,
FAKE_CLAUDE_RESUME_SCRIPT / FAKE_CODEX_RESUME_SCRIPT for a resumed one):

    write:PATH=TEXT     write a file (TEXT may use \\n)
    append:PATH=TEXT    append to a file
    rm:PATH             delete a file
    commit:MESSAGE      git add -A and git commit (as whatever GIT_AUTHOR_* says)
    touch:PATH          create PATH (absolute: a signal to the test that a point is reached)
    sleep:SECONDS       sleep
    hang                sleep forever (a stuck agent)
    ask                 ask for permission (claude: control_request can_use_tool), then hang
    stderr:TEXT         write TEXT to stderr
    die:CODE            exit with CODE without a final result event
    crash               SIGKILL itself (a dead agent)

Other variables:
    FAKE_AGENT_LOG      append one JSON line per invocation: argv, cwd, stdin kind, GT_* env
    FAKE_CLAUDE_SESSION / FAKE_CODEX_THREAD   the session id of a fresh run (default random)
    FAKE_CLAUDE_NEW_SESSION_ON_RESUME=1       a resume reports a new session id (as real
                                              Claude Code sometimes does)
    FAKE_COST_USD       the run's total_cost_usd (claude), default 0.0123
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from typing import Any


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def stdin_kind() -> str:
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return "closed"
    if stat.S_ISCHR(mode):
        return "devnull" if os.path.samefile("/dev/null", "/proc/self/fd/0") else "tty"
    if stat.S_ISFIFO(mode):
        return "pipe"
    return "file"


def log_invocation(agent: str) -> None:
    path = os.environ.get("FAKE_AGENT_LOG")
    if not path:
        return
    record = {"agent": agent, "argv": sys.argv[1:], "cwd": os.getcwd(), "stdin": stdin_kind(),
              "env": {k: v for k, v in os.environ.items()
                      if k.startswith("GT_") or k.startswith("GIT_AUTHOR")}}
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def actions(script: str) -> list[tuple[str, str]]:
    out = []
    for part in script.split(";"):
        part = part.strip()
        if part:
            verb, _, arg = part.partition(":")
            out.append((verb, arg))
    return out


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return (proc.stdout + proc.stderr).strip()


def hang() -> None:
    while True:
        time.sleep(3600)


def do(verb: str, arg: str) -> str:
    """Perform one action; return what a tool would print."""
    if verb in ("write", "append"):
        path, _, text = arg.partition("=")
        text = text.replace("\\n", "\n")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a" if verb == "append" else "w") as fh:
            fh.write(text)
        return f"wrote {path}"
    if verb == "rm":
        os.unlink(arg)
        return f"removed {arg}"
    if verb == "commit":
        git("add", "-A")
        return git("commit", "-q", "-m", arg or "work") or "committed"
    if verb == "touch":
        with open(arg, "a"):
            pass
        return f"touched {arg}"
    if verb == "sleep":
        time.sleep(float(arg or 1))
        return "slept"
    if verb == "stderr":
        sys.stderr.write(arg + "\n")
        sys.stderr.flush()
        return ""
    if verb == "hang":
        hang()
    if verb == "die":
        sys.exit(int(arg or 1))
    if verb == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit(f"fake agent: unknown action {verb!r}")

