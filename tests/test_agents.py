"""Polecats with (fake) AI agents that speak the real formats; crash and resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, wait_for
from test_polecat import finished, ref_state, state


@pytest.fixture(autouse=True)
def _no_landing(request: pytest.FixtureRequest) -> None:
    """These tests are about Hooks, not landing: a shell agent's success does not hand over
    to git gt-done (polecat.done false), so the Refinery never moves things under them."""
    if "rig" in request.fixturenames:
        request.getfixturevalue("rig").git("config", "gt.polecat.done", "false")


def invocations(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def agent_rig(rig: Repo, tmp_path: Path, **env: str) -> Path:
    log = tmp_path / "agent.log"
    rig.env["FAKE_AGENT_LOG"] = str(log)
    rig.env.update(env)
    return log


def live(rig: Repo, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (rig.path / ".git" / "gt" / "polecats" / name / "live.json").read_text())
    return data


def test_claude_session_transcript_usage_and_resume(rig: Repo, tmp_path: Path) -> None:
    log = agent_rig(rig, tmp_path, FAKE_CLAUDE_SESSION="sess-one",
                    FAKE_CLAUDE_SCRIPT="write:a.txt=1;commit:first")
    bead = rig.create("Do it", "-d", "with care")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "cl")
    st = finished(rig, "cl")
    assert st["session_id"] == "sess-one" and st["exit_code"] == 0
    assert st["usage"] == {"input_tokens": 1500, "output_tokens": 150, "cost_usd": 0.0123}
    calls = invocations(log)
    assert len(calls) == 1
    argv = calls[0]["argv"]
    assert argv[0] == "-p" and f"### {bead}: Do it" in argv[1]
    assert argv[2:] == ["--output-format", "stream-json", "--verbose"]
    assert calls[0]["stdin"] == "devnull"
    events = rig.gt("polecat", "logs", "cl", "--json").json()
    init = next(e for e in events if e.get("subtype") == "init")
    assert init["session_id"] == "sess-one"
    result = next(e for e in events if e["type"] == "result")
    assert result["total_cost_usd"] == 0.0123
    assert rig.git("log", "-1", "--format=%s %an", "gt/gt/cl") == "first cl (polecat)"
    # Resume passes the session id; a new id reported by the resumed run is recorded.
    rig.env.update(FAKE_CLAUDE_NEW_SESSION_ON_RESUME="1",
                   FAKE_CLAUDE_RESUME_SCRIPT="write:b.txt=2;commit:second")
    rig.gt("polecat", "spawn", "--resume", "cl")
    st = wait_for(lambda: (s := ref_state(rig, "cl"))["status"] == "exited" and
                  s["attempts"][bead] == 2 and s["exit_code"] == 0 and s, 10, "resume")
    argv = invocations(log)[1]["argv"]
    assert argv[2:4] == ["--resume", "sess-one"]
    assert "You were interrupted" in argv[1]
    assert st["session_id"] not in ("", "sess-one")
    assert st["usage"]["cost_usd"] == pytest.approx(0.0246)
    status = rig.gt("polecat", "status", "--json").json()
    assert status["total"]["cost_usd"] == pytest.approx(0.0246)
    assert "$0.0246" in rig.gt("polecat", "status", "cl").out


def test_codex_thread_usage_and_resume(rig: Repo, tmp_path: Path) -> None:
    log = agent_rig(rig, tmp_path, FAKE_CODEX_THREAD="thread-9",
                    FAKE_CODEX_SCRIPT="write:c.txt=1;commit:codex work")
    bead = rig.create("Codex task")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "codex", "--name", "cx")
    st = finished(rig, "cx")
    assert st["session_id"] == "thread-9" and st["exit_code"] == 0
    assert st["usage"]["input_tokens"] == 2400 and st["usage"]["output_tokens"] == 120
    call = invocations(log)[0]
    assert call["argv"][:2] == ["exec", "--json"] and call["stdin"] == "devnull"
    kinds = [e["type"] for e in rig.gt("polecat", "logs", "cx", "--json").json()]
    assert {"thread.started", "turn.started", "item.completed", "turn.completed"} <= set(kinds)
    rig.env["FAKE_CODEX_RESUME_SCRIPT"] = "write:d.txt=2;commit:more"
    rig.gt("polecat", "spawn", "--resume", "cx")
    wait_for(lambda: ref_state(rig, "cx")["attempts"][bead] == 2 and
             ref_state(rig, "cx")["status"] == "exited", 10, "resume")
    argv = invocations(log)[1]["argv"]
    assert argv[:5] == ["exec", "--json", "resume", "thread-9", argv[4]]
    st = ref_state(rig, "cx")
    assert st["usage"]["input_tokens"] == 4800  # turn usage adds up over runs


def test_permission_denial_is_recorded(rig: Repo, tmp_path: Path) -> None:
    """Claude -p cannot prompt: it denies the tool use, goes on, and its final result lists
    the denial (permission_denials); the Hook keeps it for the Witness."""
    agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT="write:x.txt=1;ask:git push origin main")
    bead = rig.create("Needs approval")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "ask")
    wait_for(lambda: ref_state(rig, "ask")["status"] == "exited", 10, "the run to end")
    assert ref_state(rig, "ask")["denied"] == ["Bash: git push origin main"]
    st = state(rig, "ask")
    assert st["denied"] == ["Bash: git push origin main"] and st["waiting"] == ""
    assert "refused 1 tool use(s)" in rig.gt("polecat", "status", "ask").out


@pytest.mark.parametrize("agent, expected", [
    ("codex", "command: bash -lc 'git push origin main'"),
    ("gemini", "tool run_shell_command-1-"),
])
def test_codex_and_gemini_denials_are_recorded(rig: Repo, tmp_path: Path, agent: str,
                                               expected: str) -> None:
    agent_rig(rig, tmp_path, **{f"FAKE_{agent.upper()}_SCRIPT": "write:x.txt=1;ask"})
    bead = rig.create("Needs approval")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", agent, "--name", "dn")
    wait_for(lambda: ref_state(rig, "dn")["status"] == "exited", 10, "the run to end")
    denied = ref_state(rig, "dn")["denied"]
    assert len(denied) == 1 and denied[0].startswith(expected), denied


def test_codex_question_is_waiting_for_input(rig: Repo, tmp_path: Path) -> None:
    agent_rig(rig, tmp_path, FAKE_CODEX_SCRIPT="write:x.txt=1;question:Which database?")
    bead = rig.create("Ambiguous")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "codex", "--name", "qq")
    st = wait_for(lambda: (s := state(rig, "qq"))["waiting"] == "input" and s, 10,
                  "the question")
    assert st["live_status"] == "running" and st["last_event_type"] == "request_user_input"
    assert "waiting:input" in rig.gt("polecat", "list").out
    rig.gt("polecat", "stop", "qq")
    assert state(rig, "qq")["waiting"] == ""


def test_kill_agent_mid_work_then_resume_finishes_with_work_intact(
        rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "midway"
    log = agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT=(
        f"write:a.txt=one;commit:first;write:a.txt=one-edited;write:new.txt=untracked;"
        f"touch:{marker};hang"))
    bead = rig.create("Long job")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "k9")
    wait_for(marker.exists, 10, "the agent to get midway")
    pid = live(rig, "k9")["pid"]
    os.kill(pid, signal.SIGKILL)
    st = finished(rig, "k9")
    assert st["exit_code"] == -9 and st["status"] == "exited"
    ck = st["checkpoint"]
    assert ck["dirty"] and rig.git("show", f"{ck['commit']}:new.txt") == "untracked"
    first = rig.git("rev-parse", "gt/gt/k9")
    rig.env["FAKE_CLAUDE_RESUME_SCRIPT"] = "write:b.txt=two;commit:second"
    rig.gt("polecat", "spawn", "--resume", "k9")
    wait_for(lambda: ref_state(rig, "k9")["attempts"][bead] == 2 and
             ref_state(rig, "k9")["status"] == "exited", 10, "resume")
    assert invocations(log)[1]["argv"][2:4] == ["--resume", st["session_id"]]
    log_lines = rig.git("log", "--format=%s", "gt/gt/k9").splitlines()
    assert log_lines[:3] == ["second", "first", "initial commit"]
    rig.git("merge-base", "--is-ancestor", first, "gt/gt/k9")
    # The edits the killed agent never committed went into the resumed agent's commit.
    assert rig.git("show", "gt/gt/k9:a.txt") == "one-edited"
    assert rig.git("show", "gt/gt/k9:new.txt") == "untracked"


def test_deleted_worktree_is_recreated_from_branch_and_checkpoint(
        rig: Repo, tmp_path: Path) -> None:
    log = agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT=(
        "write:keep.txt=committed;write:gone.txt=x;commit:first;"
        "write:keep.txt=edited;write:untracked.txt=u;rm:gone.txt"))
    bead = rig.create("Fragile")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "del")
    st = finished(rig, "del")
    wt = Path(st["worktree"])
    assert wt.exists()
    shutil.rmtree(wt)
    rig.env["FAKE_CLAUDE_RESUME_SCRIPT"] = "touch:resumed.txt"
    rig.gt("polecat", "spawn", "--resume", "del")
    wait_for(lambda: ref_state(rig, "del")["attempts"][bead] == 2 and
             ref_state(rig, "del")["status"] == "exited", 10, "resume")
    assert invocations(log)[1]["cwd"] == str(wt)
    assert (wt / "keep.txt").read_text() == "edited"
    assert (wt / "untracked.txt").read_text() == "u"
    assert not (wt / "gone.txt").exists()
    assert (wt / "resumed.txt").exists()
    status = rig.run("git", "status", "--porcelain", cwd=wt).out.splitlines()
    assert sorted(status) == [" D gone.txt", " M keep.txt", "?? resumed.txt",
                              "?? untracked.txt"]
    assert rig.run("git", "log", "-1", "--format=%s", cwd=wt).out.strip() == "first"


def test_resume_on_another_clone_after_the_branch_is_gone(rig: Repo, tmp_path: Path) -> None:
    """Only the hook ref travels (as after git gt-sync): branch and files come back from it."""
    agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT="write:a.txt=c;commit:first;write:b.txt=dirty")
    bead = rig.create("Travels")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "tr")
    st = finished(rig, "tr")
    shutil.rmtree(st["worktree"])
    rig.git("worktree", "prune")
    rig.git("branch", "-D", "gt/gt/tr")
    # Another machine has none of Claude Code's own session files: the Hook's copy serves.
    shutil.rmtree(Path(rig.env["HOME"]) / ".claude")
    rig.env["FAKE_CLAUDE_RESUME_SCRIPT"] = "commit:second"
    rig.gt("polecat", "spawn", "--resume", "tr")
    wait_for(lambda: ref_state(rig, "tr")["attempts"][bead] == 2 and
             ref_state(rig, "tr")["status"] == "exited", 10, "resume")
    assert rig.git("log", "--format=%s", "gt/gt/tr").splitlines()[:2] == ["second", "first"]
    assert rig.git("show", "gt/gt/tr:b.txt") == "dirty"
    session = ref_state(rig, "tr")["session_id"]
    kept = rig.git("show", f"refs/gt/hooks/tr:sessions/{session}.jsonl")
    assert kept.count('"type": "user"') == 2  # both runs' prompts


def test_kill_the_runner_itself(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "midway"
    log = agent_rig(rig, tmp_path, FAKE_CLAUDE_SESSION="sess-r", FAKE_CLAUDE_SCRIPT=(
        f"write:a.txt=1;commit:first;write:b.txt=wip;touch:{marker};hang"))
    bead = rig.create("Runner dies")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "rd")
    wait_for(marker.exists, 10, "midway")
    info = live(rig, "rd")
    os.kill(info["runner_pid"], signal.SIGKILL)
    # The agent does not outlive its runner (parent-death signal), so nothing is orphaned.
    wait_for(lambda: not Path(f"/proc/{info['pid']}").exists() or
             Path(f"/proc/{info['pid']}/stat").read_text().split(") ")[1][0] == "Z",
             10, "the agent to die with its runner")
    # (git processes the agent started may outlive it by a moment: its group drains)
    wait_for(lambda: state(rig, "rd")["live_status"] == "dead", 10, "the polecat to read dead")
    assert "dead" in rig.gt("polecat", "list").out
    # The session id was folded into the ref as soon as it was seen.
    assert ref_state(rig, "rd")["session_id"] == "sess-r"
    rig.env["FAKE_CLAUDE_RESUME_SCRIPT"] = "commit:second"
    rig.gt("polecat", "spawn", "--resume", "rd")
    wait_for(lambda: ref_state(rig, "rd")["attempts"][bead] == 2 and
             ref_state(rig, "rd")["status"] == "exited", 10, "resume")
    assert invocations(log)[1]["argv"][2:4] == ["--resume", "sess-r"]
    events = rig.gt("polecat", "logs", "rd", "--json").json()
    # The dead run's events were folded from the runtime file before the new run began.
    assert any(e.get("type") == "assistant" and "b.txt" in json.dumps(e) for e in events)
    assert rig.git("show", "gt/gt/rd:b.txt") == "wip"


def test_resume_refuses_while_running_and_after_beads_closed(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "up"
    agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT=f"touch:{marker};hang")
    bead = rig.create("busy")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "busy")
    wait_for(marker.exists, 10, "start")
    r = rig.gt("polecat", "spawn", "--resume", "busy", check=False)
    assert r.code == 4 and "still running" in r.err
    other = rig.create("other", "--field", "run=true")
    r = rig.gt("polecat", "spawn", "--bead", bead, "--bead", other, check=False)
    assert r.code == 4 and "hooked by polecat busy" in r.err
    rig.gt("polecat", "stop", "busy")
    rig.bead("close", bead)
    r = rig.gt("polecat", "spawn", "--resume", "busy", check=False)
    assert r.code == 4 and "nothing to resume" in r.err


def test_tmux_runs_the_same_runner(rig: Repo, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    bead = rig.create("in tmux", "--field", "run=echo hi > t.txt")
    out = rig.gt("polecat", "spawn", "--bead", bead, "--name", "tm", "--tmux").out
    assert "tmux attach -t gt-rig-tm" in out
    st = finished(rig, "tm")
    assert st["exit_code"] == 0 and st["tmux"] == "gt-rig-tm"
    assert rig.git("show", "gt/gt/tm:t.txt") == "hi"
    assert not (rig.path / ".git" / "gt" / "polecats" / "tm" / "env.json").exists()
    # The session stays after the run, so a person who attaches can read the end; a resume
    # in tmux replaces it, and nuke ends it.
    assert rig.run("tmux", "has-session", "-t", "=gt-rig-tm", check=False).code == 0
    rig.gt("polecat", "spawn", "--resume", "tm", "--tmux")
    wait_for(lambda: ref_state(rig, "tm")["attempts"][bead] == 2 and
             ref_state(rig, "tm")["status"] == "exited", 10, "the resumed run in tmux")
    rig.gt("polecat", "nuke", "tm", "--force")
    assert rig.run("tmux", "has-session", "-t", "=gt-rig-tm", check=False).code != 0
    # A person can attach while it runs; stop ends the session too.
    marker = tmp_path / "up"
    slow = rig.create("slow in tmux", "--field", f"run=touch {marker}; sleep 60")
    rig.gt("polecat", "spawn", "--bead", slow, "--name", "tm2", "--tmux")
    wait_for(marker.exists, 10, "the tmux polecat to start")
    assert rig.run("tmux", "has-session", "-t", "gt-rig-tm2", check=False).code == 0
    rig.gt("polecat", "stop", "tm2")
    assert ref_state(rig, "tm2")["status"] == "stopped"
    assert rig.run("tmux", "has-session", "-t", "gt-rig-tm2", check=False).code != 0


def test_agent_presets_from_gastown_toml_and_user_config(rig: Repo, tmp_path: Path) -> None:
    script = tmp_path / "my-agent"
    script.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\" > argv.txt\necho working\n"
                      "git add -A && git commit -qm mine\n")
    script.chmod(0o755)
    rig.commit_file(".gastown.toml", (
        "[agents.mine]\n"
        f'command = ["{script}", "--prompt-file", "{{prompt_file}}", "--hook={{hook}}"]\n'
        'args = ["--extra"]\n'))
    bead = rig.create("custom agent")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "mine", "--name", "mi")
    finished(rig, "mi")
    argv = rig.git("show", "gt/gt/mi:argv.txt").splitlines()
    assert argv[0] == "--prompt-file" and argv[1].endswith("prompt.md")
    assert argv[2:] == ["--hook=mi", "--extra"]
    events = rig.gt("polecat", "logs", "mi", "--json").json()
    assert {"type": "gt.output", "text": "working"} in events
    # The user config overrides the repository's file.
    conf = Path(rig.env["XDG_CONFIG_HOME"]) / "git-gastown" / "config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text('[agents.mine]\ncommand = "not a list"\n')
    other = rig.create("again")
    r = rig.gt("polecat", "spawn", "--bead", other, "--agent", "mine", check=False)
    assert r.code == 2 and "must be a list of arguments" in r.err


def test_event_parsing_of_each_format() -> None:
    from git_gastown.polecat.adapters import parse_event

    _, info = parse_event("gemini", json.dumps({"type": "init", "session_id": "g1"}))
    assert info.session_id == "g1"
    _, info = parse_event("gemini", json.dumps(
        {"type": "result", "stats": {"input_tokens": 10, "output_tokens": 3}}))
    assert (info.input_tokens, info.output_tokens) == (10, 3)
    _, info = parse_event("claude", json.dumps(
        {"type": "assistant", "message": {"id": "msg_1", "usage": {
            "input_tokens": 3, "cache_read_input_tokens": 4, "output_tokens": 2}}}))
    assert (info.message_id, info.input_tokens, info.output_tokens, info.usage_total) == \
        ("msg_1", 7, 2, False)
    obj, info = parse_event("claude", "not json")
    assert obj == {"type": "gt.output", "text": "not json"}
    _, info = parse_event("codex", json.dumps({"type": "turn.failed",
                                                "error": {"message": "boom"}}))
    assert info.error == "boom"
    # Refused tool uses, in each CLI's own headless shape.
    _, info = parse_event("claude", json.dumps(
        {"type": "result", "subtype": "success", "is_error": False, "session_id": "s",
         "permission_denials": [{"tool_name": "Write", "tool_use_id": "toolu_1",
                                 "tool_input": {"file_path": "/etc/hosts", "content": "x"}}]}))
    assert info.denials == ["Write: /etc/hosts"] and info.waiting == ""
    _, info = parse_event("codex", json.dumps(
        {"type": "item.completed", "item": {"id": "item_3", "type": "command_execution",
                                            "command": "bash -lc 'rm -rf build'",
                                            "aggregated_output": "", "exit_code": None,
                                            "status": "declined"}}))
    assert info.denials == ["command: bash -lc 'rm -rf build'"]
    _, info = parse_event("codex", json.dumps(
        {"type": "request_user_input", "id": "turn_1", "call_id": "c1", "questions": [
            {"id": "q", "header": "h", "question": "Which?", "isOther": False,
             "isSecret": False}]}))
    assert info.waiting == "input"
    _, info = parse_event("codex", json.dumps({"type": "turn.started"}))
    assert info.waiting == "" and info.denials == []
    _, info = parse_event("gemini", json.dumps(
        {"type": "tool_result", "timestamp": "2026-01-01T00:00:00Z", "tool_id": "shell-1",
         "status": "error", "error": {"type": "policy_violation",
                                      "message": "Tool execution denied by policy."}}))
    assert info.denials == ["tool shell-1: Tool execution denied by policy."]
    _, info = parse_event("gemini", json.dumps(
        {"type": "tool_result", "tool_id": "read-1", "status": "error",
         "error": {"type": "file_not_found", "message": "no such file"}}))
    assert info.denials == []  # a failure, not a refusal


def test_prompt_never_goes_through_a_shell(rig: Repo, tmp_path: Path) -> None:
    log = agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT="")
    evil = "$(touch PWNED) `touch PWNED2`; touch PWNED3"
    bead = rig.create(f"title {evil}", "-d", evil)
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "ev")
    st = finished(rig, "ev")
    assert evil in invocations(log)[0]["argv"][1]
    wt = Path(st["worktree"])
    assert not list(wt.glob("PWNED*")) and not list(rig.path.glob("PWNED*"))
    subprocess.run(["true"], check=True)


def test_a_start_that_fails_is_recorded_and_can_be_resumed(rig: Repo, tmp_path: Path) -> None:
    agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT="write:ok.txt=1")
    bead = rig.create("huge", "-d", "x" * 130_000)
    r = rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "big",
               check=False)
    assert r.code == 2 and "over the 120000 bytes" in r.err
    assert "was created but not started" in r.err and "spawn --resume big" in r.err
    st = ref_state(rig, "big")
    assert (st["status"], st["exit_code"]) == ("exited", -1)
    rig.bead("update", bead, "-d", "short now")
    rig.gt("polecat", "spawn", "--resume", "big")
    st = wait_for(lambda: (s := ref_state(rig, "big"))["status"] == "exited" and
                  s["exit_code"] == 0 and s, 10, "the resumed start")
    assert st["attempts"][bead] == 2


def test_agent_stderr_is_kept_apart_from_its_events(rig: Repo, tmp_path: Path) -> None:
    agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT="stderr:warning from the agent")
    bead = rig.create("noisy")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "er")
    finished(rig, "er")
    assert rig.gt("polecat", "logs", "er", "--stderr").out == "warning from the agent\n"
    events = rig.gt("polecat", "logs", "er", "--json").json()
    assert all("warning from the agent" not in json.dumps(e) for e in events
               if e["type"] == "gt.output")


def test_a_conflicted_checkpoint_restore_is_loud(rig: Repo, tmp_path: Path) -> None:
    """The branch moved under the checkpoint's uncommitted edit: resume says which paths
    carry conflict markers, the Hook state and transcript record them, and the prompt
    tells the agent to resolve them."""
    rig.commit_file("a.txt", "base version\n")
    log = agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT="write:a.txt=agent version\\n")
    bead = rig.create("Edit a")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "cf")
    st = finished(rig, "cf")
    assert st["checkpoint"]["dirty"]
    shutil.rmtree(st["worktree"])
    rig.git("worktree", "prune")
    person = tmp_path / "person"
    rig.git("worktree", "add", "-q", str(person), "gt/gt/cf")
    (person / "a.txt").write_text("person version\n")
    rig.run("git", "commit", "-qam", "person edit", cwd=person)
    rig.git("worktree", "remove", str(person))
    rig.env["FAKE_CLAUDE_RESUME_SCRIPT"] = ""
    r = rig.gt("polecat", "spawn", "--resume", "cf")
    assert "conflict" in r.out and "a.txt" in r.out
    wait_for(lambda: ref_state(rig, "cf")["attempts"][bead] == 2 and
             ref_state(rig, "cf")["status"] == "exited", 10, "resume")
    assert ref_state(rig, "cf")["conflicts"] == ["a.txt"]
    assert "<<<<<<<" in (Path(st["worktree"]) / "a.txt").read_text()
    warnings = [e for e in rig.gt("polecat", "logs", "cf", "--json").json()
                if e["type"] == "gt.warning"]
    assert warnings and warnings[0]["paths"] == ["a.txt"]
    prompt = invocations(log)[1]["argv"][1]
    assert "a.txt" in prompt and "conflict markers" in prompt
    brief = rig.gt("prime", "--hook", "cf").out
    assert "conflict markers" in brief and "a.txt" in brief
    assert "are in your worktree now" not in brief
    assert "conflicts" in rig.gt("polecat", "status", "cf").out
    # Once the agent (here: a person) resolves it, nothing tells it to resolve it again.
    (Path(st["worktree"]) / "a.txt").write_text("resolved version\n")
    rig.run("git", "commit", "-qam", "resolved", cwd=Path(st["worktree"]))
    assert "conflicts" not in rig.gt("polecat", "status", "cf").out
    assert rig.gt("polecat", "status", "cf", "--json").json()["polecats"][0]["conflicts"] == []
    assert "conflict markers" not in rig.gt("prime", "--hook", "cf").out


def test_a_killed_claude_run_keeps_the_tokens_of_its_messages(
        rig: Repo, tmp_path: Path) -> None:
    """Usage is summed from each assistant message (once per message id, though the CLI
    repeats it on every content block's event), so a run killed before its result event
    still counts; a result's totals replace the sum for its run."""
    marker = tmp_path / "midway"
    agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT=f"write:a.txt=1;write:b.txt=2;touch:{marker};hang")
    bead = rig.create("Costly")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "tk")
    wait_for(marker.exists, 10, "the agent to get midway")
    # Four messages (write, write, touch, hang), each 100 + 10 + 5 in and 20 out.
    wait_for(lambda: live(rig, "tk")["usage"]["input_tokens"] == 4 * 115, 5, "usage of 4 msgs")
    os.kill(live(rig, "tk")["pid"], signal.SIGKILL)
    st = finished(rig, "tk")
    assert st["exit_code"] == -9
    assert st["usage"] == {"input_tokens": 460, "output_tokens": 80, "cost_usd": 0.0}
    assert "460 in / 80 out tokens" in rig.gt("polecat", "status", "tk").out
    # A resumed run that ends with its result adds that run's totals to what was kept.
    rig.env["FAKE_CLAUDE_RESUME_SCRIPT"] = "write:c.txt=3"
    rig.gt("polecat", "spawn", "--resume", "tk")
    wait_for(lambda: ref_state(rig, "tk")["attempts"][bead] == 2 and
             ref_state(rig, "tk")["status"] == "exited", 10, "resume")
    assert ref_state(rig, "tk")["usage"] == {"input_tokens": 460 + 1500, "output_tokens": 230,
                                            "cost_usd": 0.0123}


def test_gemini_session_usage_and_an_error_result(rig: Repo, tmp_path: Path) -> None:
    """The gemini preset end to end against a fake that prints the real stream-json: the
    session id from init, the stats of result in status, a warning that is not an error,
    and a result with status error recorded as the run's error."""
    log = agent_rig(rig, tmp_path, FAKE_GEMINI_SESSION="gem-1",
                    FAKE_GEMINI_SCRIPT="write:g.txt=gemini;commit:by gemini",
                    FAKE_GEMINI_WARN="quota almost used")
    bead = rig.create("Gem work", "-d", "use gemini")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "gemini", "--name", "gm")
    st = finished(rig, "gm")
    assert st["session_id"] == "gem-1" and st["exit_code"] == 0 and st["error"] == ""
    assert st["usage"] == {"input_tokens": 1200, "output_tokens": 200, "cost_usd": 0.0}
    call = invocations(log)[0]
    assert call["argv"][0] == "-p" and f"### {bead}: Gem work" in call["argv"][1]
    assert call["argv"][2:] == ["--output-format", "stream-json"]
    assert call["stdin"] == "devnull"
    assert rig.git("show", "gt/gt/gm:g.txt") == "gemini"
    kinds = [e["type"] for e in rig.gt("polecat", "logs", "gm", "--json").json()]
    assert {"init", "message", "tool_use", "tool_result", "result"} <= set(kinds)
    out = rig.gt("polecat", "status", "gm").out
    assert "session gem-1" in out and "1,200 in / 200 out tokens" in out
    rig.env["FAKE_GEMINI_FAIL"] = "Reached max session turns"
    rig.env.pop("FAKE_GEMINI_WARN")
    other = rig.create("Gem fails")
    rig.gt("polecat", "spawn", "--bead", other, "--agent", "gemini", "--name", "gf")
    st = finished(rig, "gf")
    assert st["exit_code"] == 1 and st["error"] == "Reached max session turns"
    assert "error: Reached max session turns" in rig.gt("polecat", "status", "gf").out


def test_aider_and_copilot_presets(rig: Repo, tmp_path: Path) -> None:
    """aider gets the prompt as a file and restores its chat history on resume; its plain
    text output is the transcript. copilot's argv carries the prompt as one element."""
    from git_gastown.polecat import adapters

    log = agent_rig(rig, tmp_path, FAKE_AIDER_SCRIPT="write:ai.txt=aider;commit:aider edit")
    bead = rig.create("Aider work", "-d", "edit with aider")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "aider", "--name", "ad")
    st = finished(rig, "ad")
    assert st["exit_code"] == 0
    call = invocations(log)[0]
    assert call["argv"][:2] == ["--yes-always", "--message-file"]
    assert f"### {bead}: Aider work" in Path(call["argv"][2]).read_text()
    assert rig.git("show", "gt/gt/ad:ai.txt") == "aider"
    texts = [e.get("text") for e in rig.gt("polecat", "logs", "ad", "--json").json()
             if e["type"] == "gt.output"]
    assert "Added .aider* to .gitignore" in texts
    rig.env["FAKE_AIDER_SCRIPT"] = ""
    rig.gt("polecat", "spawn", "--resume", "ad")
    wait_for(lambda: ref_state(rig, "ad")["attempts"][bead] == 2 and
             ref_state(rig, "ad")["status"] == "exited", 10, "resume")
    assert invocations(log)[1]["argv"][:3] == ["--yes-always", "--restore-chat-history",
                                               "--message-file"]
    texts = [e.get("text") for e in rig.gt("polecat", "logs", "ad", "--json").json()]
    assert "Restored previous conversation history (1 messages)." in texts
    values = {"prompt": "do $(this)\nnow", "prompt_file": "/p.md", "session_id": "",
              "hook": "h", "worktree": "/w"}
    assert adapters.resolve("copilot").argv(values) == [
        "copilot", "-p", "do $(this)\nnow", "--allow-all-tools"]
    assert adapters.resolve("aider").argv(values, resume=True) == [
        "aider", "--yes-always", "--restore-chat-history", "--message-file", "/p.md"]


def test_an_agent_that_cannot_be_started(rig: Repo, tmp_path: Path) -> None:
    """spawn refuses a program that is not an executable file; a program that is gone (or
    lost its x bit) by the time the runner starts it ends the run with 127 (126) and the
    reason in the Hook state, status and logs, not a traceback."""
    prog = tmp_path / "vanishing-agent"
    prog.write_text("#!/bin/sh\necho hi\n")
    prog.chmod(0o755)
    rig.commit_file(".gastown.toml", (
        '[agents.dir]\ncommand = ["/tmp", "{prompt}"]\n'
        f'[agents.gone]\ncommand = ["{prog}", "{{prompt}}"]\n'
        f'[hooks]\nsetup = "if [ -e {prog}.once ]; then chmod -x {prog}; else rm {prog}; fi"\n'))
    bead = rig.create("start me")
    before = rig.git("for-each-ref")
    r = rig.gt("polecat", "spawn", "--bead", bead, "--agent", "dir", check=False)
    assert r.code == 2 and "'/tmp' is not an executable file" in r.err
    assert rig.git("for-each-ref") == before
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "gone", "--name", "gn")
    st = finished(rig, "gn")
    assert st["status"] == "exited" and st["exit_code"] == 127
    assert st["error"].startswith(f"cannot start {prog}: ")
    assert "No such file" in st["error"]
    out = rig.gt("polecat", "status", "gn").out
    assert "(exit 127)" in out and f"error: cannot start {prog}" in out
    events = rig.gt("polecat", "logs", "gn", "--json").json()
    assert [e["type"] for e in events][-2:] == ["gt.error", "gt.exit"]
    assert "Traceback" not in (rig.path / ".git/gt/polecats/gn/runner.log").read_text()
    # Not executable any more when the runner gets to it: 126.
    prog.write_text("#!/bin/sh\necho hi\n")
    prog.chmod(0o755)
    Path(f"{prog}.once").touch()
    other = rig.create("start me too")
    rig.gt("polecat", "spawn", "--bead", other, "--agent", "gone", "--name", "gx")
    st = finished(rig, "gx")
    assert st["exit_code"] == 126 and "Permission denied" in st["error"]


def test_the_resume_prompt_carries_new_comments_and_mail(rig: Repo, tmp_path: Path) -> None:
    log = agent_rig(rig, tmp_path, FAKE_CLAUDE_SCRIPT="write:a.txt=1;commit:first",
                    GT_HOOKS="0")
    bead = rig.create("Reviewed work")
    rig.bead("comment", bead, "old remark the session already saw")
    rig.gt("polecat", "spawn", "--bead", bead, "--agent", "claude", "--name", "rv")
    finished(rig, "rv")
    import time

    time.sleep(1.1)  # comment times are to the second: one clearly after the run's start
    rig.bead("comment", bead, "rejected: tests fail on py3.12")
    rig.gt("mail", "send", "rv", "-s", "Use API v2", "-b", "v1 is going away")
    rig.gt("polecat", "spawn", "--resume", "rv")
    wait_for(lambda: ref_state(rig, "rv")["attempts"][bead] == 2 and
             ref_state(rig, "rv")["status"] == "exited", 10, "resume")
    call = invocations(log)[1]
    assert call["argv"][2] == "--resume"
    prompt = call["argv"][1]
    assert "rejected: tests fail on py3.12" in prompt
    assert "old remark" not in prompt
    assert "Use API v2" in prompt and "Unread mail" in prompt
