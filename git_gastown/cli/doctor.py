"""git gt-doctor: check the installation and this rig; --fix mends what is safe to mend."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from git_gastown.cli.common import CONTEXT, emit_json, json_option, run, style

MAN_SECTIONS = (
    ("Checks", """\
.TP
\\fBgit\\fR
git's version: the Refinery needs git merge-tree --write-tree (git 2.38 or newer). No fix.
.TP
\\fBpython\\fR, \\fBagents\\fR
The interpreter in use, and which agent CLIs (claude, codex, gemini, aider, copilot) and
tmux are on PATH. A warning when the rig's configured agent (polecat.agent) is missing.
.TP
\\fBbeads-ref\\fR, \\fBrefs\\fR
refs/gt/beads exists, and every refs/gt/* ref (beads, Hooks, merge queue, remote copies)
points at a commit. No fix: the message names the reflog route,
git update-ref REF REF@{1}. While the beads ref is broken, the checks that read it are
skipped.
.TP
\\fBhooks\\fR
The four hooks are gastown's stubs, executable, at an interpreter that can import
git_gastown; or pre-commit's scripts with the gastown-<hook> ids listed in
.pre-commit-config.yaml. --fix reinstalls gastown's stubs with this interpreter (keeping a
foreign hook as <hook>.gt-orig), but never touches hooks pre-commit manages. A stub whose
text differs from what git gt-init installs now (after an upgrade) is a warning, and --fix
rewrites it with its own interpreter, leaving a chained <hook>.gt-orig in place. A stub
that chains to a pre-commit script which already runs gastown is a warning too (gastown
would run twice); the message gives the mv that undoes it.
.TP
\\fBbeads\\fR
Every bead file parses and sits at the path its id gives. No fix.
.TP
\\fBcache\\fR
The query cache (.git/gt/cache.sqlite) is readable and holds as many beads as the ref.
--fix rebuilds it.
.TP
\\fBrefspecs\\fR
Every remote's fetch carries refs/gt/*. --fix adds the refspecs.
.TP
\\fBobjects\\fR
Loose objects and packs. --fix runs git gc.
.TP
\\fBworktrees\\fR
Worktree entries git can prune (--fix prunes them and counts what went), locked entries
whose directory is gone (the unlock command is named), polecats whose worktree is gone
and gt/<prefix>/* worktrees whose Hook is gone or nuked (reported; removing a worktree is
left to you).
.TP
\\fBlocks\\fR
Git lock files left by a killed git process. --fix removes those no running process holds.
"""),
    ("Examples", """\
    git gt-doctor
    git gt-doctor --fix
    git gt-doctor --json | jq '.[] | select(.status == "fail")'
"""),
)
MAN_EXIT_STATUS = (
    (0, "No check failed (warnings do not count)."),
    (1, "A check failed; with --fix, one still fails after mending what was safe to mend "
        "(what was mended is listed under it)."),
    (2, "Bad usage: an unknown option."),
)

MARKS = {"ok": ("ok", "green"), "warn": ("WARN", "yellow"), "fail": ("FAIL", "red"),
         "info": ("info", "blue")}


@click.command(context_settings=CONTEXT)
@click.option("--fix", is_flag=True,
              help="Mend what is safe to mend: reinstall hooks, rebuild the cache, add "
                   "missing refspecs, prune orphan worktree entries, pack loose objects.")
@json_option
def cli(fix: bool, as_json: bool) -> None:
    """Check git's version, the hooks and the interpreter they call, that every bead
    parses and holds valid values, that the query cache matches the ref, that no
    dependency cycle (which a merge of two clones can make) keeps beads from being ready,
    the remotes' refspecs, loose objects, orphan worktrees and which agent CLIs are
    installed.

    Exit status 1 when a check fails (after --fix: when one still fails).
    """
    from git_gastown.doctor import run_checks
    from git_gastown.errors import GtError
    from git_gastown.git import Repo

    try:
        repo: Repo | None = Repo.discover()
    except GtError:
        repo = None
    findings = run_checks(repo, fix=fix)
    if as_json:
        emit_json([f.to_json() for f in findings])
    else:
        if repo is None:
            click.echo("not in a git repository: checking the installation only")
        for f in findings:
            word, color = MARKS[f.status]
            click.echo(f"{style(word.ljust(4), fg=color)}  {f.check}: {f.message}")
            if f.fixed:
                click.echo(f"      fixed: {f.fixed}")
            elif f.fix is not None and f.status in ("fail", "warn"):
                click.echo("      git gt-doctor --fix mends this")
    if any(f.status == "fail" for f in findings):
        raise click.exceptions.Exit(1)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-doctor") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
