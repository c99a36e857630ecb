"""git gt-doctor: finds real breakage, --fix mends what is safe, exit status is honest."""

from __future__ import annotations

from pathlib import Path

from conftest import Repo


def _status(repo: Repo, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    r = repo.run("git-gt-doctor", "--json", *args, check=False)
    return r.code, {f["check"]: f for f in r.json()}


def test_healthy_rig(repo: Repo) -> None:
    code, found = _status(repo)
    assert code == 0
    for name in ("git", "hooks", "beads", "cache", "beads-ref", "refspecs", "worktrees"):
        assert found[name]["status"] in ("ok", "info"), found[name]


def test_broken_hook_interpreter_is_found_and_fixed(repo: Repo) -> None:
    hook = repo.path / ".git" / "hooks" / "post-commit"
    text = hook.read_text()
    hook.write_text("\n".join("GT_PYTHON='/nonexistent/python'" if ln.startswith("GT_PYTHON=")
                              else ln for ln in text.splitlines()) + "\n")
    code, found = _status(repo)
    assert code == 1
    assert found["hooks"]["status"] == "fail"
    assert "missing interpreter" in str(found["hooks"]["message"])
    code, found = _status(repo, "--fix")
    assert code == 0
    assert found["hooks"]["status"] == "ok" and found["hooks"]["fixed"]


def test_malformed_bead_is_reported(repo: Repo) -> None:
    repo.create("good")
    tip = repo.git("rev-parse", "refs/gt/beads")
    blob = repo.run("git", "hash-object", "-w", "--stdin", input="{not json").out.strip()
    # Build a tree with one extra, malformed bead file, as a broken remote might send.
    index = repo.path / ".git" / "tmp-index"
    env = dict(repo.env, GIT_INDEX_FILE=str(index))
    repo.run("git", "read-tree", tip, env=env)
    repo.run("git", "update-index", "--add", "--cacheinfo",
             f"100644,{blob},beads/00/00/gt-bad00.json", env=env)
    tree = repo.run("git", "write-tree", env=env).out.strip()
    commit = repo.run("git", "commit-tree", tree, "-p", tip, "-m", "broken").out.strip()
    repo.git("update-ref", "refs/gt/beads", commit, tip)
    code, found = _status(repo)
    assert code == 1
    assert found["beads"]["status"] == "fail"
    assert "gt-bad00" in str(found["beads"]["message"])
    assert repo.bead("list", "--json").json()  # reads still work around it


def test_missing_refspec_and_orphan_worktree(repo: Repo, tmp_path: Path) -> None:
    repo.git("remote", "add", "later", str(tmp_path / "x.git"))
    wt = tmp_path / "wt"
    repo.git("worktree", "add", "-q", str(wt), "-b", "side")
    import shutil

    shutil.rmtree(wt)
    code, found = _status(repo)
    assert code == 0  # warnings do not fail
    assert found["refspecs"]["status"] == "warn"
    assert found["worktrees"]["status"] == "warn"
    code, found = _status(repo, "--fix")
    assert found["refspecs"]["status"] == "ok"
    assert found["worktrees"]["status"] == "ok"
    assert repo.git("rev-parse", "--verify", "side")  # the branch is kept


def test_corrupt_cache_is_rebuilt(repo: Repo) -> None:
    repo.create("one")
    (repo.path / ".git" / "gt" / "cache.sqlite").write_bytes(b"garbage" * 100)
    code, found = _status(repo)
    assert code == 0
    assert found["cache"]["status"] == "ok"
    assert len(repo.bead("list", "--json").json()) == 1


def test_outside_a_repository(tmp_path: Path, env: dict[str, str]) -> None:
    d = tmp_path / "nowhere"
    d.mkdir()
    r = Repo(d, env).run("git-gt-doctor", check=False)
    assert r.code == 0
    assert "checking the installation only" in r.out


def test_not_initialized(plain_repo: Repo) -> None:
    code, found = _status(plain_repo)
    assert code == 1
    assert found["beads-ref"]["status"] == "fail"
    assert "git gt-init" in str(found["beads-ref"]["message"])


def test_stale_git_lock_found_and_removed(repo: Repo) -> None:
    import os
    import time

    lock = repo.path / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("dead\n")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    code, found = _status(repo)
    assert code == 0 and found["locks"]["status"] == "warn"
    assert "refs/heads/main.lock" in str(found["locks"]["message"])
    code, found = _status(repo, "--fix")
    assert found["locks"]["status"] == "ok" and "removed stale" in str(found["locks"]["fixed"])
    assert not lock.exists()
    repo.commit_file("after.txt", "git works again\n")


def _blob(repo: Repo) -> str:
    return repo.run("git", "hash-object", "-w", "--stdin", input="junk\n").out.strip()


def test_hook_and_queue_refs_at_a_blob_fail(repo: Repo) -> None:
    blob = _blob(repo)
    repo.git("update-ref", "refs/gt/hooks/bogus", blob)
    repo.git("update-ref", "refs/gt/mq/bogus", blob)
    code, found = _status(repo)
    assert code == 1
    refs = found["refs"]
    assert refs["status"] == "fail" and not refs["fixable"]
    assert "refs/gt/hooks/bogus points at a blob" in str(refs["message"])
    assert "refs/gt/mq/bogus" in str(refs["message"])
    assert "update-ref refs/gt/hooks/bogus refs/gt/hooks/bogus@{1}" in str(refs["message"])
    assert found["beads-ref"]["status"] == "ok"


def test_beads_ref_at_a_blob_is_reported_as_the_ref(repo: Repo) -> None:
    repo.create("one")
    good = repo.git("rev-parse", "refs/gt/beads")
    repo.git("update-ref", "refs/gt/beads", _blob(repo))
    r = repo.run("git-gt-doctor", check=False)
    assert r.code == 1
    assert "beads-ref: refs/gt/beads points at a blob" in r.out
    assert "refs/gt/beads@{1}" in r.out
    assert "cache" not in r.out and "--fix mends" not in r.out  # a rebuild cannot mend it
    code, found = _status(repo, "--fix")
    assert code == 1 and found["beads-ref"]["status"] == "fail"
    repo.git("update-ref", "refs/gt/beads", "refs/gt/beads@{1}")  # the route doctor names
    assert repo.git("rev-parse", "refs/gt/beads") == good
    code, found = _status(repo)
    assert code == 0 and found["refs"]["status"] == "ok"


def test_hook_interpreter_without_gastown_is_found(repo: Repo, tmp_path: Path) -> None:
    import venv

    bare = tmp_path / "bare-venv"
    venv.create(bare, with_pip=False)  # a live python that cannot import git_gastown
    hook = repo.path / ".git" / "hooks" / "post-commit"
    hook.write_text("\n".join(f"GT_PYTHON='{bare}/bin/python'" if ln.startswith("GT_PYTHON=")
                              else ln for ln in hook.read_text().splitlines()) + "\n")
    code, found = _status(repo)
    assert code == 1
    assert "interpreter without git_gastown" in str(found["hooks"]["message"])
    code, found = _status(repo, "--fix")
    assert code == 0 and found["hooks"]["status"] == "ok"


def test_locked_missing_worktree_is_not_reported_as_pruned(repo: Repo, tmp_path: Path) -> None:
    import shutil

    for name in ("one", "two"):
        repo.git("worktree", "add", "-q", str(tmp_path / name), "-b", name)
    repo.git("worktree", "lock", str(tmp_path / "two"))
    shutil.rmtree(tmp_path / "one")
    shutil.rmtree(tmp_path / "two")
    _, found = _status(repo)
    msg = str(found["worktrees"]["message"])
    assert found["worktrees"]["status"] == "warn"
    assert "1 worktree entry git can prune" in msg
    assert f"git worktree unlock {tmp_path / 'two'}" in msg
    _, found = _status(repo, "--fix")
    assert found["worktrees"]["fixed"] == "pruned 1 worktree entry"
    assert "git can prune" not in str(found["worktrees"]["message"])
    assert "unlock" in str(found["worktrees"]["message"])  # the lock is the user's call


def test_polecat_worktrees_are_checked_against_hooks(repo: Repo) -> None:
    import shutil

    from conftest import wait_for

    bead = repo.create("slow", "--field", "run=sleep 30")
    repo.gt("polecat", "spawn", "--bead", bead, "--name", "nux")
    wt = Path(repo.gt("polecat", "status", "nux", "--json").json()["polecats"][0]["worktree"])
    repo.gt("polecat", "stop", "nux")
    wait_for(lambda: repo.gt("polecat", "status", "nux", "--json").json()["polecats"][0]
             ["live_status"] == "stopped", what="nux stopped")
    shutil.rmtree(wt)
    _, found = _status(repo)
    msg = str(found["worktrees"]["message"])
    assert "polecat nux (stopped) has no worktree" in msg
    assert "spawn --resume nux" in msg
    # A gt/<prefix>/* worktree with no Hook behind it.
    repo.git("worktree", "prune")
    orphan = wt.parent / "ghost"
    repo.git("worktree", "add", "-q", str(orphan), "-b", "gt/gt/ghost")
    _, found = _status(repo)
    msg = str(found["worktrees"]["message"])
    assert f"worktree {orphan} (branch gt/gt/ghost) belongs to a polecat whose Hook is gone" in msg
    assert not found["worktrees"]["fixable"]  # removing a worktree is never done unasked


def test_missing_configured_agent_warns(repo: Repo) -> None:
    _, found = _status(repo)
    assert found["agents"]["status"] == "info"  # shell, the default, needs no program
    (repo.path / ".gastown.toml").write_text('[polecat]\nagent = "codex"\n')
    code, found = _status(repo)
    assert code == 0 and found["agents"]["status"] == "warn"
    assert "polecat.agent" in str(found["agents"]["message"])
    assert "'codex' not found on PATH" in str(found["agents"]["message"])


def test_bad_hook_ref_does_not_crash_the_worktrees_check(repo: Repo) -> None:
    blob = _blob(repo)
    repo.git("update-ref", "refs/gt/hooks/bogus", blob)
    repo.git("update-ref", "refs/gt/hooks/other", blob)
    code, found = _status(repo)
    assert code == 1
    wt = found["worktrees"]
    assert "crashed" not in str(wt["message"]), wt
    assert "Hooks unreadable" in str(wt["message"]) and "see refs" in str(wt["message"])
    refs = str(found["refs"]["message"])
    for ref in ("refs/gt/hooks/bogus", "refs/gt/hooks/other"):
        assert f"git update-ref {ref} {ref}@{{1}}" in refs, refs
    r = repo.run("git-gt-status", check=False)
    assert r.code == 0
    assert "GitFailed" not in r.out and "git gt-doctor" in r.out
    line = [ln for ln in r.out.splitlines() if ln.startswith("!! agents")]
    assert len(line) == 1 and "git gt-doctor" in line[0]


def test_not_initialized_does_not_claim_refs_ok(plain_repo: Repo) -> None:
    r = plain_repo.run("git-gt-doctor", check=False)
    assert "0 refs/gt/* refs point at commits" not in r.out
    _, found = _status(plain_repo)
    assert "refs" not in found or found["refs"]["status"] != "ok"


def test_outdated_stub_warns_and_fix_reinstalls_keeping_the_chain(repo: Repo) -> None:
    hooks = repo.path / ".git" / "hooks"
    current = (hooks / "post-commit").read_text()
    # A user's own hook, chained behind the stub by git gt-init.
    (hooks / "post-commit.gt-orig").write_text("#!/bin/sh\necho mine >> \"$(git rev-parse "
                                               "--git-dir)/mine.log\"\n")
    (hooks / "post-commit.gt-orig").chmod(0o755)
    old = current.replace("\nexit", "\n# an older release's stub\nexit", 1)
    if old == current:
        old = current + "# an older release's stub\n"
    (hooks / "post-commit").write_text(old)
    code, found = _status(repo)
    assert code == 0
    assert found["hooks"]["status"] == "warn" and found["hooks"]["fixable"]
    assert "outdated" in str(found["hooks"]["message"])
    assert "post-commit" in str(found["hooks"]["message"])
    code, found = _status(repo, "--fix")
    assert code == 0 and found["hooks"]["status"] == "ok", found["hooks"]
    assert "reinstalled post-commit" in str(found["hooks"]["fixed"])
    assert (hooks / "post-commit").read_text() == current
    assert (hooks / "post-commit.gt-orig").exists()
    repo.commit_file("after.txt", "x\n")
    assert (repo.path / ".git" / "mine.log").read_text() == "mine\n"
