"""W1's guarantees under real concurrency: many real `git-gt-bead` processes at once,
writers killed with SIGKILL at any instant, and a query cache that is never wrong."""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Repo


def _popen(repo: Repo, *args: str, group: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["git-gt-bead", *args], cwd=repo.path, env=repo.env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        start_new_session=group,
    )


def _at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..n-1) on n threads released together; each runs real processes."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _all_beads(repo: Repo) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in repo.bead("list", "--all", "--json").json()}


def _fsck_clean(repo: Repo) -> None:
    r = repo.run("git", "fsck", "--strict", "--no-progress", check=False)
    assert r.code == 0, r.err + r.out
    bad = [ln for ln in (r.out + r.err).splitlines()
           if not ln.startswith(("dangling", "Checking", "notice"))]
    assert not bad, bad


def _beads_history_is_linear(repo: Repo) -> int:
    """Every commit on refs/gt/beads has one parent (the root none); return the count."""
    lines = repo.git("rev-list", "--parents", "refs/gt/beads").splitlines()
    assert all(len(ln.split()) == 2 for ln in lines[:-1])
    assert len(lines[-1].split()) == 1
    return len(lines)


def _cache_path(repo: Repo) -> Path:
    return repo.path / ".git" / "gt" / "cache.sqlite"


def _drop_cache(repo: Repo) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(_cache_path(repo)) + suffix)
        if path.exists():
            path.unlink()


def _answers(repo: Repo) -> tuple[str, str, str]:
    """What the cache says: every bead, the ready queue and the blocked list, as text."""
    return (repo.bead("list", "--all", "--json").out,
            repo.bead("ready", "--json").out,
            repo.bead("blocked", "--json").out)


def _assert_cache_matches_rebuild(repo: Repo) -> None:
    from_cache = _answers(repo)
    _drop_cache(repo)
    assert _answers(repo) == from_cache


def test_thirty_writers_lose_nothing(repo: Repo) -> None:
    creates, updates = 2, 1

    def writer(i: int) -> list[tuple[str, str]]:
        made = []
        for j in range(creates):
            r = repo.bead("create", f"w{i} n{j}", "--actor", f"agent-{i}", "-l", f"w{i}")
            made.append((r.out.strip(), f"w{i} n{j}"))
        for j in range(updates):
            repo.bead("update", made[j][0], "--notes", f"note {i}.{j}", "-p", "1",
                      "--actor", f"agent-{i}")
        return made

    made = _at_once(30, writer)
    beads = _all_beads(repo)
    for i, mine in enumerate(made):
        for j, (bead_id, title) in enumerate(mine):
            b = beads[bead_id]
            assert b["title"] == title
            assert b["created_by"] == f"agent-{i}"
            assert b["labels"] == [f"w{i}"]
            if j < updates:
                assert (b["notes"], b["priority"]) == (f"note {i}.{j}", 1)
            else:
                assert (b["notes"], b["priority"]) == ("", 2)
    assert len(beads) == 30 * creates
    # One commit per write, in one line of history: nothing overwritten, nothing merged away.
    assert _beads_history_is_linear(repo) == 1 + 30 * (creates + updates)
    _fsck_clean(repo)
    _assert_cache_matches_rebuild(repo)


def test_ten_claimers_never_share_a_bead(repo: Repo) -> None:
    targets = [repo.create(f"target {k}") for k in range(5)]

    def claim_all(i: int) -> dict[str, tuple[int, str]]:
        order = targets[:]
        random.Random(i).shuffle(order)
        out = {}
        for bead_id in order:
            r = repo.bead("update", bead_id, "--claim", "--actor", f"agent-{i}", check=False)
            out[bead_id] = (r.code, r.err)
        return out

    results = _at_once(10, claim_all)
    for bead_id in targets:
        winners = [i for i, res in enumerate(results) if res[bead_id][0] == 0]
        assert len(winners) == 1, (bead_id, winners)
        for i, res in enumerate(results):
            if i != winners[0]:
                code, err = res[bead_id]
                assert code == 4, err
                assert "already claimed" in err
        b = repo.show(bead_id)
        assert (b["assignee"], b["status"]) == (f"agent-{winners[0]}", "in_progress")

    # Now race `ready --claim`: 5 ready beads, 10 takers.
    fresh = {repo.create(f"ready {k}") for k in range(5)}

    def take(i: int) -> tuple[int, str, str]:
        r = repo.bead("ready", "--claim", "--json", "--actor", f"taker-{i}", check=False)
        return r.code, r.out, r.err

    taken = _at_once(10, take)
    got = [json.loads(out)["id"] for code, out, _ in taken if code == 0]
    assert sorted(got) == sorted(fresh)  # each ready bead taken exactly once
    losers = [(code, err) for code, _, err in taken if code != 0]
    assert len(losers) == 5
    assert all(code == 3 and "no ready bead" in err for code, err in losers)
    for i, (code, out, _) in enumerate(taken):
        if code == 0:
            assert repo.show(json.loads(out)["id"])["assignee"] == f"taker-{i}"
    _fsck_clean(repo)


def _lock_free(repo: Repo) -> bool:
    fd = os.open(repo.path / ".git" / "gt" / "locks" / "beads.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _kill_while_locked(repo: Repo, proc: subprocess.Popen[str], deadline: float) -> bool:
    """SIGKILL PROC the moment the beads lock is seen held; False if it never was."""
    lock = repo.path / ".git" / "gt" / "locks" / "beads.lock"
    while time.monotonic() < deadline and proc.poll() is None:
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            proc.kill()
            return True
        finally:
            os.close(fd)
    return False


def test_writers_killed_at_any_instant(repo: Repo) -> None:
    rnd = random.Random(20261124)
    base = repo.create("base")
    other = repo.create("other")
    acknowledged: dict[str, str] = {}  # id -> title, printed before the kill
    updated: dict[str, str] = {}  # id -> notes the last acknowledged update set
    kills = in_lock = 0
    # Go on until enough writers died mid-write: how many finish before their kill depends
    # on the machine's speed, so the quota, not the iteration count, is fixed.
    it = -1
    while kills < 24 or in_lock < 6:
        it += 1
        assert it < 200, (kills, in_lock)
        title = f"victim {it}"
        kind = it % 3
        if kind == 0:
            proc = _popen(repo, "create", title, "--dep", f"blocks:{base}", group=True)
        elif kind == 1:
            proc = _popen(repo, "update", other, "--notes", f"notes {it}", group=True)
        else:
            proc = _popen(repo, "create", title, "-l", "k", group=True)
        if it % 4 == 3:
            # Wait for the lock to be taken, then kill the whole process group (the writer
            # and the git it runs) while it holds the lock.
            killed = _kill_while_locked(repo, proc, time.monotonic() + 5)
            if killed:
                os.killpg(proc.pid, signal.SIGKILL)
            in_lock += killed
        else:
            time.sleep(rnd.uniform(0.0, 0.1))
            proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        if out.strip():  # the write was acknowledged before the kill
            if kind == 1:
                updated[other] = f"notes {it}"
            else:
                acknowledged[out.strip()] = title
        # The ref is valid and the lock is free the moment the writer is gone.
        tip = repo.git("rev-parse", "--verify", "refs/gt/beads^{commit}")
        repo.git("cat-file", "-e", f"{tip}^{{tree}}")
        assert _lock_free(repo)
        if it % 6 == 5:
            start = time.monotonic()
            repo.bead("comment", base, f"after kill {it}")  # the next writer goes at once
            assert time.monotonic() - start < 30  # a stuck lock would hold it for 60 s
            _assert_cache_matches_rebuild(repo)
    beads = _all_beads(repo)
    for bead_id, title in acknowledged.items():
        assert beads[bead_id]["title"] == title
    if other in updated:
        history = repo.bead("history", other, "--json").json()
        assert any(ch["value"] == updated[other] for ch in history)
    _beads_history_is_linear(repo)
    _fsck_clean(repo)
    _assert_cache_matches_rebuild(repo)


def test_cache_deleted_or_garbage_still_answers(repo: Repo) -> None:
    a = repo.create("alpha", "-l", "x")
    b = repo.create("beta", "--dep", f"blocks:{a}")
    expected = _answers(repo)
    assert json.loads(expected[2])[0]["id"] == b

    _drop_cache(repo)
    assert _answers(repo) == expected

    for garbage in (os.urandom(4096), b"SQLite format 3\x00" + os.urandom(8000), b""):
        _drop_cache(repo)
        _cache_path(repo).write_bytes(garbage)
        assert _answers(repo) == expected
        assert repo.show(b)["blocked"] is True

    # A damaged cache also never stops a write, and the write is visible afterwards.
    _cache_path(repo).write_bytes(os.urandom(2048))
    repo.bead("close", a)
    assert repo.show(b)["blocked"] is False
    assert [x["id"] for x in repo.bead("ready", "--json").json()] == [b]


def test_cache_follows_a_ref_moved_from_outside(repo: Repo) -> None:
    a = repo.create("first")
    after_a = repo.git("rev-parse", "refs/gt/beads")
    b = repo.create("second", "--dep", f"blocks:{a}")
    repo.bead("update", a, "--title", "first, renamed")
    assert set(_all_beads(repo)) == {a, b}

    repo.git("update-ref", "refs/gt/beads", after_a)  # e.g. a reset by hand
    beads = _all_beads(repo)
    assert set(beads) == {a}
    assert beads[a]["title"] == "first"
    r = repo.bead("show", b, check=False)
    assert r.code == 3
    assert [x["id"] for x in repo.bead("ready", "--json").json()] == [a]

    tip = repo.git("log", "-g", "--format=%H", "refs/gt/beads", "-n", "2").splitlines()[1]
    repo.git("update-ref", "refs/gt/beads", tip)  # and forward again
    beads = _all_beads(repo)
    assert beads[a]["title"] == "first, renamed"
    assert beads[b]["blocked"] is True
    _assert_cache_matches_rebuild(repo)

    # A cache whose tip no longer exists in the repository is rebuilt from scratch.
    db = sqlite3.connect(_cache_path(repo))
    db.execute("UPDATE meta SET v=? WHERE k='tip'", ("0" * 40,))
    db.execute("DELETE FROM beads WHERE id=?", (a,))
    db.commit()
    db.close()
    repo.git("update-ref", "refs/gt/beads", after_a)
    assert set(_all_beads(repo)) == {a}


def test_lock_left_by_a_killed_git_does_not_block_writers(repo: Repo) -> None:
    bead_id = repo.create("one")
    git_lock = repo.path / ".git" / "refs" / "gt" / "beads.lock"
    # A git killed inside `update-ref` leaves its lock file behind for good.
    git_lock.write_text("")
    os.utime(git_lock, (time.time() - 30, time.time() - 30))
    start = time.monotonic()
    repo.bead("update", bead_id, "--notes", "after a dead git")
    assert time.monotonic() - start < 8  # a write that never broke it gives up after 10 s
    assert not git_lock.exists()
    assert repo.show(bead_id)["notes"] == "after a dead git"

    # A live git holding it briefly (pack-refs does) is waited for, never broken.
    git_lock.write_text("")
    threading.Timer(0.3, git_lock.unlink).start()
    repo.bead("update", bead_id, "--notes", "after a live git")
    assert repo.show(bead_id)["notes"] == "after a live git"
    _fsck_clean(repo)


def test_ref_updates_keep_git_semantics(repo: Repo) -> None:
    first = repo.create("one")
    repo.bead("update", first, "-p", "1")
    log = repo.git("reflog", "--format=%gs", "refs/gt/beads").splitlines()
    assert log[:2] == ["gt update", "gt create"]
    # The ref is packed by `git pack-refs`: the next write still lands.
    repo.git("pack-refs", "--all")
    second = repo.create("two")
    assert repo.git("log", "-1", "--format=%s", "refs/gt/beads") == f"create {second}: two"
    # A reference-transaction hook sees our updates (git makes them then).
    hook = repo.path / ".git" / "hooks" / "reference-transaction"
    seen = repo.path / ".git" / "seen"
    hook.write_text(f"#!/bin/sh\ncat >> '{seen}'\n")
    hook.chmod(0o755)
    repo.bead("close", first)
    assert "refs/gt/beads" in seen.read_text()
    _fsck_clean(repo)


def test_a_busy_cache_never_holds_up_writers(repo: Repo) -> None:
    first = repo.create("before")
    # Another process holds the cache's write lock, as a long rebuild does.
    db = sqlite3.connect(_cache_path(repo), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        start = time.monotonic()
        second = repo.create("while the cache is busy")
        repo.bead("update", first, "--notes", "also while busy")
        assert time.monotonic() - start < 60  # a wait on the cache would take 180 s
    finally:
        db.execute("ROLLBACK")
        db.close()
    beads = _all_beads(repo)  # the next read catches up from the ref
    assert beads[second]["title"] == "while the cache is busy"
    assert beads[first]["notes"] == "also while busy"
    _assert_cache_matches_rebuild(repo)


def test_try_locked_answers_at_once_and_shares_the_lock_with_locked(repo: Repo) -> None:
    """try_locked never waits: it yields False while another process holds the lock
    (taken with locked(), the same flock), and True once that process has died."""
    import subprocess
    import sys
    import time

    from git_gastown.git import Repo as GitRepo
    from git_gastown.store.refs import try_locked

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from git_gastown.git import Repo; "
         "from git_gastown.store.refs import locked\n"
         "with locked(Repo.discover(sys.argv[1]), 'demo'):\n"
         "    print('held', flush=True); time.sleep(30)", str(repo.path)],
        stdout=subprocess.PIPE, text=True)
    git_repo = GitRepo.discover(repo.path)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with try_locked(git_repo, "demo") as got:
            assert got is False
        assert time.monotonic() - start < 10  # a wait would last the holder's 30 s
    finally:
        holder.kill()
        holder.wait()
    with try_locked(git_repo, "demo") as got:  # the kernel released the dead holder's lock
        assert got is True
        with try_locked(git_repo, "demo") as again:  # a second taker in-process is refused
            assert again is False
