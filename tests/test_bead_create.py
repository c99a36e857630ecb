"""git gt-bead create: every option, the ids it mints, and every way it refuses input."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import Repo, make_repo

BEAD_KEYS = {
    "id", "title", "type", "status", "priority", "assignee", "description", "design",
    "acceptance", "notes", "labels", "dependencies", "parent", "comments", "created_at",
    "updated_at", "closed_at", "created_by", "close_reason", "deleted", "fields",
}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def tip(repo: Repo) -> str:
    return repo.git("rev-parse", "refs/gt/beads")


def refused(repo: Repo, *args: str, code: int = 2) -> str:
    """Run a command that must fail with CODE, change nothing, and say one line."""
    before = tip(repo)
    r = repo.bead(*args, check=False)
    assert r.code == code, (args, r)
    assert r.out == ""
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert r.err.startswith("git gt-bead: error: ")
    assert tip(repo) == before
    return r.err


def test_create_prints_only_the_new_id_with_defaults(repo: Repo) -> None:
    r = repo.bead("create", "Fix login")
    bead_id = r.out.strip()
    assert r.out == bead_id + "\n" and r.err == ""
    assert re.fullmatch(r"gt-[0-9a-z]{5}", bead_id)
    b = repo.show(bead_id)
    assert (b["title"], b["type"], b["status"], b["priority"]) == ("Fix login", "task", "open", 2)
    assert b["assignee"] == "" and b["labels"] == [] and b["dependencies"] == []
    assert b["created_by"] == "tester" and TIME.match(b["created_at"])
    assert b["updated_at"] == b["created_at"] and b["closed_at"] == ""
    assert b["parent"] == "" and b["fields"] == {} and b["deleted"] is False


def test_create_with_every_option_and_json_prints_the_whole_bead(repo: Repo) -> None:
    other = repo.create("Other")
    r = repo.bead("create", "Crash on save", "--type", "bug", "--priority", "0",
                  "--assignee", "alice", "--label", "ui", "-l", "urgent", "-l", "ui",
                  "--description", "It crashes.\nEvery time.", "--field", "run=make test",
                  "--field", "estimate=3h", "--dep", f"blocks:{other}",
                  "--dep", f"related:{other}", "--json")
    b = r.json()
    assert set(b) == BEAD_KEYS
    assert b["title"] == "Crash on save" and b["type"] == "bug" and b["priority"] == 0
    assert b["assignee"] == "alice" and b["labels"] == ["ui", "urgent"]
    assert b["description"] == "It crashes.\nEvery time."
    assert b["fields"] == {"estimate": "3h", "run": "make test"}
    assert b["dependencies"] == [{"id": other, "type": "blocks"},
                                 {"id": other, "type": "related"}]
    shown = repo.show(b["id"])
    assert {k: shown[k] for k in BEAD_KEYS} == b  # what create printed is what is stored
    assert shown["blocked"] is True


@pytest.mark.parametrize("kind", ["task", "bug", "feature", "epic", "chore", "convoy",
                                  "message", "escalation", "molecule", "merge-request",
                                  "agent"])
def test_every_type_is_accepted(repo: Repo, kind: str) -> None:
    assert repo.show(repo.create("x", "-t", kind))["type"] == kind


def test_priority_forms(repo: Repo) -> None:
    assert repo.show(repo.create("a", "-p", "P1"))["priority"] == 1
    assert repo.show(repo.create("b", "-p", "p4"))["priority"] == 4
    assert repo.show(repo.create("c", "-p", "0"))["priority"] == 0
    for bad in ("5", "-1", "high", "", "1.5", "P"):
        err = refused(repo, "create", "x", "-p", bad)
        assert "priority must be 0-4" in err and "0 is most urgent" in err


def test_bad_type_lists_the_types(repo: Repo) -> None:
    err = refused(repo, "create", "x", "--type", "story")
    assert "unknown type 'story'" in err and "task, bug, feature" in err


def test_bad_titles(repo: Repo) -> None:
    assert "cannot be empty" in refused(repo, "create", "   ")
    assert "one line" in refused(repo, "create", "two\nlines")
    assert repo.show(repo.create("  padded  "))["title"] == "padded"


def test_child_ids_hang_under_the_parent(repo: Repo) -> None:
    parent = repo.create("Epic", "-t", "epic")
    kids = [repo.create(f"child {i}", "--parent", parent) for i in range(3)]
    tag = kids[0][len(parent) + 1:-1]
    assert re.fullmatch(r"[0-9a-z]{5}", tag)  # this clone's tag, then its counter
    assert kids == [f"{parent}.{tag}{n}" for n in (1, 2, 3)]
    for kid in kids:
        b = repo.show(kid)
        assert b["parent"] == parent
        assert {"id": parent, "type": "parent-child"} in b["dependencies"]
    grandchild = repo.create("grandchild", "--parent", kids[0])
    assert grandchild == f"{kids[0]}.{tag}1"
    repo.bead("delete", kids[2])
    assert repo.create("after a delete", "--parent", parent) == f"{parent}.{tag}4"
    kids.append(f"{parent}.{tag}4")
    kids.remove(kids[2])
    listed = [b["id"] for b in repo.bead("list", "--parent", parent, "--json").json()]
    assert sorted(listed) == sorted(kids)


def test_two_clones_never_mint_the_same_child_id(tmp_path: Path, env: dict[str, str]) -> None:
    """Each clone numbers children under its own random tag, so children that two clones
    add to one parent before syncing keep their ids; ids of the old form stay valid."""
    a = make_repo(tmp_path / "a", env)
    epic = a.create("Epic", "-t", "epic")
    a.gt("bead", "import", "-", input=json.dumps(
        {"id": f"{epic}.x2q", "title": "old-style child",
         "dependencies": [{"id": epic, "type": "parent-child"}]}) + "\n")
    subprocess.run(["git", "clone", "-q", str(a.path), str(tmp_path / "b")], env=env,
                   check=True, capture_output=True)
    b = Repo(tmp_path / "b", env)
    assert "adopted" in b.gt("init").out
    from_a = [a.create(f"a{i}", "--parent", epic) for i in range(3)]
    from_b = [b.create(f"b{i}", "--parent", epic) for i in range(3)]
    assert not set(from_a) & set(from_b)
    assert from_a[0][:-1] != from_b[0][:-1]  # two tags
    b.gt("sync")
    a.git("remote", "add", "b", str(b.path))
    a.gt("sync", "b")
    for r in (a, b):
        listed = {x["id"] for x in r.bead("list", "--parent", epic, "--json").json()}
        assert listed == {f"{epic}.x2q", *from_a, *from_b}
    assert b.show(f"{epic}.x2q")["parent"] == epic


def test_parent_must_exist(repo: Repo) -> None:
    real = repo.create("Real parent")
    err = refused(repo, "create", "x", "--parent", real[:-1] + ("0" if real[-1] != "0" else "1"),
                  code=3)
    assert "no bead" in err and real in err  # the closest existing id is suggested
    assert "invalid bead id" in refused(repo, "create", "x", "--parent", "not an id")


def test_dep_option_forms(repo: Repo) -> None:
    target = repo.create("target")
    for kind in ("blocks", "related", "discovered-from", "tracks", "parent-child"):
        b = repo.bead("create", kind, "--dep", f"{kind}:{target}", "--json").json()
        assert b["dependencies"] == [{"id": target, "type": kind}]
    assert "--dep takes TYPE:ID" in refused(repo, "create", "x", "--dep", target)
    assert "--dep takes TYPE:ID" in refused(repo, "create", "x", "--dep", "blocks:")
    assert "unknown dependency type 'needs'" in refused(repo, "create", "x", "--dep",
                                                        f"needs:{target}")
    err = refused(repo, "create", "x", "--dep", "blocks:gt-zzzzz", code=3)
    assert "no bead gt-zzzzz" in err


def test_field_option(repo: Repo) -> None:
    b = repo.bead("create", "x", "--field", "cmd=a=b", "--field", "empty=", "--json").json()
    assert b["fields"] == {"cmd": "a=b"}  # the first '=' splits; an empty value sets nothing
    assert "invalid field name 'Bad Name'" in refused(repo, "create", "x", "--field",
                                                      "Bad Name=1")
    assert "--field takes KEY=VALUE" in refused(repo, "create", "x", "--field", "novalue")
    assert "--field takes KEY=VALUE" in refused(repo, "create", "x", "--field", "=v")


def test_bad_labels(repo: Repo) -> None:
    assert "invalid label" in refused(repo, "create", "x", "-l", "a,b")
    assert "invalid label" in refused(repo, "create", "x", "-l", " ")


def test_create_is_one_commit_naming_op_and_bead(repo: Repo) -> None:
    before = tip(repo)
    bead_id = repo.create("Write docs", "-l", "docs", "--field", "k=v")
    assert repo.git("rev-list", "--count", f"{before}..refs/gt/beads") == "1"
    assert repo.git("log", "-1", "--format=%s", "refs/gt/beads") == f"create {bead_id}: Write docs"
