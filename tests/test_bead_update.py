"""git gt-bead update (every field, --field, status transitions, --claim), close, reopen,
delete (tombstones)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Repo, make_repo


def tip(repo: Repo) -> str:
    return repo.git("rev-parse", "refs/gt/beads")


def commits_since(repo: Repo, before: str) -> list[str]:
    return repo.git("log", "--format=%s", f"{before}..refs/gt/beads").splitlines()


@pytest.mark.parametrize("option, field, value, expected", [
    ("--title", "title", "New title", "New title"),
    ("--description", "description", "two\nlines", "two\nlines"),
    ("-d", "description", "short", "short"),
    ("--type", "type", "feature", "feature"),
    ("-t", "type", "epic", "epic"),
    ("--status", "status", "deferred", "deferred"),
    ("-s", "status", "hooked", "hooked"),
    ("--priority", "priority", "0", 0),
    ("-p", "priority", "P4", 4),
    ("--assignee", "assignee", "carol", "carol"),
    ("-a", "assignee", "dave", "dave"),
    ("--design", "design", "use a queue", "use a queue"),
    ("--acceptance", "acceptance", "tests pass", "tests pass"),
    ("--notes", "notes", "see log", "see log"),
])
def test_update_each_field(repo: Repo, option: str, field: str, value: str,
                           expected: object) -> None:
    bead_id = repo.create("Old title")
    before = tip(repo)
    r = repo.bead("update", bead_id, option, value)
    assert r.out == f"{bead_id}: updated\n"
    assert repo.show(bead_id)[field] == expected
    title = repo.show(bead_id)["title"]
    assert commits_since(repo, before) == [f"update {bead_id}: {title}"]


def test_update_several_fields_is_one_commit_and_json(repo: Repo) -> None:
    bead_id = repo.create("x")
    before = tip(repo)
    b = repo.bead("update", bead_id, "--title", "y", "-p", "1", "-a", "al", "--field",
                  "size=L", "--json").json()
    assert (b["title"], b["priority"], b["assignee"], b["fields"]) == ("y", 1, "al",
                                                                       {"size": "L"})
    assert len(commits_since(repo, before)) == 1


def test_unassign_with_empty_string(repo: Repo) -> None:
    bead_id = repo.create("x", "-a", "alice")
    repo.bead("update", bead_id, "--assignee", "")
    assert repo.show(bead_id)["assignee"] == ""


def test_field_set_and_clear(repo: Repo) -> None:
    bead_id = repo.create("x", "--field", "run=make", "--field", "keep=1")
    repo.bead("update", bead_id, "--field", "run=make test")
    assert repo.show(bead_id)["fields"] == {"keep": "1", "run": "make test"}
    repo.bead("update", bead_id, "--field", "run=")
    assert repo.show(bead_id)["fields"] == {"keep": "1"}  # cleared, not null
    assert "run: " not in repo.bead("show", bead_id).out
    hist = repo.bead("history", bead_id).out
    assert "run = (cleared)" in hist and "run = make test  (superseded)" in hist
    exported = [json.loads(line) for line in repo.bead("export").out.splitlines()]
    assert exported[0]["fields"] == {"keep": "1"}


def test_status_transitions_set_and_clear_closed_at(repo: Repo) -> None:
    bead_id = repo.create("x")
    for status in ("in_progress", "hooked", "blocked", "deferred", "open"):
        repo.bead("update", bead_id, "-s", status)
        assert repo.show(bead_id)["closed_at"] == ""
    repo.bead("update", bead_id, "-s", "closed")
    closed_at = repo.show(bead_id)["closed_at"]
    assert closed_at
    before = tip(repo)
    repo.bead("update", bead_id, "-s", "closed")  # no change: no commit, same closed_at
    assert tip(repo) == before and repo.show(bead_id)["closed_at"] == closed_at
    repo.bead("update", bead_id, "-s", "in_progress")
    assert repo.show(bead_id)["closed_at"] == ""


def test_an_update_that_changes_nothing_makes_no_commit(repo: Repo) -> None:
    bead_id = repo.create("same", "-p", "1")
    before = tip(repo)
    repo.bead("update", bead_id, "--title", "same", "-p", "1")
    assert tip(repo) == before


@pytest.mark.parametrize("args, code, message", [
    ((), 2, "nothing to update"),
    (("-s", "done"), 2, "unknown status 'done'"),
    (("-t", "story"), 2, "unknown type 'story'"),
    (("-p", "9"), 2, "priority must be 0-4"),
    (("--title", ""), 2, "title cannot be empty"),
    (("--field", "x"), 2, "--field takes KEY=VALUE"),
    (("--field", "9x=1"), 2, "invalid field name"),
    (("--claim", "-s", "open"), 2, "--claim cannot be combined"),
])
def test_update_refusals(repo: Repo, args: tuple[str, ...], code: int, message: str) -> None:
    bead_id = repo.create("x")
    before = tip(repo)
    r = repo.bead("update", bead_id, *args, check=False)
    assert r.code == code and message in r.err and r.out == ""
    assert len(r.err.strip().splitlines()) == 1
    assert tip(repo) == before


def test_update_unknown_bead(repo: Repo) -> None:
    r = repo.bead("update", "gt-00000", "-p", "1", check=False)
    assert r.code == 3 and "no bead gt-00000" in r.err


def test_claim_is_atomic_and_idempotent(repo: Repo) -> None:
    bead_id = repo.create("Work")
    before = tip(repo)
    r = repo.bead("update", bead_id, "--claim", "--actor", "bob")
    assert r.out == f"{bead_id}: claimed\n"
    b = repo.show(bead_id)
    assert (b["assignee"], b["status"]) == ("bob", "in_progress")
    assert commits_since(repo, before) == [f"claim {bead_id}: Work"]
    assert "Gt-Actor: bob" in repo.git("log", "-1", "--format=%b", "refs/gt/beads")

    held = tip(repo)
    r = repo.bead("update", bead_id, "--claim", "--actor", "carol", check=False)
    assert r.code == 4 and r.out == ""
    assert f"{bead_id} is already claimed by bob" in r.err
    r = repo.bead("update", bead_id, "--claim", "--actor", "carol", "--json", check=False)
    assert json.loads(r.err)["error"]["code"] == "conflict"
    assert tip(repo) == held and repo.show(bead_id)["assignee"] == "bob"

    r = repo.bead("update", bead_id, "--claim", "--actor", "bob", "--json")
    assert r.json()["assignee"] == "bob"
    assert tip(repo) == held  # claiming what you hold changes nothing


def test_claim_refuses_closed_and_deferred_beads(repo: Repo) -> None:
    done = repo.create("done")
    repo.bead("close", done)
    r = repo.bead("update", done, "--claim", check=False)
    assert r.code == 4 and f"{done} is closed, not open" in r.err and "reopen" in r.err
    later = repo.create("later")
    repo.bead("update", later, "-s", "deferred")
    assert repo.bead("update", later, "--claim", check=False).code == 4


def test_claim_of_a_bead_assigned_to_you_but_open(repo: Repo) -> None:
    bead_id = repo.create("mine", "-a", "tester")
    repo.bead("update", bead_id, "--claim")
    assert repo.show(bead_id)["status"] == "in_progress"


def test_close_reopen(repo: Repo) -> None:
    a, b = repo.create("a"), repo.create("b")
    before = tip(repo)
    r = repo.bead("close", a, b, "--reason", "done in abc123")
    assert r.out == f"{a}: closed\n{b}: closed\n"
    assert commits_since(repo, before) == [f"close {b}: b", f"close {a}: a"]
    shown = repo.show(a)
    assert shown["status"] == "closed" and shown["close_reason"] == "done in abc123"
    assert shown["closed_at"]
    assert repo.bead("list", "--json").json() == []
    data = repo.bead("reopen", a, "--json").json()
    assert [(d["id"], d["status"], d["closed_at"], d["close_reason"]) for d in data] == [
        (a, "open", "", "")]
    assert [x["id"] for x in repo.bead("list", "--json").json()] == [a]
    r = repo.bead("close", b, "--json")
    assert r.json()[0]["close_reason"] == "done in abc123"  # unchanged: already closed


def test_close_refuses_all_when_one_id_is_unknown(repo: Repo) -> None:
    a = repo.create("a")
    before = tip(repo)
    for verb in ("close", "reopen", "delete"):
        r = repo.bead(verb, a, "gt-nope0", check=False)
        assert r.code == 3 and "no bead gt-nope0" in r.err
        assert tip(repo) == before  # the valid id before it was not touched either


def test_delete_is_a_tombstone(repo: Repo) -> None:
    keep = repo.create("keep")
    gone = repo.create("gone", "-l", "x")
    before = tip(repo)
    assert repo.bead("delete", gone).out == f"{gone}: deleted\n"
    assert commits_since(repo, before) == [f"delete {gone}: gone"]
    tree = repo.git("ls-tree", "-r", "--name-only", "refs/gt/beads").splitlines()
    path = next(p for p in tree if p.endswith(f"/{gone}.json"))
    doc = json.loads(repo.git("show", f"refs/gt/beads:{path}"))
    assert doc["fields"]["deleted"]["v"] is True and doc["fields"]["title"]["v"] == "gone"
    assert [b["id"] for b in repo.bead("list", "--all", "--json").json()] == [keep]
    assert repo.bead("search", "gone", "--all", "--json").json() == []
    exported = [json.loads(line) for line in repo.bead("export").out.splitlines()]
    assert {b["id"]: b["deleted"] for b in exported} == {keep: False, gone: True}
    stats = repo.bead("stats", "--json").json()
    assert (stats["total"], stats["deleted"]) == (1, 1)
    for args in (("update", gone, "-p", "1"), ("close", gone), ("delete", gone),
                 ("comment", gone, "hi"), ("label", "add", gone, "y"),
                 ("dep", "add", keep, "blocks", gone), ("update", gone, "--claim")):
        r = repo.bead(*args, check=False)
        assert r.code == 3, args
        assert f"{gone} was deleted; git gt-bead history {gone} shows it" in r.err, args
    assert "deleted = True" in repo.bead("history", gone).out  # history still reads it


def test_field_cannot_set_what_gastown_keeps(repo: Repo) -> None:
    bead_id = repo.create("a")
    before = tip(repo)
    for key in ("closed_at=x", "created_by=evil", "created_at=garbage", "deleted=1"):
        for args in (("update", bead_id, "--field", key), ("create", "b", "--field", key)):
            r = repo.bead(*args, check=False)
            assert r.code == 2 and "is kept by git-gastown and cannot be set" in r.err, args
    assert tip(repo) == before
    r = repo.bead("update", bead_id, "--field", "priority=9", check=False)
    assert r.code == 2 and "priority must be 0-4" in r.err
    r = repo.bead("update", bead_id, "--field", "status=done", check=False)
    assert r.code == 2 and "unknown status 'done'" in r.err
    # names that are not plain fields have their own commands; a custom field of that
    # name would be shown as if it were the real thing
    for key, how in (("labels=a,b", "label add"), ("parent=x", "parent-child"),
                     ("dependencies=x", "dep add"), ("comments=x", "comment"), ("id=x", "id"),
                     ("updated_at=x", "every change"), ("blocked=1", "dependencies")):
        for args in (("update", bead_id, "--field", key), ("create", "b", "--field", key)):
            r = repo.bead(*args, check=False)
            assert r.code == 2 and "is not a field --field can set" in r.err, args
            assert how in r.err, args
    assert tip(repo) == before


def test_field_status_goes_through_the_status_path(repo: Repo, tmp_path: Path,
                                                   env: dict[str, str]) -> None:
    closed = repo.create("made closed", "--field", "status=closed")
    assert repo.show(closed)["closed_at"]
    other = repo.create("b")
    repo.bead("update", other, "--field", "status=closed")
    assert repo.show(other)["closed_at"]
    repo.bead("update", other, "--field", "status=open")
    assert repo.show(other)["closed_at"] == ""
    first = repo.bead("export").out
    fresh = make_repo(tmp_path / "fresh", env)
    (tmp_path / "e.jsonl").write_text(first)
    fresh.bead("import", str(tmp_path / "e.jsonl"))
    assert fresh.bead("export").out == first  # our own export round-trips
