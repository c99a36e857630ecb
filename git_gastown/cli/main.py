"""`git gt <family> ...`: dispatch to the `git-gt-<family>` command of that family."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from git_gastown import __version__

# family -> (module with a `cli` click command, one-line summary). Kept in step with
# [project.scripts] in pyproject.toml (a test checks it).
FAMILIES: dict[str, tuple[str, str]] = {
    "init": ("git_gastown.cli.init", "enable gastown in a repository (beads ref, hooks)"),
    "bead": ("git_gastown.cli.bead", "create, query and change beads (work items)"),
    "mail": ("git_gastown.cli.mail", "mail between agents and roles (beads of type message)"),
    "escalate": ("git_gastown.cli.escalate", "raise, route, bump and acknowledge escalations"),
    "convoy": ("git_gastown.cli.convoy", "bundles of beads that land together; dispatch them"),
    "witness": ("git_gastown.cli.witness", "health check of every polecat: dead, hung, waiting"),
    "deacon": ("git_gastown.cli.deacon", "one patrol over every rig; optional crontab line"),
    "dogs": ("git_gastown.cli.dogs", "maintenance: reap, prune merged worktrees, gc, locks"),
    "refinery": ("git_gastown.cli.refinery", "the merge queue: batch, verify, bisect, land"),
    "done": ("git_gastown.cli.done", "finish a Hook's work and queue it for landing"),
    "polecat": ("git_gastown.cli.polecat", "spawn, watch, stop and remove agents on Hooks"),
    "prime": ("git_gastown.cli.prime", "print the brief a fresh agent on a Hook starts with"),
    "handoff": ("git_gastown.cli.handoff", "leave notes and a checkpoint for the next agent"),
    "demo": ("git_gastown.cli.demo", "the whole loop on a sample repository, no AI account"),
    "doctor": ("git_gastown.cli.doctor", "check the installation and this rig; --fix mends"),
    "sync": ("git_gastown.cli.sync", "fetch, merge and push beads and refs/gt/* with a remote"),
    "status": ("git_gastown.cli.status", "one screen: agents, convoys, merge queue, escalations"),
}

# Families whose console script starts in a click-free module that answers the hot reads
# itself and hands everything else to the family's click command (cli/fast.py).
FAST_ENTRY: dict[str, str] = {"bead": "git_gastown.cli.fast"}


# The pitch, shown by `git gt --help` and in git-gt(1).
OVERVIEW = (
    "git-gastown runs many coding agents (Claude Code, Codex, Gemini, aider, or plain "
    "scripts) on one repository without losing their work. Work items (beads), agent state "
    "and the merge queue live in git refs under refs/gt/*: there is no daemon and no "
    "database server, and any git remote syncs them. Run `git gt-init` once in a "
    "repository to enable it."
)


def usage() -> str:
    width = max(len(f) for f in FAMILIES)
    lines = [
        "usage: git gt <command> [<args>]   (same as git gt-<command>)",
        "",
        "git-gastown runs many coding agents on one repository, with git as the database.",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {summary}" for name, (_, summary) in FAMILIES.items()]
    lines += ["", "git gt <command> --help shows a command's options; "
              "man git-gt-<command> its manual."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        if len(args) > 1 and args[0] == "help":
            args = [args[1], "--help"]
        else:
            click.echo(usage())
            return 0
    if args[0] == "--version":
        click.echo(f"git-gastown {__version__}")
        return 0
    family = args[0]
    if family not in FAMILIES:
        click.echo(f"git gt: error: unknown command {family!r}; run git gt --help for the list",
                   err=True)
        return 2
    module = importlib.import_module(FAST_ENTRY.get(family, FAMILIES[family][0]))
    code: int = module.main(args[1:], prog=f"git gt {family}")
    return code


if __name__ == "__main__":
    sys.exit(main())
