"""git gt-bead dep add/rm/tree/cycles: what blocks what, refused cycles and parents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Repo


def tip(repo: Repo) -> str:
    return repo.git("rev-parse", "refs/gt/beads")


def seed(repo: Repo, *records: dict[str, Any]) -> None:
    repo.gt("bead", "import", "-", input="".join(json.dumps(r) + "\n" for r in records))


def ready(repo: Repo) -> list[str]:
    return [b["id"] for b in repo.bead("ready", "--json").json()]


def test_dep_add_blocks_then_rm(repo: Repo) -> None:
    a, b = repo.create("a"), repo.create("b")
    before = tip(repo)
    r = repo.bead("dep", "add", b, "blocks", a)
    assert r.out == f"{b}: depends on {a} (blocks)\n"
    assert repo.git("log", "-1", "--format=%s", "refs/gt/beads") == f"dep-add {b}: b"
    assert repo.git("rev-list", "--count", f"{before}..refs/gt/beads") == "1"
    assert repo.show(b)["dependencies"] == [{"id": a, "type": "blocks"}]
    assert ready(repo) == [a]
    r = repo.bead("dep", "rm", b, "blocks", a, "--json")
    assert r.json()[0]["dependencies"] == []
    assert repo.git("log", "-1", "--format=%s", "refs/gt/beads") == f"dep-rm {b}: b"
    assert sorted(ready(repo)) == sorted([a, b])
    assert f"dep blocks:{a} = removed" in repo.bead("history", b).out


def test_adding_the_same_dep_twice_is_a_no_op(repo: Repo) -> None:
    a, b = repo.create("a"), repo.create("b")
    repo.bead("dep", "add", b, "related", a)
    before = tip(repo)
    repo.bead("dep", "add", b, "related", a)
    assert tip(repo) == before


@pytest.mark.parametrize("edges, closing, cycle", [
    ([("b", "blocks", "a")], ("a", "blocks", "b"), "a -> b -> a"),
    ([("b", "blocks", "a"), ("c", "blocks", "b")], ("a", "blocks", "c"), "a -> c -> b -> a"),
    ([("b", "parent-child", "a")], ("a", "parent-child", "b"), "a -> b -> a"),
    ([("b", "parent-child", "a"), ("c", "blocks", "b")], ("a", "blocks", "c"),
     "a -> c -> b -> a"),
])
def test_a_cycle_is_refused_and_printed(repo: Repo, edges: list[tuple[str, str, str]],
                                        closing: tuple[str, str, str], cycle: str) -> None:
    beads = {name: repo.create(name) for name in "abc"}
    for src, kind, dst in edges:
        repo.bead("dep", "add", beads[src], kind, beads[dst])
    before = tip(repo)
    src, kind, dst = closing
    r = repo.bead("dep", "add", beads[src], kind, beads[dst], check=False)
    expected = " -> ".join(beads[n] for n in cycle.split(" -> "))
    assert r.code == 4 and r.out == ""
    assert r.err.strip() == (f"git gt-bead: error: adding {beads[src]} {kind} {beads[dst]}"
                             f" would make a cycle: {expected};"
                             " remove one of those dependencies first")
    assert tip(repo) == before
    r = repo.bead("dep", "add", beads[src], kind, beads[dst], "--json", check=False)
    assert json.loads(r.err)["error"]["code"] == "conflict"


def test_non_ordering_edges_may_loop(repo: Repo) -> None:
    a, b = repo.create("a"), repo.create("b")
    repo.bead("dep", "add", a, "related", b)
    repo.bead("dep", "add", b, "related", a)
    repo.bead("dep", "add", a, "discovered-from", b)
    repo.bead("dep", "add", b, "discovered-from", a)
    assert repo.bead("dep", "cycles").out == "no cycles\n"


def test_second_parent_refused(repo: Repo) -> None:
    p1, p2 = repo.create("p1"), repo.create("p2")
    child = repo.create("child", "--parent", p1)
    before = tip(repo)
    repo.bead("dep", "add", child, "parent-child", p1)  # the same parent again: fine
    assert tip(repo) == before
    r = repo.bead("dep", "add", child, "parent-child", p2, check=False)
    assert r.code == 4
    assert (f"{child} already has parent {p1}; remove it first: "
            f"git gt-bead dep rm {child} parent-child {p1}") in r.err
    assert tip(repo) == before
    repo.bead("dep", "rm", child, "parent-child", p1)
    repo.bead("dep", "add", child, "parent-child", p2)
    assert repo.show(child)["parent"] == p2
    r = repo.bead("create", "two parents", "--parent", p1, "--dep", f"parent-child:{p2}",
                  check=False)
    assert r.code == 4 and "already has parent" in r.err


@pytest.mark.parametrize("args, code, message", [
    (("A", "blocks", "gt-zzzzz"), 3, "no bead gt-zzzzz"),
    (("gt-zzzzz", "blocks", "A"), 3, "no bead gt-zzzzz"),
    (("A", "blocks", "A"), 2, "cannot depend on itself"),
    (("A", "needs", "B"), 2, "unknown dependency type 'needs'"),
    (("A", "blocks", "not-an id"), 2, "invalid bead id"),
    (("A", "blocks"), 2, "Missing argument 'ID2'"),
])
def test_dep_add_refusals(repo: Repo, args: tuple[str, ...], code: int, message: str) -> None:
    names = {"A": repo.create("a"), "B": repo.create("b")}
    before = tip(repo)
    r = repo.bead("dep", "add", *(names.get(x, x) for x in args), check=False)
    assert r.code == code and message in r.err and r.out == ""
    assert len(r.err.strip().splitlines()) == 1
    assert tip(repo) == before


def test_missing_target_suggests_close_ids(repo: Repo) -> None:
    a = repo.create("a")
    near = a[:-1] + ("x" if a[-1] != "x" else "y")
    r = repo.bead("dep", "add", repo.create("b"), "blocks", near, check=False)
    assert r.code == 3 and f"did you mean {a}" in r.err


def test_dep_rm_refusals(repo: Repo) -> None:
    a, b = repo.create("a"), repo.create("b")
    repo.bead("dep", "add", b, "related", a)
    r = repo.bead("dep", "rm", b, "blocks", a, check=False)
    assert r.code == 3
    assert f"{b} has no blocks dependency on {a}; git gt-bead show {b}" in r.err
    assert repo.bead("dep", "rm", b, "frob", a, check=False).code == 2


def test_dep_tree(repo: Repo) -> None:
    seed(repo,
         {"id": "gt-root1", "title": "root", "dependencies": [
             {"type": "blocks", "id": "gt-mid01"}, {"type": "related", "id": "gt-ghost"}]},
         {"id": "gt-mid01", "title": "middle", "status": "in_progress",
          "dependencies": [{"type": "parent-child", "id": "gt-leaf1"}]},
         {"id": "gt-leaf1", "title": "leaf", "status": "closed"})
    out = repo.bead("dep", "tree", "gt-root1").out
    assert out == ("gt-root1 [open] root\n"
                   "  blocks -> gt-mid01 [in_progress] middle\n"
                   "    parent-child -> gt-leaf1 [closed] leaf\n"
                   "  related -> gt-ghost [missing] (missing)\n")
    tree = repo.bead("dep", "tree", "gt-root1", "--json").json()
    assert tree == {
        "id": "gt-root1", "title": "root", "status": "open", "deleted": False, "deps": [
            {"id": "gt-mid01", "title": "middle", "status": "in_progress", "deleted": False,
             "type": "blocks",
             "deps": [{"id": "gt-leaf1", "title": "leaf", "status": "closed",
                       "deleted": False, "type": "parent-child", "deps": []}]},
            {"id": "gt-ghost", "title": "(missing)", "status": "missing", "deleted": False,
             "type": "related", "deps": []}]}
    shallow = repo.bead("dep", "tree", "gt-root1", "--depth", "1", "--json").json()
    assert shallow["deps"][0]["deps"] == []
    r = repo.bead("dep", "tree", "gt-nope1", check=False)
    assert r.code == 3 and "no bead gt-nope1" in r.err


def test_deleting_a_bead_others_depend_on(repo: Repo) -> None:
    epic = repo.create("Epic A", "-t", "epic")
    kid = repo.create("kid", "--parent", epic)
    waiter = repo.create("waiter", "--dep", f"blocks:{epic}")
    r = repo.bead("delete", epic)
    assert r.out == f"{epic}: deleted\n"
    assert r.err == (f"git gt-bead: warning: {epic} was deleted while 2 bead(s) depend on "
                     f"it: {waiter} (blocks), {kid} (parent-child); they no longer wait for "
                     "it (git gt-bead dep rm to tidy)\n")
    r = repo.bead("delete", repo.create("alone"), "--json")
    assert r.err == ""
    assert repo.bead("dep", "tree", waiter).out == (
        f"{waiter} [open] waiter\n  blocks -> {epic} [deleted] Epic A\n")
    node = repo.bead("dep", "tree", waiter, "--json").json()["deps"][0]
    assert (node["id"], node["deleted"], node["deps"]) == (epic, True, [])


def test_dep_cycles_reports_cycles_a_merge_or_import_made(repo: Repo) -> None:
    assert repo.bead("dep", "cycles").out == "no cycles\n"
    assert repo.bead("dep", "cycles", "--json").json() == []
    # import does not refuse cycles (the data already exists elsewhere); cycles finds them
    seed(repo,
         {"id": "gt-cyc1a", "title": "a", "dependencies": [{"type": "blocks", "id": "gt-cyc1b"}]},
         {"id": "gt-cyc1b", "title": "b",
          "dependencies": [{"type": "parent-child", "id": "gt-cyc1a"}]},
         {"id": "gt-self1", "title": "self", "dependencies": []})
    r = repo.bead("dep", "cycles", check=False)
    assert r.code == 1 and r.out == "gt-cyc1a -> gt-cyc1b -> gt-cyc1a\n"
    r = repo.bead("dep", "cycles", "--json", check=False)
    assert r.code == 1 and r.json() == [["gt-cyc1a", "gt-cyc1b", "gt-cyc1a"]]
    tree = repo.bead("dep", "tree", "gt-cyc1a").out
    assert "blocks -> gt-cyc1b" in tree and "parent-child -> gt-cyc1a (cycle)" in tree
