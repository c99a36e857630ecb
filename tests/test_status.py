"""git gt-status: one screen over beads, agents, convoys, queue, escalations and mail."""

from __future__ import annotations

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
