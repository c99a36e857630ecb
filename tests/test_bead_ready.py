"""git gt-bead ready (ordering, filters, what is excluded, --claim) and blocked (reasons)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Repo


def seed(repo: Repo, *records: dict[str, Any]) -> None:
    repo.gt("bead", "import", "-", input="".join(json.dumps(r) + "\n" for r in records))


def ready(repo: Repo, *args: str) -> list[str]:
    return [b["id"] for b in repo.bead("ready", *args, "--json").json()]


def blocked(repo: Repo) -> dict[str, list[str]]:
    return {b["id"]: [r["reason"] for r in b["blocked_by"]]
            for b in repo.bead("blocked", "--json").json()}


def at(day: int) -> str:
    return f"2026-02-{day:02d}T00:00:00Z"


def test_ready_orders_by_priority_then_age(repo: Repo) -> None:
    seed(repo,
         {"id": "gt-p2new", "title": "p2 new", "priority": 2, "created_at": at(5)},
         {"id": "gt-p2old", "title": "p2 old", "priority": 2, "created_at": at(1)},
         {"id": "gt-p0new", "title": "p0 new", "priority": 0, "created_at": at(9)},
         {"id": "gt-p4old", "title": "p4 old", "priority": 4, "created_at": at(1)},
         {"id": "gt-p2tie", "title": "p2 tie", "priority": 2, "created_at": at(1)})
    assert ready(repo) == ["gt-p0new", "gt-p2old", "gt-p2tie", "gt-p2new", "gt-p4old"]
    assert ready(repo, "--limit", "2") == ["gt-p0new", "gt-p2old"]
    assert repo.bead("ready", "-n", "1").out == "gt-p0new  P0  open  task  p0 new\n"


def test_ready_assignee_filters(repo: Repo) -> None:
    mine = repo.create("mine", "-a", "alice")
    free = repo.create("free")
    theirs = repo.create("theirs", "-a", "bob")
    assert sorted(ready(repo)) == sorted([mine, free, theirs])
    assert ready(repo, "--assignee", "alice") == [mine]
    assert ready(repo, "-a", "bob") == [theirs]
    assert ready(repo, "--unassigned") == [free]


@pytest.mark.parametrize("kind, offered", [
    ("task", True), ("bug", True), ("feature", True), ("epic", True), ("chore", True),
    ("convoy", False), ("message", False), ("escalation", False), ("molecule", False),
    ("merge-request", False), ("agent", False),
])
def test_ready_offers_only_work_types(repo: Repo, kind: str, offered: bool) -> None:
    bead_id = repo.create("x", "-t", kind)
    assert ready(repo) == ([bead_id] if offered else [])


@pytest.mark.parametrize("status", ["in_progress", "hooked", "blocked", "deferred", "closed"])
def test_ready_is_open_beads_only(repo: Repo, status: str) -> None:
    bead_id = repo.create("x")
    repo.bead("update", bead_id, "-s", status)
    assert ready(repo) == []


@pytest.mark.parametrize("blocker_status, blocks", [
    ("open", True), ("in_progress", True), ("hooked", True), ("blocked", True),
    ("deferred", True), ("closed", False),
])
def test_a_blocker_blocks_until_closed(repo: Repo, blocker_status: str, blocks: bool) -> None:
    blocker = repo.create("blocker")
    waiting = repo.create("waiting", "--dep", f"blocks:{blocker}")
    repo.bead("update", blocker, "-s", blocker_status)
    assert (waiting in ready(repo)) is not blocks
    assert (waiting in blocked(repo)) is blocks


def test_closing_the_blocker_releases_and_reopening_blocks_again(repo: Repo) -> None:
    blocker = repo.create("blocker", "-p", "3")
    waiting = repo.create("waiting", "-p", "1", "--dep", f"blocks:{blocker}")
    related = repo.create("related", "-p", "1", "--dep", f"related:{blocker}",
                          "--dep", f"discovered-from:{blocker}", "--dep", f"tracks:{blocker}")
    assert ready(repo) == [related, blocker]  # only `blocks` holds work back
    repo.bead("close", blocker)
    assert sorted(ready(repo)) == sorted([waiting, related])
    repo.bead("reopen", blocker)
    assert waiting not in ready(repo)
    repo.bead("delete", blocker)
    assert waiting in ready(repo)  # a deleted bead blocks nothing


def test_a_blocked_parent_blocks_its_descendants(repo: Repo) -> None:
    gate = repo.create("gate")
    epic = repo.create("epic", "-t", "epic", "--dep", f"blocks:{gate}")
    child = repo.create("child", "--parent", epic)
    grandchild = repo.create("grandchild", "--parent", child)
    assert ready(repo) == [gate]
    assert blocked(repo) == {epic: [f"blocked by {gate} (open)"],
                             child: [f"parent {epic} is blocked"],
                             grandchild: [f"parent {child} is blocked"]}
    repo.bead("close", gate)
    assert sorted(ready(repo)) == sorted([epic, child, grandchild])
    assert blocked(repo) == {}
    repo.bead("update", epic, "-s", "blocked")  # blocked by its own status
    assert blocked(repo) == {epic: ["status"], child: [f"parent {epic} is blocked"],
                             grandchild: [f"parent {child} is blocked"]}
    repo.bead("update", epic, "-s", "open")
    new_gate = repo.create("new gate")
    repo.bead("dep", "add", child, "blocks", new_gate)  # blocking mid-tree
    assert sorted(ready(repo)) == sorted([epic, new_gate])
    repo.bead("dep", "rm", child, "blocks", new_gate)
    assert grandchild in ready(repo)


def test_a_deferred_or_open_parent_does_not_block(repo: Repo) -> None:
    parent = repo.create("parent")
    child = repo.create("child", "--parent", parent)
    assert child in ready(repo)
    repo.bead("update", parent, "-s", "deferred")
    assert ready(repo) == [child]


def test_blocked_text_and_json(repo: Repo) -> None:
    a = repo.create("a")
    b = repo.create("b", "--dep", f"blocks:{a}")
    out = repo.bead("blocked").out
    assert out == f"{b}  P2  open  task  b [blocked]\n    blocked by {a} (open)\n"
    data = repo.bead("blocked", "--json").json()
    assert data[0]["blocked"] is True
    assert data[0]["blocked_by"] == [{"id": a, "reason": f"blocked by {a} (open)"}]
    repo.bead("close", b)
    assert repo.bead("blocked", "--json").json() == []  # closed beads wait for nothing
    assert repo.bead("blocked").out == ""


def test_ready_claim_takes_the_first_ready_bead(repo: Repo) -> None:
    seed(repo,
         {"id": "gt-first", "title": "first", "priority": 1, "created_at": at(1)},
         {"id": "gt-held0", "title": "held by bob", "priority": 0, "assignee": "bob",
          "created_at": at(1)},
         {"id": "gt-secnd", "title": "second", "priority": 1, "created_at": at(2)},
         {"id": "gt-waits", "title": "waits", "priority": 0, "created_at": at(1),
          "dependencies": [{"type": "blocks", "id": "gt-secnd"}]})
    before = repo.git("rev-parse", "refs/gt/beads")
    assert repo.bead("ready", "--claim", "--actor", "a1").out == "gt-first\n"
    assert repo.git("log", "--format=%s", f"{before}..refs/gt/beads") == "claim gt-first: first"
    b = repo.bead("ready", "--claim", "--actor", "a2", "--json").json()
    assert (b["id"], b["assignee"], b["status"]) == ("gt-secnd", "a2", "in_progress")
    r = repo.bead("ready", "--claim", "--actor", "a3", check=False)
    assert r.code == 3  # gt-held0 is bob's: the hint says so, not "blocked"
    assert "no ready bead to claim: all 1 are held by others; git gt-bead ready" in r.err
    assert repo.bead("ready", "--claim", "--actor", "bob").out == "gt-held0\n"
    r = repo.bead("ready", "--claim", "--json", check=False)
    assert json.loads(r.err)["error"]["code"] == "not_found"
    assert "git gt-bead blocked shows what waits" in json.loads(r.err)["error"]["hint"]


def test_ready_assignee_and_unassigned_exclude_each_other(repo: Repo) -> None:
    for args in (("ready", "-a", "x", "--unassigned"), ("ready", "--claim", "-a", "x",
                                                        "--unassigned")):
        r = repo.bead(*args, check=False)
        assert r.code == 2 and "--assignee and --unassigned exclude each other" in r.err


def test_claiming_a_blocked_bead_warns(repo: Repo) -> None:
    blocker = repo.create("blocker")
    waits = repo.create("waits", "--dep", f"blocks:{blocker}")
    r = repo.bead("update", waits, "--claim")
    assert r.out == f"{waits}: claimed\n"
    assert r.err == (f"git gt-bead: warning: {waits} is blocked by {blocker}; it cannot "
                     "start until they close\n")
    assert repo.bead("update", blocker, "--claim").err == ""


def test_ready_claim_honours_filters(repo: Repo) -> None:
    repo.create("urgent", "-p", "0")
    mine = repo.create("mine", "-p", "3", "-a", "me")
    assert repo.bead("ready", "--claim", "--actor", "me", "--assignee", "me").out == f"{mine}\n"
    assert repo.show(mine)["status"] == "in_progress"
