"""git gt-refinery: batches land, culprits are isolated, flakes forgiven, refs stay right."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, Repo

BAD_GATE = ("if grep -rqs BAD --exclude-dir=.git --exclude=.gastown.toml .; "
            "then echo found BAD; exit 1; fi")


def setup_gates(repo: Repo, *gates: str, max_batch: int = 16, extra: str = "") -> None:
    body = "[refinery]\ngates = [" + ", ".join(json.dumps(g) for g in gates) + "]\n"
    body += f"maxBatch = {max_batch}\ntimeout = 20\n{extra}"
    repo.commit_file(".gastown.toml", body, "refinery gates")


def branch(repo: Repo, name: str, content: str, path: str | None = None,
           base: str = "main") -> str:
    """A branch off BASE with one commit writing CONTENT to its own file."""
    repo.git("checkout", "-q", "-b", name, base)
    sha = repo.commit_file(path or f"{name.replace('/', '_')}.txt", content, f"work on {name}")
    repo.git("checkout", "-q", "main")
    return sha


def enqueue(repo: Repo, name: str, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = repo.gt("refinery", "enqueue", name, "--no-run", "--json",
                                   *args).json()
    return data


def run(repo: Repo) -> dict[str, Any]:
    data: dict[str, Any] = repo.gt("refinery", "run", "--foreground", "--json").json()
    return data


def mrs(repo: Repo) -> dict[str, dict[str, Any]]:
    items = repo.gt("refinery", "list", "--all", "--json").json()
    return {m["branch"]: m for m in items}


def last_batch(repo: Repo) -> dict[str, Any]:
    data: dict[str, Any] = repo.gt("refinery", "log", "--json", "-n", "1").json()[0]
    return data


def on_main(repo: Repo, path: str) -> bool:
    return repo.run("git", "cat-file", "-e", f"main:{path}", check=False).code == 0


def test_clean_batch_lands_in_one_run_and_one_transaction(repo: Repo) -> None:
    setup_gates(repo, "test -f README.md")
    work = repo.create("feature work")
    for i in range(4):
        branch(repo, f"f{i}", "good\n")
    for i in range(4):
        args = ("--bead", work) if i == 0 else ()
        enqueue(repo, f"f{i}", *args)
    before = repo.git("rev-parse", "main")
    report = run(repo)
    assert report["landed"] == 4 and report["runs"] == 1
    for i in range(4):
        assert on_main(repo, f"f{i}.txt")
        # the branch is reachable from main, so it was deleted
        assert repo.run("git", "rev-parse", "--verify", f"refs/heads/f{i}", check=False).code
    # one transaction: main moved once, from the old tip straight to the candidate
    reflog = repo.git("reflog", "show", "--format=%H", "refs/heads/main").splitlines()
    assert reflog[1] == before
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""
    states = {m["state"] for m in mrs(repo).values()}
    assert states == {"landed"}
    bead = repo.show(work)
    assert bead["status"] == "closed" and "landed in" in bead["close_reason"]
    assert bead["fields"]["mr"] == mrs(repo)["f0"]["id"]
    b = last_batch(repo)
    assert b["verdict"] == "landed" and len(b["runs"]) == 1
    assert b["runs"][0]["gates"][0]["exit"] == 0
    # the main checkout (clean) followed the landing
    assert (repo.path / "f3.txt").read_text() == "good\n"
    assert repo.git("status", "--porcelain") == ""


def test_enqueue_is_idempotent_and_follows_the_branch(repo: Repo) -> None:
    setup_gates(repo, "true")
    branch(repo, "w", "one\n")
    first = enqueue(repo, "w")
    again = enqueue(repo, "w")
    assert again["enqueued"] == "unchanged" and again["mr"]["id"] == first["mr"]["id"]
    repo.git("checkout", "-q", "w")
    tip = repo.commit_file("w2.txt", "two\n")
    repo.git("checkout", "-q", "main")
    moved = enqueue(repo, "w")
    assert moved["enqueued"] == "updated" and moved["mr"]["id"] == first["mr"]["id"]
    assert repo.git("rev-parse", f"refs/gt/mq/{first['mr']['id']}") == tip
    assert len(repo.gt("refinery", "list", "--json").json()) == 1


def test_enqueue_errors(repo: Repo) -> None:
    setup_gates(repo, "true")
    r = repo.gt("refinery", "enqueue", "nope", check=False)
    assert r.code == 3 and "no branch nope" in r.err
    repo.git("branch", "same")
    r = repo.gt("refinery", "enqueue", "same", check=False)
    assert r.code == 4 and "no commits" in r.err
    r = repo.gt("refinery", "enqueue", "main", check=False)
    assert r.code == 2 and "target" in r.err
    r = repo.gt("refinery", "enqueue", check=False)  # the current branch: main
    assert r.code == 2 and "target" in r.err
    branch(repo, "x", "x\n")
    r = repo.gt("refinery", "enqueue", "x", "--priority", "9", check=False)
    assert r.code == 2
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""


def test_one_bad_among_eight_is_isolated(repo: Repo) -> None:
    setup_gates(repo, BAD_GATE)
    work = repo.create("the bad one's task")
    for i in range(8):
        branch(repo, f"m{i}", "BAD\n" if i == 5 else "good\n")
        enqueue(repo, f"m{i}", *(("--bead", work) if i == 5 else ()))
    report = run(repo)
    assert report["landed"] == 7 and report["rejected"] == 1
    assert report["runs"] <= 7  # 1 + 2 + 2 + 2 at most for N=8, k=1
    states = {b: m["state"] for b, m in mrs(repo).items()}
    assert states.pop("m5") == "rejected"
    assert set(states.values()) == {"landed"}
    assert not on_main(repo, "m5.txt") and on_main(repo, "m4.txt")
    assert repo.git("rev-parse", "--verify", "m5")  # a rejected branch is kept
    bead = repo.show(work)
    assert bead["status"] == "open"
    assert any("found BAD" in c["text"] for c in bead["comments"])
    mail = repo.bead("list", "--type", "message", "--json").json()
    assert any(m["title"].startswith("FIX_NEEDED: m5") for m in mail)
    b = last_batch(repo)
    assert [c["mr"] for c in b["bisection"]["culprits"]] == [mrs(repo)["m5"]["id"]]
    assert b["bisection"]["culprits"][0]["observations"] >= 2
    shown = repo.gt("refinery", "show", mrs(repo)["m5"]["id"], "--json").json()
    assert shown["mr"]["state"] == "rejected"
    assert shown["last_failure"]["gate"]["exit"] == 1
    assert "found BAD" in shown["last_failure"]["gate"]["log"]
    assert "found BAD" in repo.gt("refinery", "show", mrs(repo)["m5"]["id"]).out
    assert repo.gt("refinery", "show", "gt-nope", check=False).code == 3


def test_two_bad_are_isolated(repo: Repo) -> None:
    setup_gates(repo, BAD_GATE)
    bad = {1, 6}
    for i in range(8):
        branch(repo, f"m{i}", "BAD\n" if i in bad else "good\n")
        enqueue(repo, f"m{i}")
    report = run(repo)
    assert report["landed"] == 6 and report["rejected"] == 2
    states = mrs(repo)
    assert {b for b, m in states.items() if m["state"] == "rejected"} == {"m1", "m6"}


def test_conflict_is_taken_out_before_any_gate(repo: Repo, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    setup_gates(repo, f"echo x >> {counter}")
    repo.commit_file("shared.txt", "base\n")
    branch(repo, "a", "from a\n", path="shared.txt")
    branch(repo, "ok", "fine\n")
    enqueue(repo, "a")
    enqueue(repo, "ok")
    repo.commit_file("shared.txt", "main changed it\n")  # now a conflicts with main
    report = run(repo)
    assert report["conflicts"] == 1 and report["landed"] == 1
    assert counter.read_text().count("x") == 1  # one run, with the clean MR only
    m = mrs(repo)["a"]
    assert m["state"] == "conflict" and "shared.txt" in m["reason"]
    bugs = repo.bead("list", "--label", "conflict", "--json").json()
    assert len(bugs) == 1 and bugs[0]["assignee"] == "tester"
    assert bugs[0]["fields"]["paths"] == ["shared.txt"]
    # fix on the branch and retry: it lands
    repo.git("checkout", "-q", "a")
    repo.run("git", "merge", "-q", "main", check=False)
    (repo.path / "shared.txt").write_text("resolved\n")
    repo.git("commit", "-qam", "resolve")
    repo.git("checkout", "-q", "main")
    repo.gt("refinery", "retry", m["id"], "--no-run")
    run(repo)
    assert mrs(repo)["a"]["state"] == "landed"
    assert repo.show(bugs[0]["id"])["status"] == "closed"  # the conflict bead is resolved
    mail = [b for b in repo.bead("list", "--type", "message", "--all", "--json").json()
             if "conflicts with main" in b["title"]]
    assert len(mail) == 1 and mail[0]["status"] == "closed"  # and its FIX_NEEDED mail
    batches = repo.gt("refinery", "log", "--mr", m["id"], "--json").json()
    assert len(batches) == 2 and all(m["id"] in [x["id"] for x in b["members"]]
                                     for b in batches)


def test_a_batch_of_only_conflicts_has_the_verdict_conflict(repo: Repo) -> None:
    setup_gates(repo, "true")
    repo.commit_file("shared.txt", "base\n")
    branch(repo, "a", "from a\n", path="shared.txt")
    enqueue(repo, "a")
    repo.commit_file("shared.txt", "main changed it\n")
    run(repo)
    b = last_batch(repo)
    assert b["verdict"] == "conflict" and b["summary"].startswith("conflict: 0 landed")


def test_mates_that_conflict_with_each_other_wait_for_the_next_batch(repo: Repo) -> None:
    setup_gates(repo, "true")
    branch(repo, "p", "p side\n", path="both.txt")
    branch(repo, "q", "q side\n", path="both.txt")
    enqueue(repo, "p")
    enqueue(repo, "q")
    run(repo)
    states = mrs(repo)
    assert states["p"]["state"] == "landed"
    assert states["q"]["state"] == "conflict"  # after p landed, q conflicts with main


def flaky_gate(tmp_path: Path, fail_on: set[int]) -> str:
    """A gate that fails on the given invocation numbers (a seeded counter file)."""
    counter = tmp_path / "flaky-count"
    counter.write_text("0")
    script = tmp_path / "flaky.sh"
    cases = " ".join(str(n) for n in sorted(fail_on))
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(( $(cat {counter}) + 1 )); echo $n > {counter}\n"
        f"for f in {cases}; do [ \"$n\" = \"$f\" ] && {{ echo flake $n; exit 1; }}; done\n"
        "exit 0\n")
    script.chmod(0o755)
    return str(script)


def test_flaky_gate_does_not_eject_good_work(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, flaky_gate(tmp_path, {1}))
    for i in range(4):
        branch(repo, f"g{i}", "good\n")
        enqueue(repo, f"g{i}")
    report = run(repo)
    assert report["landed"] == 4 and report["rejected"] == 0
    b = last_batch(repo)
    flakes = [e for e in b["events"] if e["kind"] == "flake"]
    assert len(flakes) == 1 and flakes[0]["signature"]["exit"] == 1
    assert flakes[0]["signature"]["base"] == b["runs"][0]["base"]


def test_flaky_single_is_retried_once_not_rejected(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, flaky_gate(tmp_path, {1}))
    branch(repo, "solo", "good\n")
    enqueue(repo, "solo")
    report = run(repo)
    assert report["landed"] == 1 and report["runs"] == 2
    assert last_batch(repo)["bisection"]["reruns"] == 1


def test_a_single_failing_twice_is_rejected(repo: Repo) -> None:
    setup_gates(repo, BAD_GATE)
    branch(repo, "solo", "BAD\n")
    enqueue(repo, "solo")
    report = run(repo)
    assert report["rejected"] == 1 and report["runs"] == 2
    culprit = last_batch(repo)["bisection"]["culprits"][0]
    assert culprit["how"] == "repeated" and culprit["observations"] == 2


def test_the_rejected_commit_resubmitted_unchanged_runs_no_gate(repo: Repo) -> None:
    setup_gates(repo, BAD_GATE)
    branch(repo, "solo", "BAD\n")
    mr = enqueue(repo, "solo")["mr"]
    run(repo)
    r = repo.gt("refinery", "enqueue", "solo", "--no-run", check=False)
    assert r.code == 4 and "already rejected" in r.err
    assert f"git gt-refinery retry {mr['id']}" in r.err
    assert mrs(repo)["solo"]["state"] == "rejected"
    assert run(repo)["runs"] == 0
    # a new commit on the branch is queued again, on the same MR
    repo.git("checkout", "-q", "solo")
    repo.commit_file("solo.txt", "fixed\n")
    repo.git("checkout", "-q", "main")
    assert enqueue(repo, "solo")["enqueued"] == "updated"
    assert run(repo)["landed"] == 1


def test_gates_come_from_the_target_not_the_candidate(repo: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "evil-ran"
    setup_gates(repo, BAD_GATE)
    repo.git("checkout", "-q", "-b", "sneaky")
    (repo.path / ".gastown.toml").write_text(
        f'[refinery]\ngates = ["touch {marker}"]\n')
    repo.commit_file("sneaky.txt", "BAD\n", "weaken the gates")
    repo.git("checkout", "-q", "main")
    enqueue(repo, "sneaky")
    report = run(repo)
    assert report["rejected"] == 1
    assert not marker.exists()
    b = last_batch(repo)
    assert b["gates"] == [BAD_GATE] and b["gates_from"] == "main:.gastown.toml"


def test_hotfix_runs_alone_at_the_head(repo: Repo) -> None:
    setup_gates(repo, "true")
    branch(repo, "slow", "s\n")
    branch(repo, "urgent", "u\n")
    enqueue(repo, "slow")
    enqueue(repo, "urgent", "--hotfix")
    listed = repo.gt("refinery", "list", "--json").json()
    assert [m["branch"] for m in listed] == ["urgent", "slow"]
    run(repo)
    batches = repo.gt("refinery", "log", "--json").json()
    assert [[m["branch"] for m in b["members"]] for b in reversed(batches)] == \
        [["urgent"], ["slow"]]


def test_target_moved_during_the_gate_is_rebuilt_without_bisecting(repo: Repo,
                                                                   tmp_path: Path) -> None:
    once = tmp_path / "moved"
    # The first gate run commits to main behind the Refinery's back.
    mover = (f"if [ ! -e {once} ]; then touch {once}; "
             f"git -C {repo.path} commit -q --allow-empty -m 'someone else'; fi")
    setup_gates(repo, mover)
    branch(repo, "w", "w\n")
    enqueue(repo, "w")
    report = run(repo)
    assert report["landed"] == 1 and report["runs"] == 2
    b = last_batch(repo)
    assert any(e["kind"] == "target-moved" for e in b["events"])
    assert b["bisection"]["culprits"] == []
    log = repo.git("log", "--format=%s", "main")
    assert "someone else" in log and on_main(repo, "w.txt")


def test_dirty_main_worktree_keeps_an_unrelated_edit_and_follows_the_landing(
        repo: Repo) -> None:
    """Like git merge --ff-only: the user's edit to another file is carried forward."""
    setup_gates(repo, "true")
    branch(repo, "feat1", "one\n")
    enqueue(repo, "feat1")
    (repo.path / "README.md").write_text("my local edit\n")
    assert run(repo)["landed"] == 1
    assert (repo.path / "README.md").read_text() == "my local edit\n"
    assert (repo.path / "feat1.txt").read_text() == "one\n"
    assert repo.git("status", "--porcelain") == "M README.md"
    assert not (repo.path / ".git" / "gt" / "refinery" / "checkouts-moving.json").exists()
    # an ordinary commit -a keeps the landed work (the index followed the branch)
    repo.git("commit", "-qam", "readme edit")
    assert on_main(repo, "feat1.txt")
    assert repo.gt("refinery", "status", "--json").json()["worktrees_waiting"] == []
    branch(repo, "feat2", "two\n")
    enqueue(repo, "feat2")
    assert run(repo)["landed"] == 1
    assert repo.git("status", "--porcelain") == ""
    assert (repo.path / "feat2.txt").read_text() == "two\n"


def test_dirty_main_worktree_holds_a_landing_that_would_overwrite_it(repo: Repo) -> None:
    setup_gates(repo, "true")
    branch(repo, "w", "new\n", path="README.md")
    branch(repo, "other", "o\n")
    enqueue(repo, "w")
    enqueue(repo, "other")
    old_main = repo.git("rev-parse", "main")
    (repo.path / "README.md").write_text("my local edit\n")
    report = run(repo)
    assert report["landed"] == 1 and report["runs"] == 1  # other lands; w is held, untested
    assert [m for m, v in mrs(repo).items() if v["state"] == "landed"] == ["other"]
    assert repo.git("rev-parse", "main~1") == old_main  # main moved by other alone
    w = mrs(repo)["w"]
    assert w["state"] == "queued" and "README.md" in w["reason"] and "held" in w["reason"]
    assert report["held"] == [w["id"]] and "held" in report["stopped"]
    assert (repo.path / "README.md").read_text() == "my local edit\n"
    assert (repo.path / "other.txt").exists()
    assert repo.git("status", "--porcelain") == "M README.md"
    status = repo.gt("refinery", "status", "--json").json()
    waiting = status["worktrees_waiting"]
    assert len(waiting) == 1 and waiting[0]["paths"] == ["README.md"]
    assert waiting[0]["mrs"] == [w["id"]] and "commit or stash" in waiting[0]["reason"]
    text = repo.gt("refinery", "status").out
    assert "README.md" in text and "holds" in text
    # a second run holds it again without running a gate
    assert run(repo)["runs"] == 0 and mrs(repo)["w"]["state"] == "queued"
    # the user stashes: the next run lands it and forgets the hold
    repo.git("stash", "-q")
    assert run(repo)["landed"] == 1
    assert (repo.path / "README.md").read_text() == "new\n"
    assert repo.git("status", "--porcelain") == ""
    assert repo.gt("refinery", "status", "--json").json()["worktrees_waiting"] == []


def test_a_commit_in_the_holding_checkout_lands_the_held_work(repo: Repo) -> None:
    setup_gates(repo, "true")
    branch(repo, "w", "new\n", path="README.md")
    enqueue(repo, "w")
    (repo.path / "README.md").write_text("my local edit\n")
    run(repo)
    assert mrs(repo)["w"]["state"] == "queued"
    repo.git("commit", "-qam", "my edit")  # post-commit starts a run; w now conflicts
    deadline = time.time() + 20
    while time.time() < deadline and mrs(repo)["w"]["state"] == "queued":
        time.sleep(0.2)
    assert mrs(repo)["w"]["state"] == "conflict"
    assert repo.git("show", "main:README.md") == "my local edit"
    assert repo.git("status", "--porcelain") == ""
    assert repo.gt("refinery", "status", "--json").json()["worktrees_waiting"] == []


def test_kill_9_mid_run_then_a_new_run_finishes(repo: Repo, tmp_path: Path) -> None:
    started = tmp_path / "started"
    gate = f"touch {started}; if [ ! -e {tmp_path}/go ]; then sleep 30; fi"
    setup_gates(repo, gate)
    for i in range(3):
        branch(repo, f"k{i}", "k\n")
        enqueue(repo, f"k{i}")
    proc = subprocess.Popen([str(BIN / "git-gt-refinery"), "run", "--foreground"],
                            cwd=repo.path, env=repo.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 20
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert started.exists()
    states = {m["state"] for m in mrs(repo).values()}
    assert states == {"testing"}
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (tmp_path / "go").touch()
    repo.run("git", "fsck", "--no-progress")
    report = run(repo)
    assert report["landed"] == 3
    assert {m["state"] for m in mrs(repo).values()} == {"landed"}


def test_a_run_killed_between_moving_the_checkout_and_the_ref_is_put_back(
        repo: Repo) -> None:
    """The window kill -9 could hit: the checkout carried forward, the ref not moved yet."""
    setup_gates(repo, "true")
    branch(repo, "w", "w\n")
    old, new = repo.git("rev-parse", "main"), repo.git("rev-parse", "w")
    repo.git("read-tree", "-m", "-u", old, new)  # what advance_checkouts did, then the kill
    journal = {"target": "main", "from": old, "to": new, "paths": [str(repo.path)]}
    (repo.path / ".git" / "gt" / "refinery").mkdir(parents=True, exist_ok=True)
    (repo.path / ".git" / "gt" / "refinery" / "checkouts-moving.json").write_text(
        json.dumps(journal))
    assert repo.git("status", "--porcelain") == "A  w.txt"
    run(repo)
    assert repo.git("status", "--porcelain") == ""
    assert not (repo.path / "w.txt").exists()
    assert not (repo.path / ".git" / "gt" / "refinery" / "checkouts-moving.json").exists()


def test_a_second_run_exits_at_once(repo: Repo, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    setup_gates(repo, f"touch {started}; while [ ! -f {release} ]; do sleep 0.05; done")
    branch(repo, "w", "w\n")
    enqueue(repo, "w")
    proc = subprocess.Popen([str(BIN / "git-gt-refinery"), "run", "--foreground"],
                            cwd=repo.path, env=repo.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while not started.exists() and time.time() < deadline:
            time.sleep(0.05)
        second = repo.gt("refinery", "run", "--foreground")
        # it answered while the first run still holds its gate: it did not wait
        assert "already running" in second.out and proc.poll() is None
        st = repo.gt("refinery", "status", "--json").json()
        assert st["running"] is True and st["current"]["members"] == [mrs(repo)["w"]["id"]]
        assert "now: batch" in repo.gt("refinery", "status").out
    finally:
        release.touch()
        proc.wait(timeout=60)
    assert mrs(repo)["w"]["state"] == "landed"


def test_enqueue_race(repo: Repo) -> None:
    setup_gates(repo, "true")
    names = [f"r{i}" for i in range(12)]
    for n in names:
        branch(repo, n, "r\n")
    procs = []
    for n in names + names[:4]:  # the first four twice: idempotent under a race too
        procs.append(subprocess.Popen(
            [str(BIN / "git-gt-refinery"), "enqueue", n, "--no-run"], cwd=repo.path,
            env=repo.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        assert p.wait(timeout=60) == 0, p.stderr.read() if p.stderr else ""
    listed = repo.gt("refinery", "list", "--json").json()
    assert sorted(m["branch"] for m in listed) == sorted(names)
    assert len(repo.git("for-each-ref", "refs/gt/mq/").splitlines()) == 12
    report = run(repo)
    assert report["landed"] == 12


def test_enqueue_kicks_a_background_run_and_nothing_is_stranded(repo: Repo) -> None:
    setup_gates(repo, "true")
    for i in range(3):
        branch(repo, f"b{i}", "b\n")
    for i in range(3):
        repo.gt("refinery", "enqueue", f"b{i}")
    deadline = time.time() + 30
    while time.time() < deadline:
        if {m["state"] for m in mrs(repo).values()} == {"landed"} and \
                not repo.gt("refinery", "status", "--json").json()["running"]:
            break
        time.sleep(0.2)
    assert {m["state"] for m in mrs(repo).values()} == {"landed"}
    assert (repo.path.parent / "rig" / ".git" / "gt" / "logs" / "refinery.log").exists()


def test_pause_resume_reject_retry(repo: Repo) -> None:
    setup_gates(repo, "true")
    branch(repo, "w", "w\n")
    mr = enqueue(repo, "w")["mr"]["id"]
    repo.gt("refinery", "pause", "--reason", "release freeze")
    assert "paused" in run(repo)["stopped"]
    assert repo.gt("refinery", "status", "--json").json()["paused"] == "release freeze"
    repo.gt("refinery", "reject", mr)
    assert mrs(repo)["w"]["state"] == "rejected"
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""
    assert repo.gt("refinery", "reject", mr, check=False).code == 4
    repo.gt("refinery", "retry", mr, "--no-run")
    repo.gt("refinery", "resume", "--no-run")
    run(repo)
    assert mrs(repo)["w"]["state"] == "landed"
    r = repo.gt("refinery", "retry", "gt-zzzzz", check=False)
    assert r.code == 3


def test_batch_size_adapts(repo: Repo) -> None:
    setup_gates(repo, BAD_GATE, max_batch=4)
    branch(repo, "bad", "BAD\n")
    enqueue(repo, "bad")
    run(repo)
    st = repo.gt("refinery", "status", "--json").json()
    assert st["batch_size"] == 2  # halved from 4
    branch(repo, "good", "g\n")
    enqueue(repo, "good")
    run(repo)
    assert repo.gt("refinery", "status", "--json").json()["batch_size"] == 3  # +1


def test_gate_timeout_kills_the_process_group(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, "sleep 90 & sleep 90")
    repo.git("config", "gt.refinery.timeout", "1")
    branch(repo, "w", "w\n")
    enqueue(repo, "w")
    t0 = time.time()
    report = run(repo)
    assert report["rejected"] == 1 and time.time() - t0 < 60  # unkilled, it takes 90 s
    g = last_batch(repo)["runs"][0]["gates"][0]
    assert g["timed_out"] is True


def test_radar_finds_overlaps_before_landing(repo: Repo) -> None:
    setup_gates(repo, "true")
    repo.commit_file("app.py", "line\n")
    branch(repo, "gt/gt/alpha", "alpha\n", path="app.py")
    branch(repo, "gt/gt/beta", "beta\n", path="app.py")
    branch(repo, "gt/gt/gamma", "gamma\n")
    out = repo.gt("refinery", "radar", "--json").json()
    pairs = [(o["a"]["branch"], o["b"]["branch"]) for o in out["overlaps"]]
    assert pairs == [("gt/gt/alpha", "gt/gt/beta")]
    assert out["overlaps"][0]["paths"] == ["app.py"]
    mailed = repo.gt("refinery", "radar", "--notify", "--json").json()["mailed"]
    assert len(mailed) == 2
    assert repo.gt("refinery", "radar", "--notify", "--json").json()["mailed"] == []
    repo.commit_file("app.py", "main moved\n")
    out = repo.gt("refinery", "radar", "--json").json()
    assert sum(1 for o in out["overlaps"] if o["with_target"]) == 2


def test_hand_merge_is_recorded_as_landed(repo: Repo) -> None:
    setup_gates(repo, "true")
    work = repo.create("by hand")
    branch(repo, "hand", "h\n")
    mr = enqueue(repo, "hand", "--bead", work)["mr"]["id"]
    repo.git("merge", "-q", "--no-ff", "-m", "merge by hand", "hand")
    m = mrs(repo)["hand"]
    assert m["state"] == "landed" and m["id"] == mr
    assert repo.show(work)["status"] == "closed"


def test_hand_merge_that_needed_resolving_is_recorded_as_landed(repo: Repo) -> None:
    """git runs post-commit, not post-merge, for the commit that concludes a conflicted
    merge: that commit must land the branch in the books too."""
    setup_gates(repo, "true")
    repo.commit_file("f.txt", "base\n")
    work = repo.create("by hand, with a conflict")
    branch(repo, "handc", "theirs\n", path="f.txt")
    mr = enqueue(repo, "handc", "--bead", work)["mr"]["id"]
    repo.commit_file("f.txt", "ours\n")
    assert repo.run("git", "merge", "-q", "handc", check=False).code != 0
    assert mrs(repo)["handc"]["state"] == "queued"
    (repo.path / "f.txt").write_text("both\n")
    repo.git("add", "f.txt")
    repo.git("commit", "-q", "--no-edit")
    m = mrs(repo)["handc"]
    assert m["state"] == "landed" and m["id"] == mr
    assert repo.show(work)["status"] == "closed"
    # an ordinary commit afterwards changes nothing
    repo.commit_file("later.txt", "x\n")
    assert mrs(repo)["handc"]["landed_commit"] == m["landed_commit"]


def test_push_mode_without_a_remote_says_so_and_requeues(repo: Repo) -> None:
    setup_gates(repo, "true")
    repo.git("config", "gt.refinery.push", "true")
    branch(repo, "pm", "pm\n")
    enqueue(repo, "pm")
    r = repo.gt("refinery", "run", "--foreground", check=False)
    assert r.code != 0
    assert "cannot fetch main from remote 'origin'" in r.err
    assert "git remote -v" in r.err and "gt.refinery.push false" in r.err
    m = mrs(repo)["pm"]
    assert m["state"] == "queued" and "origin" in m["reason"]  # not left "testing"
    b = last_batch(repo)
    assert b["verdict"] == "aborted" and "origin" in b["error"]
    status = repo.gt("refinery", "status").out
    assert "1 queued" in status and "0 testing" in status and "cannot fetch" in status
    repo.git("config", "gt.refinery.push", "false")
    assert run(repo)["landed"] == 1


def test_a_pull_into_the_target_reverifies_the_queue_on_the_new_tip(repo: Repo) -> None:
    setup_gates(repo, "test -f up.txt")  # only the new tip passes the gate
    branch(repo, "q1", "q1\n")
    enqueue(repo, "q1")
    branch(repo, "up", "pulled\n")
    up = repo.git("rev-parse", "up")
    repo.git("merge", "-q", "--ff-only", "up")  # what a pull does; post-merge kicks a run
    deadline = time.time() + 20
    while time.time() < deadline and mrs(repo)["q1"]["state"] != "landed":
        time.sleep(0.2)
    assert mrs(repo)["q1"]["state"] == "landed"
    b = last_batch(repo)
    assert b["runs"][0]["base"] == up and b["verdict"] == "landed"
    assert on_main(repo, "up.txt") and on_main(repo, "q1.txt")
    assert repo.git("status", "--porcelain") == ""


def test_push_mode_pushes_and_rebuilds_on_non_fast_forward(repo: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    repo.run("git", "init", "-q", "--bare", str(remote))
    setup_gates(repo, "true")
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    repo.git("config", "gt.refinery.push", "true")
    other = tmp_path / "other"
    repo.run("git", "clone", "-q", str(remote), str(other))
    (other / "theirs.txt").write_text("t\n")
    repo.run("git", "add", "theirs.txt", cwd=other)
    repo.run("git", "commit", "-qm", "their work", cwd=other)
    repo.run("git", "push", "-q", "origin", "main", cwd=other)
    branch(repo, "w", "w\n")
    enqueue(repo, "w")
    report = run(repo)
    assert report["landed"] == 1
    remote_tip = repo.git("--git-dir", str(remote), "rev-parse", "main")
    assert remote_tip == repo.git("rev-parse", "main")
    files = repo.git("--git-dir", str(remote), "ls-tree", "--name-only", "main").split()
    assert "theirs.txt" in files and "w.txt" in files


def test_help_and_dispatch(repo: Repo) -> None:
    assert "merge queue" in repo.gt("refinery", "--help").out
    assert "Gt-Done" in repo.run("git-gt-done", "--help").out
    assert "queue is empty" in repo.run("git-gt", "refinery", "list").out


@pytest.mark.parametrize("cmd", [["list"], ["status"], ["log"], ["radar"]])
def test_reads_outside_a_rig_say_run_init(plain_repo: Repo, cmd: list[str]) -> None:
    r = plain_repo.gt("refinery", *cmd, check=False)
    assert r.code == 1 and "git gt-init" in r.err


def test_books_are_finished_after_a_kill_between_landing_and_bookkeeping(repo: Repo) -> None:
    setup_gates(repo, "true")
    work = repo.create("landed, then the refinery died")
    tip = branch(repo, "w", "w\n")
    mr = enqueue(repo, "w", "--bead", work)["mr"]["id"]
    # what the landing transaction does, without the books that follow it
    repo.run("git", "update-ref", "--stdin", input=(
        f"start\nupdate refs/heads/main {tip}\ndelete refs/gt/mq/{mr}\nprepare\ncommit\n"))
    repo.git("reset", "-q", "--hard")
    assert mrs(repo)["w"]["state"] == "queued"
    run(repo)
    assert mrs(repo)["w"]["state"] == "landed"
    assert repo.show(work)["status"] == "closed"


def test_gates_see_their_environment(repo: Repo, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    setup_gates(repo, f"env | grep -E '^GT_|^GIT_DIR' | sort > {out}")
    branch(repo, "w", "w\n")
    mr = enqueue(repo, "w")["mr"]["id"]
    run(repo)
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert seen["GT_REFINERY"] == "1" and seen["GT_MRS"] == mr and seen["GT_DEPTH"] == "0"
    assert seen["GT_BRANCHES"] == "w" and "GIT_DIR" not in seen
    assert seen["GT_CANDIDATE"] == repo.git("rev-parse", "main")


def test_push_rejected_mid_run_fetches_rebuilds_and_verifies_again(repo: Repo,
                                                                   tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    other = tmp_path / "other"
    once = tmp_path / "pushed"
    repo.run("git", "init", "-q", "--bare", str(remote))
    # The first gate run pushes someone else's commit to the remote.
    racer = (f"if [ ! -e {once} ]; then touch {once}; cd {other} && "
             "echo t > theirs.txt && git add theirs.txt && git commit -qm theirs && "
             "git push -q origin main; fi")
    setup_gates(repo, racer)
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    repo.run("git", "clone", "-q", str(remote), str(other))
    repo.git("config", "gt.refinery.push", "true")
    branch(repo, "w", "w\n")
    enqueue(repo, "w")
    report = run(repo)
    assert report["landed"] == 1 and report["runs"] == 2
    kinds = [e["kind"] for e in last_batch(repo)["events"]]
    assert "push-rejected" in kinds and "fetched" in kinds
    files = repo.git("--git-dir", str(remote), "ls-tree", "--name-only", "main").split()
    assert {"theirs.txt", "w.txt"} <= set(files)


def test_mrs_for_another_target_land_there_with_that_targets_gates(repo: Repo,
                                                                    tmp_path: Path) -> None:
    setup_gates(repo, "true")
    repo.git("checkout", "-q", "-b", "release")
    repo.commit_file(".gastown.toml", '[refinery]\ngates = ["test -f release-only"]\n')
    repo.commit_file("release-only", "x\n")
    repo.git("checkout", "-q", "main")
    branch(repo, "fix", "f\n", base="release")
    branch(repo, "feat", "g\n")
    repo.gt("refinery", "enqueue", "fix", "--target", "release", "--no-run")
    enqueue(repo, "feat")
    report = run(repo)
    assert report["landed"] == 2
    assert repo.run("git", "cat-file", "-e", "release:fix.txt", check=False).code == 0
    assert not on_main(repo, "fix.txt") and on_main(repo, "feat.txt")


def test_json_outputs_match_docs_json(repo: Repo) -> None:
    from test_json_doc import tables_after

    setup_gates(repo, "true")
    branch(repo, "w", "w\n")
    enq = enqueue(repo, "w")
    mr_fields = tables_after("Merge request object")[0]
    assert set(enq["mr"]) == mr_fields
    run(repo)
    assert set(repo.gt("refinery", "list", "--all", "--json").json()[0]) == mr_fields
    assert set(repo.gt("refinery", "status", "--json").json()) == \
        tables_after("`status --json`")[0]
    assert set(last_batch(repo)) == tables_after("`log --json`: batch records")[0]


def test_autostart_off_queues_without_running(repo: Repo) -> None:
    setup_gates(repo, "true")
    repo.git("config", "gt.refinery.autostart", "false")
    branch(repo, "w", "w\n")
    out = repo.gt("refinery", "enqueue", "w", "--json").json()
    assert out["refinery_pid"] is None
    time.sleep(0.5)
    assert mrs(repo)["w"]["state"] == "queued"
    st = repo.gt("refinery", "status", "--json").json()
    assert st["autostart"] is False and st["running"] is False
    # the Deacon says why nothing runs, rather than "running"
    assert repo.gt("deacon", "patrol", "--json").json()[0]["refinery"] == "autostart off"
    repo.gt("refinery", "pause", "--reason", "release freeze")
    assert repo.gt("deacon", "patrol", "--json").json()[0]["refinery"] == \
        "paused (release freeze)"
    repo.gt("refinery", "resume", "--no-run")
    assert mrs(repo)["w"]["state"] == "queued"
    started = repo.gt("refinery", "run", "--json").json()  # an explicit run still starts
    assert started["started"] is True
    deadline = time.time() + 30
    while time.time() < deadline and mrs(repo)["w"]["state"] != "landed":
        time.sleep(0.2)
    assert mrs(repo)["w"]["state"] == "landed"


def test_sigterm_stops_a_run_cleanly(repo: Repo, tmp_path: Path) -> None:
    started = tmp_path / "started"
    child = tmp_path / "child.pid"
    setup_gates(repo, f"touch {started}; sleep 30 & echo $! > {child}; wait")
    branch(repo, "w", "w\n")
    enqueue(repo, "w")
    proc = subprocess.Popen([str(BIN / "git-gt-refinery"), "run", "--foreground"],
                            cwd=repo.path, env=repo.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not (started.exists() and child.exists()) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 143
    pid = int(child.read_text())
    deadline = time.time() + 5
    while Path(f"/proc/{pid}").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or \
        Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # the gate's child is gone
    assert last_batch(repo)["verdict"] == "aborted"
    assert repo.gt("refinery", "status", "--json").json()["running"] is False


def test_radar_runs_from_the_rigs_hooks_and_mails_both_owners(repo: Repo) -> None:
    setup_gates(repo, "true")
    repo.commit_file("app.py", "line\n")
    branch(repo, "gt/gt/alpha", "alpha\n", path="app.py")
    branch(repo, "gt/gt/beta", "beta\n", path="app.py")
    (repo.path / ".git" / "gt" / "hooks-due").write_text("watched\n")  # as the Witness does
    repo.commit_file("other.txt", "x\n")  # any commit in the rig
    deadline = time.time() + 20
    mail: list[dict[str, Any]] = []
    while time.time() < deadline and len(mail) < 2:
        time.sleep(0.2)
        mail = [b for b in repo.bead("list", "--type", "message", "--json").json()
                if b["title"].startswith("Conflict ahead")]
    assert sorted(m["assignee"] for m in mail) == ["alpha", "beta"]


def test_the_queue_stays_with_its_clone_through_sync(repo: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    repo.run("git", "init", "-q", "--bare", str(remote))
    setup_gates(repo, "true")
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    branch(repo, "w", "w\n")
    repo.git("push", "-q", "origin", "w")
    mr = enqueue(repo, "w")["mr"]
    assert mr["clone"]
    repo.gt("sync")
    other = Repo(tmp_path / "other", repo.env)
    repo.run("git", "clone", "-q", str(remote), str(other.path))
    other.gt("init")
    other.gt("sync")
    listed = other.gt("refinery", "list", "--json").json()
    assert [m["id"] for m in listed] == [mr["id"]]  # the bead syncs: visible here
    assert other.git("for-each-ref", "refs/gt/mq/", "refs/gt/mq-ledger") == ""
    other.run("git", "fetch", "-q", "origin", "w:w")
    assert run(other)["landed"] == 0  # ... but only its own clone lands it
    assert other.git("for-each-ref", "refs/gt/mq/") == ""
    assert run(repo)["landed"] == 1
    repo.gt("sync")
    other.gt("sync")
    assert other.git("for-each-ref", "refs/gt/mq/", "refs/gt/mq-ledger") == ""
    states = other.gt("refinery", "list", "--all", "--json").json()
    assert [m["state"] for m in states] == ["landed"]


def test_an_untracked_file_holding_a_landing_is_named_as_untracked(repo: Repo) -> None:
    """git stash alone leaves an untracked file where it is: the reason says what works."""
    setup_gates(repo, "true")
    branch(repo, "w", "from the branch\n", path="new.txt")
    enqueue(repo, "w")
    (repo.path / "new.txt").write_text("mine, never added\n")
    (repo.path / "README.md").write_text("an unrelated edit\n")
    run(repo)
    w = mrs(repo)["w"]
    assert w["state"] == "queued"
    assert "untracked new.txt" in w["reason"] and "git stash -u" in w["reason"]
    assert "uncommitted changes" not in w["reason"]
    (repo.path / "new.txt").rename(repo.path / "mine.txt")  # moved out of the way
    assert run(repo)["landed"] == 1
    assert (repo.path / "new.txt").read_text() == "from the branch\n"
