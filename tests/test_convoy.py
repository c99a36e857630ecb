"""git gt-convoy: create, add, list, show, status, and closing itself when its beads close."""

from __future__ import annotations

from conftest import Repo


def test_create_show_status(repo: Repo) -> None:
    a, b, c = repo.create("alpha", "-p", "1"), repo.create("beta"), repo.create("gamma")
    repo.bead("dep", "add", c, "blocks", a)
    cid = repo.gt("convoy", "create", "--name", "auth", a, b, c, "--mountain").out.strip()
    conv = repo.show(cid)
    assert conv["type"] == "convoy" and conv["title"] == "auth" and "mountain" in conv["labels"]
    assert {d["id"] for d in conv["dependencies"] if d["type"] == "tracks"} == {a, b, c}
    repo.bead("update", b, "--claim", "--actor", "nux")
    shown = repo.gt("convoy", "show", "auth", "--json").json()
    states = {t["id"]: (t["state"], t["agent"]) for t in shown["beads"]}
    assert states == {a: ("ready", ""), b: ("active", "nux"), c: ("blocked", "")}
    assert (shown["total"], shown["done"], shown["blocked"], shown["mountain"]) == (3, 0, 1, True)
    text = repo.gt("convoy", "show", "auth").out
    assert "@nux" in text and "blocked" in text
    # tracking never blocks: the tracked beads stay ready
    assert a in {x["id"] for x in repo.bead("ready", "--json").json()}

    repo.bead("close", a)
    status = repo.gt("convoy", "status", "--json").json()
    assert [(s["name"], s["done"], s["total"], s["blocked"]) for s in status] == \
        [("auth", 1, 3, 0)]
    line = repo.gt("convoy", "status").out
    assert "auth (mountain)  [#######.............] 1/3 33%" in line
    listed = repo.gt("convoy", "list", "--json").json()
    assert listed[0]["id"] == cid and "beads" not in listed[0]


def test_auto_close_when_last_tracked_bead_closes(repo: Repo) -> None:
    a, b = repo.create("one"), repo.create("two")
    other = repo.create("unrelated")
    repo.gt("convoy", "create", "--name", "c1", a, b)
    repo.gt("convoy", "create", "--name", "c2", b, other)
    assert "landed" not in repo.bead("close", a).out
    out = repo.bead("close", b).out
    assert "convoy c1: landed (all 2 beads closed)" in out
    assert repo.gt("convoy", "list", "--json").json()[0]["name"] == "c2"
    landed = repo.gt("convoy", "show", "c1", "--json").json()
    assert landed["status"] == "closed" and landed["close_reason"].startswith("landed")
    # `bead update --status closed` lands too, and landing twice changes nothing
    repo.bead("update", other, "--status", "closed")
    assert repo.gt("convoy", "list", "--json").json() == []
    tip = repo.git("rev-parse", "refs/gt/beads")
    assert repo.gt("convoy", "check").out.strip() == "no convoy landed"
    assert repo.git("rev-parse", "refs/gt/beads") == tip


def test_check_lands_beads_closed_elsewhere(repo: Repo) -> None:
    a = repo.create("one")
    repo.gt("convoy", "create", "--name", "c", a)
    # a close that did not go through `git gt-bead close` (e.g. an import)
    repo.gt("bead", "import", "-", input=f'{{"id": "{a}", "title": "one", "status": "closed"}}\n')
    assert repo.gt("convoy", "status", "--json").json()[0]["done"] == 1
    landed = repo.gt("convoy", "check", "--json").json()
    assert [c["name"] for c in landed] == ["c"]


def test_add_reopens_a_landed_convoy(repo: Repo) -> None:
    a = repo.create("one")
    repo.gt("convoy", "create", "--name", "c", a)
    repo.bead("close", a)
    b = repo.create("two")
    out = repo.gt("convoy", "add", "c", b, "--json").json()
    assert out["status"] == "open" and out["total"] == 2 and out["closed_at"] == ""


def test_errors_change_nothing(repo: Repo) -> None:
    a = repo.create("one")
    repo.gt("convoy", "create", "--name", "c", a)
    tip = repo.git("rev-parse", "refs/gt/beads")
    dup = repo.gt("convoy", "create", "--name", "c", a, check=False)
    assert dup.code == 4 and "a convoy named 'c' exists" in dup.err
    assert repo.gt("convoy", "create", "--name", "bad name", a, check=False).code == 2
    missing = repo.gt("convoy", "create", "--name", "d", a, "gt-zzzzz", check=False)
    assert missing.code == 3 and "no bead gt-zzzzz" in missing.err
    conv = repo.gt("convoy", "list", "--json").json()[0]["id"]
    nested = repo.gt("convoy", "create", "--name", "e", conv, check=False)
    assert nested.code == 2 and "a convoy tracks work beads" in nested.err
    unknown = repo.gt("convoy", "show", "cc", check=False)
    assert unknown.code == 3 and "did you mean c?" in unknown.err
    assert repo.gt("convoy", "create", "--name", "f", check=False).code == 2
    assert repo.git("rev-parse", "refs/gt/beads") == tip
    assert '"code": "not_found"' in repo.gt("convoy", "show", "zz", "--json", check=False).err


def test_convoy_over_closed_beads_lands_at_once(repo: Repo) -> None:
    a = repo.create("one")
    repo.bead("close", a)
    repo.gt("convoy", "create", "--name", "dup", a)
    shown = repo.gt("convoy", "show", "dup", "--json").json()
    assert shown["status"] == "closed" and shown["close_reason"].startswith("landed")
    # add: a convoy whose bead was closed elsewhere (an import) gets one more closed bead
    d, e = repo.create("two"), repo.create("three")
    repo.gt("convoy", "create", "--name", "grow", d)
    repo.gt("bead", "import", "-", input=f'{{"id": "{d}", "title": "two", "status": "closed"}}\n')
    repo.bead("close", e)
    assert repo.gt("convoy", "add", "grow", e, "--json").json()["status"] == "closed"
