"""The Witness over real polecats: fake agents that hang, ask, die or quit early; the
resume limit; pid reuse; dead polecats with uncommitted work."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import Repo, wait_for


def ref_state(rig: Repo, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(rig.git("show", f"refs/gt/hooks/{name}:state.json"))
    return data


def live(rig: Repo, name: str) -> dict[str, Any]:
    """The runner's live record ({} until the runner has written it)."""
    try:
        data: dict[str, Any] = json.loads(
            (rig.path / ".git" / "gt" / "polecats" / name / "live.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data


def spawn(rig: Repo, name: str, script: str, title: str = "work", **env: str) -> str:
    # GT_HOOKS=0: the agents' commits must not start patrols that would act before the test
    # does (tests/test_triggers.py covers those).
    rig.env.update(FAKE_CLAUDE_SCRIPT=script, GT_HOOKS="0", **env)
    rig.git("config", "gt.witness.deadGrace", "0s")  # act at once on what the test kills
    bead = rig.create(title)
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", name)
    return bead


def check(rig: Repo, *args: str) -> dict[str, dict[str, Any]]:
    report = rig.gt("witness", "check", "--json", *args).json()
    return {p["polecat"]: p for p in report["polecats"]}


def exited(rig: Repo, name: str) -> dict[str, Any]:
    return wait_for(lambda: (s := ref_state(rig, name))["status"] in ("exited", "done") and s,
                    10, f"{name} to exit")


def kill_group(rig: Repo, name: str) -> None:
    """The runner and its agent die at once (kill -9 of the session), as in a crash."""
    runner = live(rig, name)["runner_pid"]
    os.killpg(runner, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{runner}").exists()
             or "Z" in Path(f"/proc/{runner}/stat").read_text().split(")")[1][:3],
             5, "the runner to die")


def test_permission_denial_is_escalated_once_not_resumed(rig: Repo) -> None:
    """Claude -p denied a tool use and the run ended with its bead unfinished: a resume
    would be refused the same, so a person is asked (once per run)."""
    spawn(rig, "ask", "write:x.txt=1;ask:git push origin main")
    exited(rig, "ask")
    found = check(rig)["ask"]
    assert (found["class"], found["action"]) == ("permission_denied", "escalate")
    assert found["detail"] == "the agent was refused Bash: git push origin main"
    from test_health_json import tables

    assert set(found) == tables("A Witness finding")[0]  # as docs/json.md says
    fixed = check(rig, "--fix")["ask"]
    assert fixed["applied"][0].startswith("escalated ")
    esc = rig.gt("escalate", "list", "--json").json()
    assert [(e["severity"], e["message"]) for e in esc] == \
        [("high", "polecat ask was refused a permission it needed")]
    assert "git gt-polecat spawn --resume ask" in rig.show(esc[0]["id"])["description"]
    assert check(rig, "--fix")["ask"]["applied"] == ["already escalated"]
    assert len(rig.gt("escalate", "list", "--json").json()) == 1
    assert ref_state(rig, "ask")["attempts"] == {b: 1 for b in ref_state(rig, "ask")["beads"]}


def test_question_then_going_on_closes_the_escalation(rig: Repo, tmp_path: Path) -> None:
    """Codex asked a question (request_user_input): waiting_input, escalated; once the
    polecat works again (here: a person stopped it and resumed it with the answer), the
    finding is gone, so its escalation is closed and never bumped."""
    go_on = tmp_path / "answered"
    rig.env.update(FAKE_CODEX_SCRIPT="question:Which database?;write:a.txt=1",
                   GT_HOOKS="0")
    rig.git("config", "gt.witness.deadGrace", "0s")
    bead = rig.create("ambiguous")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "codex", "--name", "qq")
    wait_for(lambda: live(rig, "qq").get("waiting") == "input", 10, "the question")
    found = check(rig)["qq"]
    assert (found["class"], found["action"]) == ("waiting_input", "escalate")
    eid = check(rig, "--fix")["qq"]["applied"][0].split()[1]
    assert rig.gt("escalate", "list", "--json").json()[0]["message"] == \
        "polecat qq is waiting for input"
    # A person answers by stopping it and resuming it with the answer in a note; the new
    # run goes on, and the finding is gone.
    rig.gt("polecat", "stop", "qq")
    rig.env["FAKE_CODEX_RESUME_SCRIPT"] = f"touch:{go_on};hang"
    rig.gt("polecat", "spawn", "--resume", "qq")
    wait_for(go_on.exists, 10, "the resumed run")
    assert check(rig)["qq"]["class"] == "ok"
    assert check(rig, "--fix")["qq"]["applied"] == [
        f"closed {eid} (waiting_input resolved by itself)"]
    rig.git("config", "gt.escalation.bumpAfter", "0s")
    rig.gt("deacon", "patrol")
    assert rig.gt("escalate", "list", "--json").json() == []
    rig.gt("polecat", "stop", "qq")


def test_dead_polecat_is_resumed_and_finishes(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "working"
    bead = spawn(rig, "k9", f"write:a.txt=1;commit:first;touch:{marker};hang")
    wait_for(marker.exists, 10, "the agent to work")
    assert check(rig)["k9"]["class"] == "ok"
    kill_group(rig, "k9")
    rig.git("config", "gt.witness.deadGrace", "1h")  # just died: nobody acts yet
    assert (check(rig, "--fix")["k9"]["action"], check(rig)["k9"]["applied"]) == ("none", [])
    assert rig.gt("dogs", "run", "reap", "--json").json()[0]["did"] == []
    rig.git("config", "gt.witness.deadGrace", "0s")
    found = check(rig)["k9"]
    assert (found["class"], found["action"]) == ("dead", "resume")
    assert not found["agent_alive"] and not found["runner_alive"]
    rig.env["FAKE_CLAUDE_RESUME_SCRIPT"] = "write:b.txt=2;commit:second"
    fixed = check(rig, "--fix")["k9"]
    assert fixed["applied"] == ["resumed (attempt 2)"]
    st = exited(rig, "k9")
    assert st["attempts"][bead] == 2
    assert rig.git("log", "--format=%s", "gt/gt/k9").splitlines()[:2] == ["second", "first"]


def test_dead_with_uncommitted_work_is_checkpointed_first(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "dirty"
    spawn(rig, "dd", f"write:a.txt=1;commit:first;write:wip.txt=unsaved;touch:{marker};hang")
    wait_for(marker.exists, 10, "the agent to leave work uncommitted")
    kill_group(rig, "dd")
    found = check(rig)["dd"]
    assert (found["class"], found["action"]) == ("dead_dirty", "checkpoint")
    rig.env["FAKE_CLAUDE_RESUME_SCRIPT"] = "commit:second"
    fixed = check(rig, "--fix")["dd"]
    assert fixed["applied"][0].startswith("checkpoint ") and fixed["applied"][1].startswith(
        "resumed")
    ckpt = fixed["applied"][0].split()[1]
    assert rig.git("show", f"{ckpt}:wip.txt") == "unsaved"
    exited(rig, "dd")
    assert rig.git("show", "gt/gt/dd:wip.txt") == "unsaved"  # the replacement kept it


def test_exited_without_finishing_then_resume_limit_escalates(rig: Repo) -> None:
    rig.git("config", "gt.witness.maxResumes", "1")
    bead = spawn(rig, "quit", "write:a.txt=1;die:3", FAKE_CLAUDE_RESUME_SCRIPT="die:4")
    exited(rig, "quit")
    found = check(rig)["quit"]
    assert (found["class"], found["action"]) == ("exited_unfinished", "resume")
    assert "exit 3" in found["detail"]
    check(rig, "--fix")
    wait_for(lambda: ref_state(rig, "quit")["attempts"][bead] == 2
             and ref_state(rig, "quit")["status"] == "exited", 10, "the resumed run to exit")
    found = check(rig)["quit"]
    assert (found["class"], found["action"], found["attempts"]) == \
        ("exited_unfinished", "escalate", 2)
    fixed = check(rig, "--fix")["quit"]
    assert fixed["applied"][0].startswith("escalated")
    esc = rig.gt("escalate", "list", "--json").json()[0]
    assert esc["bead"] == bead and "after 2 attempts" in esc["message"]
    assert ref_state(rig, "quit")["attempts"][bead] == 2  # no third run
    assert check(rig, "--fix")["quit"]["applied"] == ["already escalated"]


def test_idle_then_hung(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "stuck"
    spawn(rig, "zz", f"touch:{marker};hang", FAKE_CLAUDE_RESUME_SCRIPT="commit:unstuck")
    wait_for(marker.exists, 10, "the agent to get stuck")
    rig.git("config", "gt.witness.idleAfter", "1s")
    rig.git("config", "gt.witness.hungAfter", "1h")
    time.sleep(1.2)
    found = check(rig)["zz"]
    assert (found["class"], found["action"]) == ("idle", "none")
    rig.git("config", "gt.witness.hungAfter", "1s")
    found = check(rig)["zz"]
    assert (found["class"], found["action"]) == ("hung", "resume")
    pid = live(rig, "zz")["pid"]
    fixed = check(rig, "--fix")["zz"]
    assert fixed["applied"] == ["stopped", "resumed (attempt 2)"]
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    exited(rig, "zz")


def _start_time(pid: int) -> int:
    data = Path(f"/proc/{pid}/stat").read_text()
    return int(data[data.rindex(")") + 2:].split()[19])


def _pretend_agent(rig: Repo, name: str, pid: int, start: int) -> None:
    """Point the runner's live record at another process as the agent."""
    path = rig.path / ".git" / "gt" / "polecats" / name / "live.json"
    data = json.loads(path.read_text())
    data.update(pid=pid, pid_start=start)
    path.write_text(json.dumps(data))


def test_orphaned_agent_and_reused_pid(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    spawn(rig, "or", f"touch:{marker};hang", FAKE_CLAUDE_RESUME_SCRIPT="commit:again")
    wait_for(marker.exists, 10, "the agent to start")
    kill_group(rig, "or")
    # An agent that outlived its runner (tmux, or a platform without a parent-death signal):
    # a live process recorded with its true start time.
    stray = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        _pretend_agent(rig, "or", stray.pid, _start_time(stray.pid) + 1)
        found = check(rig)["or"]  # same pid, other start time: a reused pid, not the agent
        assert found["class"] == "dead" and not found["agent_alive"]
        _pretend_agent(rig, "or", stray.pid, _start_time(stray.pid))
        found = check(rig)["or"]
        assert (found["class"], found["action"]) == ("orphaned", "resume")
        assert found["agent_alive"] and not found["runner_alive"]
        fixed = check(rig, "--fix")["or"]
        assert fixed["applied"] == ["stopped", "resumed (attempt 2)"]
        assert stray.wait(timeout=5) != 0  # the stray agent was stopped
    finally:
        stray.kill()
        stray.wait()
    exited(rig, "or")


def test_no_polecats(rig: Repo) -> None:
    assert rig.gt("witness", "check").out.strip() == "no polecats"
    assert rig.gt("witness", "check", "--json").json()["polecats"] == []


def _agents_in(worktree: Path) -> list[int]:
    """The processes whose working directory is WORKTREE (the agents running there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(worktree) and \
                        "Z" not in (entry / "stat").read_text().split(")")[1][:3]:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _running(pid: int) -> bool:
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    except OSError:
        return False


def _sleepers(worktree: Path, token: str) -> list[int]:
    """The processes in WORKTREE whose argv is exactly TOKEN (e.g. 'sleep 417')."""
    argv = token.encode().split()
    out = []
    for pid in _agents_in(worktree):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1] == argv:
                out.append(pid)
    return out


def test_runner_killed_alone_leaves_no_second_agent(rig: Repo, tmp_path: Path) -> None:
    """kill -9 of the runner only: the agent's child lives on in its process group, so the
    polecat is orphaned (not dead), and --fix ends the group before it resumes."""
    rig.env["GT_HOOKS"] = "0"
    rig.git("config", "gt.witness.deadGrace", "0s")
    marker = tmp_path / "started"
    # `; true` keeps sh from exec-ing sleep: the sleep is the agent's child.
    bead = rig.create("long", "--field", f"run=touch {marker}; sleep 417; true")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "orp")
    wait_for(marker.exists, 10, "the shell agent to start")
    worktree = Path(ref_state(rig, "orp")["worktree"])
    rec = wait_for(lambda: (d := live(rig, "orp")).get("pgid") and d, 5, "the agent's group")
    assert rec["pgid"] == rec["pid"] and rec["sid"] and rec["runner_pgid"] == rec["runner_pid"]
    first = wait_for(lambda: _sleepers(worktree, "sleep 417"), 5, "the sleep")
    try:
        runner = rec["runner_pid"]
        os.kill(runner, signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{runner}").exists()
                 or "Z" in Path(f"/proc/{runner}/stat").read_text().split(")")[1][:3],
                 5, "the runner to die")
        wait_for(lambda: not Path(f"/proc/{rec['pid']}").exists(), 5, "sh to get its signal")
        assert _sleepers(worktree, "sleep 417") == first  # the grandchild lives on
        found = check(rig)["orp"]
        assert (found["class"], found["action"]) == ("orphaned", "resume")
        assert found["agent_alive"] and not found["runner_alive"]
        shown = rig.gt("polecat", "status", "orp", "--json").json()["polecats"][0]
        assert shown["live_status"] == "running" and shown["pgid"] == rec["pgid"]
        text = rig.gt("polecat", "status", "orp").out
        assert f"pid {rec['pid']} (gone; its process group {rec['pgid']} runs on)" in text
        refused = rig.gt("polecat", "spawn", "--resume", "orp", check=False)
        assert refused.code == 4
        assert f"its agent is gone but process group {rec['pgid']} runs on" in refused.err
        fixed = check(rig, "--fix")["orp"]
        assert fixed["applied"] == ["stopped", "resumed (attempt 2)"]
        assert not any(_running(p) for p in first)
        again = wait_for(lambda: _sleepers(worktree, "sleep 417"), 10, "the replacement")
        time.sleep(0.3)
        assert len(_sleepers(worktree, "sleep 417")) == 1 and again[0] not in first
    finally:
        rig.gt("polecat", "stop", "orp", check=False)
        for pid in first:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert _sleepers(worktree, "sleep 417") == []


def test_reap_dog_ends_an_orphaned_agent_group(rig: Repo, tmp_path: Path) -> None:
    rig.env["GT_HOOKS"] = "0"
    rig.git("config", "gt.witness.deadGrace", "0s")
    marker = tmp_path / "started"
    bead = rig.create("long", "--field", f"run=touch {marker}; sleep 418; true")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "rp")
    wait_for(marker.exists, 10, "the shell agent to start")
    worktree = Path(ref_state(rig, "rp")["worktree"])
    rec = wait_for(lambda: (d := live(rig, "rp")).get("pgid") and d, 5, "the agent's group")
    first = wait_for(lambda: _sleepers(worktree, "sleep 418"), 5, "the sleep")
    try:
        os.kill(rec["runner_pid"], signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{rec['pid']}").exists(), 5, "sh to get its signal")
        did = rig.gt("dogs", "run", "reap", "--json").json()[0]["did"]
        assert len(did) == 1 and "stopped its agent" in did[0], did
        assert _sleepers(worktree, "sleep 418") == []
        assert ref_state(rig, "rp")["status"] == "exited"
        assert check(rig)["rp"]["class"] == "exited_unfinished"
    finally:
        for pid in first:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_agent_that_closes_its_bead_without_gt_done_is_escalated(
        rig: Repo, tmp_path: Path) -> None:
    """An agent that commits, closes its own bead and exits 0 never ran `git gt-done`:
    its commit is on no target and in no merge request, so it is not 'done'."""
    rig.env["GT_HOOKS"] = "0"
    script = tmp_path / "closer"
    script.write_text("#!/bin/sh\necho work > work.txt\ngit add -A && git commit -qm 'agent work'\n"
                      f"'{Path(sys.executable).parent / 'git-gt-bead'}' close \"$GT_BEADS\"\n")
    script.chmod(0o755)
    rig.commit_file(".gastown.toml", f'[agents.closer]\ncommand = ["{script}"]\n')
    bead = rig.create("closes itself")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "closer", "--name", "clo")
    exited(rig, "clo")
    assert rig.show(bead)["status"] == "closed"
    found = check(rig)["clo"]
    assert (found["class"], found["action"]) == ("exited_unlanded", "escalate")
    assert "1 commit on gt/gt/clo neither merged into main nor queued" in found["detail"]
    fixed = check(rig, "--fix")["clo"]
    assert fixed["applied"][0].startswith("escalated ")
    esc = rig.gt("escalate", "list", "--json").json()
    assert [e["message"] for e in esc] == \
        ["polecat clo exited without git gt-done; its work is not landed"]
    assert "git gt-done" in rig.show(esc[0]["id"])["description"]
    # Once the branch is queued, the Refinery owns it: nothing for the Witness.
    rig.gt("refinery", "enqueue", "gt/gt/clo")
    found = check(rig)["clo"]
    assert (found["class"], found["action"]) == ("done", "none")
    # ... and its escalation is closed, so it is never raised to critical.
    assert check(rig, "--fix")["clo"]["applied"] == \
        [f"closed {esc[0]['id']} (exited_unlanded resolved by itself)"]
    assert rig.gt("escalate", "list", "--json").json() == []
    assert check(rig, "--fix")["clo"]["applied"] == []
