"""git gt-dogs: listing, scheduling, gc of loose objects, stale git locks."""

from __future__ import annotations

import os
import subprocess
import time

from conftest import Repo


def _loose(repo: Repo) -> int:
    out = repo.git("count-objects", "-v")
    return int(next(line for line in out.splitlines() if line.startswith("count:")).split()[1])


def test_gc_packs_loose_objects_once_they_pile_up(repo: Repo) -> None:
    for i in range(4):
        repo.create(f"bead {i}")
    assert _loose(repo) > 10
    repo.git("config", "gt.dogs.gc.looseObjects", "100000")
    out = repo.gt("dogs", "run", "gc", "--json").json()
    assert out[0]["did"] == [] and out[0]["ok"]  # below the threshold: nothing
    repo.git("config", "gt.dogs.gc.looseObjects", "10")
    out = repo.gt("dogs", "run", "gc").out
    assert out.startswith("gc: packed")
    assert _loose(repo) == 0
    assert repo.git("fsck", "--no-progress") == ""
    assert len(repo.bead("list", "--json").json()) == 4


def test_stale_git_lock_removed_fresh_and_held_ones_kept(repo: Repo) -> None:
    gitdir = repo.path / ".git"
    stale = gitdir / "refs" / "heads" / "main.lock"
    stale.write_text("")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = gitdir / "refs" / "heads" / "other.lock"
    fresh.write_text("")
    held = gitdir / "packed-refs.lock"
    held.write_text("")
    os.utime(held, (old, old))
    # a live process holding the old lock open: it is not stale, whatever its age
    holder = subprocess.Popen(["sh", "-c", "exec 3<\"$0\"; sleep 30", str(held)])
    try:
        time.sleep(0.2)
        # the lock a killed git left makes every commit on main fail until the dog acts
        (repo.path / "x.txt").write_text("x")
        repo.git("add", "x.txt")
        assert "main.lock" in repo.run("git", "commit", "-q", "-m", "x", check=False).err
        out = repo.gt("dogs", "run", "locks", "--json").json()[0]
        assert any("removed stale refs/heads/main.lock" in d for d in out["did"])
        assert any("kept packed-refs.lock" in d for d in out["did"])
        assert not stale.exists() and fresh.exists() and held.exists()
        repo.git("commit", "-q", "-m", "x")
    finally:
        holder.kill()
        holder.wait()


def test_list_due_and_intervals(repo: Repo) -> None:
    repo.git("config", "gt.dogs.gc.every", "2h")
    repo.git("config", "gt.dogs.locks.every", "never")
    items = {d["dog"]: d for d in repo.gt("dogs", "list", "--json").json()}
    assert set(items) == {"reap", "prune", "gc", "locks"}
    assert items["gc"]["every"] == 7200 and items["gc"]["due"] is True
    assert items["locks"]["every"] is None and items["locks"]["due"] is False
    repo.gt("dogs", "run", "gc")
    items = {d["dog"]: d for d in repo.gt("dogs", "list", "--json").json()}
    assert items["gc"]["due"] is False and items["gc"]["last_run"]
    assert items["gc"]["last_result"] == "nothing to do"
    # --due skips what ran recently and what never runs
    ran = [r["dog"] for r in repo.gt("dogs", "run", "--due", "--json").json()]
    assert "gc" not in ran and "locks" not in ran
    text = repo.gt("dogs", "list").out
    assert "gc     every 2h" in text


def test_unknown_dog(repo: Repo) -> None:
    res = repo.gt("dogs", "run", "cat", check=False)
    assert res.code == 2 and "unknown dog 'cat'" in res.err and "reap, prune, gc, locks" in res.err
