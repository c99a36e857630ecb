"""Shell completion: scripts are current and complete real command lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GIT_COMPLETION = Path("/usr/share/bash-completion/completions/git")


def test_completion_scripts_are_current() -> None:
    proc = subprocess.run([sys.executable, "-m", "git_gastown.completion", "--check",
                           "--outdir", str(ROOT / "completions")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _bash(script: str) -> list[str]:
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


def test_bash_completes_direct_commands() -> None:
    out = _bash(f"""
source {ROOT}/completions/git-gt.bash
COMP_WORDS=(git-gt-bead de); COMP_CWORD=1; _gt_direct; echo "${{COMPREPLY[*]}}"
COMP_WORDS=(git-gt-bead dep ""); COMP_CWORD=2; _gt_direct; echo "${{COMPREPLY[*]}}"
COMP_WORDS=(git-gt-bead create --pri); COMP_CWORD=2; _gt_direct; echo "${{COMPREPLY[*]}}"
""")
    assert out[0].split() == ["delete", "dep"]
    assert {"add", "rm", "tree", "cycles"} <= set(out[1].split())
    assert out[2] == "--priority"


@pytest.mark.skipif(not GIT_COMPLETION.exists(), reason="git's bash completion not installed")
def test_bash_completes_through_git() -> None:
    out = _bash(f"""
source {GIT_COMPLETION}
source {ROOT}/completions/git-gt.bash
complete_line() {{
    COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}; read -ra COMP_WORDS <<<"$1"
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
    __git_wrap__git_main; echo "${{COMPREPLY[*]}}"
}}
complete_line "git gt-bead dep a"
complete_line "git gt bead cr"
complete_line "git gt-bead list --so"
""")
    assert out[0].strip() == "add"
    assert out[1].strip() == "create"
    assert out[2].strip() == "--sort"


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_script_parses() -> None:
    subprocess.run(["zsh", "-n", str(ROOT / "completions" / "_git-gt")], check=True)
