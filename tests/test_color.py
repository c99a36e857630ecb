"""Colour only on a terminal, and off when NO_COLOR, TERM=dumb or git's color.ui say so."""

from __future__ import annotations

import os
import pty
import subprocess

import pytest
from conftest import Repo


def _on_pty(repo: Repo, *args: str, **env: str) -> str:
    """Run a command with stdout on a pseudo-terminal and return what it wrote there."""
    full = {k: v for k, v in repo.env.items() if k != "NO_COLOR"}
    full.update({"TERM": "xterm", **env})
    master, slave = pty.openpty()
    proc = subprocess.Popen(list(args), cwd=repo.path, env=full, stdout=slave,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=30) in (0, 1), proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode("utf-8", "replace")


ESC = "\x1b["
COMMANDS = [("git-gt-bead", "list"), ("git-gt-status",), ("git-gt-doctor",)]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_colour_on_a_terminal_and_off_when_asked(repo: Repo, cmd: tuple[str, ...]) -> None:
    repo.create("a bead to show")
    assert ESC in _on_pty(repo, *cmd)
    assert ESC not in _on_pty(repo, *cmd, NO_COLOR="1")
    assert ESC not in _on_pty(repo, *cmd, TERM="dumb")
    assert ESC not in _on_pty(repo, "git", "-c", "color.ui=never", cmd[0][4:], *cmd[1:])
    repo.git("config", "color.ui", "false")
    assert ESC not in _on_pty(repo, *cmd)
    assert ESC not in repo.run(*cmd, check=False).out  # not a terminal


def test_empty_no_color_does_not_turn_colour_off(repo: Repo) -> None:
    repo.create("a bead to show")
    assert ESC in _on_pty(repo, "git-gt-bead", "list", NO_COLOR="")
