"""git gt-bead label, comment, search, stats and history."""

from __future__ import annotations

import json

from conftest import Repo


def tip(repo: Repo) -> str:
    return repo.git("rev-parse", "refs/gt/beads")


def test_label_add_and_rm(repo: Repo) -> None:
    bead_id = repo.create("x", "-l", "old")
    r = repo.bead("label", "add", bead_id, "ui", "area:auth")
    assert r.out == f"{bead_id}: labels area:auth, old, ui\n"
    assert repo.git("log", "-1", "--format=%s", "refs/gt/beads") == f"label {bead_id}: x"
    assert [b["id"] for b in repo.bead("list", "-l", "area:auth", "--json").json()] == [bead_id]
    before = tip(repo)
    repo.bead("label", "add", bead_id, "ui")  # already there: no commit
    assert tip(repo) == before
    data = repo.bead("label", "rm", bead_id, "old", "ui", "--json").json()
    assert data[0]["labels"] == ["area:auth"]
    assert repo.bead("label", "rm", bead_id, "area:auth").out == f"{bead_id}: labels (none)\n"
    assert repo.bead("list", "-l", "ui", "--json").json() == []
    hist = repo.bead("history", bead_id).out
    assert "label ui = removed" in hist and "label ui = added  (superseded)" in hist


def test_label_refusals(repo: Repo) -> None:
    bead_id = repo.create("x")
    before = tip(repo)
    for args, code in ((("add", bead_id, "a,b"), 2), (("add", bead_id), 2),
                       (("add", "gt-zzzzz", "a"), 3), (("rm", "gt-zzzzz", "a"), 3),
                       (("frob", bead_id, "a"), 2)):
        r = repo.bead("label", *args, check=False)
        assert r.code == code, args
        assert len(r.err.strip().splitlines()) == 1
    assert tip(repo) == before


def test_comment(repo: Repo) -> None:
    bead_id = repo.create("x")
    assert repo.bead("comment", bead_id, "first\nwith two lines").out == f"{bead_id}: commented\n"
    assert repo.git("log", "-1", "--format=%s", "refs/gt/beads") == f"comment {bead_id}: x"
    data = repo.bead("comment", bead_id, "second", "--actor", "bob", "--json").json()
    comments = data["comments"]
    assert [(c["author"], c["text"]) for c in comments] == [("tester", "first\nwith two lines"),
                                                            ("bob", "second")]
    assert all(c["id"].startswith("c-") and c["created_at"] for c in comments)
    assert len({c["id"] for c in comments}) == 2
    before = tip(repo)
    r = repo.bead("comment", bead_id, "  ", check=False)
    assert r.code == 2 and "the comment is empty" in r.err
    assert repo.bead("comment", "gt-zzzzz", "hi", check=False).code == 3
    assert tip(repo) == before


def test_search(repo: Repo) -> None:
    t = repo.create("Login TIMEOUT on slow networks")
    d = repo.create("other", "-d", "the timeout is 30s")
    c = repo.create("third")
    repo.bead("comment", c, "Seen a Timeout here too")
    n = repo.create("unrelated")
    closed = repo.create("old timeout")
    repo.bead("close", closed)
    repo.bead("update", n, "--notes", "nothing")
    found = [b["id"] for b in repo.bead("search", "timeout", "--json").json()]
    assert sorted(found) == sorted([t, d, c])
    assert closed in [b["id"] for b in repo.bead("search", "TimeOut", "--all", "--json").json()]
    assert len(repo.bead("search", "timeout", "-n", "2", "--json").json()) == 2
    assert repo.bead("search", "zebra").out == ""
    repo.bead("update", n, "--design", "a Zebra crossing")
    assert repo.bead("search", "zebra").out.startswith(n)


def test_stats(repo: Repo) -> None:
    assert repo.bead("stats", "--json").json() == {
        "total": 0, "deleted": 0, "ready": 0, "blocked": 0,
        "by_status": {}, "by_type": {}, "by_priority": {}}
    a = repo.create("a", "-p", "1")
    repo.create("b", "-t", "bug", "--dep", f"blocks:{a}")
    c = repo.create("c", "-t", "bug")
    repo.bead("close", c)
    repo.bead("delete", repo.create("gone"))
    data = repo.bead("stats", "--json").json()
    assert data == {"total": 3, "deleted": 1, "ready": 1, "blocked": 1,
                    "by_status": {"open": 2, "closed": 1},
                    "by_type": {"task": 1, "bug": 2},
                    "by_priority": {"1": 1, "2": 2}}
    assert repo.bead("stats").out == (
        "beads: 3  ready: 1  blocked: 1  deleted: 1\n"
        "by status: closed 1, open 2\n"
        "by type: bug 2, task 1\n"
        "by priority: 1 1, 2 2\n")


def test_history_lists_every_change(repo: Repo) -> None:
    other = repo.create("other")
    bead_id = repo.create("first title", "-l", "x", "--actor", "alice")
    repo.bead("update", bead_id, "--title", "second title", "--actor", "bob")
    repo.bead("dep", "add", bead_id, "blocks", other)
    repo.bead("comment", bead_id, "a comment")
    repo.bead("close", bead_id, "-r", "done")
    changes = repo.bead("history", bead_id, "--json").json()
    assert all(set(ch) == {"commit", "subject", "section", "key", "value", "clock", "actor",
                           "time", "current"} for ch in changes)
    seen = {(ch["section"], ch["key"], json.dumps(ch["value"]), ch["actor"], ch["current"])
            for ch in changes}
    assert ("fields", "title", '"first title"', "alice", False) in seen
    assert ("fields", "title", '"second title"', "bob", True) in seen
    assert ("fields", "status", '"open"', "alice", False) in seen
    assert ("fields", "status", '"closed"', "tester", True) in seen
    assert ("fields", "close_reason", '"done"', "tester", True) in seen
    assert ("labels", "x", "true", "alice", True) in seen
    assert ("deps", f"blocks:{other}", "true", "tester", True) in seen
    assert ("comments", next(ch["key"] for ch in changes if ch["section"] == "comments"),
            '"a comment"', "tester", True) in seen
    subjects = {ch["subject"] for ch in changes}
    assert subjects == {f"create {bead_id}: first title", f"update {bead_id}: second title",
                        f"dep-add {bead_id}: second title", f"comment {bead_id}: second title",
                        f"close {bead_id}: second title"}
    clocks = [ch["clock"] for ch in changes if ch["section"] != "comments"]
    assert clocks == sorted(clocks)  # oldest first
    log = repo.git("log", "--format=%H", "refs/gt/beads").splitlines()
    assert all(ch["commit"] in log for ch in changes)
    text = repo.bead("history", bead_id).out.splitlines()
    assert any("alice  title = first title  (superseded)" in ln for ln in text)
    assert any("bob  title = second title  [" in ln for ln in text)
    r = repo.bead("history", "gt-zzzzz", check=False)
    assert r.code == 3 and "no bead gt-zzzzz" in r.err


def test_history_is_in_commit_order_within_one_second(repo: Repo) -> None:
    bead_id = repo.create("x")
    repo.bead("label", "add", bead_id, "ui", "backend")
    repo.bead("label", "rm", bead_id, "ui")
    repo.bead("comment", bead_id, "hello world")
    changes = repo.bead("history", bead_id, "--json").json()
    order = [(ch["section"], ch["key"], ch["value"]) for ch in changes
             if ch["section"] != "fields"]
    assert order == [("labels", "backend", True), ("labels", "ui", True),
                     ("labels", "ui", False), ("comments", changes[-1]["key"], "hello world")]
