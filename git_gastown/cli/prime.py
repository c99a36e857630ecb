"""git gt-prime: print what a fresh agent on a Hook needs to know."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from git_gastown.cli.common import CONTEXT, emit_json, json_option, run
from git_gastown.errors import UsageError

MAN_SECTIONS = (
    ("Examples", """\
Inside a polecat's worktree (or with GT_HOOK set), print the brief again:

    git gt-prime

From anywhere in the rig:

    git gt-prime --hook nux --json
"""),
)


def current_hook(given: str | None) -> str:
    """The Hook meant: --hook, else $GT_HOOK, else the worktree we are in."""
    from git_gastown import hook as hk

    name = given or os.environ.get("GT_HOOK") or hk.hook_of_worktree()
    if not name:
        raise UsageError("not inside a polecat's worktree",
                         hint="give --hook NAME (git gt-polecat list shows them)")
    return hk.check_name(name)


@click.command(context_settings=CONTEXT)
@click.option("--hook", "hook_name", metavar="NAME",
              help="The Hook (default: $GT_HOOK, else the worktree you are in).")
@json_option
def cli(hook_name: str | None, as_json: bool) -> None:
    """Print the brief a fresh agent starts with: role and rules, its beads in full,
    notes from its predecessor, the last checkpoint, recent commits, and how to finish.

    A polecat is started with this text as its prompt; an agent that lost its context
    can run it again.
    """
    from git_gastown import hook as hk
    from git_gastown.polecat.prime import prime_text
    from git_gastown.rig import Rig

    rig = Rig.open()
    hook = hk.load_hook(rig.repo, current_hook(hook_name))
    text = prime_text(rig, hook)
    if as_json:
        emit_json({"hook": hook.name, "beads": list(hook.state.beads), "prompt": text})
        return
    click.echo(text, nl=False)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-prime") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
