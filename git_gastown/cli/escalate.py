"""git gt-escalate: raise, list, acknowledge and close escalations (P0/P1/P2)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
    from git_gastown.escalate import Escalation, Raised
    from git_gastown.rig import Rig

COLORS = {"critical": "red", "high": "yellow", "medium": "blue"}


class _DefaultToRaise(click.Group):
    """`git gt-escalate -s high MESSAGE` is `git gt-escalate raise -s high MESSAGE`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["raise", *args]
        return super().parse_args(ctx, args)


def _bump_first(rig: Rig) -> None:
    from git_gastown.escalate import maybe_bump

    maybe_bump(rig, actor_for(rig, None))


MAN_SECTIONS = (
    ("Examples", """\
    git gt-escalate -s critical "main is broken" --bead gt-a3f8k
    git gt-escalate list
    git gt-escalate ack gt-x1y2z
    git gt-escalate close gt-x1y2z --reason "reverted 4c1d2e0"
"""),
    ("Settings", """\
In .gastown.toml (or git config gt.escalation.<key>):

    [escalation]
    notify = "notify-send-json --channel ops"
    notifyTimeout = "10s"
    bumpAfter = "30m"
    [escalation.routes]
    critical = ["mail:overseer", "mail:mayor", "notify"]
    high = ["mail:overseer", "mail:mayor"]
    medium = ["mail:mayor"]

The notify command runs without a shell; the escalation is one JSON object on its
standard input (see docs/json.md), and GT_ESCALATION_ID and GT_ESCALATION_SEVERITY are
set. bumpAfter may be a table per severity, e.g. {medium = "4h", high = "1h"}, or "never".
A route that fails is reported (and recorded on the escalation); the escalation exists
all the same.
"""),
)


@click.group(cls=_DefaultToRaise, context_settings=CONTEXT)
def cli() -> None:
    """Escalations: problems that need the Mayor or a human, by severity.

    \b
    git gt-escalate -s critical|high|medium MESSAGE [--bead ID]
    git gt-escalate list | show ID | ack ID | close ID | bump

    critical is P0, high P1, medium P2. A new escalation is routed by its severity
    ([escalation.routes] in .gastown.toml: "mail:<address>" or "notify", which runs
    [escalation] notify with the escalation as JSON on stdin). One that nobody
    acknowledges within [escalation] bumpAfter (default 30m) is raised a level and
    routed again; every git gt-escalate command, and the Deacon, does that check.
    """


def _line(e: Escalation) -> str:
    sev = style(f"{e.severity:<8}", fg=COLORS[e.severity], bold=e.severity == "critical")
    about = f"  [{e.about}]" if e.about else ""
    state = {"open": "UNACKED", "acked": f"acked by {e.acked_by}", "closed": "closed"}[e.status]
    return f"{style(e.id, bold=True)}  P{e.priority} {sev} {state:<18} {e.message}{about}"


def _report(raised: Raised) -> None:
    e = raised.escalation
    verb = "raised" if raised.event == "created" else "bumped to"
    click.echo(f"{e.id}: {verb} {e.severity} (P{e.priority})")
    for r in raised.routes:
        if r.ok:
            click.echo(f"  {r.route}: {r.detail}")
        else:
            click.echo(f"  {r.route}: FAILED: {r.detail}", err=True)


@cli.command("raise", context_settings=CONTEXT)
@click.argument("message")
@click.option("-s", "--severity", required=True, metavar="LEVEL",
              help="critical (P0), high (P1) or medium (P2).")
@click.option("-b", "--bead", "about", default="", metavar="ID", help="The bead it concerns.")
@click.option("-d", "--description", default="", metavar="TEXT", help="More detail.")
@actor_option
@json_option
def raise_(message: str, severity: str, about: str, description: str, actor: str | None,
           as_json: bool) -> None:
    """Create an escalation and route it by severity; print its id and the routes taken."""
    from git_gastown import escalate

    rig = open_rig()
    escalate.check_severity(severity)
    raised = escalate.escalate(rig, severity, message, actor_for(rig, actor), about=about,
                               description=description)
    if as_json:
        emit_json(raised.to_json())
        return
    _report(raised)


@cli.command("list", context_settings=CONTEXT)
@click.option("--all", "show_all", is_flag=True, help="Include closed escalations.")
@click.option("-s", "--severity", metavar="LEVEL", help="Only this severity.")
@json_option
def list_(show_all: bool, severity: str | None, as_json: bool) -> None:
    """Escalations that are not closed, most severe first."""
    from git_gastown import escalate

    rig = open_rig()
    _bump_first(rig)
    items = escalate.list_escalations(rig, include_closed=show_all, severity=severity)
    if as_json:
        emit_json([e.to_json() for e in items])
        return
    if not items:
        click.echo("no escalations")
    for e in items:
        click.echo(_line(e))


@cli.command(context_settings=CONTEXT)
@click.argument("esc_id", metavar="ID")
@json_option
def show(esc_id: str, as_json: bool) -> None:
    """One escalation in full, with how it was routed."""
    from git_gastown import escalate
    from git_gastown.beads.ops import Beads

    rig = open_rig()
    _bump_first(rig)
    e = escalate.get(rig, esc_id)
    bead = Beads(rig.store).cache().get(e.id) or {}
    comments: list[dict[str, Any]] = bead.get("comments", [])
    if as_json:
        emit_json({**e.to_json(), "log": comments})
        return
    click.echo(_line(e))
    click.echo(f"  raised {e.raised_at} (created {e.created_at} by {e.created_by};"
               f" bumps {e.bumps})")
    if e.description:
        click.echo("\n".join("  " + ln for ln in e.description.splitlines()))
    for c in comments:
        click.echo(f"  [{c['created_at']}] {c['text']}")


@cli.command(context_settings=CONTEXT)
@click.argument("esc_ids", metavar="ID...", nargs=-1, required=True)
@actor_option
@json_option
def ack(esc_ids: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Acknowledge escalations: you own them now, so they are not raised further."""
    from git_gastown import escalate

    rig = open_rig()
    for eid in esc_ids:
        escalate.get(rig, eid)
    who = actor_for(rig, actor)
    done = [escalate.ack(rig, eid, who) for eid in esc_ids]
    if as_json:
        emit_json([e.to_json() for e in done])
        return
    for e in done:
        click.echo(f"{e.id}: acknowledged by {e.acked_by}")


@cli.command(context_settings=CONTEXT)
@click.argument("esc_ids", metavar="ID...", nargs=-1, required=True)
@click.option("-r", "--reason", default="", metavar="TEXT", help="How it was resolved.")
@actor_option
@json_option
def close(esc_ids: tuple[str, ...], reason: str, actor: str | None, as_json: bool) -> None:
    """Close escalations (acknowledging them if nobody had)."""
    from git_gastown import escalate

    rig = open_rig()
    for eid in esc_ids:
        escalate.get(rig, eid)
    who = actor_for(rig, actor)
    done = [escalate.close(rig, eid, who, reason) for eid in esc_ids]
    if as_json:
        emit_json([e.to_json() for e in done])
        return
    for e in done:
        click.echo(f"{e.id}: closed")


@cli.command(context_settings=CONTEXT)
@actor_option
@json_option
def bump(actor: str | None, as_json: bool) -> None:
    """Raise now every unacknowledged escalation older than bumpAfter, and re-route it."""
    from git_gastown import escalate

    rig = open_rig()
    raised = escalate.bump(rig, actor_for(rig, actor))
    if as_json:
        emit_json([r.to_json() for r in raised])
        return
    if not raised:
        click.echo("nothing to raise")
    for r in raised:
        _report(r)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-escalate") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
