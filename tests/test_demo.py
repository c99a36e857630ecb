"""git gt-demo and install.sh, run as a new user would run the README's first command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import Repo

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_end_to_end(tmp_path: Path, env: dict[str, str]) -> None:
    r = Repo(tmp_path, env).run("git", "gt-demo", "out", "--json")
    summary = json.loads(r.out)
    rig = Path(summary["dir"])
    runner = Repo(rig, env)
    ids = summary["beads"]
    assert len(ids) == 12
    beads = {b["id"]: b for b in runner.bead("list", "--all", "--json").json()}
    # Ten beads landed and closed; the broken one and the stuck one did not.
    closed = {k for k, bid in ids.items() if beads[bid]["status"] == "closed"}
    assert closed == set(ids) - {"divide", "bench"}
    assert summary["landed"] == 10
    # Every landed change is on main, and main's tests pass.
    files = runner.git("ls-tree", "-r", "--name-only", "main").splitlines()
    for name in ("subtract", "multiply", "power", "square", "cube", "hypot"):
        assert f"calc/{name}.py" in files
    assert "calc/divide.py" not in files
    runner.run("./run_tests.sh")
    # One polecat was killed and resumed, and finished its bead.
    assert summary["resumed"]
    hook = runner.gt("polecat", "status", summary["resumed"], "--json").json()["polecats"][0]
    assert ids["power"] in hook["beads"] and hook["live_status"] == "done"
    # The Refinery bisected the broken MR out of a batch and landed the rest.
    log = runner.gt("refinery", "log").out
    assert "culprit" in log and "landed" in log
    assert "Killing one polecat" in r.err and "kill -9" in r.err
    # The stuck bead was reported stalled and escalated.
    escalations = runner.gt("escalate", "list", "--json").json()
    assert any(ids["bench"] in (e["bead"] + e["message"]) for e in escalations)
    # The second clone adopted the beads through the bare remote, and a bead made there
    # arrived in the rig through git gt-sync.
    clone = Repo(rig.parent / "calc-clone", env)
    assert len(clone.bead("list", "--all", "--json").json()) == len(beads)
    assert beads[summary["from_clone"]]["title"] == "Add modulo()"
    assert "pushed refs/gt/beads" in r.err
    assert f"{summary['from_clone']}: Add modulo()" in r.err  # shown arriving in the rig
    # One bisect-out of the broken MR; the demo's last screen says what to type next.
    assert "git gt-polecat spawn --resume " in r.err and "--agent claude" in r.err
    assert summary["seconds"] < 120
    # Nothing is left running.
    live = [p for p in runner.gt("polecat", "list", "--json").json()
            if p["live_status"] in ("spawning", "setup", "running")]
    assert live == []


def test_demo_refuses_non_empty_dir(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    r = Repo(tmp_path, env).run("git", "gt-demo", "busy", check=False)
    assert r.code == 2
    assert "exists and is not empty" in r.err
    assert os.listdir(tmp_path / "busy") == ["file"]


@pytest.mark.skipif(not os.access(ROOT / "install.sh", os.X_OK), reason="no install.sh")
def test_install_then_demo_in_fresh_home(tmp_path: Path) -> None:
    """The README's first command on a clean HOME: install.sh, then git gt-demo."""
    home = tmp_path / "home"
    home.mkdir()
    base = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1"}
    for key in ("PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_INDEX_URL",
                "PIP_EXTRA_INDEX_URL", "SSL_CERT_FILE", "TMPDIR", "LANG"):
        if key in os.environ:
            base[key] = os.environ[key]
    # A relative --prefix, as a user might type it: the symlinks must still resolve.
    subprocess.run([str(ROOT / "install.sh"), "--prefix", "prefix"], cwd=tmp_path, env=base,
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    prefix = tmp_path / "prefix"
    bindir = prefix / "bin"
    assert (bindir / "git-gt-bead").exists() and (bindir / "git-gt-demo").exists()
    share = prefix / "share"
    assert (share / "zsh" / "site-functions" / "_git-gt-bead").exists()
    assert (share / "fish" / "vendor_completions.d" / "git-gt-bead.fish").exists()
    assert (share / "fish" / "vendor_conf.d" / "git-gastown.fish").exists()
    assert (share / "bash-completion" / "completions" / "git-gt").exists()
    env = dict(base, PATH=f"{bindir}:{base['PATH']}")
    proc = subprocess.run(["git", "gt-demo", str(tmp_path / "d"), "--json"], env=env,
                          text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Demo finished" in proc.stderr  # narration goes to stderr with --json
    summary = json.loads(proc.stdout)
    rig = Path(summary["dir"])

    def gt(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=rig, env=env, text=True, check=True,
                              capture_output=True, stdin=subprocess.DEVNULL).stdout

    # Beads closed: all but the broken one and the stuck one.
    beads = {b["id"]: b for b in json.loads(gt("gt-bead", "list", "--all", "--json"))}
    closed = {k for k, bid in summary["beads"].items() if beads[bid]["status"] == "closed"}
    assert closed == set(summary["beads"]) - {"divide", "bench"}
    # Commits landed on main, each bead's change among them.
    subjects = gt("log", "--format=%s", "main")
    assert summary["landed"] == 10
    for key in closed:
        assert summary["beads"][key] in subjects
    # One MR bisected out; one polecat resumed, and the replacement finished the bead.
    assert "culprit" in gt("gt-refinery", "log")
    hook = json.loads(gt("gt-polecat", "status", summary["resumed"], "--json"))["polecats"][0]
    assert summary["beads"]["power"] in hook["beads"] and hook["live_status"] == "done"
    # "Under a minute", with room for a loaded test machine.
    assert summary["seconds"] < 120, summary["seconds"]
    subprocess.run([str(ROOT / "install.sh"), "--prefix", "prefix", "--uninstall"],
                   cwd=tmp_path, env=base, check=True, capture_output=True, timeout=120)
    assert not (bindir / "git-gt-bead").exists()
    assert not (share / "zsh" / "site-functions" / "_git-gt-bead").exists()
    assert not (share / "git-gastown" / "venv").exists()
    assert os.listdir(prefix) == []  # every file and directory it made
    keep = tmp_path / "shared"  # a prefix others use too: only our files go
    (keep / "share" / "man" / "man1").mkdir(parents=True)
    (keep / "share" / "man" / "man1" / "other.1").write_text("x")
    (keep / "bin").mkdir()
    (keep / "bin" / "tool").write_text("x")
    subprocess.run(["./install.sh", "--prefix", str(keep), "--uninstall"],
                   cwd=ROOT, env=base, check=True, capture_output=True, timeout=120)
    assert sorted(str(p.relative_to(keep)) for p in keep.rglob("*")) == [
        "bin", "bin/tool", "share", "share/man", "share/man/man1", "share/man/man1/other.1"]
