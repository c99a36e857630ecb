"""git gt-convoy: bundles of beads that land together, their progress, their dispatch."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from git_gastown.cli.common import (
    CONTEXT,
    actor_for,
    actor_option,
    emit_json,
    json_option,
    open_rig,
    run,
    style,
)

if TYPE_CHECKING:
    from git_gastown.convoy import Convoy

STATE_COLORS = {"done": "bright_black", "active": "yellow", "blocked": "red",
                "stalled": "magenta", "ready": "green", "deferred": "blue"}


MAN_SECTIONS = (
    ("Examples", """\
    git gt-convoy create --name auth --mountain gt-a3f8k gt-b4c9d gt-c5d0e
    git gt-convoy dispatch auth --max 2 --agent claude
    git gt-convoy status
    git gt-convoy show auth --json
    git gt-convoy add auth gt-d6e1f
"""),
    ("Settings", """\
[convoy] in .gastown.toml (or git config gt.convoy.<key>): maxPolecats (4, the default
--max of dispatch), stallAfter ("1h": a mountain bead with no agent event and no commit
for this long is marked stalled and escalated), maxAttempts (3: failed attempts before a
mountain bead is blocked and skipped).
"""),
)


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """Convoys: a named bundle of beads that lands when every one of them is closed.

    A convoy is a bead of type convoy tracking other beads (dependency type tracks,
    which blocks nothing). It closes itself when all its beads are closed: when
    `git gt-bead close` closes the last one, when the Refinery lands it, or at the next
    patrol. Label a convoy `mountain` for long runs: a bead with no progress for
    [convoy] stallAfter is marked stalled and escalated, and a bead that failed 3 times
    is blocked and skipped so the next ready bead is dispatched instead.
    """


def _summary(c: Convoy) -> str:
    from git_gastown.convoy import progress_bar

    pct = f"{100 * c.done // c.total}%" if c.total else "-"
    extras = []
    if c.count("active"):
        extras.append(f"active {c.count('active')}")
    if c.count("stalled"):
        extras.append(style(f"stalled {c.count('stalled')}", fg="magenta"))
    if c.count("blocked"):
        extras.append(style(f"blocked {c.count('blocked')}", fg="red"))
    kind = " (mountain)" if c.mountain else ""
    state = "  landed" if c.status == "closed" else ""
    return (f"{style(c.name, bold=True)}{kind}  {progress_bar(c.done, c.total)}"
            f" {c.done}/{c.total} {pct}" + (f"  {'  '.join(extras)}" if extras else "")
            + state)


@cli.command(context_settings=CONTEXT)
@click.argument("bead_ids", metavar="ID...", nargs=-1, required=True)
@click.option("-n", "--name", required=True, metavar="NAME", help="Unique name of the convoy.")
@click.option("-l", "--label", "labels", multiple=True, metavar="LABEL",
              help="Repeatable; `mountain` turns on stall detection and skipping.")
@click.option("--mountain", is_flag=True, help="Same as --label mountain.")
@click.option("-d", "--description", default="", metavar="TEXT")
@actor_option
@json_option
def create(bead_ids: tuple[str, ...], name: str, labels: tuple[str, ...], mountain: bool,
           description: str, actor: str | None, as_json: bool) -> None:
    """Create a convoy (named with --name) that tracks the beads ID...; print its id."""
    from git_gastown import convoy

    rig = open_rig()
    all_labels = list(labels) + (["mountain"] if mountain else [])
    c = convoy.create(rig, name, bead_ids, actor_for(rig, actor), labels=all_labels,
                      description=description)
    if as_json:
        emit_json(c.to_json())
        return
    click.echo(c.id)


@cli.command(context_settings=CONTEXT)
@click.argument("name", metavar="NAME")
@click.argument("bead_ids", metavar="ID...", nargs=-1, required=True)
@actor_option
@json_option
def add(name: str, bead_ids: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Track more beads in convoy NAME (a landed convoy opens again)."""
    from git_gastown import convoy

    rig = open_rig()
    c = convoy.add(rig, name, bead_ids, actor_for(rig, actor))
    if as_json:
        emit_json(c.to_json())
        return
    click.echo(f"{c.name}: tracks {c.total} beads")


@cli.command("list", context_settings=CONTEXT)
@click.option("--all", "show_all", is_flag=True, help="Include landed (closed) convoys.")
@json_option
def list_(show_all: bool, as_json: bool) -> None:
    """Convoys, oldest first, one line each."""
    from git_gastown import convoy

    items = convoy.list_convoys(open_rig().store, include_closed=show_all)
    if as_json:
        emit_json([c.to_json(with_beads=False) for c in items])
        return
    if not items:
        click.echo("no convoys")
    for c in items:
        click.echo(f"{style(c.id, bold=True)}  {c.name}  {c.done}/{c.total}"
                   f"{'  mountain' if c.mountain else ''}"
                   f"{'  landed' if c.status == 'closed' else ''}")


@cli.command(context_settings=CONTEXT)
@click.argument("name", metavar="NAME")
@json_option
def show(name: str, as_json: bool) -> None:
    """Every bead of convoy NAME with its state and the agent working on it."""
    from git_gastown import convoy

    c = convoy.find(open_rig().store, name)
    if as_json:
        emit_json(c.to_json())
        return
    click.echo(_summary(c))
    for t in c.tracked:
        agent = f"@{t.assignee}" if t.assignee else "-"
        tries = f"  attempts {t.attempts}" if t.attempts else ""
        click.echo(f"  {style(f'{t.state:<8}', fg=STATE_COLORS.get(t.state))} {t.id}"
                   f"  P{t.priority}  {agent:<14} {t.title}{tries}")


@cli.command(context_settings=CONTEXT)
@click.option("--all", "show_all", is_flag=True, help="Include landed (closed) convoys.")
@json_option
def status(show_all: bool, as_json: bool) -> None:
    """All convoys with a progress bar, done/total, stalled and blocked counts."""
    from git_gastown import convoy

    items = convoy.list_convoys(open_rig().store, include_closed=show_all)
    if as_json:
        emit_json([c.to_json(with_beads=False) for c in items])
        return
    if not items:
        click.echo("no convoys")
    for c in items:
        click.echo(_summary(c))


@cli.command(context_settings=CONTEXT)
@actor_option
@json_option
def check(actor: str | None, as_json: bool) -> None:
    """Close every convoy whose tracked beads are all closed (patrols do this too)."""
    from git_gastown import convoy

    rig = open_rig()
    closed = convoy.check_convoys(rig.store, actor_for(rig, actor))
    if as_json:
        emit_json([c.to_json(with_beads=False) for c in closed])
        return
    if not closed:
        click.echo("no convoy landed")
    for c in closed:
        click.echo(f"{c.name}: landed ({c.total} beads closed)")


@cli.command(context_settings=CONTEXT)
@click.argument("name", metavar="NAME")
@click.option("-n", "--max", "max_active", type=click.IntRange(min=1), metavar="N",
              help="At most N beads of the convoy worked on at once (default: the last "
                   "--max given, else convoy.maxPolecats, 4).")
@click.option("-a", "--agent", metavar="AGENT", help="Agent preset for the new polecats.")
@actor_option
@json_option
def dispatch(name: str, max_active: int | None, agent: str | None, actor: str | None,
             as_json: bool) -> None:
    """Spawn a polecat for each ready bead of NAME, up to N at work at once.

    The settings are remembered: patrols keep a mountain convoy going with them, and a
    bead blocked after repeated failures is replaced by the next ready one.
    """
    from git_gastown import convoy

    rig = open_rig()
    report = convoy.dispatch(rig, name, actor_for(rig, actor), max_active=max_active, agent=agent)
    if as_json:
        emit_json(report.to_json())
    else:
        for bead, polecat in report.started:
            click.echo(f"{bead}: polecat {polecat}")
        if not report.started and not report.failed:
            click.echo(f"{report.convoy}: nothing to dispatch ({report.active} of at most "
                       f"{report.max_active} at work)")
        for bead, error in report.failed:
            click.echo(f"{bead}: could not spawn: {error}", err=True)
    if report.failed:
        raise click.exceptions.Exit(1)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-convoy") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
