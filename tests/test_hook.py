"""The Hook domain: state ref, checkpoints without touching the worktree, safety checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Repo, make_repo
from test_polecat import finished

from git_gastown import hook as hk
from git_gastown.git import Repo as GitRepo


@pytest.fixture(autouse=True)
def _no_landing(request: pytest.FixtureRequest) -> None:
    """These tests are about Hooks, not landing: a shell agent's success does not hand over
    to git gt-done (polecat.done false), so the Refinery never moves things under them."""
    if "rig" in request.fixturenames:
        request.getfixturevalue("rig").git("config", "gt.polecat.done", "false")


@pytest.fixture
def inproc(rig: Repo, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitRepo]:
    """The rig opened in this process, with the test's scrubbed environment."""
    for key, value in rig.env.items():
        monkeypatch.setenv(key, value)
    yield GitRepo.discover(rig.path)


def spawned(rig: Repo, name: str, run: str = "echo base > base.txt") -> Path:
    bead = rig.create(f"bead of {name}", "--field", f"run={run}")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", name)
    return Path(finished(rig, name)["worktree"])


def test_checkpoint_leaves_worktree_and_index_untouched(rig: Repo, inproc: GitRepo) -> None:
    wt = spawned(rig, "ck")
    (wt / ".gitignore").write_text("*.log\n")
    (wt / "base.txt").write_text("changed\n")
    (wt / "staged.txt").write_text("staged\n")
    rig.run("git", "add", "staged.txt", cwd=wt)
    (wt / "untracked.txt").write_text("new\n")
    (wt / "ignored.log").write_text("noise\n")
    gitdir = Path(rig.run("git", "rev-parse", "--absolute-git-dir", cwd=wt).out.strip())
    index = gitdir / "index"
    status = rig.run("git", "status", "--porcelain", cwd=wt).out  # may refresh the index
    before = (index.read_bytes(), index.stat().st_mtime_ns, status)
    tip_before = rig.git("rev-parse", "refs/gt/hooks/ck")
    commit = hk.checkpoint(inproc, "ck", reason="test")
    after = (index.read_bytes(), index.stat().st_mtime_ns,
             rig.run("git", "--no-optional-locks", "status", "--porcelain", cwd=wt).out)
    assert after == before
    files = rig.git("ls-tree", "-r", "--name-only", commit).splitlines()
    assert {"base.txt", "staged.txt", "untracked.txt", ".gitignore"} <= set(files)
    assert "ignored.log" not in files
    assert rig.git("show", f"{commit}:base.txt") == "changed"
    assert rig.git("rev-parse", f"{commit}^") == rig.git("rev-parse", "gt/gt/ck")
    tip = rig.git("rev-parse", "refs/gt/hooks/ck")
    assert rig.git("rev-parse", f"{tip}^1") == tip_before
    assert rig.git("rev-parse", f"{tip}^2") == commit
    recorded = [json.loads(line) for line in
                rig.git("show", f"{tip}:checkpoints.jsonl").splitlines()]
    assert recorded[-1]["commit"] == commit and recorded[-1]["reason"] == "test"
    # Nothing changed since: the same checkpoint, no new commit on the ref.
    assert hk.checkpoint(inproc, "ck") == commit
    assert rig.git("rev-parse", "refs/gt/hooks/ck") == tip


def test_unsaved_work_sees_commits_and_edits(rig: Repo, inproc: GitRepo) -> None:
    wt = spawned(rig, "us")
    assert hk.unsaved_work(hk.load_hook(inproc, "us")).safe
    (wt / "x.txt").write_text("x\n")
    unsaved = hk.unsaved_work(hk.load_hook(inproc, "us"))
    assert unsaved.dirty and not unsaved.branch_tip
    rig.run("git", "add", "x.txt", cwd=wt)
    rig.run("git", "commit", "-qm", "x", cwd=wt)
    unsaved = hk.unsaved_work(hk.load_hook(inproc, "us"))
    assert unsaved.branch_tip == rig.git("rev-parse", "gt/gt/us") and not unsaved.dirty
    hk.checkpoint(inproc, "us")
    assert hk.unsaved_work(hk.load_hook(inproc, "us")).safe


def test_state_round_trip_notes_and_transcript(rig: Repo, inproc: GitRepo) -> None:
    spawned(rig, "st")
    h = hk.load_hook(inproc, "st")
    again = hk.HookState.from_json(json.loads(json.dumps(h.state.to_json())))
    assert again == h.state
    hk.add_note(inproc, "st", "first note", "alice")
    hk.add_note(inproc, "st", "second note", "bob")
    h = hk.update_state(inproc, "st", "test", convoy="gt-abcde")
    assert h.state.convoy == "gt-abcde"
    h = hk.load_hook(inproc, "st")
    assert [(n.author, n.text) for n in h.notes()] == [("alice", "first note"),
                                                       ("bob", "second note")]
    chunks_before = h.state.chunks

    def add(tx: hk.HookTx) -> None:
        hk.append_transcript(tx, b'{"type": "custom", "n": 1}\n')

    hk.write_hook(inproc, "st", "test", add)
    h = hk.load_hook(inproc, "st")
    assert h.state.chunks == chunks_before + 1
    assert h.transcript()[-1] == {"type": "custom", "n": 1}
    with pytest.raises(hk.UsageError):
        hk.add_note(inproc, "st", "  ", "x")
    with pytest.raises(hk.NotFound):
        hk.load_hook(inproc, "nope")


def test_concurrent_writers_to_one_hook_lose_nothing(rig: Repo) -> None:
    spawned(rig, "cc")
    code = ("import sys\nfrom git_gastown import hook as hk\nfrom git_gastown.git import Repo\n"
            "r = Repo.discover('.')\n"
            "for i in range(5): hk.add_note(r, 'cc', f'{sys.argv[1]}-{i}', 'w')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)], cwd=rig.path, env=rig.env)
             for n in range(6)]
    assert all(p.wait(60) == 0 for p in procs)
    notes = rig.git("show", "refs/gt/hooks/cc:notes.jsonl").splitlines()
    assert sorted(json.loads(n)["text"] for n in notes) == sorted(
        f"{w}-{i}" for w in range(6) for i in range(5))
    rig.git("fsck", "--no-dangling")


def test_process_identity_uses_start_time() -> None:
    me = os.getpid()
    start = hk.process_start(me)
    assert start > 0
    assert hk.process_alive(me, start)
    assert not hk.process_alive(me, start + 1)  # a reused pid has another start time
    assert not hk.process_alive(0) and hk.process_start(-1) == 0
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not hk.process_alive(proc.pid)


def test_worktree_root_override_and_default(rig: Repo, tmp_path: Path) -> None:
    root = tmp_path / "wts"
    rig.git("config", "gt.worktreeRoot", str(root))
    wt = spawned(rig, "ro")
    assert wt == root / "ro"
    rig.git("config", "--unset", "gt.worktreeRoot")
    other = make_repo(tmp_path / "other", rig.env)
    bead = other.create("x", "--field", "run=true")
    other.gt("polecat", "spawn", "--bead", bead, "--name", "ro")
    path = Path(finished(other, "ro")["worktree"])
    data_home = Path(rig.env["XDG_DATA_HOME"])
    assert path.parent.parent == data_home / "git-gastown" / "worktrees"
    assert path.parent.name.startswith("other-") and path.name == "ro"


def test_check_name() -> None:
    assert hk.check_name("nux-2") == "nux-2"
    for bad in ("", "UP", "a b", "../a", "a/b", "a--b", "a-", "-a", ".a", "x" * 41):
        with pytest.raises(hk.UsageError):
            hk.check_name(bad)


def test_merge_of_two_clones_histories_is_deterministic(rig: Repo, inproc: GitRepo) -> None:
    spawned(rig, "mx")
    ref = "refs/gt/hooks/mx"
    base = rig.git("rev-parse", ref)

    def side(note: str, event: bytes) -> str:
        rig.git("update-ref", ref, base)
        hk.add_note(inproc, "mx", note, "someone")

        def add(tx: hk.HookTx) -> None:
            hk.append_transcript(tx, event)

        return hk.write_hook(inproc, "mx", "test", add).tip

    a = side("from clone a", b'{"type": "a"}\n')
    b = side("from clone b", b'{"type": "b"}\n')
    merged = hk.merge_tips(inproc, "mx", a, b)
    assert merged is not None and merged == hk.merge_tips(inproc, "mx", b, a)
    assert sorted(rig.git("log", "-1", "--format=%P", merged).split()) == sorted([a, b])
    rig.git("update-ref", ref, merged)
    h = hk.load_hook(inproc, "mx", live=False)
    assert {n.text for n in h.notes()} == {"from clone a", "from clone b"}
    kinds = [e["type"] for e in h.transcript()]
    assert kinds[-2:] == ["a", "b"] or kinds[-2:] == ["b", "a"]
    base_chunks = hk.HookState.from_json(json.loads(
        rig.git("show", f"{base}:state.json"))).chunks
    assert h.state.chunks == base_chunks + 2
    assert len(rig.git("ls-tree", f"{merged}:transcript").splitlines()) == base_chunks + 2
    rig.git("fsck", "--no-dangling")
    # Two unrelated Hooks that share a name are not merged.
    spawned(rig, "other")
    assert hk.merge_tips(inproc, "mx", merged, rig.git("rev-parse", "refs/gt/hooks/other")) \
        is None


def test_restore_onto_a_branch_that_moved_since_the_checkpoint(
        rig: Repo, inproc: GitRepo) -> None:
    wt = spawned(rig, "mv")
    (wt / "base.txt").write_text("edited, not committed\n")
    (wt / "extra.txt").write_text("untracked\n")
    hk.checkpoint(inproc, "mv", reason="before the move")
    # Elsewhere the branch gets a commit on another file; then the worktree is lost.
    rig.run("git", "stash", "-u", "-q", cwd=wt)
    (wt / "later.txt").write_text("later\n")
    rig.run("git", "add", "later.txt", cwd=wt)
    rig.run("git", "commit", "-qm", "later", cwd=wt)
    rig.run("git", "stash", "drop", "-q", cwd=wt)
    shutil.rmtree(wt)
    rig.gt("polecat", "spawn", "--resume", "mv")  # recreates and restores synchronously
    assert (wt / "base.txt").read_text() == "edited, not committed\n"
    assert (wt / "extra.txt").read_text() == "untracked\n"
    assert (wt / "later.txt").read_text() == "later\n"
    status = sorted(rig.run("git", "status", "--porcelain", cwd=wt).out.splitlines())
    assert status == [" M base.txt", "?? extra.txt"]


def test_merge_leaves_histories_it_does_not_know_alone(rig: Repo, inproc: GitRepo) -> None:
    empty = rig.git("hash-object", "-t", "tree", "/dev/null")
    base = rig.git("commit-tree", empty, "-m", "not a hook")
    a = rig.git("commit-tree", empty, "-p", base, "-m", "a")
    b = rig.git("commit-tree", empty, "-p", base, "-m", "b")
    assert hk.merge_tips(inproc, "x", a, b) is None
