"""git gt-demo: the whole loop on a sample repository, with no AI account."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from git_gastown.cli.common import CONTEXT, emit_json, run


@click.command(context_settings=CONTEXT)
@click.argument("directory", metavar="[DIR]", required=False, default="gastown-demo",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON summary at the end instead of the closing hints.")
def cli(directory: Path, as_json: bool) -> None:
    """Run the demo in DIR (default ./gastown-demo; it must be new or empty).

    Creates a sample repository with a real test suite, enables gastown, creates a dozen
    beads with dependencies, and has workers claim and finish them, printing every
    command as you would type it. Needs only Python and git.
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
