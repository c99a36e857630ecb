"""git gt-done and the Gt-Done trailer: finishing a Hook's work hands it to the Refinery.

The Hook here is made the way W3 makes one: a linked worktree on gt/<prefix>/<name>, the
gt-hook marker in its git dir, and state.json in refs/gt/hooks/<name>.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from conftest import Repo, wait_for
from test_refinery import BAD_GATE, mrs, on_main, run, setup_gates


def make_hook(repo: Repo, name: str, beads: list[str], tmp_path: Path) -> Path:
    path = tmp_path / "hooks" / name
    branch = f"gt/gt/{name}"
    base = repo.git("rev-parse", "main")
    repo.git("worktree", "add", "-q", "-b", branch, str(path), "main")
    gitdir = Path(repo.run("git", "rev-parse", "--absolute-git-dir", cwd=path).out.strip())
    (gitdir / "gt-hook").write_text(name + "\n")
    state = {"name": name, "branch": branch, "base": "main", "base_commit": base,
             "beads": beads, "status": "running", "format": 1}
    blob = repo.run("git", "hash-object", "-w", "--stdin", input=json.dumps(state)).out.strip()
    tree = repo.run("git", "mktree", input=f"100644 blob {blob}\tstate.json\n").out.strip()
    commit = repo.git("commit-tree", tree, "-m", f"spawn {name}")
    repo.git("update-ref", f"refs/gt/hooks/{name}", commit)
    return path


def in_hook(repo: Repo, path: Path, *args: str, check: bool = True) -> Any:
    return repo.run(*args, cwd=path, check=check)


def done(repo: Repo, path: Path, *args: str, check: bool = True) -> Any:
    return repo.run("git-gt-done", *args, cwd=path, check=check)


def test_done_refuses_a_branch_without_new_commits(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, "true")
    path = make_hook(repo, "idle", [], tmp_path)
    r = done(repo, path, check=False)
    assert r.code == 4 and "no new commits" in r.err
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""


def test_done_commits_leftovers_but_never_an_unstaged_deletion(repo: Repo,
                                                               tmp_path: Path) -> None:
    setup_gates(repo, "true")
    work = repo.create("write the feature")
    path = make_hook(repo, "alpha", [work], tmp_path)
    (path / "feature.txt").write_text("new file\n")
    (path / "README.md").unlink()  # deleted, not staged: must not be committed
    r = done(repo, path, "--no-run", "--json", "--note", "all yours")
    data = r.json()
    from test_json_doc import tables_after

    assert set(data) == tables_after("`git gt-done --json`")[0]
    assert data["committed"] and data["enqueued"] == "queued"
    assert data["mr"]["hook"] == "alpha" and data["mr"]["beads"] == [work]
    tree = in_hook(repo, path, "git", "ls-tree", "--name-only", "HEAD").out.split()
    assert "feature.txt" in tree and "README.md" in tree
    assert not (path / "README.md").exists()
    bead = repo.show(work)
    assert bead["fields"]["mr"] == data["mr"]["id"]
    assert any("all yours" in c["text"] for c in bead["comments"])
    again = done(repo, path, "--no-run", "--json").json()
    assert again["enqueued"] == "unchanged" and again["mr"]["id"] == data["mr"]["id"]


def test_done_lands_in_the_background_and_closes_the_beads(repo: Repo, tmp_path: Path) -> None:
    release = tmp_path / "release"
    # The gate holds until the test releases it, so `done` returning at all shows it did
    # not wait for the landing.
    setup_gates(repo, f"while [ ! -f {release} ]; do sleep 0.05; done; test -f feature.txt")
    work = repo.create("feature")
    path = make_hook(repo, "bravo", [work], tmp_path)
    (path / "feature.txt").write_text("done\n")
    in_hook(repo, path, "git", "add", "feature.txt")
    in_hook(repo, path, "git", "commit", "-qm", "feature")
    r = done(repo, path)
    assert "queued" in r.out and repo.show(work)["status"] != "closed"
    release.touch()
    deadline = time.time() + 60
    while time.time() < deadline and repo.show(work)["status"] != "closed":
        time.sleep(0.2)
    bead = repo.show(work)
    assert bead["status"] == "closed" and "landed in" in bead["close_reason"]
    assert repo.git("show", "main:feature.txt") == "done"
    # the branch is checked out in the Hook's worktree, so it is kept for the Dogs to prune
    assert repo.git("rev-parse", "--verify", "gt/gt/bravo")


def test_gt_done_trailer_enqueues_from_any_tool(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, "true")
    repo.gt("refinery", "pause")  # keep it queued so we can look
    work = repo.create("via trailer")
    path = make_hook(repo, "charlie", [work], tmp_path)
    (path / "x.txt").write_text("x\n")
    in_hook(repo, path, "git", "add", "x.txt")
    in_hook(repo, path, "git", "commit", "-qm", "plain commit")
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""
    (path / "y.txt").write_text("y\n")
    in_hook(repo, path, "git", "add", "y.txt")
    in_hook(repo, path, "git", "commit", "-qm", "finish it\n\nGt-Done: yes")
    m = mrs(repo)["gt/gt/charlie"]
    assert m["state"] == "queued" and m["hook"] == "charlie" and m["beads"] == [work]
    assert m["commit"] == in_hook(repo, path, "git", "rev-parse", "HEAD").out.strip()


def test_done_deferred_and_escalated(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, "true")
    a = repo.create("later")
    path = make_hook(repo, "delta", [a], tmp_path)
    r = done(repo, path, "--status", "deferred", "--note", "blocked on design", "--json")
    assert r.json()["mr"] is None
    assert repo.show(a)["status"] == "deferred"
    b = repo.create("help")
    path2 = make_hook(repo, "echo", [b], tmp_path)
    r = done(repo, path2, "--status", "escalated", "--note", "cannot reach the API", "--json")
    esc = r.json()["escalation"]
    assert repo.show(esc)["type"] == "escalation"
    assert repo.show(b)["fields"]["escalation"] == esc
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""


def test_done_outside_a_hook_points_to_enqueue(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    r = repo.run("git-gt-done", check=False)
    assert r.code == 2 and "git gt-refinery enqueue feature" in r.err
    repo.git("checkout", "-q", "main")
    r = repo.run("git-gt-done", check=False)
    assert r.code == 2 and "main is the target branch" in r.err and "enqueue" not in r.err


def test_rejected_hook_work_mails_the_polecat_then_escalates(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, BAD_GATE, extra="fixLimit = 1\n")
    work = repo.create("risky")
    path = make_hook(repo, "foxtrot", [work], tmp_path)
    (path / "bad.txt").write_text("BAD\n")
    done(repo, path, "--no-run")
    run(repo)
    m = mrs(repo)["gt/gt/foxtrot"]
    assert m["state"] == "rejected" and m["attempts"] == 1
    mail = [b for b in repo.bead("list", "--type", "message", "--json").json()
            if b["assignee"] == "foxtrot"]
    assert len(mail) == 1 and "FIX_NEEDED" in mail[0]["title"]
    assert "found BAD" in mail[0]["description"]
    # a second failed attempt passes the fix limit: escalation instead of more mail
    (path / "bad.txt").write_text("still BAD\n")
    done(repo, path, "--no-run")
    run(repo)
    assert mrs(repo)["gt/gt/foxtrot"]["attempts"] == 2
    escalations = repo.bead("list", "--type", "escalation", "--json").json()
    assert len(escalations) == 1 and "rejected 2 times" in escalations[0]["title"]


def test_a_hook_branch_merged_by_hand_closes_its_beads(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, "true")
    work = repo.create("merged by a person")
    path = make_hook(repo, "golf", [work], tmp_path)
    (path / "g.txt").write_text("g\n")
    in_hook(repo, path, "git", "add", "g.txt")
    in_hook(repo, path, "git", "commit", "-qm", "work")
    repo.git("merge", "-q", "--no-ff", "-m", "by hand", "gt/gt/golf")
    bead = repo.show(work)
    assert bead["status"] == "closed" and "merged by hand" in bead["close_reason"]


def test_a_landed_branch_is_deleted_once_its_worktree_is_gone(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, "true")
    path = make_hook(repo, "hotel", [], tmp_path)
    (path / "h.txt").write_text("h\n")
    done(repo, path, "--no-run")
    run(repo)
    assert repo.git("rev-parse", "--verify", "gt/gt/hotel")  # kept: checked out
    repo.git("worktree", "remove", "--force", str(path))  # what a Dog does once merged
    run(repo)
    assert repo.run("git", "rev-parse", "--verify", "gt/gt/hotel", check=False).code != 0


def test_a_shell_polecat_lands_its_work_end_to_end(rig: Repo) -> None:
    """W3's shell agent runs the bead, commits, ends with git gt-done; the Refinery lands."""
    setup_gates(rig, "test -f out.txt")
    bead = rig.create("make out", "--field", "run=echo hello > out.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "nux")
    deadline = time.time() + 60
    while time.time() < deadline and rig.show(bead)["status"] != "closed":
        time.sleep(0.3)
    closed = rig.show(bead)
    assert closed["status"] == "closed" and "landed in" in closed["close_reason"]
    assert rig.git("show", "main:out.txt") == "hello"
    m = mrs(rig)["gt/gt/nux"]
    assert m["state"] == "landed" and m["hook"] == "nux" and m["beads"] == [bead]
    state = json.loads(rig.git("show", "refs/gt/hooks/nux:state.json"))
    assert state["status"] == "done"


def test_work_lands_on_the_refinery_target_not_the_users_branch(rig: Repo) -> None:
    """The main checkout on another branch: spawn starts from, and done lands on, main."""
    setup_gates(rig, "test -f out.txt")
    rig.git("checkout", "-q", "-b", "myfeature")
    rig.commit_file("mine.txt", "my own work\n")
    feature_tip = rig.git("rev-parse", "myfeature")
    bead = rig.create("make out", "--field", "run=echo hello > out.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "nux")
    state = json.loads(rig.git("show", "refs/gt/hooks/nux:state.json"))
    assert state["base"] == "main" and state["base_commit"] == rig.git("rev-parse", "main")
    deadline = time.time() + 60
    while time.time() < deadline and rig.show(bead)["status"] != "closed":
        time.sleep(0.3)
    closed = rig.show(bead)
    assert closed["status"] == "closed" and "on main" in closed["close_reason"]
    assert rig.git("show", "main:out.txt") == "hello"
    assert rig.git("rev-parse", "myfeature") == feature_tip  # the user's branch untouched
    assert mrs(rig)["gt/gt/nux"]["target"] == "main"


def test_done_lands_on_the_target_even_from_a_hook_based_elsewhere(repo: Repo,
                                                                   tmp_path: Path) -> None:
    setup_gates(repo, "true")
    repo.git("branch", "dev")
    path = make_hook(repo, "india", [], tmp_path)
    state = json.loads(repo.git("show", "refs/gt/hooks/india:state.json"))
    # A Hook started from a commit id (spawn --base <sha>): its base is no branch at all.
    state["base"] = repo.git("rev-parse", "dev")
    blob = repo.run("git", "hash-object", "-w", "--stdin", input=json.dumps(state)).out.strip()
    tree = repo.run("git", "mktree", input=f"100644 blob {blob}\tstate.json\n").out.strip()
    repo.git("update-ref", "refs/gt/hooks/india", repo.git("commit-tree", tree, "-m", "base"))
    (path / "i.txt").write_text("i\n")
    data = done(repo, path, "--no-run", "--json").json()
    assert data["mr"]["target"] == "main"
    run(repo)
    assert on_main(repo, "i.txt")
    assert repo.run("git", "cat-file", "-e", "dev:i.txt", check=False).code != 0


def conflict_mail(repo: Repo) -> list[dict[str, Any]]:
    return [b for b in repo.bead("list", "--type", "message", "--json").json()
            if b["title"].startswith("Conflict ahead")]


def test_radar_runs_from_commits_in_hook_worktrees(repo: Repo, tmp_path: Path) -> None:
    """Polecats commit in their own worktrees, never in the main checkout."""
    setup_gates(repo, "true")
    repo.commit_file("app.py", "line\n")
    paths = {n: make_hook(repo, n, [], tmp_path) for n in ("juliet", "kilo")}
    for name, path in paths.items():
        (path / "app.py").write_text(f"{name}\n")
        in_hook(repo, path, "git", "commit", "-qam", f"{name} edits app.py")
    # the first commit scanned (nothing to see yet) and set the next scan a minute ahead:
    # move it into the past, as a minute passing would, and commit again
    stamp = repo.path / ".git" / "gt" / "refinery" / "radar-next"
    assert stamp.stat().st_mtime > time.time() + 30
    os.utime(stamp, (time.time() - 5, time.time() - 5))
    (paths["kilo"] / "more.txt").write_text("more\n")
    in_hook(repo, paths["kilo"], "git", "add", "more.txt")
    in_hook(repo, paths["kilo"], "git", "commit", "-qm", "more")
    deadline = time.time() + 20
    while time.time() < deadline and len(conflict_mail(repo)) < 2:
        time.sleep(0.2)
    assert sorted(m["assignee"] for m in conflict_mail(repo)) == ["juliet", "kilo"]


def test_radar_ignores_landed_hooks_and_the_deacon_patrol_runs_it(repo: Repo,
                                                                  tmp_path: Path) -> None:
    setup_gates(repo, "true")
    # No scan from this test's commits: neither the radar's own slot nor a hook-started
    # patrol (which scans too) comes due, so only the calls below scan.
    for stamp in (repo.path / ".git" / "gt" / "refinery" / "radar-next",
                  repo.path / ".git" / "gt" / "patrol-next"):
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        os.utime(stamp, (time.time() + 3600, time.time() + 3600))
    repo.commit_file("app.py", "line\n")
    lima = make_hook(repo, "lima", [], tmp_path)
    mike = make_hook(repo, "mike", [], tmp_path)
    (lima / "app.py").write_text("lima\n")
    (mike / "app.py").write_text("mike\n")
    in_hook(repo, mike, "git", "commit", "-qam", "mike")
    done(repo, lima, "--no-run")
    run(repo)  # lima lands; its branch stays while its worktree does
    repo.commit_file("later.txt", "the target moves on\n")
    assert repo.git("rev-parse", "gt/gt/lima")
    out = repo.gt("refinery", "radar", "--json").json()
    assert out["branches"] == ["gt/gt/mike"]
    assert [(o["a"]["branch"], o["with_target"]) for o in out["overlaps"]] == [
        ("gt/gt/mike", True)]
    report = repo.gt("deacon", "patrol", "--json").json()[0]
    assert report["errors"] == [] and len(report["radar"]) == 1
    assert [m["assignee"] for m in conflict_mail(repo)] == ["mike"]
    assert repo.gt("deacon", "patrol", "--json").json()[0]["radar"] == []  # not new


def test_done_refuses_unresolved_conflicts(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, "true")
    repo.commit_file("f1.txt", "base\n")
    repo.git("checkout", "-q", "-b", "side")
    repo.commit_file("f1.txt", "side\n")
    repo.git("checkout", "-q", "main")
    path = make_hook(repo, "november", [], tmp_path)
    (path / "f1.txt").write_text("mine\n")
    in_hook(repo, path, "git", "commit", "-qam", "mine")
    assert in_hook(repo, path, "git", "merge", "-q", "side", check=False).code != 0
    head = in_hook(repo, path, "git", "rev-parse", "HEAD").out.strip()
    r = done(repo, path, "--no-run", check=False)
    assert r.code == 4 and "unresolved merge conflicts in f1.txt" in r.err
    assert len(r.err.strip().splitlines()) <= 2  # the error and its hint
    assert in_hook(repo, path, "git", "rev-parse", "HEAD").out.strip() == head
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""
    # git add marks it resolved, markers and all: still refused
    in_hook(repo, path, "git", "add", "f1.txt")
    r = done(repo, path, "--no-run", check=False)
    assert r.code == 4 and "merge is under way" in r.err
    # committed with the markers in it: refused too
    in_hook(repo, path, "git", "commit", "-q", "--no-edit")
    r = done(repo, path, "--no-run", check=False)
    assert r.code == 4 and "conflict markers left in f1.txt" in r.err
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""
    (path / "f1.txt").write_text("resolved\n")
    data = done(repo, path, "--no-run", "--json").json()
    assert data["enqueued"] == "queued"


def test_done_adds_leftovers_by_literal_path(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, "true")
    repo.commit_file("[id].txt", "page\n")
    repo.commit_file("i.txt", "matched by the glob [id].txt\n")
    repo.commit_file("*", "star\n")
    repo.commit_file("f2.txt", "two\n")
    path = make_hook(repo, "oscar", [], tmp_path)
    (path / "[id].txt").write_text("page edited\n")
    (path / "*").write_text("star edited\n")
    (path / "i.txt").unlink()  # deletions not staged: must not be committed
    (path / "f2.txt").unlink()
    data = done(repo, path, "--no-run", "--json").json()
    assert data["committed"]
    changed = in_hook(repo, path, "git", "diff", "--name-status", "HEAD~1", "HEAD").out
    assert sorted(changed.strip().split("\n")) == ["M\t*", "M\t[id].txt"]


def test_a_fixed_mr_closes_its_fix_needed_mail(repo: Repo, tmp_path: Path) -> None:
    setup_gates(repo, BAD_GATE)
    work = repo.create("risky")
    path = make_hook(repo, "papa", [work], tmp_path)
    (path / "bad.txt").write_text("BAD\n")
    done(repo, path, "--no-run")
    run(repo)
    bead = repo.show(work)
    assert bead["status"] != "closed" and bead["fields"]["done"] == "rejected"
    mail = [b for b in repo.bead("list", "--type", "message", "--json").json()
            if b["title"].startswith("FIX_NEEDED")]
    assert len(mail) == 1 and mail[0]["status"] == "open"
    (path / "bad.txt").write_text("fine\n")
    done(repo, path, "--no-run")
    run(repo)
    assert repo.show(work)["status"] == "closed"
    assert repo.show(mail[0]["id"])["status"] == "closed"


def _witness(rig: Repo, *args: str) -> dict[str, dict[str, Any]]:
    report = rig.gt("witness", "check", "--json", *args).json()
    return {p["polecat"]: p for p in report["polecats"]}


def _refused_done(rig: Repo, name: str, attempts: int) -> dict[str, Any]:
    """The state of polecat NAME once its run number ATTEMPTS has exited."""
    def exited() -> dict[str, Any] | None:
        st: dict[str, Any] = json.loads(rig.git("show", f"refs/gt/hooks/{name}:state.json"))
        return st if st["status"] == "exited" and max(st["attempts"].values()) >= attempts \
            else None
    return wait_for(exited, 30, f"{name}'s run {attempts} to exit")


def test_a_shell_polecat_whose_rejected_work_comes_back_unchanged_is_escalated(
        rig: Repo) -> None:
    """The Refinery rejects the work and resumes the polecat; the shell agent has nothing
    to change, so its git gt-done is refused: that polecat is stranded, not done."""
    rig.env["GT_HOOKS"] = "0"  # no hook-started patrol acts before the test does
    setup_gates(rig, BAD_GATE)
    bead = rig.create("bad work", "--field", "run=echo BAD > bad.txt")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "pbad")
    wait_for(lambda: mrs(rig).get("gt/gt/pbad", {}).get("state") == "rejected", 30,
             "the Refinery to reject pbad")
    state = _refused_done(rig, "pbad", 2)
    found = _witness(rig)["pbad"]
    assert (found["class"], found["action"]) == ("done_refused", "escalate")
    assert "already rejected" in state["done_error"]
    assert "git gt-done was refused" in found["detail"] and "already rejected" in found["detail"]
    fixed = _witness(rig, "--fix")["pbad"]
    assert fixed["applied"][0].startswith("escalated ")
    esc = rig.gt("escalate", "list", "--json").json()
    assert [e["message"] for e in esc] == \
        ["polecat pbad exited after git gt-done refused its work"]
    description = rig.show(esc[0]["id"])["description"]
    assert "git gt-refinery retry" in description and "git gt-done" in description
    assert _witness(rig, "--fix")["pbad"]["applied"] == ["already escalated"]
    assert rig.show(bead)["status"] == "hooked"
    # A person fixes the work in its worktree and finishes it: the escalation closes.
    worktree = Path(state["worktree"])
    (worktree / "bad.txt").write_text("fine\n")
    rig.run("git-gt-done", "--no-run", cwd=worktree)
    found = _witness(rig, "--fix")["pbad"]
    assert found["class"] == "done"
    assert found["applied"] == [f"closed {esc[0]['id']} (done_refused resolved by itself)"]


def test_a_shell_polecat_whose_gt_done_finds_conflict_markers_is_escalated(rig: Repo) -> None:
    rig.env["GT_HOOKS"] = "0"
    setup_gates(rig, "true")
    bead = rig.create("doc about merges", "--field",
                      "run=printf 'Example:\\n<<<<<<< HEAD\\nours\\n=======\\ntheirs\\n"
                      ">>>>>>> topic\\n' > conflicts.md")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "pdoc")
    state = _refused_done(rig, "pdoc", 1)
    found = _witness(rig)["pdoc"]
    assert (found["class"], found["action"]) == ("done_refused", "escalate")
    assert "conflict markers left in conflicts.md" in state["done_error"]
    assert "conflict markers left in conflicts.md" in found["detail"]
    _witness(rig, "--fix")
    esc = rig.gt("escalate", "list", "--json").json()
    assert len(esc) == 1 and "--allow-markers" in rig.show(esc[0]["id"])["description"]


def test_radar_mails_an_overlap_once_and_again_only_for_a_new_path(repo: Repo,
                                                                   tmp_path: Path) -> None:
    """The same branch pair and paths after more commits is no news; a new path is."""
    repo.env["GT_HOOKS"] = "0"  # only the scans below
    setup_gates(repo, "true")
    repo.commit_file("app.py", "line\n")
    repo.commit_file("lib.py", "line\n")
    paths = {n: make_hook(repo, n, [], tmp_path) for n in ("quebec", "romeo")}

    def commit(name: str, file: str, text: str) -> None:
        (paths[name] / file).write_text(text)
        in_hook(repo, paths[name], "git", "commit", "-qam", f"{name} edits {file}")

    def notify() -> list[str]:
        mailed: list[str] = repo.gt("refinery", "radar", "--notify", "--json").json()["mailed"]
        return mailed

    commit("quebec", "app.py", "quebec\n")
    commit("romeo", "app.py", "romeo\n")
    assert len(notify()) == 2
    commit("quebec", "app.py", "quebec again\n")  # both tips move, the overlap stays
    commit("romeo", "app.py", "romeo again\n")
    assert notify() == []
    assert len(conflict_mail(repo)) == 2
    commit("quebec", "lib.py", "quebec\n")  # a new path in conflict: news
    commit("romeo", "lib.py", "romeo\n")
    assert len(notify()) == 2
    assert notify() == []
    assert len(conflict_mail(repo)) == 4
    assert sum("(app.py, lib.py)" in m["description"] for m in conflict_mail(repo)) == 2


def test_done_allow_markers_lands_a_file_meant_to_hold_marker_lines(repo: Repo,
                                                                    tmp_path: Path) -> None:
    """A doc about merges holds marker-like lines on purpose: the refusal names the way
    round, and --allow-markers takes it (an unresolved merge is still refused)."""
    setup_gates(repo, "true")
    path = make_hook(repo, "sierra", [], tmp_path)
    (path / "merging.md").write_text("Example:\n<<<<<<< HEAD\nours\n=======\ntheirs\n"
                                     ">>>>>>> topic\n")
    r = done(repo, path, "--no-run", check=False)
    assert r.code == 4 and "conflict markers left in merging.md" in r.err
    assert "git gt-done --allow-markers" in r.err
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""
    data = done(repo, path, "--no-run", "--allow-markers", "--json").json()
    assert data["enqueued"] == "queued" and data["committed"]
    run(repo)
    assert on_main(repo, "merging.md")
    helptext = done(repo, path, "--help").out
    for refusal in ("--allow-markers", "no commits beyond the target", "already rejected",
                    "under way"):
        assert refusal in " ".join(helptext.split()), refusal


def test_done_names_the_operation_under_way_and_its_own_abort(repo: Repo,
                                                              tmp_path: Path) -> None:
    setup_gates(repo, "true")
    repo.commit_file("f1.txt", "base\n")
    repo.git("checkout", "-q", "-b", "side")
    side = repo.commit_file("f1.txt", "side\n")
    repo.git("checkout", "-q", "main")
    path = make_hook(repo, "tango", [], tmp_path)
    (path / "f1.txt").write_text("mine\n")
    in_hook(repo, path, "git", "commit", "-qam", "mine")
    # a conflicted rebase: HEAD is detached, but the rebase is what to report
    assert in_hook(repo, path, "git", "rebase", "side", check=False).code != 0
    r = done(repo, path, "--no-run", check=False)
    assert r.code == 4 and "unresolved merge conflicts in f1.txt" in r.err, r.err
    assert "git rebase --continue" in r.err and "git rebase --abort" in r.err
    assert "detached" not in r.err and "merge --abort" not in r.err
    in_hook(repo, path, "git", "add", "f1.txt")
    r = done(repo, path, "--no-run", check=False)
    assert r.code == 4 and "a rebase is under way" in r.err and "git rebase --abort" in r.err
    in_hook(repo, path, "git", "rebase", "--abort")
    # a conflicted cherry-pick: its own commands, not git merge's
    assert in_hook(repo, path, "git", "cherry-pick", side, check=False).code != 0
    r = done(repo, path, "--no-run", check=False)
    assert r.code == 4 and "unresolved merge conflicts in f1.txt" in r.err
    assert "git cherry-pick --abort" in r.err and "merge --abort" not in r.err
    in_hook(repo, path, "git", "add", "f1.txt")
    r = done(repo, path, "--no-run", check=False)
    assert r.code == 4 and "a cherry-pick is under way" in r.err
    assert "git cherry-pick --abort" in r.err
    assert repo.git("for-each-ref", "refs/gt/mq/") == ""
