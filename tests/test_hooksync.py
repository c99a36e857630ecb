"""Hooks travel with git gt-sync: resume on another clone; both clones' notes merge."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Repo, make_repo, wait_for

sync_module = pytest.importorskip("git_gastown.sync", reason="git gt-sync (W2) is not merged")


def sync(repo: Repo) -> None:
    repo.gt("sync")


def test_hook_refs_merge_with_the_hook_merge_step() -> None:
    assert sync_module.MERGERS.get("hooks/") == "git_gastown.hook:sync_merge", \
        'register it: MERGERS["hooks/"] = "git_gastown.hook:sync_merge" in git_gastown/sync.py'


def ref_state(repo: Repo, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(repo.git("show", f"refs/gt/hooks/{name}:state.json"))
    return data


def test_resume_on_another_clone_and_merge_notes(tmp_path: Path, env: dict[str, str]) -> None:
    hub = tmp_path / "hub.git"
    subprocess.run(["git", "init", "-q", "--bare", str(hub)], env=env, check=True)
    a = make_repo(tmp_path / "a", env)
    a.git("remote", "add", "origin", str(hub))
    a.git("push", "-q", "origin", "main")
    a.gt("init")
    bead = a.create("work", "--field", "run=echo half > half.txt; exit 1")
    a.gt("polecat", "spawn", "--bead", bead, "--name", "nux")
    wait_for(lambda: ref_state(a, "nux")["status"] == "exited", 10, "exit")
    sync(a)
    subprocess.run(["git", "clone", "-q", str(hub), str(tmp_path / "b")], env=env, check=True)
    b = Repo(tmp_path / "b", env)
    b.gt("init")
    sync(b)
    assert b.git("rev-parse", "refs/gt/hooks/nux") == a.git("rev-parse", "refs/gt/hooks/nux")
    b.bead("update", bead, "--field", "run=cat half.txt > seen.txt")
    b.gt("polecat", "spawn", "--resume", "nux")
    st = wait_for(lambda: (s := ref_state(b, "nux"))["status"] == "exited" and
                  s["attempts"][bead] == 2 and s, 10, "resume on b")
    assert st["exit_code"] == 0
    assert b.git("show", "gt/gt/nux:seen.txt") == "half"
    # Both clones write the Hook; sync merges the two histories the same way on each.
    a.gt("handoff", "--hook", "nux", "--note", "note from a")
    b.gt("handoff", "--hook", "nux", "--note", "note from b")
    sync(a)
    sync(b)
    sync(a)
    tip = a.git("rev-parse", "refs/gt/hooks/nux")
    assert b.git("rev-parse", "refs/gt/hooks/nux") == tip
    notes = a.git("show", "refs/gt/hooks/nux:notes.jsonl")
    assert "note from a" in notes and "note from b" in notes
    a.git("fsck", "--no-dangling")
