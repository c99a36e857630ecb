"""Convoy dispatch, mountain convoys (stalls, skip-and-continue), and the Dogs and hook
triggers that act on real polecats."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import Repo, wait_for
from test_witness import check, exited, kill_group, ref_state, spawn


def _beads(rig: Repo, *titles: str, prio: str = "2") -> list[str]:
    return [rig.create(t, "-p", prio) for t in titles]


def test_dispatch_up_to_max(rig: Repo) -> None:
    rig.env.update(FAKE_CLAUDE_SCRIPT="hang", GT_HOOKS="0")
    ids = _beads(rig, "a", "b", "c")
    rig.gt("convoy", "create", "--name", "trio", *ids)
    out = rig.gt("convoy", "dispatch", "trio", "--max", "2", "--agent", "claude",
                 "--json").json()
    assert len(out["started"]) == 2 and out["failed"] == []
    shown = rig.gt("convoy", "show", "trio", "--json").json()
    agents = {b["id"]: (b["state"], b["agent"]) for b in shown["beads"]}
    started = {s["bead"]: s["polecat"] for s in out["started"]}
    for bead, polecat in started.items():
        assert agents[bead] == ("active", polecat)
    again = rig.gt("convoy", "dispatch", "trio").out
    assert "nothing to dispatch (2 of at most 2 at work)" in again  # --max is remembered
    fields = rig.show(shown["id"])["fields"]
    assert (fields["dispatch_max"], fields["dispatch_agent"]) == (2, "claude")


def test_mountain_blocks_a_failing_bead_and_moves_on(rig: Repo) -> None:
    rig.git("config", "gt.convoy.maxAttempts", "2")
    rig.git("config", "gt.witness.deadGrace", "0s")
    rig.env.update(FAKE_CLAUDE_SCRIPT="die:3", FAKE_CLAUDE_RESUME_SCRIPT="die:3", GT_HOOKS="0")
    first = rig.create("hard one", "-p", "1")
    second = rig.create("next one", "-p", "2")
    rig.gt("convoy", "create", "--name", "everest", "--mountain", first, second)
    started = rig.gt("convoy", "dispatch", "everest", "--max", "1", "--agent", "claude",
                     "--json").json()["started"]
    assert [s["bead"] for s in started] == [first]
    name = started[0]["polecat"]
    exited(rig, name)
    assert check(rig, "--fix")[name]["applied"] == ["resumed (attempt 2)"]
    wait_for(lambda: ref_state(rig, name)["attempts"][first] == 2
             and ref_state(rig, name)["status"] == "exited", 10, "the second attempt")
    rig.env["FAKE_CLAUDE_SCRIPT"] = "hang"
    found = check(rig, "--fix")[name]
    assert found["action"] == "block"
    assert f"blocked {first}" in found["applied"]
    assert any(a.startswith(f"dispatched {second}->") for a in found["applied"])
    bead = rig.show(first)
    assert bead["status"] == "blocked" and bead["assignee"] == ""
    assert "blocked after 2 failed attempts" in bead["comments"][-1]["text"]
    shown = {b["id"]: b for b in rig.gt("convoy", "show", "everest", "--json").json()["beads"]}
    assert shown[first]["state"] == "blocked" and shown[second]["state"] == "active"
    status = rig.gt("convoy", "status", "--json").json()[0]
    assert (status["blocked"], status["active"]) == (1, 1)
    esc = rig.gt("escalate", "list", "--json").json()
    assert [e["bead"] for e in esc] == [first]
    # the blocked bead is not retried
    assert check(rig, "--fix")[name]["action"] == "none"


def test_mountain_stall_is_marked_and_escalated(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    bead = spawn(rig, "slow", f"touch:{marker};hang")
    rig.gt("convoy", "create", "--name", "k2", "--mountain", bead)
    wait_for(marker.exists, 10, "the agent to start")
    for key, value in (("convoy.stallAfter", "1s"), ("witness.hungAfter", "1h"),
                       ("witness.idleAfter", "1h")):
        rig.git("config", f"gt.{key}", value)
    time.sleep(1.2)
    report = rig.gt("deacon", "patrol", "--json").json()[0]
    events = report["witness"]["convoys"]
    assert [(e["convoy"], e["bead"], e["event"]) for e in events] == [("k2", bead, "stalled")]
    assert "stalled" in rig.show(bead)["labels"]
    assert rig.gt("convoy", "status", "--json").json()[0]["stalled"] == 1
    esc = rig.gt("escalate", "list", "--json").json()
    assert len(esc) == 1 and "k2" in esc[0]["message"] and esc[0]["bead"] == bead
    again = rig.gt("deacon", "patrol", "--json").json()[0]
    assert again["witness"]["convoys"] == []  # marked once, escalated once
    assert len(rig.gt("escalate", "list", "--json").json()) == 1


def test_a_stalled_bead_that_lands_closes_its_escalation(rig: Repo, tmp_path: Path) -> None:
    """The stalled bead is the convoy's last: landing it closes the convoy, and the stall
    mark and escalation must still go (no bump to critical for work that landed)."""
    marker = tmp_path / "m"
    bead = spawn(rig, "late", f"touch:{marker};hang")
    rig.gt("convoy", "create", "--name", "solo", "--mountain", bead)
    wait_for(marker.exists, 10, "the agent to start")
    for key, value in (("convoy.stallAfter", "1s"), ("witness.hungAfter", "1h"),
                       ("witness.idleAfter", "1h")):
        rig.git("config", f"gt.{key}", value)
    time.sleep(1.2)
    rig.gt("deacon", "patrol", "--json")
    [esc] = rig.gt("escalate", "list", "--json").json()
    assert esc["bead"] == bead and "stalled" in rig.show(bead)["labels"]
    rig.bead("close", bead, "--reason", "landed in abc123 on main")  # as the Refinery does
    assert rig.gt("convoy", "list", "--all", "--json").json()[0]["status"] == "closed"
    rig.gt("deacon", "patrol", "--json")
    assert "stalled" not in rig.show(bead)["labels"]
    assert rig.gt("escalate", "list", "--json").json() == []  # closed: nothing to bump
    assert rig.show(esc["id"])["status"] == "closed"


def test_reap_marks_a_dead_runner(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    spawn(rig, "gone", f"touch:{marker};hang")
    wait_for(marker.exists, 10, "the agent to start")
    kill_group(rig, "gone")
    runner = ref_state(rig, "gone")["runner_pid"] or json.loads(
        (rig.path / ".git" / "gt" / "polecats" / "gone" / "live.json").read_text())["runner_pid"]
    out = rig.gt("dogs", "run", "reap", "--json").json()[0]
    assert out["did"] == [f"gone: runner {runner} died; marked exited"]
    assert ref_state(rig, "gone")["status"] == "exited"
    assert rig.gt("dogs", "run", "reap", "--json").json()[0]["did"] == []


def _mark_done(rig: Repo, name: str) -> None:
    # What `git gt-done` does to the Hook once the Refinery has the work.
    code = ("from git_gastown import hook; from git_gastown.git import Repo;"
            f"hook.update_state(Repo.discover(), {name!r}, 'done', status='done')")
    subprocess.run([sys.executable, "-c", code], cwd=rig.path, env=rig.env, check=True)


def test_prune_removes_only_merged_clean_worktrees(rig: Repo) -> None:
    rig.env.update(GT_HOOKS="0")
    for name in ("merged", "dirty", "unmerged"):
        rig.env["FAKE_CLAUDE_SCRIPT"] = f"write:{name}.txt=x;commit:{name}"
        bead = rig.create(name)
        rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", name)
        exited(rig, name)
        _mark_done(rig, name)
    rig.git("merge", "-q", "--no-edit", "gt/gt/merged", "gt/gt/dirty")
    worktrees = {n: Path(ref_state(rig, n)["worktree"]) for n in ("merged", "dirty", "unmerged")}
    (worktrees["dirty"] / "scratch.txt").write_text("not saved anywhere")
    out = rig.gt("dogs", "run", "prune", "--json").json()[0]
    assert any(d.startswith("merged: removed worktree") for d in out["did"])
    assert any(d.startswith("dirty: kept") and "uncommitted" in d for d in out["did"])
    assert not worktrees["merged"].exists()
    assert worktrees["dirty"].exists() and worktrees["unmerged"].exists()
    assert rig.git("rev-parse", "-q", "--verify", "refs/gt/hooks/merged")  # the record stays


def test_commit_in_a_polecat_worktree_is_a_heartbeat_and_starts_a_patrol(
        rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    rig.env.update(FAKE_CLAUDE_SCRIPT=f"write:a.txt=1;commit:first;touch:{marker};hang")
    bead = rig.create("beat")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "hb")
    wait_for(marker.exists, 10, "the agent to commit")
    gtdir = rig.path / ".git" / "gt"
    assert (gtdir / "polecats" / "hb" / "committed").exists()
    assert (gtdir / "hooks-due").exists()
    wait_for(lambda: (gtdir / "patrol-next").exists()
             and (gtdir / "patrol-next").stat().st_mtime > time.time() + 100, 15,
             "the patrol started by the commit")
    found = check(rig)["hb"]
    assert found["class"] == "ok" and found["last_commit_age"] is not None
    log = (gtdir / "logs" / "health.log")
    assert not log.exists() or "Traceback" not in log.read_text()


def test_dispatch_reports_beads_it_cannot_start(rig: Repo) -> None:
    rig.env.update(GT_HOOKS="0")
    good = rig.create("runs", "--field", "run=true", "-p", "1")
    bad = rig.create("no command", "-p", "2")
    rig.gt("convoy", "create", "--name", "mixed", good, bad)
    res = rig.gt("convoy", "dispatch", "mixed", "--json", check=False)
    assert res.code == 1
    out = res.json()
    assert [s["bead"] for s in out["started"]] == [good]
    assert out["failed"][0]["bead"] == bad and "no run command" in out["failed"][0]["error"]
    assert rig.show(bad)["status"] == "open"  # nothing half-done
    landed = rig.gt("convoy", "dispatch", "nope", check=False)
    assert landed.code == 3


def test_mountain_blocks_a_hung_bead_and_stops_its_agent(rig: Repo, tmp_path: Path) -> None:
    """A hung agent on a mountain bead that is out of attempts: the block stops it (no
    agent runs on, spending), clears the stall mark, and the rig has nothing left to do."""
    rig.git("config", "gt.convoy.maxAttempts", "1")
    marker = tmp_path / "m"
    bead = spawn(rig, "slit", f"touch:{marker};hang")
    rig.gt("convoy", "create", "--name", "auth", "--mountain", bead)
    wait_for(marker.exists, 10, "the agent to start")
    pid = json.loads((rig.path / ".git" / "gt" / "polecats" / "slit" / "live.json")
                     .read_text())["pid"]
    for key, value in (("convoy.stallAfter", "1s"), ("witness.hungAfter", "1h"),
                       ("witness.idleAfter", "1h")):
        rig.git("config", f"gt.{key}", value)
    time.sleep(1.2)
    check(rig, "--fix")
    assert "stalled" in rig.show(bead)["labels"]
    rig.git("config", "gt.witness.hungAfter", "1s")
    found = check(rig, "--fix")["slit"]
    assert (found["class"], found["action"]) == ("hung", "block")
    assert found["applied"][:2] == ["stopped", f"blocked {bead}"]
    assert not Path(f"/proc/{pid}").exists() or \
        "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    shown = rig.show(bead)
    assert shown["status"] == "blocked" and "stalled" not in shown["labels"]
    after = check(rig, "--fix")["slit"]
    assert (after["class"], after["action"]) == ("stopped", "none")
    esc = rig.gt("escalate", "list", "--all", "--json").json()
    assert sorted((e["bead"], e["status"]) for e in esc) == \
        [(bead, "closed"), (bead, "open")]  # the stall, superseded by the block
    stall = next(e for e in esc if e["status"] == "closed")
    assert rig.show(stall["id"])["close_reason"] == "superseded: the bead is blocked"
    rig.gt("escalate", "ack", next(e for e in esc if e["status"] == "open")["id"])
    assert rig.gt("deacon", "patrol", "--json").json()[0]["watching"] is False


def test_stall_that_moves_again_closes_its_escalation_and_is_never_bumped(
        rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    bead = spawn(rig, "slow", f"touch:{marker};hang")
    rig.gt("convoy", "create", "--name", "k3", "--mountain", bead)
    wait_for(marker.exists, 10, "the agent to start")
    for key, value in (("convoy.stallAfter", "2s"), ("witness.hungAfter", "1h"),
                       ("witness.idleAfter", "1h"), ("escalation.bumpAfter", "1s")):
        rig.git("config", f"gt.{key}", value)
    time.sleep(2.2)
    report = check(rig, "--fix")
    assert report["slow"]["class"] == "ok"
    esc = rig.gt("escalate", "list", "--json").json()
    assert [(e["bead"], e["severity"]) for e in esc] == [(bead, "medium")]
    # The agent goes on: a commit on its branch.
    worktree = Path(ref_state(rig, "slow")["worktree"])
    (worktree / "more.txt").write_text("progress\n")
    env = {k: v for k, v in rig.env.items() if not k.endswith("_DATE")}  # committed now
    subprocess.run(["git", "add", "-A"], cwd=worktree, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "progress"], cwd=worktree, env=env, check=True)
    events = rig.gt("witness", "check", "--fix", "--json").json()["convoys"]
    assert [(e["bead"], e["event"], e.get("closed")) for e in events] == \
        [(bead, "moving", [esc[0]["id"]])]
    assert "stalled" not in rig.show(bead)["labels"]
    rig.git("config", "gt.convoy.stallAfter", "1h")  # no new stall while we wait
    time.sleep(1.2)  # past bumpAfter: a still-open escalation would be raised now
    rig.gt("deacon", "patrol")
    assert rig.gt("escalate", "list", "--json").json() == []
    closed = rig.gt("escalate", "list", "--all", "--json").json()
    assert [(e["status"], e["severity"], e["bumps"]) for e in closed] == \
        [("closed", "medium", 0)]
    assert rig.show(closed[0]["id"])["close_reason"] == "resolved by itself"
    rig.gt("polecat", "stop", "slow")


def test_dispatch_with_a_missing_agent_program_says_so(repo: Repo) -> None:
    ids = [repo.create("a", "--field", "run=true")]
    repo.gt("convoy", "create", "--name", "solo", *ids)
    repo.gt("convoy", "dispatch", "solo", "--agent", "shell")  # all at work: nothing left
    conv = repo.gt("convoy", "show", "solo", "--json").json()
    r = repo.gt("convoy", "dispatch", "solo", "--agent", "claude", check=False)
    assert r.code == 2, r.out
    assert "program 'claude' not found on PATH" in r.err and "nothing to dispatch" not in r.out
    assert repo.show(conv["id"])["fields"]["dispatch_agent"] == "shell"  # nothing remembered
