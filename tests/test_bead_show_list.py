"""git gt-bead show and list: several ids, deleted and unknown ids, every filter and sort."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Repo

LIST_KEYS = {
    "id", "title", "type", "status", "priority", "assignee", "description", "design",
    "acceptance", "notes", "labels", "dependencies", "parent", "comments", "created_at",
    "updated_at", "closed_at", "created_by", "close_reason", "deleted", "fields", "blocked",
}


def seed(repo: Repo, *records: dict[str, Any]) -> None:
    """Load beads with chosen ids and times (import is the one way to pick them)."""
    lines = "".join(json.dumps(r) + "\n" for r in records)
    repo.gt("bead", "import", "-", input=lines)


def ids(repo: Repo, *args: str) -> list[str]:
    return [b["id"] for b in repo.bead("list", *args, "--json").json()]


@pytest.fixture
def sample(repo: Repo) -> Repo:
    seed(
        repo,
        {"id": "gt-aaaaa", "title": "Alpha login bug", "type": "bug", "priority": 1,
         "assignee": "alice", "labels": ["ui", "auth"], "created_at": "2026-01-01T00:00:01Z",
         "updated_at": "2026-01-05T00:00:00Z"},
        {"id": "gt-bbbbb", "title": "beta feature", "type": "feature", "priority": 2,
         "labels": ["ui"], "created_at": "2026-01-02T00:00:00Z",
         "updated_at": "2026-01-02T00:00:00Z"},
        {"id": "gt-ccccc", "title": "Gamma chore", "type": "chore", "priority": 1,
         "status": "in_progress", "assignee": "bob", "created_at": "2026-01-03T00:00:00Z",
         "updated_at": "2026-01-09T00:00:00Z"},
        {"id": "gt-ddddd", "title": "Delta done", "status": "closed", "priority": 0,
         "created_at": "2026-01-04T00:00:00Z", "closed_at": "2026-01-06T00:00:00Z",
         "updated_at": "2026-01-06T00:00:00Z"},
        {"id": "gt-eeeee", "title": "epsilon child", "priority": 3,
         "dependencies": [{"type": "parent-child", "id": "gt-aaaaa"}],
         "created_at": "2026-01-05T00:00:00Z", "updated_at": "2026-01-07T00:00:00Z"},
        {"id": "gt-fffff", "title": "Zeta deferred", "status": "deferred", "priority": 4,
         "created_at": "2026-01-06T00:00:00Z", "updated_at": "2026-01-06T00:00:00Z"},
    )
    return repo


def test_show_several_ids_in_the_order_given(sample: Repo) -> None:
    data = sample.bead("show", "gt-ccccc", "gt-aaaaa", "--json").json()
    assert [b["id"] for b in data] == ["gt-ccccc", "gt-aaaaa"]
    assert set(data[0]) == LIST_KEYS | {"blocked_by"}
    text = sample.bead("show", "gt-aaaaa", "gt-eeeee").out
    first, second = text.split("\n\n", 1)
    assert first.startswith("gt-aaaaa: Alpha login bug")
    assert "labels: auth, ui" in first and "assignee alice" in first
    assert "gt-eeeee: epsilon child" in second and "gt-aaaaa (parent-child)" in second


def test_show_text_has_every_part(repo: Repo) -> None:
    blocker = repo.create("Blocker")
    b = repo.create("Full", "-d", "line one\nline two", "--field", "run=make",
                    "--dep", f"blocks:{blocker}")
    repo.bead("update", b, "--design", "the design", "--acceptance", "it works",
              "--notes", "a note")
    repo.bead("comment", b, "looks good")
    out = repo.bead("show", b).out
    for part in ("Description:\n  line one\n  line two", "Design:\n  the design",
                 "Acceptance:\n  it works", "Notes:\n  a note", "run: make",
                 f"blocked: blocked by {blocker} (open)", "Comments:", "tester: looks good",
                 f"depends on: {blocker} (blocks)", "created 20"):
        assert part in out, part
    repo.bead("close", b, "--reason", "shipped")
    assert "closed 20" in repo.bead("show", b).out and ": shipped" in repo.bead("show", b).out


def test_show_unknown_id_suggests_the_closest(sample: Repo) -> None:
    r = sample.bead("show", "gt-aaaab", check=False)
    assert r.code == 3 and r.out == ""
    # the closest id first (difflib ranks by similarity)
    assert r.err.startswith("git gt-bead: error: no bead gt-aaaab; did you mean gt-aaaaa")
    r = sample.bead("show", "gt-aaaab", "--json", check=False)
    assert r.code == 3 and r.out == ""
    err = json.loads(r.err)["error"]
    assert set(err) == {"code", "exit", "message", "hint"}
    assert (err["code"], err["exit"], err["message"]) == ("not_found", 3, "no bead gt-aaaab")
    assert err["hint"].startswith("did you mean gt-aaaaa")
    r = sample.bead("show", "zz-qqqqq", check=False)
    assert r.code == 3 and "git gt-bead list shows the beads" in r.err  # nothing close
    r = sample.bead("show", "gt-aaaaa", "gt-nope9", check=False)
    assert r.code == 3 and r.out == ""  # nothing printed when one id is unknown
    for typed in ("GT-AAAAA", "aaaaa", "xx-aaaaa"):  # any case, no or a wrong prefix
        r = sample.bead("show", typed, check=False)
        assert r.code == 3 and "did you mean gt-aaaaa" in r.err, typed


def test_show_deleted_bead(sample: Repo) -> None:
    sample.bead("delete", "gt-bbbbb")
    r = sample.bead("show", "gt-bbbbb", check=False)
    assert r.code == 3
    assert "gt-bbbbb was deleted; git gt-bead history gt-bbbbb shows it" in r.err


def test_list_default_hides_closed_and_sorts_by_priority_then_age(sample: Repo) -> None:
    assert ids(sample) == ["gt-aaaaa", "gt-ccccc", "gt-bbbbb", "gt-eeeee", "gt-fffff"]
    assert ids(sample, "--all") == ["gt-ddddd", "gt-aaaaa", "gt-ccccc", "gt-bbbbb",
                                    "gt-eeeee", "gt-fffff"]
    lines = sample.bead("list").out.splitlines()
    assert lines[0] == "gt-aaaaa  P1  open  bug @alice  Alpha login bug"
    assert lines[1] == "gt-ccccc  P1  in_progress  chore @bob  Gamma chore"
    assert all(set(b) == LIST_KEYS for b in sample.bead("list", "--all", "--json").json())


def test_list_filters(sample: Repo) -> None:
    assert ids(sample, "-s", "closed") == ["gt-ddddd"]
    assert ids(sample, "--status", "deferred", "--status", "in_progress") == ["gt-ccccc",
                                                                               "gt-fffff"]
    assert ids(sample, "-t", "bug", "--type", "chore") == ["gt-aaaaa", "gt-ccccc"]
    assert ids(sample, "-a", "alice") == ["gt-aaaaa"]
    assert ids(sample, "--assignee", "bob") == ["gt-ccccc"]
    assert ids(sample, "-l", "ui") == ["gt-aaaaa", "gt-bbbbb"]
    assert ids(sample, "-l", "ui", "-l", "auth") == ["gt-aaaaa"]  # every label given
    assert ids(sample, "-p", "1") == ["gt-aaaaa", "gt-ccccc"]
    assert ids(sample, "-p", "3", "--priority", "4") == ["gt-eeeee", "gt-fffff"]
    assert ids(sample, "-p", "0") == []  # the P0 bead is closed
    assert ids(sample, "-p", "0", "--all") == ["gt-ddddd"]
    assert ids(sample, "--parent", "gt-aaaaa") == ["gt-eeeee"]
    assert ids(sample, "-l", "ui", "-t", "feature", "-p", "2") == ["gt-bbbbb"]
    assert sample.bead("list", "-a", "nobody").out == ""
    assert sample.bead("list", "-a", "nobody", "--json").json() == []


def test_list_sorts_and_limit(sample: Repo) -> None:
    assert ids(sample, "--sort", "created") == ["gt-aaaaa", "gt-bbbbb", "gt-ccccc",
                                                "gt-eeeee", "gt-fffff"]
    assert ids(sample, "--sort", "-created") == ["gt-fffff", "gt-eeeee", "gt-ccccc",
                                                 "gt-bbbbb", "gt-aaaaa"]
    assert ids(sample, "--sort", "updated") == ["gt-ccccc", "gt-eeeee", "gt-fffff",
                                                "gt-aaaaa", "gt-bbbbb"]
    assert ids(sample, "--sort", "id", "--all")[0] == "gt-aaaaa"
    assert ids(sample, "--sort", "title") == ["gt-aaaaa", "gt-ccccc", "gt-fffff",
                                              "gt-bbbbb", "gt-eeeee"]  # byte order
    assert ids(sample, "-n", "2") == ["gt-aaaaa", "gt-ccccc"]
    assert ids(sample, "--limit", "1", "--sort", "-created") == ["gt-fffff"]


@pytest.mark.parametrize("args, message", [
    (("--status", "done"), "unknown status 'done'"),
    (("--type", "story"), "unknown type 'story'"),
    (("-p", "7"), "'-p' / '--priority'"),
    (("--sort", "size"), "'--sort'"),
    (("--limit", "0"), "'-n' / '--limit'"),
])
def test_list_bad_options(repo: Repo, args: tuple[str, ...], message: str) -> None:
    r = repo.bead("list", *args, check=False)
    assert r.code == 2 and r.out == "" and message in r.err
    assert len(r.err.strip().splitlines()) == 1
