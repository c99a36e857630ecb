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


def test_bash_completes_the_umbrella_command() -> None:
    out = _bash(f"""
source {ROOT}/completions/git-gt.bash
COMP_WORDS=(git-gt be); COMP_CWORD=1; _gt_direct; echo "${{COMPREPLY[*]}}"
COMP_WORDS=(git-gt bead dep a); COMP_CWORD=3; _gt_direct; echo "${{COMPREPLY[*]}}"
""")
    assert out == ["bead", "add"]


ZPTY = r"""
zmodload zsh/zpty
# Type LINE and TAB in a fresh interactive zsh whose $fpath has our folder, then print
# the edited line: what a user would see after pressing TAB once.
comp() {
  zpty z zsh -f -i
  zpty -w z "PS1='> '; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
  zpty -w -n z "$2"$'\t'
  zpty -w -n z $'\C-aprint -r -- RESULT:\C-e:END\n'
  zpty -w z 'exit'
  local out chunk
  while zpty -r z chunk; do out+=$chunk; done
  zpty -d z
  print -r -- ${${(M)${(f)${out//$'\r'/}}:#*RESULT:*:END*}[-1]}
}
"""

ZSH_LINES = {
    "git gt-bead cre": "git gt-bead create",  # through git, in a fresh shell
    "git gt bead cr": "git gt bead create",  # git gt <family>
    "git gt sta": "git gt status",
    "git gt-bead dep a": "git gt-bead dep add",
    "git gt-bead list --so": "git gt-bead list --sort",
    "git-gt-bead create --pri": "git-gt-bead create --priority",
    "git-gt conv": "git-gt convoy",
}


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_completes_through_git_in_a_fresh_shell(tmp_path: Path) -> None:
    folder = ROOT / "completions" / "zsh"
    for f in folder.iterdir():
        subprocess.run(["zsh", "-n", str(f)], check=True)
    script = tmp_path / "t.zsh"
    script.write_text(ZPTY + "".join(f"comp {folder} '{line}'\n" for line in ZSH_LINES))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "TERM": "xterm"}
    proc = subprocess.run(["zsh", "-f", str(script)], capture_output=True, text=True,
                          env=env, timeout=60, cwd=tmp_path)
    got = [line.split("RESULT:", 1)[1].rsplit(":END", 1)[0]
           for line in proc.stdout.splitlines() if "RESULT:" in line]
    assert got == [want for want in ZSH_LINES.values()], proc.stdout + proc.stderr


def _fish(tmp_path: Path, lines: list[str]) -> dict[str, list[str]]:
    data = tmp_path / "data" / "fish"
    data.mkdir(parents=True)
    (data / "vendor_completions.d").symlink_to(ROOT / "completions" / "fish" / "completions")
    (data / "vendor_conf.d").symlink_to(ROOT / "completions" / "fish" / "conf.d")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "XDG_DATA_DIRS": f"{tmp_path / 'data'}:/usr/share",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "d")}
    script = "; ".join(f"echo '## {line}'; complete -C '{line}'" for line in lines)
    proc = subprocess.run(["fish", "-c", script], capture_output=True, text=True, env=env,
                          timeout=60, cwd=tmp_path, check=True)
    out: dict[str, list[str]] = {}
    for row in proc.stdout.splitlines():
        if row.startswith("## "):
            key = row[3:]
            out[key] = []
        else:
            out[key].append(row.split("\t")[0])
    return out


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed")
def test_fish_completes_direct_and_through_git(tmp_path: Path) -> None:
    for f in (ROOT / "completions" / "fish").rglob("*.fish"):
        subprocess.run(["fish", "-n", str(f)], check=True)
    got = _fish(tmp_path, ["git gt-bead cr", "git gt bead cr", "git gt-sta", "git gt-bead dep ",
                           "git gt-bead create ", "git gt-bead create --pri",
                           "git gt-bead dep tree --", "git gt-bead label add --",
                           "git -C . gt-bead dep r", "git-gt-bead dep a", "git-gt sta"])
    assert got["git gt-bead cr"] == ["create"]
    assert got["git gt bead cr"] == ["create"]
    assert got["git gt-sta"] == ["gt-status"]
    assert sorted(got["git gt-bead dep "]) == ["add", "cycles", "rm", "tree"]
    assert "create" not in got["git gt-bead create "]  # no subcommands after a subcommand
    assert got["git gt-bead create --pri"] == ["--priority"]
    assert "--depth" in got["git gt-bead dep tree --"]
    assert "--depth" not in got["git gt-bead label add --"]  # each path has its own options
    assert got["git -C . gt-bead dep r"] == ["rm"]
    assert got["git-gt-bead dep a"] == ["add"]
    assert got["git-gt sta"] == ["status"]
