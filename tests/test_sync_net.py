"""git gt-sync over the network: a real `git daemon` on 127.0.0.1 serving bare repositories."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Repo, make_repo, scrubbed_env


@dataclass
class Daemon:
    base: Path
    port: int
    env: dict[str, str]

    def bare(self, name: str) -> str:
        path = self.base / f"{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", str(path)], env=self.env, check=True)
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def tip(self, name: str, ref: str = "refs/gt/beads") -> str:
        out = subprocess.run(["git", "--git-dir", str(self.base / f"{name}.git"), "rev-parse",
                              "--verify", "-q", ref], env=self.env, capture_output=True,
                             text=True).stdout
        return out.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("daemon")
    env = scrubbed_env(root / "home")
    base = root / "srv"
    base.mkdir()
    exe = Path(subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                              check=True).stdout.strip()) / "git-daemon"
    for _ in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            [str(exe), "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
             f"--base-path={base}", "--export-all", "--enable=receive-pack", str(base)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        if proc.poll() is None:
            break
    else:
        pytest.fail("git daemon did not start")
    try:
        yield Daemon(base, port, env)
    finally:
        proc.kill()
        proc.wait()


def clone(url: str, path: Path, env: dict[str, str], *, init: bool = True) -> Repo:
    subprocess.run(["git", "clone", "-q", url, str(path)], env=env, check=True,
                   capture_output=True)
    repo = Repo(path, env)
    if init:
        repo.gt("init")
    return repo


def seeded(daemon: Daemon, name: str, tmp_path: Path, env: dict[str, str]) -> str:
    url = daemon.bare(name)
    seed = make_repo(tmp_path / f"seed-{name}", env)
    seed.git("remote", "add", "origin", url)
    seed.git("push", "-q", "origin", "main")
    seed.gt("sync")
    return url


def tree(repo: Repo) -> str:
    return repo.git("rev-parse", "refs/gt/beads^{tree}")


WRITER = r"""
import json, subprocess, sys
name, rounds, shared = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def gt(*args):
    return subprocess.run(list(args), capture_output=True, text=True)
made, attempts = [], []
for k in range(rounds):
    made.append(gt("git-gt-bead", "create", f"{name}-{k}").stdout.strip())
    gt("git-gt-bead", "update", made[0], "--notes", f"{name} round {k}")
    gt("git-gt-bead", "label", "add", shared, f"{name}-{k}")
    res = gt("git-gt-sync", "--json")
    attempts.append(json.loads(res.stdout)["attempts"] if res.returncode == 0 else res.stderr)
print(json.dumps({"made": made, "attempts": attempts}))
"""


def test_three_concurrent_writers_converge_without_loss(daemon: Daemon, tmp_path: Path,
                                                       env: dict[str, str]) -> None:
    url = seeded(daemon, "three", tmp_path, env)
    clones = [clone(url, tmp_path / f"c{i}", env) for i in range(3)]
    shared = clones[0].create("shared")
    clones[0].gt("sync")
    for c in clones[1:]:
        c.gt("sync")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rounds = 4
    procs = [subprocess.Popen([sys.executable, str(script), f"w{i}", str(rounds), shared],
                              cwd=c.path, env=c.env, stdout=subprocess.PIPE, text=True)
             for i, c in enumerate(clones)]
    results = [json.loads(p.communicate(timeout=240)[0]) for p in procs]
    for _ in range(2):
        for c in clones:
            c.gt("sync")
    assert len({tree(c) for c in clones}) == 1
    assert tree(clones[0]) == subprocess.run(
        ["git", "--git-dir", str(daemon.base / "three.git"), "rev-parse",
         "refs/gt/beads^{tree}"], capture_output=True, text=True, env=env).stdout.strip()
    listed = {b["id"]: b for b in clones[0].bead("list", "--json").json()}
    for i, res in enumerate(results):
        assert all(isinstance(a, int) for a in res["attempts"]), res  # every sync succeeded
        for bid in res["made"]:
            assert bid in listed
        assert listed[res["made"][0]]["notes"] == f"w{i} round {rounds - 1}"
    labels = set(clones[2].show(shared)["labels"])
    assert labels == {f"w{i}-{k}" for i in range(3) for k in range(rounds)}


RACE = """
import json, subprocess, sys
from git_gastown import sync
from git_gastown.git import Repo
other = sys.argv[1]
def racer(attempt):
    if attempt == 1:
        subprocess.run(["git-gt-bead", "create", "racer"], cwd=other, check=True,
                       capture_output=True)
        subprocess.run(["git-gt-sync"], cwd=other, check=True, capture_output=True)
print(json.dumps(sync.sync(Repo.discover(), None, actor="me", before_push=racer).to_json()))
"""


def test_push_race_over_the_network_retries(daemon: Daemon, tmp_path: Path,
                                            env: dict[str, str]) -> None:
    url = seeded(daemon, "race", tmp_path, env)
    a, b = clone(url, tmp_path / "a", env), clone(url, tmp_path / "b", env)
    b.create("mine")
    script = tmp_path / "race.py"
    script.write_text(RACE)
    data = json.loads(b.run(sys.executable, str(script), str(a.path)).out)
    assert data["attempts"] == 2 and data["pushed"] == ["refs/gt/beads"]
    assert daemon.tip("race") == b.git("rev-parse", "refs/gt/beads")
    a.gt("sync")
    assert {x["title"] for x in a.bead("list", "--json").json()} == {"mine", "racer"}


def test_bad_remotes_are_refused_and_nothing_changes(daemon: Daemon, tmp_path: Path,
                                                     env: dict[str, str]) -> None:
    url = seeded(daemon, "bad", tmp_path, env)
    good = clone(url, tmp_path / "good", env)
    bid = good.create("x")
    good.gt("sync")
    mine = clone(url, tmp_path / "mine", env)
    mine.create("local work")
    evil = clone(url, tmp_path / "evil", env, init=False)
    evil.git("fetch", "-q", "origin", "refs/gt/beads:refs/gt/beads")
    evil.git("checkout", "-q", "--orphan", "scratch", "refs/gt/beads")
    evil.git("reset", "-q", "--hard", "refs/gt/beads")
    next((evil.path / "beads").rglob(f"{bid}.json")).write_text('{"format": 1, "id": ')
    evil.git("commit", "-qam", "tamper")
    evil.git("push", "-q", "origin", "HEAD:refs/gt/beads")
    before = mine.git("for-each-ref")
    res = mine.gt("sync", check=False)
    assert res.code == 1 and "malformed bead JSON" in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert mine.git("for-each-ref") == before
    # An unrelated history with another prefix is refused too.
    other_url = daemon.bare("other")
    stranger = make_repo(tmp_path / "stranger", env, prefix="zz")
    stranger.create("theirs")
    stranger.git("push", "-q", other_url, "refs/gt/beads:refs/gt/beads")
    mine.git("remote", "add", "other", other_url)
    res = mine.gt("sync", "other", check=False)
    assert res.code == 1 and "prefix 'zz'" in res.err
    assert mine.git("for-each-ref") == before


def test_dry_run_over_the_network_changes_nothing(daemon: Daemon, tmp_path: Path,
                                                  env: dict[str, str]) -> None:
    url = seeded(daemon, "dry", tmp_path, env)
    a, b = clone(url, tmp_path / "a", env), clone(url, tmp_path / "b", env)
    a.create("theirs")
    a.gt("sync")
    b.create("mine")
    before, remote_before = b.git("for-each-ref"), daemon.tip("dry")
    data = b.gt("sync", "--dry-run", "--json").json()
    assert data["added"] == 1 and data["would_push"] == ["refs/gt/beads"]
    assert b.git("for-each-ref") == before and daemon.tip("dry") == remote_before


def test_init_adopts_and_fetch_then_command_merges(daemon: Daemon, tmp_path: Path,
                                                   env: dict[str, str]) -> None:
    url = seeded(daemon, "adopt", tmp_path, env)
    a = clone(url, tmp_path / "a", env)
    first = a.create("before the clone")
    a.gt("sync")
    b = clone(url, tmp_path / "b", env, init=False)
    assert "adopted refs/gt/beads from origin" in b.gt("init").out
    assert b.show(first)["title"] == "before the clone"
    later = a.create("after the clone")
    a.gt("sync")
    b.git("fetch", "-q")
    assert b.show(later)["title"] == "after the clone"


def test_autosync_over_the_network(daemon: Daemon, tmp_path: Path,
                                   env: dict[str, str]) -> None:
    url = seeded(daemon, "auto", tmp_path, env)
    a = clone(url, tmp_path / "a", env)
    a.git("config", "gt.autosync", "true")
    a.create("rides along")
    a.commit_file("f.txt", "1\n")
    a.git("push", "-q", "origin", "main")
    deadline = time.monotonic() + 20
    while daemon.tip("auto") != a.git("rev-parse", "refs/gt/beads"):
        assert time.monotonic() < deadline, (a.path / ".git/gt/logs/autosync.log").read_text()
        time.sleep(0.2)
    assert daemon.tip("auto", "refs/heads/main") == a.git("rev-parse", "HEAD")
