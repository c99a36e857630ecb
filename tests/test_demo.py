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
    assert len(summary["beads"]) == 12
    runner = Repo(rig, env)
    beads = runner.bead("list", "--all", "--json").json()
    assert {b["status"] for b in beads} == {"closed"}
    log = runner.git("log", "--format=%s", "main").splitlines()
    assert len(log) >= 13  # the initial commit and one per bead
    runner.run("./run_tests.sh")
    assert "Demo finished" not in r.out  # with --json the narration goes to stderr


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
    proc = subprocess.run(["git", "gt-demo", str(tmp_path / "d")], env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Demo finished" in proc.stdout
    subprocess.run(["./install.sh", "--prefix", str(tmp_path / "prefix"), "--uninstall"],
                   cwd=ROOT, env=base, check=True, capture_output=True, timeout=120)
    assert not (bindir / "git-gt-bead").exists()
    assert not (tmp_path / "prefix" / "share" / "git-gastown" / "venv").exists()
