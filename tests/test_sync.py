"""git gt-sync through a bare repository: merge rules, counts, refusals, adoption, catch-up."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Repo, make_repo


def bare(path: Path, env: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], env=env, check=True)
    return path


def clone_of(hub: Path, path: Path, env: dict[str, str], *, init: bool = True) -> Repo:
    subprocess.run(["git", "clone", "-q", str(hub), str(path)], env=env, check=True,
                   capture_output=True)
    repo = Repo(path, env)
    if init:
        repo.gt("init")
    return repo


@pytest.fixture
def hub(tmp_path: Path, env: dict[str, str]) -> Path:
    """A bare hub whose main branch and beads (prefix gt) came from a first clone."""
    hub = bare(tmp_path / "hub.git", env)
    seed = make_repo(tmp_path / "seed", env)
    seed.git("remote", "add", "origin", str(hub))
    seed.git("push", "-q", "origin", "main")
    seed.gt("sync")
    return hub


@pytest.fixture
def pair(hub: Path, tmp_path: Path, env: dict[str, str]) -> tuple[Repo, Repo]:
    return clone_of(hub, tmp_path / "a", env), clone_of(hub, tmp_path / "b", env)


def tree(repo: Repo) -> str:
    return repo.git("rev-parse", "refs/gt/beads^{tree}")


def all_refs(repo: Repo) -> str:
    return repo.git("for-each-ref", "--format=%(objectname) %(refname)")


def sync_json(repo: Repo, *args: str) -> dict[str, object]:
    data: dict[str, object] = repo.gt("sync", "--json", *args).json()
    return data


def converge(*repos: Repo) -> None:
    for _ in range(2):
        for r in repos:
            r.gt("sync")


def test_two_clones_converge_and_keep_both_fields(pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    shared = a.create("shared")
    a.gt("sync")
    b.gt("sync")
    a.bead("update", shared, "--priority", "0")
    b.bead("update", shared, "--description", "from b")
    only_b = b.create("made on b")
    b.commit_file("work.txt", "uncommitted next\n")
    (b.path / "work.txt").write_text("dirty\n")
    branches = b.git("for-each-ref", "refs/heads", "refs/remotes", "refs/tags")
    a.gt("sync")
    out = sync_json(b)
    assert b.git("for-each-ref", "refs/heads", "refs/remotes", "refs/tags") == branches
    assert b.git("status", "--porcelain") == "M work.txt"  # the working tree is untouched
    assert out["added"] == 0 and out["changed"] == 1  # a's priority arrived
    a.gt("sync")
    assert tree(a) == tree(b)
    bead = a.show(shared)
    assert bead["priority"] == 0 and bead["description"] == "from b"
    assert a.show(only_b)["title"] == "made on b"
    parents = b.git("log", "-1", "--format=%P", "refs/gt/beads").split()
    assert len(parents) == 2  # the merge commit keeps both histories


def test_same_field_later_clock_wins_and_loser_stays_in_history(
        pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    bid = a.create("t")
    a.gt("sync")
    b.gt("sync")
    a.bead("update", bid, "--title", "first by a", "--actor", "alice")
    b.bead("update", bid, "--title", "by b", "--actor", "bob")
    b.bead("update", bid, "--title", "second by b", "--actor", "bob")  # clock is higher
    a.gt("sync")
    dry = b.gt("sync", "--dry-run").out
    assert (f"conflict: {bid} title: kept 'second by b' by bob, lost 'first by a' by alice"
            in dry), dry
    assert "changed:" not in dry  # b's version won every entry: its document is unchanged
    data = sync_json(b)
    a.gt("sync")
    assert data["conflicts_resolved"] == 1
    assert data["changed_ids"] == [] and data["added_ids"] == []
    assert data["conflicts"] == [{
        "id": bid, "section": "fields", "field": "title",
        "kept": {"value": "second by b", "actor": "bob", "clock": 3,
                 "time": data["conflicts"][0]["kept"]["time"]},  # type: ignore[index]
        "lost": {"value": "first by a", "actor": "alice", "clock": 2,
                 "time": data["conflicts"][0]["lost"]["time"]}}]  # type: ignore[index]
    assert a.show(bid)["title"] == b.show(bid)["title"] == "second by b"
    hist = a.bead("history", bid, "--json").json()
    titles = {(h["value"], h["current"]) for h in hist if h["key"] == "title"}
    assert ("first by a", False) in titles and ("second by b", True) in titles
    assert ("by b", False) in titles


def test_tie_on_clock_broken_by_actor(pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    bid = a.create("t")
    converge(a, b)
    a.bead("update", bid, "--status", "deferred", "--actor", "zed")
    b.bead("update", bid, "--status", "in_progress", "--actor", "amy")
    converge(a, b)
    assert a.show(bid)["status"] == b.show(bid)["status"] == "deferred"  # "zed" > "amy"


def test_labels_deps_comments_and_tombstones_merge_as_sets(pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    x, y = a.create("x", "-l", "old"), a.create("y")
    converge(a, b)
    a.bead("label", "rm", x, "old")
    b.bead("label", "add", x, "new")
    a.bead("comment", x, "from a")
    b.bead("comment", x, "from b")
    b.bead("dep", "add", x, "related", y)
    a.bead("delete", y)
    converge(a, b)
    assert tree(a) == tree(b)
    bead = b.show(x)
    assert bead["labels"] == ["new"]  # the removal propagated, the add survived
    assert sorted(c["text"] for c in bead["comments"]) == ["from a", "from b"]
    assert {"type": "related", "id": y} in bead["dependencies"]
    ids = [item["id"] for item in b.bead("list", "--json").json()]
    assert y not in ids and x in ids  # the tombstone arrived


def test_dry_run_changes_nothing(pair: tuple[Repo, Repo], hub: Path) -> None:
    a, b = pair
    theirs = a.create("from a")
    a.gt("sync")
    b.create("from b")
    before_b = all_refs(b)
    before_hub = subprocess.run(["git", "-C", str(hub), "for-each-ref"], capture_output=True,
                                text=True, env=b.env).stdout
    out = b.gt("sync", "--dry-run")
    assert "would be merged (1 added" in out.out and "would push refs/gt/beads" in out.out
    assert f"dry run:   added: {theirs}\n" in out.out, out.out
    data = sync_json(b, "--dry-run")
    assert data["dry_run"] is True and data["added"] == 1 and data["pushed"] == []
    assert data["added_ids"] == [theirs] and data["changed_ids"] == []
    assert all_refs(b) == before_b
    assert subprocess.run(["git", "-C", str(hub), "for-each-ref"], capture_output=True,
                          text=True, env=b.env).stdout == before_hub


def test_no_push_merges_locally_only(pair: tuple[Repo, Repo], hub: Path) -> None:
    a, b = pair
    a.create("from a")
    a.gt("sync")
    hub_tip = b.git("ls-remote", str(hub), "refs/gt/beads").split()[0]
    b.create("from b")
    out = b.gt("sync", "--no-push").out
    assert "not pushed" in out
    assert b.git("ls-remote", str(hub), "refs/gt/beads").split()[0] == hub_tip
    assert len(b.bead("list", "--json").json()) == 2


def test_id_collision_keeps_both_and_reports(pair: tuple[Repo, Repo],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = pair
    # Force both clones to mint the same id: the token source returns a fixed string.
    for repo in (a, b):
        repo.run("python", "-c", _CREATE_FIXED, "gt-aaaaa", f"made on {repo.path.name}",
                 cwd=repo.path)
        repo.bead("update", "gt-aaaaa", "--title", f"made on {repo.path.name} v2")
        repo.run("python", "-c", _LOCAL_HOOK, f"h{repo.path.name}", "gt-aaaaa", cwd=repo.path)
    a.gt("sync")
    out = b.gt("sync")
    assert "two beads had the id gt-aaaaa" in out.out
    a.gt("sync")
    b.gt("sync")
    assert tree(a) == tree(b)
    titles = sorted(x["title"] for x in a.bead("list", "--json").json())
    assert titles == ["made on a v2", "made on b v2"]
    ids = sorted(x["id"] for x in a.bead("list", "--json").json())
    assert ids[0] == "gt-aaaaa" and ids[1].startswith("gt-aaaaa") and len(ids[1]) == 10
    msg = a.git("log", "--format=%B", "refs/gt/beads")
    assert f"Gt-Collision: gt-aaaaa -> {ids[1]}" in msg
    # The moved bead keeps its history from before the move; the other bead's is not mixed in.
    moved = a.show(ids[1])["title"]
    hist = a.bead("history", ids[1], "--json").json()
    titles = {(h["value"], h["current"]) for h in hist if h["key"] == "title"}
    assert titles == {(moved.removesuffix(" v2"), False), (moved, True)}
    # The agent whose bead moved now works on the new id; the other agent's bead kept it.
    for repo in (a, b):
        mine = f"made on {repo.path.name} v2"
        want = "gt-aaaaa" if a.show("gt-aaaaa")["title"] == mine else ids[1]
        state = json.loads(repo.git("show", f"refs/gt/hooks/h{repo.path.name}:state.json"))
        assert state["beads"] == [want] and list(state["attempts"]) == [want], state
        assert json.loads(repo.git("show", f"refs/gt/hooks/h{repo.path.name}:state.json")) \
            == json.loads(a.git("show", f"refs/gt/hooks/h{repo.path.name}:state.json"))
    stayed = a.show("gt-aaaaa")["title"]
    hist = a.bead("history", "gt-aaaaa", "--json").json()
    titles = {(h["value"], h["current"]) for h in hist if h["key"] == "title"}
    assert titles == {(stayed.removesuffix(" v2"), False), (stayed, True)}, titles


_LOCAL_HOOK = """
import sys
from git_gastown import hook
from git_gastown.git import Repo
repo = Repo.discover()
name, bead = sys.argv[1], sys.argv[2]
hook.write_hook(repo, name, "test", lambda tx: None, create=hook.HookState(
    name=name, branch="gt/" + name, beads=(bead,), attempts={bead: 1}))
hook.runtime_dir(repo, name).mkdir(parents=True, exist_ok=True)  # its agent runs here
"""

_CREATE_FIXED = """
import sys
from git_gastown.beads import ids, ops
from git_gastown.rig import Rig
ids.token = lambda n: sys.argv[1].split('-', 1)[1][:n]
rig = Rig.open()
print(ops.Beads(rig.store).create(ops.NewBead(title=sys.argv[2]), 'tester').id)
"""


def test_cycle_made_by_two_clones_is_reported(pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    x, y = a.create("x"), a.create("y")
    converge(a, b)
    a.bead("dep", "add", x, "blocks", y)
    b.bead("dep", "add", y, "blocks", x)
    a.gt("sync")
    res = b.gt("sync", "--json")
    data = res.json()
    assert data["cycles"] and set(data["cycles"][0]) == {x, y}
    assert "dependency cycle after the merge" in res.err
    # Reported once by the sync, and then by doctor and status for as long as it lasts.
    doctor = b.gt("doctor", check=False).out
    assert "WARN  cycles: dependency cycle:" in doctor and x in doctor and y in doctor, doctor
    assert "dependency cycle:" in b.gt("status").out
    assert set(b.gt("status", "--json").json()["beads"]["cycles"][0]) == {x, y}
    b.bead("dep", "rm", y, "blocks", x)
    assert "ok    cycles: no dependency cycles" in b.gt("doctor", check=False).out
    assert b.gt("status", "--json").json()["beads"]["cycles"] == []


def test_autosync_warnings_reach_the_next_command(pair: tuple[Repo, Repo], hub: Path) -> None:
    a, b = pair
    x, y = a.create("x"), a.create("y")
    converge(a, b)
    a.bead("dep", "add", x, "blocks", y)
    a.gt("sync")
    b.bead("dep", "add", y, "blocks", x)
    b.git("config", "gt.autosync", "true")
    b.commit_file("code.txt", "x\n")
    b.git("push", "-q", "origin", "main")  # the background sync merges a's edge: a cycle
    log = b.path / ".git" / "gt" / "logs" / "autosync.log"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if log.exists() and "pushed refs/gt/beads" in log.read_text():
            break
        time.sleep(0.2)
    else:
        raise AssertionError(log.read_text() if log.exists() else "no autosync log")
    first = b.bead("list")
    assert "warning: dependency cycle after the merge" in first.err, first.err
    assert "dependency cycle" not in b.bead("list").err  # told once


def test_a_damaged_notices_file_is_skipped_not_a_crash(repo: Repo) -> None:
    gtdir = repo.path / ".git" / "gt"
    (gtdir / "notices.jsonl").write_bytes(
        b'\xff\xfe{not json\n{"code": "x", "message": "kept \xe9"}\n'
        b'{"code": "cycle", "message": "still said"}\n')
    r = repo.bead("list")
    assert r.code == 0 and "still said" in r.err and "Traceback" not in r.err, r.err
    assert sorted(p.name for p in gtdir.glob("*notices*")) == []  # nothing left behind


def _corrupt_remote(tmp_path: Path, env: dict[str, str], hub: Path,
                    edit: Callable[[Repo], None]) -> None:
    """Push a commit to the hub's refs/gt/beads made by EDIT in a scratch clone."""
    evil = clone_of(hub, tmp_path / "evil", env, init=False)
    evil.git("fetch", "-q", "origin", "refs/gt/beads:refs/gt/beads")
    evil.git("checkout", "-q", "--orphan", "scratch", "refs/gt/beads")
    evil.git("reset", "-q", "--hard", "refs/gt/beads")
    edit(evil)
    evil.git("add", "-A")
    evil.git("commit", "-q", "-m", "tamper")
    evil.git("push", "-q", "origin", "HEAD:refs/gt/beads")


def _refused(b: Repo, needle: str) -> None:
    before = all_refs(b)
    status = b.git("status", "--porcelain")
    res = b.gt("sync", check=False)
    assert res.code == 1, res
    assert needle in res.err and len(res.err.strip().splitlines()) == 1, res.err
    assert all_refs(b) == before
    assert b.git("status", "--porcelain") == status
    bead_list = b.bead("list", "--json").json()
    assert isinstance(bead_list, list)


def test_malformed_remote_bead_is_refused(pair: tuple[Repo, Repo], tmp_path: Path,
                                          env: dict[str, str]) -> None:
    a, b = pair
    bid = a.create("x")
    a.gt("sync")
    b.gt("sync")
    b.create("local work")

    def break_it(r: Repo) -> None:
        path = next((r.path / "beads").rglob(f"{bid}.json"))
        path.write_text("{not json")

    _corrupt_remote(tmp_path, env, b.path.parent / "hub.git", break_it)
    _refused(b, "malformed bead JSON")


def test_valid_json_but_invalid_bead_is_refused(pair: tuple[Repo, Repo], tmp_path: Path,
                                                env: dict[str, str]) -> None:
    a, b = pair
    bid = a.create("x")
    a.gt("sync")
    b.gt("sync")

    def garble(r: Repo) -> None:
        path = next((r.path / "beads").rglob(f"{bid}.json"))
        doc = json.loads(path.read_text())
        doc["fields"]["type"] = {"v": {"a": 1}, "c": 9, "a": "evil", "t": "2026-01-01T00:00:00Z"}
        path.write_text(json.dumps(doc))

    _corrupt_remote(tmp_path, env, b.path.parent / "hub.git", garble)
    _refused(b, f"bead {bid}: fields.type is {{\"a\":1}}, not one of task")


def _fresh_clone_of_a_broken_hub(hub: Path, tmp_path: Path,
                                 env: dict[str, str]) -> tuple[Repo, str, Repo]:
    """A clone that synced bead BID to HUB, HUB's copy of BID then made malformed, and a
    fresh clone of HUB without git gt-init."""
    first = clone_of(hub, tmp_path / "first", env)
    bid = first.create("x")
    first.gt("sync")

    def break_it(r: Repo) -> None:
        next((r.path / "beads").rglob(f"{bid}.json")).write_text("{oops")

    _corrupt_remote(tmp_path, env, hub, break_it)
    return first, bid, clone_of(hub, tmp_path / "fresh", env, init=False)


def test_init_refuses_to_adopt_a_malformed_remote(hub: Path, tmp_path: Path,
                                                 env: dict[str, str]) -> None:
    _, bid, fresh = _fresh_clone_of_a_broken_hub(hub, tmp_path, env)
    res = fresh.gt("init", check=False)
    assert res.code == 1 and "malformed bead JSON" in res.err and bid in res.err, res
    assert len(res.err.strip().splitlines()) == 1, res.err
    assert "--no-adopt" in res.err
    assert fresh.git("rev-parse", "--verify", "-q", "refs/gt/beads", check=False) == ""
    assert not (fresh.path / ".git" / "hooks" / "pre-push").exists()
    fresh.gt("init", "--no-adopt", "--prefix", "gt")  # starting apart on purpose still works
    assert fresh.bead("list", "--json").json() == []


def test_init_adopts_a_remote_repaired_after_a_refusal(hub: Path, tmp_path: Path,
                                                      env: dict[str, str]) -> None:
    first, bid, fresh = _fresh_clone_of_a_broken_hub(hub, tmp_path, env)
    assert fresh.gt("init", check=False).code == 1
    assert fresh.git("for-each-ref", "refs/gt") == ""  # not even a remote-tracking copy
    first.git("push", "-q", "-f", "origin", "refs/gt/beads:refs/gt/beads")  # repaired
    assert "adopted refs/gt/beads from origin" in fresh.gt("init").out
    assert [b["id"] for b in fresh.bead("list", "--json").json()] == [bid]
    assert fresh.git("rev-parse", "refs/gt/remotes/origin/beads") == \
        first.git("rev-parse", "refs/gt/beads")


def test_unsupported_format_is_refused(pair: tuple[Repo, Repo], tmp_path: Path,
                                       env: dict[str, str]) -> None:
    _, b = pair

    def bump(r: Repo) -> None:
        (r.path / "meta.json").write_text(json.dumps({"format": 9, "prefix": "gt"}))

    _corrupt_remote(tmp_path, env, b.path.parent / "hub.git", bump)
    _refused(b, "uses beads format 9")


def test_other_prefix_is_refused(pair: tuple[Repo, Repo], tmp_path: Path,
                                 env: dict[str, str]) -> None:
    _, b = pair

    def other(r: Repo) -> None:
        (r.path / "meta.json").write_text(json.dumps({"format": 1, "prefix": "zz"}))

    _corrupt_remote(tmp_path, env, b.path.parent / "hub.git", other)
    _refused(b, "uses bead prefix 'zz'")


def test_unrelated_history_is_refused_unless_allowed(tmp_path: Path,
                                                     env: dict[str, str]) -> None:
    hub = bare(tmp_path / "hub.git", env)
    one = make_repo(tmp_path / "one", env)
    one.git("remote", "add", "origin", str(hub))
    one.create("from one")
    one.gt("sync")
    two = make_repo(tmp_path / "two", env, init_gt=False)
    two.gt("init", "--prefix", "gt", "--actor", "someone else")  # an unrelated root
    two.git("remote", "add", "origin", str(hub))
    two.create("from two")
    _refused(two, "has no history in common")
    two.gt("sync", "--allow-unrelated")
    one.gt("sync")
    assert tree(one) == tree(two)
    assert len(one.bead("list", "--json").json()) == 2


def test_empty_local_history_adopts_remote(tmp_path: Path, env: dict[str, str]) -> None:
    hub = bare(tmp_path / "hub.git", env)
    one = make_repo(tmp_path / "one", env, prefix="ab")
    one.git("remote", "add", "origin", str(hub))
    bid = one.create("from one")
    one.gt("sync")
    two = make_repo(tmp_path / "two", env, prefix="zz")  # initialized, but no beads yet
    two.git("remote", "add", "origin", str(hub))
    _refused(two, "uses bead prefix 'ab' but this clone uses 'zz'")
    two.gt("init", "--prefix", "ab")
    data = sync_json(two)
    assert data["refs"][0]["status"] == "adopted"  # type: ignore[index]
    assert two.git("rev-parse", "refs/gt/beads") == one.git("rev-parse", "refs/gt/beads")
    assert two.show(bid)["title"] == "from one"
    assert two.create("next").startswith("ab-")


def test_init_in_fresh_clone_adopts_remote_history(hub: Path, tmp_path: Path,
                                                   env: dict[str, str]) -> None:
    first = clone_of(hub, tmp_path / "first", env)
    bid = first.create("hello")
    first.gt("sync")
    fresh = clone_of(hub, tmp_path / "fresh", env, init=False)
    out = fresh.gt("init").out
    assert "adopted refs/gt/beads from origin (prefix gt)" in out
    assert fresh.git("rev-parse", "refs/gt/beads") == first.git("rev-parse", "refs/gt/beads")
    assert fresh.show(bid)["title"] == "hello"
    other = clone_of(hub, tmp_path / "other", env, init=False)
    res = other.gt("init", "--prefix", "qq", check=False)
    assert res.code == 2 and "already uses prefix 'gt'" in res.err
    assert other.git("rev-parse", "--verify", "-q", "refs/gt/beads", check=False) == ""
    other.gt("init", "--prefix", "qq", "--no-adopt")
    assert other.create("x").startswith("qq-")


def test_init_refuses_when_the_remote_cannot_be_reached(hub: Path, tmp_path: Path,
                                                       env: dict[str, str]) -> None:
    fresh = clone_of(hub, tmp_path / "fresh", env, init=False)
    fresh.git("remote", "set-url", "origin", str(tmp_path / "gone" / "hub.git"))
    res = fresh.gt("init", check=False)
    assert res.code == 1 and "could not reach origin" in res.err, res
    assert "--no-adopt" in res.err and len(res.err.strip().splitlines()) == 1, res.err
    assert fresh.git("for-each-ref", "refs/gt") == ""
    assert "refs/gt" not in fresh.git("config", "--get-all", "remote.origin.fetch")
    fresh.git("remote", "set-url", "origin", str(hub))  # reachable again: adopts
    assert "adopted refs/gt/beads from origin (prefix gt)" in fresh.gt("init").out


def test_plain_fetch_then_any_command_merges(pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    bid = a.create("arrives by fetch")
    a.gt("sync")
    mine = b.create("mine")
    b.git("fetch", "-q", "origin")  # W1's refspecs bring refs/gt/remotes/origin/beads
    items = {x["id"] for x in b.bead("list", "--json").json()}
    assert {bid, mine} <= items
    assert len(b.git("log", "-1", "--format=%P", "refs/gt/beads").split()) == 2
    tip = b.git("rev-parse", "refs/gt/beads")
    b.bead("list")  # nothing new arrived: no second merge
    assert b.git("rev-parse", "refs/gt/beads") == tip


def test_fetched_bad_remote_warns_once_and_commands_still_work(
        pair: tuple[Repo, Repo], tmp_path: Path, env: dict[str, str]) -> None:
    _, b = pair

    def bump(r: Repo) -> None:
        (r.path / "meta.json").write_text(json.dumps({"format": 9, "prefix": "gt"}))

    _corrupt_remote(tmp_path, env, b.path.parent / "hub.git", bump)
    b.git("fetch", "-q", "origin")
    tip = b.git("rev-parse", "refs/gt/beads")
    first = b.bead("list")
    assert "warning: did not merge refs/gt/remotes/origin/beads" in first.err
    assert "format 9" in first.err
    assert "warning" not in b.bead("list").err  # recorded: not retried on every command
    assert b.git("rev-parse", "refs/gt/beads") == tip


def test_autosync_pushes_beads_with_the_branch(pair: tuple[Repo, Repo], hub: Path) -> None:
    a, b = pair
    a.git("config", "gt.autosync", "true")
    bid = a.create("pushed along")
    a.commit_file("code.txt", "x\n")
    a.git("push", "-q", "origin", "main")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = a.git("ls-remote", str(hub), "refs/gt/beads").split()
        if listed and listed[0] == a.git("rev-parse", "refs/gt/beads"):
            break
        time.sleep(0.2)
    else:
        log = (a.path / ".git" / "gt" / "logs" / "autosync.log")
        raise AssertionError(log.read_text() if log.exists() else "no autosync log")
    b.gt("sync")
    assert b.show(bid)["title"] == "pushed along"
    log = (a.path / ".git" / "gt" / "logs" / "autosync.log").read_text()
    assert log.count("pre-push: git gt-sync origin") == 1  # its own push did not recurse


def test_autosync_off_pushes_nothing(pair: tuple[Repo, Repo], hub: Path) -> None:
    a, _ = pair
    before = a.git("ls-remote", str(hub), "refs/gt/beads")
    a.create("stays local")
    a.commit_file("code.txt", "x\n")
    a.git("push", "-q", "origin", "main")
    assert not (a.path / ".git" / "gt" / "logs" / "autosync.log").exists()  # never started
    assert a.git("ls-remote", str(hub), "refs/gt/beads") == before


def test_push_race_is_retried(pair: tuple[Repo, Repo], tmp_path: Path,
                              env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = pair
    a.create("a1")
    b.create("b1")
    script = tmp_path / "race.py"
    script.write_text(_RACE)
    res = b.run("python", str(script), str(a.path), cwd=b.path)
    data = json.loads(res.out)
    assert data["attempts"] == 2 and data["pushed"] == ["refs/gt/beads"]
    a.gt("sync")
    assert tree(a) == tree(b)
    assert len(a.bead("list", "--json").json()) == 3  # a1, b1, and the racer's bead


_RACE = """
import json, subprocess, sys
from git_gastown import sync
from git_gastown.git import Repo
other = sys.argv[1]
def racer(attempt):
    if attempt == 1:  # another clone pushes between our fetch and our push
        subprocess.run(["git-gt-bead", "create", "racer"], cwd=other, check=True,
                       capture_output=True)
        subprocess.run(["git-gt-sync"], cwd=other, check=True, capture_output=True)
report = sync.sync(Repo.discover(), None, actor="tester", before_push=racer)
print(json.dumps(report.to_json()))
"""


def test_remote_added_after_init_is_synced_with_a_refspec_note(
        pair: tuple[Repo, Repo], hub: Path) -> None:
    a, b = pair
    bid = a.create("x")
    a.gt("sync")
    b.git("remote", "add", "Hub2", str(hub))
    res = b.gt("sync", "Hub2")
    assert "a plain git fetch from Hub2 does not bring refs/gt/*" in res.err, res.err
    assert b.show(bid)["title"] == "x"
    assert "refspec" not in b.gt("sync").err  # origin's refspec is there: no note


def test_push_failure_keeps_the_merge_and_suggests_no_push(pair: tuple[Repo, Repo],
                                                            tmp_path: Path) -> None:
    a, b = pair
    bid = a.create("x")
    a.gt("sync")
    b.create("mine")
    b.git("config", "remote.origin.pushurl", str(tmp_path / "read-only.git"))
    res = b.gt("sync", check=False)
    assert res.code == 1 and "could not push to origin" in res.err, res
    assert "git gt-sync --no-push" in res.err and len(res.err.strip().splitlines()) == 1
    assert b.show(bid)["title"] == "x"  # the merge is kept
    assert "not pushed (--no-push)" in b.gt("sync", "--no-push").out


def test_bad_remote_name_and_uninitialized(tmp_path: Path, env: dict[str, str]) -> None:
    r = make_repo(tmp_path / "r", env)
    res = r.gt("sync", "nowhere", check=False)
    assert res.code == 2 and "no remote named 'nowhere'" in res.err
    plain = make_repo(tmp_path / "p", env, init_gt=False)
    res = plain.gt("sync", check=False)
    assert res.code == 1 and "git gt-init" in res.err


def test_unreachable_remote_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    r = make_repo(tmp_path / "r", env)
    r.git("remote", "add", "origin", str(tmp_path / "missing.git"))
    res = r.gt("sync", "--json", check=False)
    assert res.code == 1
    err = json.loads(res.err)["error"]
    assert err["message"].startswith("could not fetch from origin")


def test_hook_refs_fast_forward_and_divergence_is_kept(pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    empty = a.git("hash-object", "-t", "tree", "/dev/null")
    c1 = a.git("commit-tree", empty, "-m", "state 1")
    a.git("update-ref", "refs/gt/hooks/agent-1", c1)
    a.gt("sync")
    b.gt("sync")
    assert b.git("rev-parse", "refs/gt/hooks/agent-1") == c1  # created from the remote
    c2 = a.git("commit-tree", empty, "-p", c1, "-m", "state 2")
    a.git("update-ref", "refs/gt/hooks/agent-1", c2)
    a.gt("sync")
    b.gt("sync")
    assert b.git("rev-parse", "refs/gt/hooks/agent-1") == c2  # fast-forward
    c3 = b.git("commit-tree", empty, "-p", c2, "-m", "b's state")
    b.git("update-ref", "refs/gt/hooks/agent-1", c3)
    c4 = a.git("commit-tree", empty, "-p", c2, "-m", "a's state")
    a.git("update-ref", "refs/gt/hooks/agent-1", c4)
    a.gt("sync")
    out = b.gt("sync").out
    assert "hooks/agent-1: diverged" in out
    assert b.git("rev-parse", "refs/gt/hooks/agent-1") == c3  # kept local
    # A ref the remote deleted is not pushed back by a clone that still has it.
    a.git("push", "-q", "origin", ":refs/gt/hooks/agent-1")
    out = b.gt("sync").out
    assert "hooks/agent-1: gone (origin deleted it; kept the local copy)" in out
    assert a.git("ls-remote", "origin", "refs/gt/hooks/agent-1") == ""
    assert b.git("rev-parse", "refs/gt/hooks/agent-1") == c3
    b.gt("sync")  # and not by the next sync either
    assert a.git("ls-remote", "origin", "refs/gt/hooks/agent-1") == ""


def test_sync_is_idempotent(pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    a.create("x")
    a.run("git-gt", "sync")  # the dispatcher runs the same command
    b.gt("sync")
    a.gt("sync")
    tip = b.git("rev-parse", "refs/gt/beads")
    data = sync_json(b)
    assert data["pushed"] == [] and data["refs"][0]["status"] == "up-to-date"  # type: ignore[index]
    assert b.git("rev-parse", "refs/gt/beads") == tip


def test_sync_json_fields_are_documented(pair: tuple[Repo, Repo]) -> None:
    from test_json_doc import tables_after

    top, item = tables_after("git gt-sync")
    a, b = pair
    a.create("x")
    a.gt("sync")
    data = sync_json(b)
    assert set(data) == top
    refs = data["refs"]
    assert isinstance(refs, list)
    counts = {"added", "changed", "conflicts_resolved", "added_ids", "changed_ids", "conflicts",
              "id_collisions", "cycles"}
    assert set(refs[0]) == item | counts
    assert set(sync_json(b, "--dry-run")) == top


def test_peers_that_merged_each_other_converge_to_one_commit(tmp_path: Path,
                                                             env: dict[str, str]) -> None:
    a = make_repo(tmp_path / "a", env)
    b = clone_of(a.path, tmp_path / "b", env)  # adopts a's beads through origin
    a.git("remote", "add", "b", str(b.path))
    b.git("remote", "rename", "origin", "a")
    a.create("from a")
    b.create("from b")
    shutil.copytree(a.path, tmp_path / "a-before")  # what b sees while a merges b
    b.git("remote", "add", "a-before", str(tmp_path / "a-before"))
    a.gt("sync", "b", "--no-push")
    b.gt("sync", "a-before", "--no-push")  # two independent merges of the same pair
    assert tree(a) == tree(b)
    assert a.git("rev-parse", "refs/gt/beads") != b.git("rev-parse", "refs/gt/beads")
    data = sync_json(a, "b", "--no-push")
    assert data["refs"][0]["status"] == "joined"  # type: ignore[index]
    b.gt("sync", "a", "--no-push")
    assert a.git("rev-parse", "refs/gt/beads") == b.git("rev-parse", "refs/gt/beads")
    assert sync_json(b, "a", "--no-push")["refs"][0]["status"] == "up-to-date"  # type: ignore[index]


def test_fetch_then_command_reports_a_cycle(pair: tuple[Repo, Repo]) -> None:
    a, b = pair
    x, y = a.create("x"), a.create("y")
    converge(a, b)
    a.bead("dep", "add", x, "blocks", y)
    b.bead("dep", "add", y, "blocks", x)
    a.gt("sync")
    b.git("fetch", "-q", "origin")
    res = b.bead("list", "--json")
    warnings = [json.loads(line)["warning"] for line in res.err.splitlines()]
    assert [w["code"] for w in warnings] == ["dependency_cycle"]
    assert x in warnings[0]["message"] and y in warnings[0]["message"]
    assert "warning" not in b.bead("list").err  # reported once, when it arrived


def test_nothing_fetched_costs_no_subprocess(pair: tuple[Repo, Repo],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from git_gastown import syncstate
    from git_gastown.git import Repo as GitRepo

    a, b = pair
    a.create("x")
    a.gt("sync")
    b.git("fetch", "-q")
    b.bead("list")  # merges what arrived and records it
    b.git("pack-refs", "--all")  # the tips are read from packed-refs too
    repo = GitRepo.discover(b.path)
    tip = b.git("rev-parse", "refs/gt/remotes/origin/beads")

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("the check ran a subprocess")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    assert syncstate.tracking_beads_tips(repo) == {"origin": tip}
    assert syncstate.pending(repo) == {}
