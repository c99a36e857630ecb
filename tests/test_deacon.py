"""git gt-deacon: patrol (escalations, convoys, schedule of hook patrols) and its crontab line."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import Repo

FAKE_CRONTAB = """#!/bin/sh
# A stand-in for crontab(1) that keeps the table in $FAKE_CRONTAB.
case "$1" in
  -l) [ -f "$FAKE_CRONTAB" ] || { echo "no crontab for $USER" >&2; exit 1; }
      cat "$FAKE_CRONTAB" ;;
  -) cat > "$FAKE_CRONTAB" ;;
  *) echo "fake crontab: unsupported $*" >&2; exit 2 ;;
esac
"""


def _with_fake_crontab(repo: Repo, tmp_path: Path) -> tuple[dict[str, str], Path]:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "crontab").write_text(FAKE_CRONTAB)
    (bindir / "crontab").chmod(0o755)
    table = tmp_path / "crontab.txt"
    env = dict(repo.env, PATH=f"{bindir}{os.pathsep}{repo.env['PATH']}",
               FAKE_CRONTAB=str(table))
    return env, table


def test_cron_install_is_idempotent_and_keeps_other_lines(repo: Repo, tmp_path: Path) -> None:
    env, table = _with_fake_crontab(repo, tmp_path)
    table.write_text("0 3 * * * backup.sh\n")
    out = repo.run("git-gt-deacon", "cron", "install", "--every", "5", "--json", env=env).json()
    assert out["changed"] is True
    line = out["line"]
    assert line.startswith("*/5 * * * * cd ") and "-m git_gastown.cli.deacon patrol" in line
    assert line.endswith(f"# git-gastown deacon {(repo.path / '.git').resolve()}")
    assert table.read_text() == f"0 3 * * * backup.sh\n{line}\n"
    again = repo.run("git-gt-deacon", "cron", "install", "--every", "5", "--json", env=env).json()
    assert again["changed"] is False and table.read_text().count("git-gastown deacon") == 1
    # a new interval replaces the line instead of adding one
    repo.run("git-gt-deacon", "cron", "install", "--every", "15", env=env)
    assert table.read_text().count("git-gastown deacon") == 1 and "*/15 " in table.read_text()
    status = repo.run("git-gt-deacon", "cron", "status", "--json", env=env).json()
    assert status["installed"] is True
    assert "removed" in repo.run("git-gt-deacon", "cron", "uninstall", env=env).out
    assert table.read_text() == "0 3 * * * backup.sh\n"
    assert "no patrol line" in repo.run("git-gt-deacon", "cron", "uninstall", env=env).out


def test_cron_line_runs_a_patrol(repo: Repo, tmp_path: Path) -> None:
    env, table = _with_fake_crontab(repo, tmp_path)
    repo.run("git-gt-deacon", "cron", "install", env=env)
    line = table.read_text().strip()
    command = line.split(" ", 5)[5]
    repo.run("sh", "-c", command, cwd=tmp_path)
    log = (repo.path / ".git" / "gt" / "logs" / "cron.log").read_text()
    assert log == ""  # --quiet: only failures are written
    assert (repo.path / ".git" / "gt" / "patrol-next").exists()  # the patrol ran


def test_cron_without_crontab_is_a_clear_error(repo: Repo, tmp_path: Path) -> None:
    import shutil

    bindir = tmp_path / "onlygit"
    bindir.mkdir()
    git = shutil.which("git", path=repo.env["PATH"])
    assert git is not None
    (bindir / "git").symlink_to(git)
    env = dict(repo.env, PATH=f"{repo.env['PATH'].split(os.pathsep)[0]}{os.pathsep}{bindir}")
    res = repo.run("git-gt-deacon", "cron", "install", check=False, env=env)
    assert res.code == 1 and "crontab is not installed" in res.err


def test_patrol_bumps_lands_and_schedules(repo: Repo) -> None:
    gtdir = repo.path / ".git" / "gt"
    a = repo.create("a")
    repo.gt("convoy", "create", "--name", "c", a)
    repo.gt("bead", "import", "-", input=f'{{"id": "{a}", "title": "a", "status": "closed"}}\n')
    repo.git("config", "gt.escalation.bumpAfter", "0s")
    eid = repo.gt("escalate", "-s", "medium", "look at this").out.split(":")[0]
    assert (gtdir / "hooks-due").exists()  # an open escalation is watched
    report = repo.gt("deacon", "patrol", "--json").json()[0]
    assert report["landed"] == ["c"] and report["bumped"] == [eid]
    assert report["errors"] == [] and report["watching"] is True
    assert report["refinery"] in ("absent", "idle")
    assert (gtdir / "patrol-next").stat().st_mtime > time.time() + 60  # default 3m
    repo.gt("escalate", "ack", eid)
    report = repo.gt("deacon", "patrol", "--json").json()[0]
    assert report["watching"] is False and not (gtdir / "hooks-due").exists()
    assert "nothing to watch" in repo.gt("deacon", "patrol").out


def test_dry_run_changes_nothing(repo: Repo) -> None:
    repo.git("config", "gt.escalation.bumpAfter", "0s")
    repo.gt("escalate", "-s", "medium", "x")
    tip = repo.git("rev-parse", "refs/gt/beads")
    report = repo.gt("deacon", "patrol", "--dry-run", "--json").json()[0]
    assert report["bumped"] == [] and repo.git("rev-parse", "refs/gt/beads") == tip
    assert report["watching"] is True and report["next_patrol"] == ""
    assert not (repo.path / ".git" / "gt" / "patrol-next").exists()
    text = repo.gt("deacon", "patrol", "--dry-run").out
    assert "hook patrol schedule unchanged (dry run)" in text and "not before \n" not in text


def test_patrol_covers_the_rigs_of_the_town(repo: Repo, tmp_path: Path) -> None:
    from conftest import make_repo

    other = make_repo(tmp_path / "other", repo.env, prefix="ot")
    other.git("config", "gt.escalation.bumpAfter", "0s")
    eid = other.gt("escalate", "-s", "medium", "in the other rig").out.split(":")[0]
    repo.git("config", "--add", "gt.town.rigs", str(other.path))
    repo.git("config", "--add", "gt.town.rigs", str(tmp_path / "missing"))
    reports = repo.gt("deacon", "patrol", "--json").json()
    assert [r["rig"] for r in reports] == ["rig", "other"]
    assert reports[1]["bumped"] == [eid]


def test_inbox_raises_due_escalations_first(repo: Repo) -> None:
    repo.git("config", "gt.escalation.bumpAfter", "0s")
    repo.gt("escalate", "-s", "medium", "nobody looked")
    subjects = [m["subject"] for m in repo.gt("mail", "inbox", "--json").json()]
    assert subjects == ["[HIGH P1] nobody looked (raised after 1 bump)"]


def test_a_patrol_already_running_is_not_doubled(repo: Repo) -> None:
    import subprocess
    import sys

    lock = repo.path / ".git" / "gt" / "locks" / "patrol.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a');"
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)",
         str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        report = repo.gt("deacon", "patrol", "--json").json()[0]
        assert report["skipped"] is True and report["witness"] is None
        assert "another patrol is running" in repo.gt("deacon", "patrol").out
    finally:
        holder.kill()
        holder.wait()
    assert repo.gt("deacon", "patrol", "--json").json()[0]["skipped"] is False


def test_a_failed_step_makes_the_patrol_exit_1(repo: Repo) -> None:
    repo.git("config", "gt.witness.hungAfter", "bogus")
    r = repo.gt("deacon", "patrol", check=False)
    assert r.code == 1 and "error: witness: witness.hungAfter must be a duration" in r.err
    assert "nothing to watch" in r.out or "watching" in r.out  # the report still printed
    r = repo.gt("deacon", "patrol", "--json", check=False)
    assert r.code == 1 and r.json()[0]["errors"]
    assert repo.gt("deacon", "patrol", "--from-hook", check=False).code == 0
    repo.git("config", "gt.witness.hungAfter", "30m")
    assert repo.gt("deacon", "patrol", check=False).code == 0
