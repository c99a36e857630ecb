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
    # The second clone adopted the beads through the bare remote.
    clone = Repo(rig.parent / "calc-clone", env)
    assert len(clone.bead("list", "--all", "--json").json()) == len(beads)
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
    subprocess.run(["./install.sh", "--prefix", str(tmp_path / "prefix")], cwd=ROOT, env=base,
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    bindir = tmp_path / "prefix" / "bin"
    assert (bindir / "git-gt-bead").exists()
    assert (bindir / "git-gt-demo").exists()
    env = dict(base, PATH=f"{bindir}:{base['PATH']}")
    proc = subprocess.run(["git", "gt-demo", str(tmp_path / "d"), "--json"], env=env,
                          text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Demo finished" in proc.stderr  # narration goes to stderr with --json
    summary = json.loads(proc.stdout)
    assert summary["landed"] == 10 and summary["resumed"]  # the outcome, not just the end
    assert "culprit" in subprocess.run(["git", "gt-refinery", "log"], cwd=summary["dir"],
                                       env=env, text=True, capture_output=True).stdout
    subprocess.run(["./install.sh", "--prefix", str(tmp_path / "prefix"), "--uninstall"],
                   cwd=ROOT, env=base, check=True, capture_output=True, timeout=120)
    assert not (bindir / "git-gt-bead").exists()
    assert not (tmp_path / "prefix" / "share" / "git-gastown" / "venv").exists()
    assert os.listdir(tmp_path / "prefix") == []  # every file and directory it made
    keep = tmp_path / "shared"  # a prefix others use too: only our files go
    (keep / "share" / "man" / "man1").mkdir(parents=True)
    (keep / "share" / "man" / "man1" / "other.1").write_text("x")
    (keep / "bin").mkdir()
    (keep / "bin" / "tool").write_text("x")
    subprocess.run(["./install.sh", "--prefix", str(keep), "--uninstall"],
                   cwd=ROOT, env=base, check=True, capture_output=True, timeout=120)
    assert sorted(str(p.relative_to(keep)) for p in keep.rglob("*")) == [
        "bin", "bin/tool", "share", "share/man", "share/man/man1", "share/man/man1/other.1"]
