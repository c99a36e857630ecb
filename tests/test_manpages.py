"""Man pages: one per command family, generated from the click tree so they cannot drift
from --help, rendering cleanly, and opened by `git gt-<family> --help`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import Repo

from git_gastown import manpage
from git_gastown.cli.main import FAMILIES, FAST_ENTRY

ROOT = Path(__file__).resolve().parents[1]
MAN = ROOT / "man"
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
    "scripts"]
HAS_MAN = shutil.which("man") is not None
REGENERATE = "stale: run  python -m git_gastown.manpage  and commit man/"


def test_every_script_has_a_family_and_every_family_a_script() -> None:
    families = {name.removeprefix("git-gt-"): target for name, target in SCRIPTS.items()
                if name.startswith("git-gt-")}
    assert set(families) == set(FAMILIES)
    for family, target in families.items():
        entry = FAST_ENTRY.get(family, FAMILIES[family][0])
        assert target == f"{entry}:main", family
    assert SCRIPTS["git-gt"] == "git_gastown.cli.main:main"


@pytest.mark.parametrize("page", ["git-gt.1", *(f"git-gt-{f}.1" for f in FAMILIES)])
def test_every_page_exists_and_matches_the_generator(page: str) -> None:
    path = MAN / page
    assert path.exists(), f"man/{page} is missing; {REGENERATE}"
    assert path.read_text(encoding="utf-8") == manpage.render_all()[page], REGENERATE


def test_no_page_without_a_family() -> None:
    pages = {p.name for p in MAN.glob("git-gt*.1")}
    assert pages == set(manpage.render_all())


def test_check_mode_and_regeneration(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "git_gastown.manpage"]
    ok = subprocess.run([*cmd, "--check"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    out = tmp_path / "man"
    r = subprocess.run([*cmd, "--check", "--outdir", str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "out of date: git-gt.1" in r.stderr
    assert not out.exists()  # --check writes nothing
    r = subprocess.run([*cmd, "--outdir", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.count("wrote ") == len(FAMILIES) + 1
    for page in out.iterdir():
        assert page.read_text() == (MAN / page.name).read_text()
    (out / "git-gt-bead.1").write_text("stale\n")
    (out / "git-gt-gone.1").write_text("old\n")
    r = subprocess.run([*cmd, "--check", "--outdir", str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 1
    assert "out of date: git-gt-bead.1" in r.stderr and "git-gt-gone.1" in r.stderr
    r = subprocess.run([*cmd, "--outdir", str(out)], capture_output=True, text=True)
    assert r.stdout.strip() == f"wrote {out / 'git-gt-bead.1'}"


def _help_parts(text: str) -> tuple[list[str], list[str]]:
    """The option specs (e.g. '-t, --type TYPE') and subcommand names of a --help text."""
    options, commands, section = [], [], ""
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            section = line
            continue
        m = re.match(r"^  (\S.*?)(?:\s{2,}|$)", line)
        if not m:
            continue
        if section == "Options:" and m.group(1).startswith("-"):
            options.append(m.group(1))
        elif section == "Commands:":
            commands.append(m.group(1))
    return options, commands


@pytest.mark.parametrize("family", list(FAMILIES))
def test_page_shows_everything_help_shows(family: str, env: dict[str, str]) -> None:
    """Every option and command of every `--help` screen of the family is on its page."""
    page = (MAN / f"git-gt-{family}.1").read_text()
    plain = page.replace("\\fB", "").replace("\\fR", "")
    queue: list[tuple[str, ...]] = [()]
    seen = 0
    while queue:
        words = queue.pop()
        proc = subprocess.run([f"git-gt-{family}", *words, "--help"], env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        seen += 1
        options, commands = _help_parts(proc.stdout)
        usage = proc.stdout.splitlines()[0].removeprefix("Usage: ")
        if words or not commands:  # a family's own group usage is its list of commands
            assert manpage.esc(usage) in plain, usage
        for spec in options:
            if spec in ("-h, --help", "--help"):
                continue
            assert f"\\fB{manpage.esc(spec)}\\fR" in page, (words, spec)
        for name in commands:
            assert f'.SS "{manpage.esc(" ".join((*words, name)))}"' in page
            queue.append((*words, name))
    assert seen >= 1


@pytest.mark.skipif(not HAS_MAN, reason="man is not installed")
@pytest.mark.parametrize("page", sorted(p.name for p in MAN.glob("git-gt*.1")))
def test_page_renders_without_warnings(page: str) -> None:
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="", LANG="C.UTF-8")
    proc = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(MAN / page)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    name = page.removesuffix(".1")
    assert proc.stdout.lstrip().startswith(f"{name.upper()}(1)")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"):
        assert f"\n{section}\n" in proc.stdout


@pytest.mark.skipif(not HAS_MAN, reason="man is not installed")
def test_git_help_opens_the_page(repo: Repo, tmp_path: Path) -> None:
    """git runs `man git-gt-<family>` for `git gt-<family> --help`: the page is found."""
    man1 = tmp_path / "share" / "man" / "man1"
    man1.mkdir(parents=True)
    for page in MAN.glob("git-gt*.1"):
        shutil.copy(page, man1)
    env = dict(repo.env, MANPATH=str(tmp_path / "share" / "man"), MANPAGER="cat",
               PAGER="cat", MANWIDTH="80")
    where = repo.run("man", "-w", "git-gt-bead", env=env).out.strip()
    assert where == str(man1 / "git-gt-bead.1")
    out = repo.run("git", "gt-bead", "--help", env=env).out
    assert "GIT-GT-BEAD(1)" in out and "create, query and change beads" in out
    out = repo.run("git", "help", "-m", "gt-init", env=env).out
    assert "GIT-GT-INIT(1)" in out and "--no-remote-refspecs" in out.replace("‐", "-")
    out = repo.run("git", "gt", "--help", env=env).out
    assert "GIT-GT(1)" in out


@pytest.mark.skipif(not HAS_MAN, reason="man is not installed")
def test_install_layout_is_found_without_manpath(repo: Repo, tmp_path: Path) -> None:
    """install.sh puts commands in PREFIX/bin and pages in PREFIX/share/man/man1: man finds
    the pages from PATH alone, as it does for ~/.local."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "share" / "man" / "man1").mkdir(parents=True)
    for page in MAN.glob("git-gt*.1"):
        shutil.copy(page, prefix / "share" / "man" / "man1")
    for family in FAMILIES:
        exe = shutil.which(f"git-gt-{family}", path=repo.env["PATH"])
        assert exe
        (prefix / "bin" / f"git-gt-{family}").symlink_to(exe)
    env = {k: v for k, v in repo.env.items() if k != "MANPATH"}
    env.update(PATH=f"{prefix / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin", MANPAGER="cat",
               PAGER="cat", MANWIDTH="80")
    for family in FAMILIES:
        where = repo.run("man", "-w", f"git-gt-{family}", env=env).out.strip()
        assert where == str(prefix / "share" / "man" / "man1" / f"git-gt-{family}.1")
    assert "GIT-GT-BEAD(1)" in repo.run("git", "gt-bead", "--help", env=env).out


FAKE_FAMILY = '''
import click

MAN_SECTIONS = (("Examples", """\\
Lines starting with a dot or a quote are escaped:

    .hidden-looking command --flag
    'quoted' \\\\backslash

.not a request either
"""), ("Raw roff", """\
.TP
.B GT_FAKE
A definition list, written in roff.
"""))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", is_flag=True, help="Say more.")
def cli(verbose):
    """A fake family with `code` and a-hyphen.

    \\b
    kept   as
      written
    """


@cli.command()
@click.argument("thing")
@click.option("-k", "--kind", type=click.Choice(["a", "b"]), default="a", show_default=True,
              help="a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z|aa|bb|cc|dd|ee|ff")
def make(thing, kind):
    """Make THING."""


@cli.group()
@click.option("--deep", help="A group option.")
def sub(deep):
    """A nested group."""


@sub.command("leaf")
def leaf():
    """A leaf."""


@cli.command(hidden=True)
def secret():
    """Not shown."""
'''


def test_generator_escapes_and_covers_a_whole_tree(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_gt_family.py").write_text(FAKE_FAMILY)
    monkeypatch.syspath_prepend(str(tmp_path))
    page = manpage.render_family("fake", "fake_gt_family", "a fake family", ["fake"])
    assert '.TH "GIT\\-GT\\-FAKE" "1"' in page
    assert "\\fBgit gt\\-fake make\\fR [OPTIONS] THING" in page
    assert "\\fBgit gt\\-fake sub leaf\\fR [OPTIONS]" in page
    assert "secret" not in page  # hidden commands stay hidden
    assert "\\fB\\-\\-verbose\\fR" in page and "\\fB\\-\\-deep TEXT\\fR" in page
    assert ".nf\nkept   as\n  written\n.fi" in page  # \b blocks are not refilled
    assert "A fake family with \\fBcode\\fR and a\\-hyphen." in page
    assert "\\&.hidden\\-looking command \\-\\-flag" in page
    assert "\\&'quoted' \\ebackslash" in page
    assert "\\&.not a request either" in page
    assert "[default: a]" in page
    assert '.SH RAW ROFF\n.TP\n.B GT_FAKE\nA definition list, written in roff.\n' in page
    if HAS_MAN:
        path = tmp_path / "git-gt-fake.1"
        path.write_text(page)
        proc = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(path)],
                              env=dict(os.environ, MANWIDTH="80"), capture_output=True,
                              text=True)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        assert ".hidden-looking command --flag" in proc.stdout.replace("\u2010", "-")
