"""git gt-doctor: check the installation and this rig; --fix mends what is safe to mend."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from git_gastown.cli.common import CONTEXT, emit_json, json_option, run, style

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
