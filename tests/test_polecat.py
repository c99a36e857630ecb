"""git gt-polecat with the built-in shell agent: spawn, list, status, logs, stop, nuke."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, wait_for


@pytest.fixture(autouse=True)
def _no_landing(request: pytest.FixtureRequest) -> None:
    """These tests are about Hooks, not landing: a shell agent's success does not hand over
    to git gt-done (polecat.done false), so the Refinery never moves things under them."""
    if "rig" in request.fixturenames:
        request.getfixturevalue("rig").git("config", "gt.polecat.done", "false")


def state(rig: Repo, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = rig.gt("polecat", "status", name, "--json").json()["polecats"]
    return data[0]


def ref_state(rig: Repo, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(rig.git("show", f"refs/gt/hooks/{name}:state.json"))
    return data


def finished(rig: Repo, name: str, timeout: float = 10.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        st = ref_state(rig, name)
        return st if st["status"] in ("exited", "done", "stopped") else None

    result: dict[str, Any] = wait_for(check, timeout, f"polecat {name} to finish")
    return result


def shell_bead(rig: Repo, title: str, run: str) -> str:
    return rig.create(title, "--field", f"run={run}")


def test_shell_agent_runs_the_bead_command_and_commits(rig: Repo) -> None:
    bead = shell_bead(rig, "make out", "echo hello > out.txt; echo made it")
    out = rig.gt("polecat", "spawn", "--bead", bead, "--name", "nux").out
    assert "spawned nux (shell)" in out
    st = finished(rig, "nux")
    assert st["exit_code"] == 0 and st["status"] == "exited"
    assert st["branch"] == "gt/gt/nux" and st["base"] == "main"
    assert st["finished"] == [bead]
    assert rig.git("show", "gt/gt/nux:out.txt") == "hello"
    author = rig.git("log", "-1", "--format=%an <%ae>%n%s", "gt/gt/nux")
    assert author.splitlines() == ["nux (polecat) <nux.polecat@gt.gastown.invalid>",
                                   f"{bead}: make out"]
    bead_json = rig.show(bead)
    assert (bead_json["status"], bead_json["assignee"]) == ("hooked", "nux")
    events = rig.gt("polecat", "logs", "nux", "--json").json()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "gt.start" and "gt.exit" in kinds and "gt.commit" in kinds
    assert {"type": "gt.output", "text": "made it"} in events
    # The transcript lives in the hook ref, not only in runtime files.
    assert "made it" in rig.git("show", "refs/gt/hooks/nux:transcript/000001.jsonl")
    # The branch tip is reachable from the hook ref (through the exit checkpoint).
    tip = rig.git("rev-parse", "gt/gt/nux")
    rig.git("merge-base", "--is-ancestor", tip, "refs/gt/hooks/nux")


def test_agent_environment_and_unique_ports(rig: Repo) -> None:
    run = "env | grep -E '^(GT_|GIT_AUTHOR_NAME)' | sort > env.txt"
    a = shell_bead(rig, "a", run)
    b = shell_bead(rig, "b", run)
    rig.gt("polecat", "spawn", "--bead", a, "--name", "one")
    rig.gt("polecat", "spawn", "--bead", b, "--name", "two")
    finished(rig, "one")
    finished(rig, "two")
    envs = []
    for name, bead in (("one", a), ("two", b)):
        lines = dict(line.split("=", 1) for line in
                     rig.git("show", f"gt/gt/{name}:env.txt").splitlines())
        assert lines["GT_ROLE"] == "polecat"
        assert lines["GT_HOOK"] == name and lines["GT_BEADS"] == bead
        assert lines["GT_RIG"] == "rig"
        assert lines["GT_MAIN"] == str(rig.path.resolve())
        assert lines["GIT_AUTHOR_NAME"] == f"{name} (polecat)"
        envs.append(lines)
    assert envs[0]["GT_PORT"] != envs[1]["GT_PORT"]


def test_failing_command_is_recorded_and_nothing_committed(rig: Repo) -> None:
    bead = shell_bead(rig, "fails", "echo partial > p.txt; exit 3")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "bad")
    st = finished(rig, "bad")
    assert st["exit_code"] == 3 and st["finished"] == []
    assert rig.git("rev-parse", "gt/gt/bad") == rig.git("rev-parse", "main")
    # The uncommitted file is saved in the exit checkpoint.
    ck = st["checkpoint"]
    assert ck["dirty"] and rig.git("show", f"{ck['commit']}:p.txt") == "partial"


def test_spawn_refusals_change_nothing(rig: Repo) -> None:
    no_run = rig.create("no command")
    before = rig.git("for-each-ref")
    r = rig.gt("polecat", "spawn", "--bead", no_run, check=False)
    assert r.code == 2 and f"bead {no_run} has no run command" in r.err
    assert "--field run=" in r.err
    r = rig.gt("polecat", "spawn", "--bead", "gt-zzzzz", check=False)
    assert r.code == 3 and "no bead gt-zzzzz" in r.err
    closed = shell_bead(rig, "done already", "true")
    rig.bead("close", closed)
    before = rig.git("for-each-ref")
    r = rig.gt("polecat", "spawn", "--bead", closed, check=False)
    assert r.code == 4 and "is closed" in r.err
    assert rig.git("for-each-ref") == before
    assert not list((rig.path / ".git" / "gt").glob("polecats/*"))


def test_spawn_refusals_of_names_agents_and_bases(rig: Repo) -> None:
    ok = shell_bead(rig, "fine", "true")
    before = rig.git("for-each-ref")
    for bad in ("../x", "a--b", "x" * 41):
        r = rig.gt("polecat", "spawn", "--bead", ok, "--name", bad, check=False)
        assert r.code == 2 and "invalid polecat name" in r.err, bad
    r = rig.gt("polecat", "spawn", "--bead", ok, "--agent", "nosuch", check=False)
    assert r.code == 2 and "unknown agent 'nosuch'" in r.err
    r = rig.gt("polecat", "spawn", "--bead", ok, "--agent", "copilot", check=False)
    assert r.code == 2 and "program 'copilot' not found" in r.err
    r = rig.gt("polecat", "spawn", check=False)
    assert r.code == 2 and "nothing to work on" in r.err
    only_git = rig.path.parent / "only-git"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    no_tmux = dict(rig.env, PATH=f"{Path(sys.executable).parent}:{only_git}")
    r = rig.run("git-gt-polecat", "spawn", "--bead", ok, "--tmux", env=no_tmux, check=False)
    assert r.code == 2 and "--tmux needs tmux" in r.err
    r = rig.gt("polecat", "spawn", "--bead", ok, "--base", "nope", check=False)
    assert r.code == 2 and "--base 'nope' does not name a commit" in r.err
    taken = shell_bead(rig, "alice's", "true")
    rig.bead("update", taken, "--claim", "--actor", "alice")
    before = rig.git("for-each-ref")
    r = rig.gt("polecat", "spawn", "--bead", taken, check=False)
    assert r.code == 4 and "in progress by alice" in r.err
    assert rig.git("for-each-ref") == before
    assert not list((rig.path / ".git" / "gt").glob("polecats/*"))


def test_names_are_unique(rig: Repo) -> None:
    a = shell_bead(rig, "a", "true")
    b = shell_bead(rig, "b", "true")
    rig.gt("polecat", "spawn", "--bead", a, "--name", "ace")
    r = rig.gt("polecat", "spawn", "--bead", b, "--name", "ace", check=False)
    assert r.code == 2 and "already exists" in r.err
    # Without --name a free name is chosen.
    out = rig.gt("polecat", "spawn", "--bead", b, "--json").json()
    assert out[0]["name"] != "ace"


def test_setup_command_runs_in_new_worktree_before_the_agent(rig: Repo) -> None:
    (rig.path / ".env").write_text("SECRET=1\n")
    (rig.path / ".gitignore").write_text(".env\n")
    rig.commit_file(".gastown.toml",
                    '[hooks]\nsetup = \'cp "$GT_MAIN/.env" .env && echo set up > setup.txt\'\n')
    bead = shell_bead(rig, "uses env", "cat .env > seen.txt && cat setup.txt >> seen.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "set")
    st = finished(rig, "set")
    assert st["exit_code"] == 0
    assert rig.git("show", "gt/gt/set:seen.txt") == "SECRET=1\nset up"
    kinds = [e["type"] for e in rig.gt("polecat", "logs", "set", "--json").json()]
    assert kinds.index("gt.setup") < kinds.index("gt.start")


def test_failing_setup_stops_before_the_agent(rig: Repo) -> None:
    rig.commit_file(".gastown.toml", '[hooks]\nsetup = "exit 7"\n')
    bead = shell_bead(rig, "never runs", "touch ran.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "nos")
    st = finished(rig, "nos")
    assert st["exit_code"] == 7
    kinds = [e["type"] for e in rig.gt("polecat", "logs", "nos", "--json").json()]
    assert "gt.start" not in kinds


def test_list_status_and_totals(rig: Repo) -> None:
    bead = shell_bead(rig, "x", "true")
    assert "no polecats" in rig.gt("polecat", "list").out
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "lis")
    finished(rig, "lis")
    items = rig.gt("polecat", "list", "--json").json()
    assert [i["name"] for i in items] == ["lis"]
    item = items[0]
    for key in ("name", "branch", "base", "beads", "agent", "session_id", "status",
                "live_status", "attempts", "pid", "pid_start", "runner_pid", "heartbeat",
                "last_event_at", "last_event_type", "waiting", "exit_code", "worktree",
                "usage", "created_at", "updated_at", "checkpoint", "port", "ref"):
        assert key in item, key
    assert item["live_status"] == "exited" and item["attempts"] == {bead: 1}
    assert "lis" in rig.gt("polecat", "list").out
    status = rig.gt("polecat", "status", "--json").json()
    assert status["total"] == {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    assert "usage 0 in / 0 out tokens" in rig.gt("polecat", "status").out
    r = rig.gt("polecat", "status", "nope", check=False)
    assert r.code == 3 and "no polecat nope" in r.err
    r = rig.gt("polecat", "status", "nope", "--json", check=False)
    assert json.loads(r.err)["error"]["code"] == "not_found"


def test_stop_a_hanging_agent_keeps_its_work(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    bead = shell_bead(rig, "hangs", f"echo wip > wip.txt; touch {marker}; sleep 60")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "hang")
    wait_for(marker.exists, 10, "the command to start")
    st = state(rig, "hang")
    assert st["live_status"] == "running" and st["agent_alive"]
    out = rig.gt("polecat", "stop", "hang", "--timeout", "5").out
    assert "stopped hang" in out
    st = state(rig, "hang")
    assert st["status"] == "stopped" and not st["agent_alive"] and not st["runner_alive"]
    assert rig.git("show", f"{st['checkpoint']['commit']}:wip.txt") == "wip"
    # Still hooked: a replacement can take it over.
    assert rig.show(bead)["status"] == "hooked"


def test_nuke_refuses_unsaved_work_and_force_checkpoints_first(rig: Repo) -> None:
    bead = shell_bead(rig, "work", "echo a > a.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "nk")
    finished(rig, "nk")
    wt = Path(state(rig, "nk")["worktree"])
    # New work after the last checkpoint: a commit and an uncommitted edit.
    (wt / "b.txt").write_text("b\n")
    rig.run("git", "add", "b.txt", cwd=wt)
    rig.run("git", "commit", "-qm", "b", cwd=wt)
    (wt / "c.txt").write_text("uncommitted\n")
    tip = rig.git("rev-parse", "gt/gt/nk")
    r = rig.gt("polecat", "nuke", "nk", check=False)
    assert r.code == 4 and "refusing to nuke nk" in r.err and "--force" in r.err
    assert wt.exists() and rig.git("rev-parse", "gt/gt/nk") == tip
    r = rig.gt("polecat", "nuke", "nk", "--purge", check=False)
    assert r.code == 4 and wt.exists()
    out = rig.gt("polecat", "nuke", "nk", "--force", "--json").json()[0]
    assert out["worktree_removed"] and out["branch_removed"] and not out["purged"]
    assert not wt.exists()
    assert rig.git("rev-parse", "-q", "--verify", "gt/gt/nk", check=False) == ""
    ckpt = out["checkpoint"]
    rig.git("merge-base", "--is-ancestor", tip, "refs/gt/hooks/nk")
    assert rig.git("show", f"{ckpt}:c.txt") == "uncommitted"
    assert rig.git("show", f"{ckpt}:b.txt") == "b"
    assert ref_state(rig, "nk")["status"] == "nuked"
    assert rig.show(bead)["status"] == "open" and rig.show(bead)["assignee"] == ""
    assert rig.gt("polecat", "list", "--json").json() == []
    assert [i["name"] for i in rig.gt("polecat", "list", "--all", "--json").json()] == ["nk"]


def test_nuke_of_merged_work_needs_no_force_and_purge_deletes_the_ref(rig: Repo) -> None:
    bead = shell_bead(rig, "work", "echo a > a.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "mg")
    finished(rig, "mg")
    rig.git("merge", "-q", "--ff-only", "gt/gt/mg")
    rig.gt("polecat", "nuke", "mg", "--purge")
    assert rig.git("for-each-ref", "refs/gt/hooks/") == ""


def test_nuke_refuses_a_running_polecat(rig: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "go"
    bead = shell_bead(rig, "hangs", f"touch {marker}; sleep 60")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "run")
    wait_for(marker.exists, 10, "start")
    r = rig.gt("polecat", "nuke", "run", "--force", check=False)
    assert r.code == 4 and "is running" in r.err
    rig.gt("polecat", "stop", "run")


def test_prime_and_handoff_from_inside_the_worktree(rig: Repo) -> None:
    bead = rig.create("Teach the parser", "--field", "run=true", "-d", "Handle `$(rm -rf /)` text")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "pr")
    finished(rig, "pr")
    wt = Path(state(rig, "pr")["worktree"])
    text = rig.run("git-gt-prime", cwd=wt).out
    assert "You are polecat pr, a worker agent in rig rig" in text
    assert f"### {bead}: Teach the parser" in text
    assert "Handle `$(rm -rf /)` text" in text
    (wt / "half.txt").write_text("half done\n")
    out = rig.run("git-gt-handoff", "--note", "parser half done; tests next", cwd=wt).out
    assert "1 note(s) left on pr" in out and "with uncommitted changes" in out
    text = rig.gt("prime", "--hook", "pr").out
    assert "## Notes from your predecessor" in text and "parser half done" in text
    assert "## Last checkpoint" in text
    data = rig.gt("prime", "--hook", "pr", "--json").json()
    assert data["hook"] == "pr" and data["beads"] == [bead]
    r = rig.gt("prime", check=False)
    assert r.code == 2 and "not inside a polecat's worktree" in r.err


def test_spawn_a_convoy(rig: Repo) -> None:
    a = shell_bead(rig, "a", "echo a > a.txt")
    b = shell_bead(rig, "b", "echo b > b.txt")
    rig.create("Release 1", "--type", "convoy", "--dep", f"tracks:{a}", "--dep", f"tracks:{b}")
    out = rig.gt("polecat", "spawn", "--convoy", "Release 1", "--name", "cv", "--json").json()
    assert out[0]["beads"] == sorted([a, b]) or set(out[0]["beads"]) == {a, b}
    st = finished(rig, "cv")
    assert set(st["finished"]) == {a, b} and st["convoy"]
    r = rig.gt("polecat", "spawn", "--convoy", "nope", check=False)
    assert r.code == 3
    # --convoy NAME --resume resumes that convoy's stopped polecats; finished beads are
    # not run again by the shell agent.
    out = rig.gt("polecat", "spawn", "--convoy", "Release 1", "--resume", "--json").json()
    assert [h["name"] for h in out] == ["cv"]
    st = wait_for(lambda: (s := ref_state(rig, "cv"))["status"] == "exited" and
                  s["attempts"][a] == 2 and s, 10, "the convoy resume")
    assert st["exit_code"] == 0
    assert rig.git("log", "--format=%s", "gt/gt/cv").count(f"{a}:") == 1
    r = rig.gt("polecat", "spawn", "--resume", check=False)
    assert r.code == 2 and "needs a polecat name" in r.err


def test_dispatcher_and_help(rig: Repo) -> None:
    out = rig.run("git", "gt", "polecat", "--help").out
    assert "spawn" in out and "nuke" in out
    for fam in ("polecat", "prime", "handoff"):
        assert rig.gt(fam, "--help").code == 0


def test_background_children_do_not_outlive_the_agent(rig: Repo, tmp_path: Path) -> None:

    pidfile = tmp_path / "bg.pid"
    bead = shell_bead(rig, "starts a server", f"sleep 60 & echo $! > {pidfile}; echo started")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "bg")
    st = finished(rig, "bg", timeout=8)
    assert st["exit_code"] == 0
    pid = int(pidfile.read_text())
    stat = Path(f"/proc/{pid}/stat")
    wait_for(lambda: not stat.exists() or stat.read_text().split(") ")[1][0] == "Z", 5,
             "the background child to be ended")


def test_logs_follow_ends_when_the_polecat_exits(rig: Repo) -> None:
    bead = shell_bead(rig, "slow", "echo one; sleep 1; echo two")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "fo")
    out = rig.gt("polecat", "logs", "fo", "--follow").out
    assert "gt.output  one" in out and "gt.output  two" in out and "gt.exit" in out
    assert rig.gt("polecat", "logs", "fo", "-n", "1").out.startswith("gt.commit")


def test_shell_agent_ends_with_git_gt_done_when_its_command_succeeds(
        rig: Repo, tmp_path: Path) -> None:
    """The single hand-over point to the Refinery: `git gt-done` runs in the Hook after a
    successful shell run (a stand-in on PATH records that it ran, and where)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "done.txt"
    done = bindir / "git-gt-done"
    done.write_text(f"#!/bin/sh\necho \"$GT_HOOK $(pwd)\" >> {record}\necho enqueued\n")
    done.chmod(0o755)
    rig.env["PATH"] = f"{bindir}:{rig.env['PATH']}"
    rig.git("config", "gt.polecat.done", "true")
    good = shell_bead(rig, "ok", "echo ok > ok.txt")
    bad = shell_bead(rig, "fails", "exit 1")
    rig.gt("polecat", "spawn", "--bead", good, "--name", "dn")
    rig.gt("polecat", "spawn", "--bead", bad, "--name", "nd")
    st = finished(rig, "dn")
    finished(rig, "nd")
    assert record.read_text().split() == ["dn", st["worktree"]]
    events = rig.gt("polecat", "logs", "dn", "--json").json()
    assert {"code": 0, "text": "enqueued"}.items() <= events[-1].items()
    assert events[-1]["type"] == "gt.done"


def test_stop_of_a_polecat_that_is_not_running(rig: Repo) -> None:
    bead = shell_bead(rig, "quick", "true")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "qk")
    finished(rig, "qk")
    assert "qk was not running (exited)" in rig.gt("polecat", "stop", "qk").out
    assert ref_state(rig, "qk")["status"] == "exited"
    r = rig.gt("polecat", "stop", "qk", "nope", check=False)
    assert r.code == 3 and "no polecat nope" in r.err


def _doc_tables(heading: str) -> list[set[str]]:
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "json.md").read_text()
    m = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", doc, re.M | re.S)
    assert m, f"docs/json.md has no section {heading!r}"
    tables: list[set[str]] = []
    for line in m.group(1).splitlines():
        if line.startswith("| field |"):
            tables.append(set())
        elif tables and line.startswith("| `"):
            tables[-1].add(line.split("|")[1].strip().strip("`"))
    return tables


def test_json_outputs_match_docs(rig: Repo) -> None:
    extras = _doc_tables("git gt-polecat")[0]
    state_fields = _doc_tables("Hook state")[0]
    bead = shell_bead(rig, "doc", "true")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "doc")
    finished(rig, "doc")
    assert set(ref_state(rig, "doc")) == state_fields
    assert set(rig.gt("polecat", "list", "--json").json()[0]) == state_fields | extras
    (Path(state(rig, "doc")["worktree"]) / "x.txt").write_text("x")
    assert set(rig.gt("prime", "--hook", "doc", "--json").json()) == \
        _doc_tables("git gt-prime")[0]
    assert set(rig.gt("handoff", "--hook", "doc", "--json").json()) == \
        _doc_tables("git gt-handoff")[0]
    out = rig.gt("polecat", "nuke", "doc", "--force", "--json").json()[0]
    assert set(out) == _doc_tables("git gt-polecat nuke")[0]


def test_resume_redoes_a_finished_bead_that_was_reopened(rig: Repo) -> None:
    bead = shell_bead(rig, "redo", "echo run >> runs.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "re")
    assert finished(rig, "re")["finished"] == [bead]
    rig.gt("polecat", "spawn", "--resume", "re")  # still hooked: nothing to run again
    wait_for(lambda: ref_state(rig, "re")["attempts"][bead] == 2 and
             ref_state(rig, "re")["status"] == "exited", 10, "second run")
    assert rig.git("show", "gt/gt/re:runs.txt") == "run"
    rig.bead("reopen", bead)  # e.g. the Refinery rejected the work
    rig.gt("polecat", "spawn", "--resume", "re")
    wait_for(lambda: ref_state(rig, "re")["attempts"][bead] == 3 and
             ref_state(rig, "re")["status"] == "exited", 10, "third run")
    assert rig.git("show", "gt/gt/re:runs.txt") == "run\nrun"
    assert ref_state(rig, "re")["finished"] == [bead]


def test_concurrent_spawns_get_distinct_names_ports_and_branches(rig: Repo) -> None:
    import subprocess

    beads = [shell_bead(rig, f"p{i}", f"echo {i} > n.txt") for i in range(6)]
    procs = [subprocess.Popen(["git-gt-polecat", "spawn", "--bead", b, "--json"], cwd=rig.path,
                              env=rig.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True) for b in beads]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    made = [json.loads(o[0])[0] for o in outs]
    assert len({m["name"] for m in made}) == 6 and len({m["port"] for m in made}) == 6
    for m, bead in zip(made, beads, strict=True):
        st = finished(rig, m["name"])
        assert st["beads"] == [bead] and st["exit_code"] == 0
        assert rig.git("show", f"{m['branch']}:n.txt") == str(beads.index(bead))


def test_every_path_refuses_names_with_path_tricks(rig: Repo) -> None:
    """spawn --resume, and the Hook functions under every command, check the name: a
    '../' can never reach another ref, a lock outside gt/locks, or a worktree elsewhere."""
    bead = shell_bead(rig, "fine", "true")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "cl1")
    finished(rig, "cl1")
    shutil.rmtree(state(rig, "cl1")["worktree"])
    gitdir = rig.path / ".git"
    before = rig.git("for-each-ref")
    files_before = sorted(str(p) for p in gitdir.rglob("*") if "objects" not in p.parts)
    for bad in ("../../heads/main", "../hooks/cl1", "../../../refs/gt/hooks/cl1",
                "../../../../refs/gt/hooks/cl1", "CL1", "cl1/x"):
        r = rig.gt("polecat", "spawn", "--resume", bad, check=False)
        assert r.code == 2 and "invalid polecat name" in r.err, (bad, r.err)
        for cmd in (("polecat", "status", bad), ("polecat", "logs", bad),
                    ("polecat", "stop", bad), ("polecat", "nuke", bad),
                    ("prime", "--hook", bad), ("handoff", "--hook", bad, "--note", "x")):
            r = rig.gt(*cmd, check=False)
            assert r.code == 2 and "invalid polecat name" in r.err, (cmd, r.err)
    assert rig.git("for-each-ref") == before
    assert sorted(str(p) for p in gitdir.rglob("*") if "objects" not in p.parts) == \
        files_before
    # The functions under the commands refuse too (a caller that forgot to check).
    code = ("import sys\nfrom git_gastown import hook as hk\nfrom git_gastown.git import Repo\n"
            "from git_gastown.errors import UsageError\nrepo = Repo.discover('.')\n"
            "for fn in (lambda: hk.load_hook(repo, '../hooks/cl1'),\n"
            "           lambda: hk.runtime_dir(repo, '../../x'),\n"
            "           lambda: hk.update_state(repo, '../hooks/cl1', status='nuked')):\n"
            "    try:\n        fn()\n    except UsageError:\n        continue\n"
            "    sys.exit('accepted')\n")
    rig.run(sys.executable, "-c", code)
    assert rig.git("for-each-ref") == before


def test_ports_are_unique_across_repositories_and_skip_ports_in_use(
        rig: Repo, tmp_path: Path) -> None:
    """GT_PORT is allocated machine-wide (a lock file under the user state dir), so two
    repositories' polecats never share one; a port something already listens on is
    skipped; nuke gives the port back."""
    import socket

    from conftest import make_repo

    other = make_repo(tmp_path / "other", rig.env, prefix="ot")
    other.git("config", "gt.polecat.done", "false")
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    try:
        for r in (rig, other):
            r.git("config", "gt.polecat.portBase", str(busy))
        a = shell_bead(rig, "a", "true")
        b = other.create("b", "--field", "run=true")
        port_a = rig.gt("polecat", "spawn", "--bead", a, "--name", "pa", "--json").json()[0]["port"]
        port_b = other.gt("polecat", "spawn", "--bead", b, "--name", "pb",
                          "--json").json()[0]["port"]
        assert busy not in (port_a, port_b)
        assert port_a != port_b
        finished(rig, "pa")
        wait_for(lambda: json.loads(other.git("show", "refs/gt/hooks/pb:state.json"))["status"]
                 == "exited", 10, "pb to finish")
        rig.gt("polecat", "nuke", "pa", "--force")
        c = other.create("c", "--field", "run=true")
        assert other.gt("polecat", "spawn", "--bead", c, "--name", "pc",
                        "--json").json()[0]["port"] == port_a
    finally:
        blocker.close()


def test_base_is_only_the_start_point(rig: Repo) -> None:
    """--base REF takes any commit-ish as the branch's start; the work still lands on the
    target (main): state, status and prime say so, and nuke --purge checks main."""
    rig.commit_file("f.txt", "one\n")
    first = rig.git("rev-parse", "HEAD")
    rig.git("tag", "v1")
    rig.commit_file("f.txt", "two\n")
    for ref in (first[:10], "v1", "HEAD~1"):
        name = "b" + str(abs(hash(ref)) % 1000)
        bead = shell_bead(rig, f"from {ref}", f"echo {ref} > from.txt")
        rig.gt("polecat", "spawn", "--bead", bead, "--base", ref, "--name", name)
        st = finished(rig, name)
        assert (st["base"], st["base_commit"]) == ("main", first), ref
        assert rig.git("rev-parse", f"gt/gt/{name}~1") == first
        out = rig.gt("polecat", "status", name).out
        assert f"from {first[:12]}, lands on main" in out
        assert "(work lands on main)" in rig.gt("prime", "--hook", name).out
    for bad in ("nope", "-x", "main..v1"):
        r = rig.gt("polecat", "spawn", "--bead", bead, "--base", bad, check=False)
        assert r.code == 2 and f"--base {bad!r} does not name a commit" in r.err
    # Landed on main: purge is allowed, as the target (not the start point) has it.
    rig.git("merge", "-q", "--no-edit", f"gt/gt/{name}")
    rig.gt("polecat", "nuke", "--purge", name)
    assert rig.git("for-each-ref", f"refs/gt/hooks/{name}") == ""


def test_resume_refuses_name_and_base(rig: Repo) -> None:
    bead = shell_bead(rig, "r", "true")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "rn")
    finished(rig, "rn")
    for extra in (("--name", "zzz"), ("--base", "nonexist")):
        r = rig.gt("polecat", "spawn", "--resume", "rn", *extra, check=False)
        assert r.code == 2 and f"--resume takes no {extra[0]}" in r.err
    assert ref_state(rig, "rn")["attempts"][bead] == 1


def test_a_bad_placeholder_is_refused_before_anything_is_created(rig: Repo) -> None:
    rig.commit_file(".gastown.toml", '[agents.stubborn]\ncommand = ["true", "{p}"]\n')
    bead = rig.create("x")
    before = rig.git("for-each-ref")
    r = rig.gt("polecat", "spawn", "--bead", bead, "--agent", "stubborn", check=False)
    assert r.code == 2 and "bad placeholder" in r.err and "was created" not in r.err
    assert rig.git("for-each-ref") == before
    assert rig.git("worktree", "list").count("\n") == 0


def test_nuked_names_and_nuke_without_a_worktree(rig: Repo) -> None:
    """A nuked polecat's name: the hint says how to free it, not to resume it. nuke
    --force without a worktree records the branch tip in the hook ref, and says how to
    get the work back."""
    bead = shell_bead(rig, "n", "echo n > n.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "nk")
    st = finished(rig, "nk")
    shutil.rmtree(st["worktree"])
    rig.git("worktree", "prune")
    extra = rig.path.parent / "extra"
    rig.git("worktree", "add", "-q", str(extra), "gt/gt/nk")
    (extra / "more.txt").write_text("more\n")
    rig.run("git", "add", "more.txt", cwd=extra)
    rig.run("git", "commit", "-qm", "more", cwd=extra)
    tip = rig.git("rev-parse", "gt/gt/nk")
    rig.git("worktree", "remove", str(extra))
    r = rig.gt("polecat", "nuke", "nk", check=False)
    assert r.code == 4 and "on no durable ref" in r.err
    out = rig.gt("polecat", "nuke", "nk", "--force").out
    rig.git("merge-base", "--is-ancestor", tip, "refs/gt/hooks/nk")
    assert f"recover: git worktree add DIR {tip[:12]}" in out
    other = shell_bead(rig, "again", "true")
    r = rig.gt("polecat", "spawn", "--bead", other, "--name", "nk", check=False)
    assert r.code == 2 and "was nuked" in r.err and "--resume" not in r.err
    assert "nuke --purge nk" in r.err


def test_list_aligns_long_agent_names_and_follow_misses_nothing(rig: Repo) -> None:
    rig.commit_file(".gastown.toml", '[agents.stubborn]\ncommand = ["echo", "hi"]\n')
    a = rig.create("a")
    b = shell_bead(rig, "b", "true")
    rig.gt("polecat", "spawn", "--bead", a, "--agent", "stubborn", "--name", "lo")
    rig.gt("polecat", "spawn", "--bead", b, "--name", "sh")
    finished(rig, "lo")
    finished(rig, "sh")
    lines = rig.gt("polecat", "list").out.splitlines()
    assert len({line.index(line.split()[3]) for line in lines}) == 1, lines
    follow = rig.gt("polecat", "logs", "sh", "-n", "1", "--follow").out.splitlines()
    assert len(follow) == 1
