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
    assert "hook post-commit: unchanged" in out  # the same bytes: nothing rewritten
    hook = repo.path / ".git" / "hooks" / "post-commit"
    hook.write_text(hook.read_text().replace("# git-gastown", "# git-gastown (older)", 1))
    assert "hook post-commit: updated" in repo.gt("init").out
    assert "push: git gt-sync pushes refs/gt/*" in out
    assert "git config gt.autosync true" in out


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
    plain_repo.gt("init", "--no-adopt")  # origin cannot be reached: start apart on purpose
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
    plain_repo.gt("init", "--no-remote-refspecs", "--no-adopt")
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
    r = plain_repo.gt("init", "--prefix", "", check=False)
    assert r.code == 2 and "invalid prefix ''" in r.err
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


def test_uninstall_leaves_a_hook_written_after_init(plain_repo: Repo) -> None:
    hooks = plain_repo.path / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho OLD\n")
    plain_repo.gt("init")
    newer = "#!/bin/sh\necho NEW-HUSKY-HOOK\n"
    (hooks / "post-commit").write_text(newer)  # another tool rewrites it
    r = plain_repo.gt("init", "--uninstall", check=False)
    assert r.code == 1 and "changed after git gt-init were left alone" in r.err
    assert "hook post-commit: kept" in r.out and "post-commit.gt-orig" in r.out
    assert (hooks / "post-commit").read_text() == newer
    assert (hooks / "post-commit.gt-orig").read_text() == "#!/bin/sh\necho OLD\n"
    assert not (hooks / "post-merge").exists()  # the others were undone
    (hooks / "post-commit").unlink()  # the user sorts it out; uninstall finishes
    r = plain_repo.gt("init", "--uninstall")
    assert "hook post-commit: restored original" in r.out
    assert (hooks / "post-commit").read_text() == "#!/bin/sh\necho OLD\n"


def test_a_hook_that_merely_names_git_gastown_is_not_taken_for_ours(plain_repo: Repo) -> None:
    """pre-commit's script names its interpreter, which lives in our venv
    (~/.local/share/git-gastown/venv) when pre-commit came with git-gastown's dev tools."""
    hooks = plain_repo.path / ".git" / "hooks"
    mine = "#!/bin/sh\nINSTALL_PYTHON=/home/u/.local/share/git-gastown/venv/bin/python3\n"
    (hooks / "post-commit").write_text(mine)
    (hooks / "post-commit").chmod(0o755)
    assert "hook post-commit: chained" in plain_repo.gt("init").out
    assert (hooks / "post-commit.gt-orig").read_text() == mine
    plain_repo.gt("init", "--uninstall")
    assert (hooks / "post-commit").read_text() == mine


def test_uninstall_finishes_once_the_user_merged_the_hooks(plain_repo: Repo) -> None:
    hooks = plain_repo.path / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho OLD\n")
    plain_repo.gt("init")
    merged = "#!/bin/sh\necho OLD\necho NEW-HUSKY-HOOK\n"
    (hooks / "post-commit").write_text(merged)  # another tool rewrote it
    assert plain_repo.gt("init", "--uninstall", check=False).code == 1
    (hooks / "post-commit.gt-orig").unlink()  # merged by hand, as the message says
    r = plain_repo.gt("init", "--uninstall")
    assert "hook post-commit: left as it is" in r.out
    assert (hooks / "post-commit").read_text() == merged
    r = plain_repo.gt("init", "--uninstall")  # nothing left to undo
    assert r.code == 0 and "post-commit" not in r.out


def test_symlinked_hooks_are_chained_and_restored(plain_repo: Repo) -> None:
    mine = plain_repo.path / "myhooks"
    mine.mkdir()
    marker = plain_repo.path / "ran.txt"
    (mine / "post-commit").write_text(f'#!/bin/sh\necho "$0" >> {marker}\n')
    (mine / "post-commit").chmod(0o755)
    (mine / "post-merge").symlink_to("post-commit")
    plain_repo.git("config", "core.hooksPath", "myhooks")
    out = plain_repo.gt("init").out
    assert "hook post-commit: chained" in out and "hook post-merge: chained" in out
    assert os.readlink(mine / "post-merge.gt-orig") == "post-commit.gt-orig"
    plain_repo.commit_file("a.txt", "a")
    plain_repo.git("checkout", "-q", "-b", "side")
    plain_repo.commit_file("b.txt", "b")
    plain_repo.git("checkout", "-q", "main")
    plain_repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    ran = marker.read_text().splitlines()
    assert [Path(x).name for x in ran] == ["post-commit.gt-orig", "post-commit.gt-orig",
                                           "post-merge.gt-orig"]  # the user's, each time
    plain_repo.gt("init", "--uninstall")
    assert os.readlink(mine / "post-merge") == "post-commit"
    assert "git-gastown" not in (mine / "post-commit").read_text()
    assert sorted(p.name for p in mine.iterdir()) == ["post-commit", "post-merge"]


def test_uninstall_covers_every_hooks_dir_used(plain_repo: Repo) -> None:
    plain_repo.git("config", "core.hooksPath", "myhooks")
    plain_repo.gt("init")
    plain_repo.git("config", "--unset", "core.hooksPath")
    assert "hook post-commit: installed" in plain_repo.gt("init").out
    plain_repo.gt("init", "--uninstall")
    for where in (plain_repo.path / "myhooks", plain_repo.path / ".git" / "hooks"):
        assert not any(p.name in ("post-commit", "post-merge", "post-checkout", "pre-push")
                       for p in where.iterdir()), where
    r = plain_repo.gt("init", "--uninstall")
    assert "nothing to undo" in r.out and "removed" not in r.out


def test_uninstall_where_init_never_ran(plain_repo: Repo) -> None:
    r = plain_repo.gt("init", "--uninstall")
    assert r.out == "nothing to undo: git gt-init has not installed anything here\n"
    assert plain_repo.gt("init", "--uninstall", "--json").json()["installed"] is False


def test_prefix_from_the_repository_not_a_linked_worktree(tmp_path: Path,
                                                          env: dict[str, str]) -> None:
    from conftest import make_repo

    main = make_repo(tmp_path / "webapp", env, init_gt=False)
    main.git("worktree", "add", "-q", "-b", "login", str(tmp_path / "feature-login"))
    linked = Repo(tmp_path / "feature-login", env)
    assert "(prefix webapp)" in linked.gt("init").out
    assert main.create("x").startswith("webapp-")


def test_uninstall_reads_the_manifest_of_an_older_install(plain_repo: Repo) -> None:
    import json

    hooks = plain_repo.path / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho OLD\n")
    plain_repo.gt("init")
    manifest = plain_repo.path / ".git" / "gt" / "install.json"
    data = json.loads(manifest.read_text())
    (directory, recorded), = data.pop("hook_dirs").items()
    data["hooks"] = {name: {"dir": directory, "had_original": info["had_original"]}
                     for name, info in recorded.items()}  # the format before hook_dirs
    manifest.write_text(json.dumps(data))
    out = plain_repo.gt("init", "--uninstall").out
    assert "hook post-commit: restored original" in out and "hook pre-push: removed" in out
    assert (hooks / "post-commit").read_text() == "#!/bin/sh\necho OLD\n"
    assert not manifest.exists()
