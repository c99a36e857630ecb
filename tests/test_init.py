"""git gt-init: beads ref, prefix, hooks (chained, restored), refspecs, idempotence."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Repo


def test_init_creates_orphan_beads_ref_and_prefix(plain_repo: Repo) -> None:
    out = plain_repo.gt("init", "--prefix", "ab").out
    assert "prefix ab" in out
    tip = plain_repo.git("rev-parse", "refs/gt/beads")
    assert plain_repo.git("rev-list", "--max-parents=0", tip) == tip  # orphan root
    assert plain_repo.git("merge-base", "--is-ancestor", tip, "main", check=False) == ""
    bead_id = plain_repo.create("x")
    assert bead_id.startswith("ab-") and len(bead_id) == 8


def test_default_prefix_from_repo_name(tmp_path: Path, env: dict[str, str]) -> None:
    from conftest import make_repo

    r = make_repo(tmp_path / "my-web-app", env, init_gt=False)
    r.gt("init")
    assert r.create("x").startswith("mwa-")


def test_init_is_idempotent(repo: Repo) -> None:
    before = repo.git("rev-parse", "refs/gt/beads")
    out = repo.gt("init").out
    assert "already present" in out
    assert repo.git("rev-parse", "refs/gt/beads") == before
    assert "hook post-commit: updated" in out


def test_existing_hook_is_chained_and_restored_exactly(plain_repo: Repo) -> None:
    hook = plain_repo.path / ".git" / "hooks" / "post-commit"
    marker = plain_repo.path / "ran.txt"
    original = f"#!/bin/sh\necho ran >> {marker}\n"
    hook.write_text(original)
    hook.chmod(0o750)
    plain_repo.gt("init")
    assert "git-gastown" in hook.read_text()
    plain_repo.commit_file("a.txt", "a")
    assert marker.read_text() == "ran\n"  # the original still runs
    plain_repo.gt("init", "--uninstall")
    assert hook.read_text() == original
    assert oct(hook.stat().st_mode & 0o777) == oct(0o750)
    assert not (plain_repo.path / ".git" / "hooks" / "post-merge").exists()
    assert plain_repo.git("rev-parse", "refs/gt/beads")  # data kept


def test_hooks_bake_in_absolute_interpreter(repo: Repo) -> None:
    text = (repo.path / ".git" / "hooks" / "post-commit").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("GT_PYTHON="))
    assert os.path.isabs(line.split("=", 1)[1].strip("'"))


def test_honours_core_hooks_path(plain_repo: Repo) -> None:
    plain_repo.git("config", "core.hooksPath", ".githooks")
    plain_repo.gt("init")
    assert (plain_repo.path / ".githooks" / "post-commit").exists()
    assert not (plain_repo.path / ".git" / "hooks" / "post-commit").exists()


def test_commit_with_hooks_still_works_with_bare_path(repo: Repo) -> None:
    env = dict(repo.env, PATH="/usr/bin:/bin")
    repo.run("git", "commit", "-q", "--allow-empty", "-m", "bare path", env=env)


def test_remote_refspecs_added_and_removed(plain_repo: Repo, tmp_path: Path) -> None:
    plain_repo.git("remote", "add", "origin", str(tmp_path / "nowhere.git"))
    plain_repo.gt("init")
    specs = plain_repo.git("config", "--get-all", "remote.origin.fetch").splitlines()
    assert "+refs/gt/*:refs/gt/remotes/origin/*" in specs
    assert "^refs/gt/remotes/*" in specs
    plain_repo.gt("init")  # idempotent: no duplicates
    again = plain_repo.git("config", "--get-all", "remote.origin.fetch").splitlines()
    assert again == specs
    plain_repo.gt("init", "--uninstall")
    left = plain_repo.git("config", "--get-all", "remote.origin.fetch").splitlines()
    assert left == ["+refs/heads/*:refs/remotes/origin/*"]


def test_no_remote_refspecs(plain_repo: Repo, tmp_path: Path) -> None:
    plain_repo.git("remote", "add", "origin", str(tmp_path / "nowhere.git"))
    plain_repo.gt("init", "--no-remote-refspecs")
    specs = plain_repo.git("config", "--get-all", "remote.origin.fetch").splitlines()
    assert specs == ["+refs/heads/*:refs/remotes/origin/*"]


def test_other_commands_ask_for_init(plain_repo: Repo) -> None:
    r = plain_repo.bead("list", check=False)
    assert r.code == 1
    assert "run git gt-init" in r.err
    assert not r.out


def test_outside_a_repository(tmp_path: Path, env: dict[str, str]) -> None:
    d = tmp_path / "empty"
    d.mkdir()
    r = Repo(d, env).gt("init", check=False)
    assert r.code == 1 and "not a git repository" in r.err


def test_bad_prefix_refused(plain_repo: Repo) -> None:
    r = plain_repo.gt("init", "--prefix", "Bad-Prefix", check=False)
    assert r.code == 2 and "invalid prefix" in r.err
    assert plain_repo.git("rev-parse", "--verify", "-q", "refs/gt/beads", check=False) == ""


def test_no_hooks(plain_repo: Repo) -> None:
    plain_repo.gt("init", "--no-hooks")
    assert not (plain_repo.path / ".git" / "hooks" / "post-commit").exists()
    assert plain_repo.create("works without hooks")


def test_pre_commit_manifest_is_valid() -> None:
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    exe = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert exe, "pre-commit is a dev dependency"
    subprocess.run([exe, "validate-manifest", str(root / ".pre-commit-hooks.yaml")], check=True)
    text = (root / ".pre-commit-hooks.yaml").read_text()
    from git_gastown.init import HOOKS

    for hook in HOOKS:
        assert f"python -m git_gastown.githooks {hook}" in text


def _python_spy(env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment in which every Python start appends its arguments to a file, and
    the patrol a hook starts stops at once (so no patrol-next rate-limits the next hook)."""
    site = tmp_path / "spy"
    site.mkdir()
    marks = tmp_path / "python-starts"
    (site / "sitecustomize.py").write_text(
        f"import os, sys\nwith open({str(marks)!r}, 'a') as fh:\n"
        "    fh.write(' '.join(sys.argv) + '\\n')\n"
        "if '--from-hook' in sys.argv:\n    os._exit(0)\n")
    return dict(env, PYTHONPATH=str(site)), marks


def test_stubs_see_the_common_dir_from_a_linked_worktree(repo: Repo, tmp_path: Path) -> None:
    """In a linked worktree GIT_DIR is .git/worktrees/<name>: the stubs must find gt/ in
    the common directory, and still start no process when nothing is due."""
    wt = tmp_path / "feature"
    repo.git("worktree", "add", "-q", "-b", "feature", str(wt))
    env, marks = _python_spy(repo.env, tmp_path)
    linked = Repo(wt, env)

    def starts() -> list[str]:
        return marks.read_text().splitlines() if marks.exists() else []

    def patrol_due() -> None:
        nxt = repo.path / ".git" / "gt" / "patrol-next"
        if nxt.exists():
            os.utime(nxt, (0, 0))

    linked.run("git", "commit", "-q", "--allow-empty", "-m", "quiet", env=env)
    linked.run("git", "checkout", "-q", "-b", "quiet2", env=env)
    assert starts() == []  # nothing watched: a few stats, no Python
    (repo.path / ".git" / "gt" / "hooks-due").touch()
    linked.run("git", "commit", "-q", "--allow-empty", "-m", "watched", env=env)
    assert any(s.startswith("-m post-commit") for s in starts())
    patrol_due()
    linked.run("git", "checkout", "-q", "feature", env=env)
    assert any(s.startswith("-m post-checkout") for s in starts())
    linked.run("git", "merge", "-q", "--no-ff", "-m", "m", "quiet2", env=env)
    assert any(s.startswith("-m post-merge") for s in starts())
    # a worktree made while the rig is watched: post-checkout runs with no GIT_DIR set
    # and a .git file in the new worktree
    before = len(starts())
    patrol_due()
    repo.run("git", "worktree", "add", "-q", "-b", "third", str(tmp_path / "third"), env=env)
    assert any(s.startswith("-m post-checkout")
               for s in starts()[before:])
