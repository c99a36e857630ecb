"""git gt-witness: the health check of every polecat in this rig."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from git_gastown.cli.common import CONTEXT, actor_option, emit_json, json_option, run, style

if TYPE_CHECKING:
    from git_gastown.witness import Finding

CLASS_COLORS = {"ok": "green", "idle": "blue", "hung": "red", "permission_denied": "yellow",
                "waiting_input": "yellow", "orphaned": "red", "dead": "red",
                "dead_dirty": "red", "exited_unfinished": "magenta",
                "exited_unlanded": "magenta", "done_refused": "magenta"}


MAN_SECTIONS = (
    ("Examples", """\
    git gt-witness check
    git gt-witness check --json | jq '.polecats[] | select(.action != "none")'
    git gt-witness check --fix
"""),
)


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """The Witness: notice the polecat that died, hangs, or waits for a person.

    `check` looks at every polecat of this rig: its agent and runner processes (by pid
    and start time, so a reused pid is not mistaken for the agent), the age of the
    agent's last event and of its last commit, whether it was refused a tool use it
    needed or waits for an answer (from its structured events), whether it exited
    without finishing (or closed its beads but never ran `git gt-done`, so its commits
    are neither merged nor queued, or had its `git gt-done` refused), and whether a
    dead one left uncommitted work. Each polecat gets one class and one action
    (checkpoint, resume, escalate or block); `check` reports them, `check --fix` takes
    them. The Deacon's patrol (from git hooks, `git gt-deacon patrol` or cron) always
    takes them.

    \b
    Settings ([witness] in .gastown.toml, or git config gt.witness.<key>):
      idleAfter = "10m"      no event or commit for this long: idle (reported)
      hungAfter = "30m"      ... with the agent still running: hung (resumed)
      maxResumes = 3         resumes per bead before escalating instead
      startGrace = "2m"      how long a spawn may take to start its runner
      deadGrace = "1m"       a dead or exited polecat is recovered only after this long
                             without a sign of life (so a person acting by hand is not raced)
      patrolInterval = "3m"  at most one hook-started patrol per interval
    """


def _age(seconds: float | None) -> str:
    from git_gastown.timeutil import human_age

    return human_age(seconds)


def _row(f: Finding) -> str:
    cls = style(f"{f.cls:<18}", fg=CLASS_COLORS.get(f.cls))
    action = "-" if f.action == "none" else f.action
    beads = ",".join(f.beads) or "-"
    line = (f"{f.polecat:<14} {cls} {action:<10} {_age(f.last_event_age):>6}"
            f" {_age(f.last_commit_age):>6}  {beads}")
    if f.detail:
        line += f"  ({f.detail})"
    for did in f.applied:
        line += f"\n{'':<14} -> {did}"
    return line


@cli.command(context_settings=CONTEXT)
@click.option("--fix", is_flag=True, help="Take each finding's action (as a patrol does).")
@actor_option
@json_option
def check(fix: bool, actor: str | None, as_json: bool) -> None:
    """Classify every polecat; with --fix, act on what needs it."""
    from git_gastown import witness
    from git_gastown.rig import Rig, resolve_actor

    rig = Rig.open()
    report = witness.check(rig, apply=fix, actor=resolve_actor(rig.repo, actor or "witness"))
    if as_json:
        emit_json(report.to_json())
        return
    if not report.findings:
        click.echo("no polecats")
    else:
        click.echo(f"{'POLECAT':<14} {'CLASS':<18} {'ACTION':<10} {'EVENT':>6} {'COMMIT':>6}"
                   "  BEADS")
        for f in report.findings:
            click.echo(_row(f))
    for ev in report.convoys:
        click.echo(f"convoy {ev['convoy']}: {ev['bead']} {ev['event']}"
                   + (f" ({ev['polecat']})" if ev.get("polecat") else ""))
    if report.problems and not fix:
        click.echo(f"{len(report.problems)} polecat(s) need action; "
                   "git gt-witness check --fix takes it")


def main(argv: Sequence[str] | None = None, prog: str = "git gt-witness") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
