"""git gt-deacon: the patrol over every rig, and an optional crontab line for it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from git_gastown.cli.common import CONTEXT, actor_option, emit_json, json_option, run

if TYPE_CHECKING:
    from git_gastown.deacon import Patrol

MAN_SECTIONS = (
    ("Examples", """\
    git gt-deacon patrol
    git gt-deacon patrol --dry-run --json
    git gt-deacon cron install --every 10
    git gt-deacon cron uninstall
    git config --add gt.town.rigs ~/src/other-rig
"""),
    ("Files", """\
All in the gt/ directory of the repository's common git directory (usually .git/gt):
gt/hooks-due exists while something needs watching; the modification time of
gt/patrol-next is the earliest time of the next hook-started patrol;
gt/logs/health.log collects what patrols started by git hooks report, and
gt/logs/cron.log what the crontab line's patrols report.
"""),
)


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """The Deacon: one patrol pass over every rig, then it exits (there is no daemon).

    A patrol runs the Witness of each rig it knows and acts on its findings, lands
    convoys whose beads are all closed, raises unacknowledged escalations, runs the Dogs
    that are due, and re-kicks a merge queue that has ready work but no Refinery run.
    Git hooks start a patrol in the background at most once per [witness] patrolInterval
    while something needs watching (a live polecat, an escalation that may still be
    raised, a mountain convoy); `cron install` adds one for quiet hours.
    """


@cli.command(context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Print only failures.")
@click.option("--dry-run", is_flag=True, help="Report what the Witness finds; change nothing.")
@click.option("--from-hook", is_flag=True, hidden=True, help="Started by a git hook.")
@actor_option
@json_option
def patrol(quiet: bool, dry_run: bool, from_hook: bool, actor: str | None,
           as_json: bool) -> None:
    """Patrol this rig (and every rig listed in git config gt.town.rigs).

    Exits 1 when a step failed in any rig (a bad setting, a failed dog), after printing
    the whole report, so scripts and cron wrappers see it. --from-hook marks a patrol the
    git hooks started (its output goes to the health log, and it always exits 0).
    """
    from git_gastown import deacon
    from git_gastown.rig import Rig, resolve_actor

    rig = Rig.open()
    who = resolve_actor(rig.repo, actor or "deacon")
    reports = [deacon.patrol(r, who, act=not dry_run) for r in deacon.known_rigs(rig)]
    failed = any(r.errors or any(not d["ok"] for d in r.dogs) for r in reports)
    if as_json:
        emit_json([r.to_json() for r in reports])
    else:
        _show_patrol(reports, quiet=quiet, dry_run=dry_run)
    if failed and not from_hook:
        sys.exit(1)


def _show_patrol(reports: Sequence[Patrol], *, quiet: bool, dry_run: bool) -> None:
    for r in reports:
        for err in r.errors:
            click.echo(f"{r.rig}: error: {err}", err=True)
        if quiet:
            for d in r.dogs:
                if not d["ok"]:
                    click.echo(f"{r.rig}: dog {d['dog']} failed: {d['error']}", err=True)
            continue
        if r.skipped:
            click.echo(f"{r.rig}: another patrol is running; skipped")
            continue
        problems = r.witness.problems if r.witness else []
        total = len(r.witness.findings) if r.witness else 0
        click.echo(f"{r.rig}: {total} polecat(s), {len(problems)} acted on"
                   f"{' (dry run)' if dry_run else ''}")
        for f in problems:
            click.echo(f"  {f.polecat}: {f.cls} -> {f.action}"
                       + (f" ({'; '.join(f.applied)})" if f.applied else ""))
        if r.witness:
            for ev in r.witness.convoys:
                click.echo(f"  convoy {ev['convoy']}: {ev['bead']} {ev['event']}")
        for name in r.landed:
            click.echo(f"  convoy {name}: landed")
        for eid in r.bumped:
            click.echo(f"  escalation {eid}: raised a level")
        for d in r.dogs:
            click.echo(f"  dog {d['dog']}: {'; '.join(d['did']) or 'nothing to do'}"
                       if d["ok"] else f"  dog {d['dog']}: failed: {d['error']}")
        if r.refinery not in ("", "absent", "idle"):
            click.echo(f"  refinery: {r.refinery}")
        if r.radar:
            click.echo(f"  radar: mailed {len(r.radar)} conflict warning(s)")
        when = (f"next hook patrol not before {r.next_patrol}" if r.next_patrol
                else "hook patrol schedule unchanged (dry run)")
        click.echo(f"  {'watching' if r.watching else 'nothing to watch'}; {when}")


@cli.group(context_settings=CONTEXT)
def cron() -> None:
    """Manage one crontab line that patrols this rig while no git command runs."""


@cron.command("install", context_settings=CONTEXT)
@click.option("--every", default=10, show_default=True, metavar="MINUTES",
              type=click.IntRange(1, 59), help="Minutes between patrols.")
@json_option
def cron_install(every: int, as_json: bool) -> None:
    """Add (or update) this rig's patrol line in your crontab (idempotent)."""
    from git_gastown import deacon
    from git_gastown.rig import Rig

    line, changed = deacon.cron_install(Rig.open(), every)
    if as_json:
        emit_json({"line": line, "changed": changed})
        return
    click.echo(("installed: " if changed else "already installed: ") + line)


@cron.command("uninstall", context_settings=CONTEXT)
@json_option
def cron_uninstall(as_json: bool) -> None:
    """Remove this rig's patrol line from your crontab (other lines are kept)."""
    from git_gastown import deacon
    from git_gastown.rig import Rig

    removed = deacon.cron_uninstall(Rig.open())
    if as_json:
        emit_json({"removed": removed})
        return
    click.echo("removed the patrol line" if removed else "no patrol line was installed")


@cron.command("status", context_settings=CONTEXT)
@json_option
def cron_status(as_json: bool) -> None:
    """Show this rig's patrol line, if installed."""
    from git_gastown import deacon
    from git_gastown.rig import Rig

    line = deacon.cron_status(Rig.open())
    if as_json:
        emit_json({"installed": bool(line), "line": line})
        return
    click.echo(line or "not installed")


def main(argv: Sequence[str] | None = None, prog: str = "git gt-deacon") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
