"""Git hook triggers: the stubs start Python only when a patrol is due, and a patrol they
start runs detached, at most once per interval, with its errors in the log."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import PATIENCE, Repo


def _spy(repo: Repo, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment in which every Python start appends a line to a file."""
    site = tmp_path / "spy"
    site.mkdir()
    marks = tmp_path / "python-starts"
    (site / "sitecustomize.py").write_text(
        f"import sys\nwith open({str(marks)!r}, 'a') as fh:\n"
        "    fh.write(' '.join(sys.argv) + '\\n')\n")
    return dict(repo.env, PYTHONPATH=str(site)), marks


def _commit(repo: Repo, env: dict[str, str], name: str) -> None:
    (repo.path / name).write_text(name)
    repo.run("git", "add", name, env=env)
    res = repo.run("git", "commit", "-q", "-m", name, env=env)
    assert res.err == ""


def _starts(marks: Path) -> list[str]:
    return marks.read_text().splitlines() if marks.exists() else []


def _wait(cond: object, timeout: float = 15.0) -> bool:
    end = time.time() + timeout * PATIENCE
    while time.time() < end:
        if callable(cond) and cond():
            return True
        time.sleep(0.1)
    return False


def test_nothing_watched_no_python(repo: Repo, tmp_path: Path) -> None:
    env, marks = _spy(repo, tmp_path)
    _commit(repo, env, "a.txt")
    repo.run("git", "checkout", "-q", "-b", "other", env=env)
    assert _starts(marks) == []  # the stubs exited after a few stats
    assert not (repo.path / ".git" / "gt" / "patrol-next").exists()


def test_due_rig_starts_one_detached_patrol_per_interval(repo: Repo, tmp_path: Path) -> None:
    gtdir = repo.path / ".git" / "gt"
    repo.gt("escalate", "-s", "medium", "watch me")  # something to watch: hooks-due
    assert (gtdir / "hooks-due").exists()
    env, marks = _spy(repo, tmp_path)
    _commit(repo, env, "a.txt")
    # the hook's own Python, then the detached patrol it started
    assert _wait(lambda: any("patrol" in s for s in _starts(marks)))
    assert _wait(lambda: (gtdir / "patrol-next").exists()
                 and (gtdir / "patrol-next").stat().st_mtime > time.time() + 100)
    started = len(_starts(marks))
    _commit(repo, env, "b.txt")
    _commit(repo, env, "c.txt")
    time.sleep(0.3)
    assert len(_starts(marks)) == started  # not due: no Python at all
    # once due again (the slot moved into the past), the next commit patrols
    past = time.time() - 10
    os.utime(gtdir / "patrol-next", (past, past))
    _commit(repo, env, "d.txt")
    assert _wait(lambda: (gtdir / "patrol-next").stat().st_mtime > time.time() + 100)
    assert len([s for s in _starts(marks) if "patrol" in s]) == 2


def test_patrol_errors_go_to_the_log_not_the_user(repo: Repo, tmp_path: Path) -> None:
    gtdir = repo.path / ".git" / "gt"
    repo.gt("escalate", "-s", "medium", "watch me")
    (repo.path / ".gastown.toml").write_text("[witness\nbroken = \n")
    env, _ = _spy(repo, tmp_path)
    (repo.path / "x.txt").write_text("x")
    repo.run("git", "add", "x.txt", env=env)
    res = repo.run("git", "commit", "-q", "-m", "x", env=env)
    assert res.code == 0 and res.err == "" and res.out == ""
    log = gtdir / "logs" / "health.log"
    assert _wait(lambda: log.exists() and "not valid TOML" in log.read_text())


def test_gt_hooks_0_disables(repo: Repo, tmp_path: Path) -> None:
    repo.gt("escalate", "-s", "medium", "watch me")
    env, marks = _spy(repo, tmp_path)
    env["GT_HOOKS"] = "0"
    _commit(repo, env, "a.txt")
    assert _starts(marks) == []


def test_merge_in_a_watched_rig_always_reaches_python(repo: Repo, tmp_path: Path) -> None:
    gtdir = repo.path / ".git" / "gt"
    repo.gt("escalate", "-s", "medium", "watch me")
    repo.gt("deacon", "patrol")  # the next patrol is now minutes away
    repo.git("checkout", "-q", "-b", "side")
    repo.commit_file("side.txt", "s")
    repo.git("checkout", "-q", "main")
    env, marks = _spy(repo, tmp_path)
    repo.run("git", "merge", "-q", "--no-ff", "--no-edit", "side", env=env)
    starts = _starts(marks)
    assert any("post-merge" in s for s in starts)  # for the Refinery's handlers
    assert not any("patrol" in s for s in starts)  # but the patrol itself is not due
    assert (gtdir / "patrol-next").stat().st_mtime > time.time() + 60


def test_spawning_a_polecat_makes_the_rig_watched(repo: Repo) -> None:
    bead = repo.create("job", "--field", "run=true")
    repo.run("git-gt-polecat", "spawn", "--bead", bead, "--name", "nux",
             env=dict(repo.env, GT_HOOKS="0"))
    assert (repo.path / ".git" / "gt" / "hooks-due").exists()
