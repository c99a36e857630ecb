"""git gt-status: one screen for a rig."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from git_gastown.cli.common import CONTEXT, emit_json, json_option, run, style

if TYPE_CHECKING:
    from git_gastown.rig import Rig

MAN_SECTIONS = (
    ("The screen", """\
.TP
\\fBrig\\fR, \\fBbeads\\fR
The rig's name and bead prefix; beads by state (ready, blocked, in progress, hooked,
closed).
.TP
\\fBagents\\fR
Polecats at work or needing attention: name, live state (running, waiting, dead, exited,
stopped, ...), agent, beads and the time since its last event; WAITING marks one blocked
on a permission or input prompt. Finished polecats are counted on one line
(git gt-polecat list shows them all).
.TP
\\fBconvoys\\fR
Open convoys with a progress bar of landed beads, and counts of stalled and blocked ones.
.TP
\\fBmerge queue\\fR
Merge requests by state, whether a Refinery run is going, and the queued and testing ones.
.TP
\\fBescalations\\fR
Open and acknowledged escalations, by priority.
.TP
\\fBunread mail\\fR
Unread mail of the mailbox git gt-mail inbox shows ($GT_HOOK, else $GT_ROLE, else the
overseer).
.PP
A section whose feature fails is reported on a last line starting with !!, and the others
still show; the exit status stays 0. When git cannot read a section's refs (a refs/gt/* ref
at a blob, say), that line points at git gt-doctor, which names every broken ref and how to
restore it.
"""),
    ("Examples", """\
    git gt-status
    git gt-status --watch          # every 2 s until Ctrl-C
    git gt-status --watch 10
    git gt-status --json | jq .merge_queue
"""),
)
MAN_EXIT_STATUS = (
    (0, "Success, and leaving --watch with Ctrl-C (git-gt-status itself; run as git "
        "gt-status, git dies of the same Ctrl-C and the shell sees 130, with no message)."),
    (1, "Failure: not a git repository, or git-gastown is not set up (run git gt-init)."),
    (2, "Bad usage, e.g. --watch together with --json."),
)


def _age(stamp: str) -> str:
    from git_gastown.timeutil import human_age, iso_to_epoch

    when = iso_to_epoch(stamp) if stamp else None
    return "never" if when is None else human_age(time.time() - when) + " ago"


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def render(data: dict[str, Any]) -> list[str]:
    out = [style(f"rig {data['rig']}", bold=True) + f"  (prefix {data['prefix']})"]
    beads = data.get("beads")
    if beads:
        st = beads["by_status"]
        out.append(f"beads: {beads['total']}  ready {beads['ready']}  blocked "
                   f"{beads['blocked']}  in progress {st.get('in_progress', 0)}  hooked "
                   f"{st.get('hooked', 0)}  closed {st.get('closed', 0)}")
        for cycle in beads.get("cycles") or []:
            out.append(style(f"  dependency cycle: {' -> '.join(cycle)}", fg="yellow")
                       + " (never ready; git gt-bead dep rm ID TYPE ID on one edge)")
    agents = data.get("agents") or []
    # Finished polecats only grow in number: one line for them keeps this one screen.
    shown = [a for a in agents if a["status"] != "done"]
    done = len(agents) - len(shown)
    out.append("")
    out.append(style(f"agents ({len(shown)} at work or needing you)", bold=True))
    if not agents:
        out.append("  none (git gt-polecat spawn --bead ID, or git gt-convoy dispatch NAME)")
    for a in shown:
        color = {"running": "green", "dead": "red", "done": "blue"}.get(a["status"])
        wait = style(f"  WAITING for {a['waiting']}", fg="red") if a["waiting"] else ""
        out.append(f"  {a['name']:<12} {style(a['status'].ljust(8), fg=color)} "
                   f"{a['agent']:<7} {','.join(a['beads'])}  last event "
                   f"{_age(a['last_event_at'])}{wait}")
    if done:
        out.append(f"  and {done} done (git gt-polecat list)")
    convoys = data.get("convoys") or []
    out.append("")
    out.append(style(f"convoys ({len(convoys)})", bold=True))
    for c in convoys:
        extra = "".join(f"  {c[k]} {k}" for k in ("stalled", "blocked") if c[k])
        tag = " (mountain)" if c["mountain"] else ""
        out.append(f"  {c['name']}{tag} {_bar(c['done'], c['total'])} "
                   f"{c['done']}/{c['total']}  {c['status']}{extra}")
    queue = data.get("merge_queue")
    if queue is not None:
        out.append("")
        counts = ", ".join(f"{n} {s}" for s, n in sorted(queue["counts"].items())) or "empty"
        out.append(style("merge queue", bold=True) + f": {counts}; refinery "
                   + ("running" if queue["running"] else "idle"))
        for m in queue["waiting"]:
            out.append(f"  {m['id']}  {m['state']}  {m['branch']}")
    escalations = data.get("escalations") or []
    out.append("")
    out.append(style(f"escalations ({len(escalations)} open)", bold=True))
    for e in escalations:
        sev = style(f"P{e['priority']} {e['severity']}", fg="red" if e["priority"] == 0
                    else "yellow")
        about = f" [{e['bead']}]" if e["bead"] else ""
        out.append(f"  {e['id']}  {sev}  {e['status']}  {e['message']}{about}")
    mail = data.get("mail") or []
    out.append("")
    out.append(style(f"unread mail for {data.get('mailbox', 'overseer')} ({len(mail)})",
                     bold=True))
    for m in mail:
        out.append(f"  {m['id']}  from {m['from']}: {m['subject']}")
    for section, err in data["errors"].items():
        out.append(style(f"!! {section}: {err}", fg="red"))
    return out


@click.command(context_settings=CONTEXT)
@click.option("--watch", "watch", type=float, is_flag=False, flag_value=2.0, default=None,
              metavar="SECONDS", help="Redraw every SECONDS (2 if not given) until Ctrl-C.")
@json_option
def cli(watch: float | None, as_json: bool) -> None:
    """One screen for this rig: agents at work or needing attention (state, bead, last
    activity; finished ones are counted on one line), convoys with progress bars, the merge
    queue, open escalations and your unread mail (the mailbox git gt-mail inbox shows: the
    overseer's, or the polecat's or role's inside an agent's session).

    With --watch the screen is redrawn until Ctrl-C, which leaves quietly (status 0 from
    git-gt-status; through git, git itself reports the Ctrl-C as 130).
    """
    from git_gastown.rig import Rig
    from git_gastown.status import collect

    rig = Rig.open()
    if as_json:
        if watch is not None:
            from git_gastown.errors import UsageError

            raise UsageError("--watch and --json do not go together",
                             hint="poll git gt-status --json yourself")
        emit_json(collect(rig))
        return
    if watch is None:
        click.echo("\n".join(render(collect(rig))))
        return
    _watch(rig, watch)


_stopping: list[bool] = []


def _stop_watch(signum: int, frame: object) -> None:
    # Run through git, Ctrl-C arrives twice: from the terminal and forwarded by git's
    # run-command as it dies. Ignore every later one, so leaving is never cut short; no
    # exception is raised here, so none can land inside a git call or a lock.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stopping.append(True)


def _watch(rig: Rig, every: float) -> None:
    from git_gastown.status import collect

    signal.signal(signal.SIGINT, _stop_watch)
    while not _stopping:  # Ctrl-C is the way out of --watch, not an error
        lines = render(collect(rig))
        if _stopping:
            break
        click.clear()
        click.echo("\n".join(lines))
        click.echo(f"\n(every {every:g}s; Ctrl-C to stop)")
        until = time.monotonic() + max(every, 0.2)
        while not _stopping and time.monotonic() < until:
            time.sleep(0.05)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-status") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
