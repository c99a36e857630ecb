"""git gt-dogs: the maintenance jobs (reap, prune, gc, locks), listed or run."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from git_gastown.cli.common import CONTEXT, emit_json, json_option, run

MAN_SECTIONS = (
    ("Examples", """\
    git gt-dogs list
    git gt-dogs run gc
    git gt-dogs run --due
    git config gt.dogs.gc.looseObjects 500
"""),
    ("Files", """\
The file gt/dogs.json in the repository's git directory (usually .git/gt/dogs.json)
records when each dog last ran and what it did.
"""),
)


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """Dogs: maintenance the Deacon's patrol runs when each is due.

    \b
    reap    polecats whose runner died are marked exited (what their agent left
            running in its process group is ended first); orphan agents are stopped
    prune   worktrees of landed polecats are removed (merged and clean; never otherwise)
    gc      loose objects are repacked once they pile up (dogs.gc.looseObjects, 2000)
    locks   git *.lock files a killed git left behind (older than dogs.locks.staleAfter,
            10m, and open in no process) are removed

    Intervals: dogs.<name>.every in .gastown.toml or git config (e.g. "1h", or "never").
    """


@cli.command("list", context_settings=CONTEXT)
@json_option
def list_(as_json: bool) -> None:
    """Each dog with its interval, last run and result, and whether it is due."""
    from git_gastown import dogs
    from git_gastown.rig import Rig
    from git_gastown.timeutil import human_age

    items = dogs.status(Rig.open())
    if as_json:
        emit_json(items)
        return
    for d in items:
        every = "never" if d["every"] is None else human_age(d["every"])
        last = d["last_run"] or "never run"
        due = "  due" if d["due"] else ""
        click.echo(f"{d['dog']:<6} every {every:<5} last {last}{due}  - {d['summary']}")
        if d["last_result"]:
            click.echo(f"{'':<6} last result: {d['last_result']}")


@cli.command("run", context_settings=CONTEXT)
@click.argument("names", metavar="[NAME]...", nargs=-1)
@click.option("--due", "only_due", is_flag=True, help="Only the dogs whose interval has passed.")
@json_option
def run_(names: tuple[str, ...], only_due: bool, as_json: bool) -> None:
    """Run the named dogs now (all of them when none is named)."""
    from git_gastown import dogs
    from git_gastown.rig import Rig

    rig = Rig.open()
    dogs.check_names(names)
    results = dogs.run(rig, names, only_due=only_due)
    if as_json:
        emit_json([r.to_json() for r in results])
        return
    for r in results:
        click.echo(f"{r.dog}: {r.summary}")
    if any(not r.ok for r in results):
        raise click.exceptions.Exit(1)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-dogs") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
