"""git gt-status: one screen over beads, agents, convoys, queue, escalations and mail."""

from __future__ import annotations

from conftest import Repo


def test_status_on_a_fresh_rig(repo: Repo) -> None:
    out = repo.gt("status").out
    assert "rig rig" in out and "(prefix gt)" in out
    assert "agents (0)" in out
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
    assert "nux" in repo.gt("status").out


def test_status_watch_and_json_refused(repo: Repo) -> None:
    r = repo.gt("status", "--watch", "1", "--json", check=False)
    assert r.code == 2 and "--watch and --json" in r.err


def test_status_needs_init(plain_repo: Repo) -> None:
    r = plain_repo.gt("status", check=False)
    assert r.code == 1 and "git gt-init" in r.err
