"""git gt-demo: the whole loop on a sample repository, with no AI account."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from git_gastown.cli.common import CONTEXT, emit_json, run

MAN_SECTIONS = (
    ("What it shows", """\
In about half a minute, printing each command as you would type it: a sample repository
(calc) with a test suite and a bare remote (hub.git); git gt-init; twelve beads with
dependencies in a mountain convoy; shell polecats dispatched, each in its own worktree and
branch; one polecat killed with kill -9 and resumed from its Hook; the Refinery landing
batches and bisecting out the one change that breaks the tests; a bead whose command never
ends flagged stalled and escalated by a patrol; git gt-sync to the bare remote, a second
clone adopting the beads, and a bead made in that clone synced back; then git gt-status
and what to try next.
"""),
    ("Files", """\
Everything is created under DIR: DIR/calc (the rig), DIR/hub.git (the bare remote),
DIR/calc-clone (the second clone) and DIR/worktrees (the polecats' worktrees). Nothing
outside DIR is touched, and no process is left running. Remove it all with rm -rf DIR.
"""),
    ("Examples", """\
    git gt-demo
    git gt-demo /tmp/gt-demo
    git gt-demo /tmp/gt-demo --json | jq .landed
"""),
)
MAN_EXIT_STATUS = (
    (0, "The demo ran to the end."),
    (1, "A step failed; the message names the command. What was created so far stays in "
        "DIR for a look, and no polecat is left running."),
    (2, "Bad usage, e.g. DIR exists and is not empty (nothing was created)."),
)


@click.command(context_settings=CONTEXT)
@click.argument("directory", metavar="[DIR]", required=False, default="gastown-demo",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON summary at the end instead of the closing hints.")
def cli(directory: Path, as_json: bool) -> None:
    """Run the demo in DIR (default ./gastown-demo; it must be new or empty).

    Creates a sample repository with a real test suite, enables gastown, creates a dozen
    beads with dependencies in a convoy, and has shell polecats (the built-in agent) do
    them: one is killed and resumed, the Refinery bisects out a change that breaks the
    tests, a stuck bead is escalated, and beads travel to a second clone through a bare
    remote. Every command is printed as you would type it. Needs only Python and git,
    no AI account.
    """
    from git_gastown.demo import run_demo

    def echo(text: str) -> None:
        click.echo(text, err=as_json)

    summary = run_demo(directory, echo)
    if as_json:
        emit_json(summary)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-demo") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
