"""git gt-status: one screen over beads, agents, convoys, queue, escalations and mail."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import Repo


def test_status_on_a_fresh_rig(repo: Repo) -> None:
    out = repo.gt("status").out
    assert "rig rig" in out and "(prefix gt)" in out
    assert "agents (0 at work or needing you)" in out
    assert "escalations (0 open)" in out


def test_status_json_sections(repo: Repo) -> None:
    a = repo.create("first")
    repo.create("second", "--dep", f"blocks:{a}")
    repo.gt("convoy", "create", "--name", "ship", a)
    repo.gt("escalate", "-s", "critical", "main is red", "--bead", a)
    repo.gt("mail", "send", "overseer", "--subject", "look at this")
    data = repo.gt("status", "--json").json()
    assert data["errors"] == {}
    assert data["beads"]["ready"] >= 1 and data["beads"]["blocked"] == 1
    assert [c["name"] for c in data["convoys"]] == ["ship"]
    assert data["convoys"][0]["total"] == 1
    assert [e["message"] for e in data["escalations"]] == ["main is red"]
    assert data["escalations"][0]["priority"] == 0
    subjects = [m["subject"] for m in data["mail"]]
    assert "look at this" in subjects
    assert "[CRITICAL P0] main is red" in subjects  # the default route mails the overseer
    assert data["agents"] == []
    assert data["merge_queue"] is None or "counts" in data["merge_queue"]
    text = repo.gt("status").out
    assert "ship [" in text and "0/1" in text
    assert "main is red" in text and "look at this" in text


def test_status_shows_a_polecat(repo: Repo) -> None:
    bead = repo.create("write a file", "--field", "run=echo hi > hi.txt")
    repo.gt("polecat", "spawn", "--bead", bead, "--name", "nux")
    data = repo.gt("status", "--json").json()
    assert [a["name"] for a in data["agents"]] == ["nux"]
    assert data["agents"][0]["beads"] == [bead]
    out = repo.gt("status").out
    assert "nux" in out or "and 1 done" in out  # a finished polecat is counted, not listed


def test_status_watch_and_json_refused(repo: Repo) -> None:
    r = repo.gt("status", "--watch", "1", "--json", check=False)
    assert r.code == 2 and "--watch and --json" in r.err


def test_status_needs_init(plain_repo: Repo) -> None:
    r = plain_repo.gt("status", check=False)
    assert r.code == 1 and "git gt-init" in r.err


def test_finished_polecats_are_one_line(repo: Repo) -> None:
    from conftest import wait_for

    for name in ("nux", "slit"):
        bead = repo.create(f"write {name}", "--field", f"run=echo {name} > {name}.txt")
        repo.gt("polecat", "spawn", "--bead", bead, "--name", name)
    wait_for(lambda: all(a["status"] == "done" for a in repo.gt("status", "--json").json()
                         ["agents"]), what="both polecats done")
    out = repo.gt("status").out
    assert "agents (0 at work or needing you)" in out
    assert "and 2 done (git gt-polecat list)" in out
    assert "nux " not in out and "slit " not in out


def test_status_mail_is_the_inbox_mailbox(repo: Repo) -> None:
    repo.gt("mail", "send", "deacon", "--subject", "for the deacon")
    repo.gt("mail", "send", "overseer", "--subject", "for the overseer")
    text = repo.gt("status").out
    assert "unread mail for overseer (1)" in text and "for the deacon" not in text
    env = dict(repo.env, GT_ROLE="deacon")
    data = repo.run("git-gt-status", "--json", env=env).json()
    assert data["mailbox"] == "deacon"
    assert [m["subject"] for m in data["mail"]] == ["for the deacon"]


def test_watch_redraws_and_ctrl_c_exits_cleanly(repo: Repo) -> None:
    import signal
    import subprocess
    import time

    repo.create("watched")
    proc = subprocess.Popen(["git-gt-status", "--watch", "0.2"], cwd=repo.path, env=repo.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.count("rig rig") >= 2  # redrawn
    assert "(every 0.2s; Ctrl-C to stop)" in out
    assert "aborted" not in err and err == ""


def _watching(repo: Repo, argv: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(argv, cwd=repo.path, env=repo.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 10
    assert proc.stdout is not None
    while "Ctrl-C to stop" not in proc.stdout.readline():  # the first screen is drawn
        assert time.monotonic() < deadline and proc.poll() is None
    return proc


def test_watch_survives_the_second_sigint_git_forwards(repo: Repo) -> None:
    # git's run-command forwards the terminal's SIGINT to its dashed child: two arrive.
    for _ in range(3):
        proc = _watching(repo, ["git-gt-status", "--watch", "0.2"])
        proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "aborted" not in err and "interrupted" not in err


def test_watch_through_git_leaves_quietly_on_ctrl_c(repo: Repo) -> None:
    for _ in range(3):
        proc = _watching(repo, ["git", "gt-status", "--watch", "0.2"])
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the foreground group
        _, err = proc.communicate(timeout=10)
        assert proc.returncode in (0, -signal.SIGINT), err  # git dies of it, quietly
        assert "Traceback" not in err and "aborted" not in err and "interrupted" not in err
        assert "Exception ignored" not in err


def _read_until(fd: int, mark: bytes | None, secs: float) -> bytes:
    import select

    buf = b""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline and (mark is None or mark not in buf):
        if select.select([fd], [], [], 0.2)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: every holder of the terminal has left
                break
            if not data:
                break
            buf += data
    return buf


def test_ctrl_c_on_a_terminal_through_git(repo: Repo) -> None:
    import pty
    import sys

    # A new session whose controlling terminal is a pty: ^C typed there reaches git and
    # git-gt-status together, as in a shell, and git forwards one more to its child.
    start = ("import os, sys; os.setsid(); os.close(os.open(os.ttyname(0), os.O_RDWR)); "
             "os.execvp('git', ['git', 'gt-status', '--watch', '0.2'])")
    for _ in range(3):
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-c", start], cwd=repo.path, env=repo.env,
                                stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        try:
            assert b"Ctrl-C to stop" in _read_until(master, b"Ctrl-C to stop", 10)
            os.write(master, b"\x03")
            out = _read_until(master, None, 10).decode("utf-8", "replace")
            assert proc.wait(timeout=10) in (0, -signal.SIGINT), out
        finally:
            os.close(master)
        assert "Traceback" not in out and "aborted" not in out and "interrupted" not in out
        assert "Exception ignored" not in out
