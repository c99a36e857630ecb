"""git gt-done: finish the work of this Hook and hand it to the Refinery."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from git_gastown.cli.common import CONTEXT, actor_option, emit_json, json_option, run


@click.command(context_settings=CONTEXT)
@click.option("--status", type=click.Choice(["completed", "escalated", "deferred"]),
              default="completed", show_default=True,
              help="completed: queue for landing; escalated: ask for help; deferred: park it.")
@click.option("--note", metavar="TEXT", help="A note for the beads and the next agent.")
@click.option("--priority", "-p", type=int, default=2, show_default=True,
              help="Merge queue lane 0-4; 0 lands first.")
@click.option("--hotfix", is_flag=True, help="Test alone at the head of the queue.")
@click.option("--bead", "beads", multiple=True, metavar="ID",
              help="A bead this work finishes, besides the Hook's own. Repeatable.")
@click.option("--no-run", is_flag=True, help="Queue only; do not start the Refinery.")
@click.option("--allow-markers", is_flag=True,
              help="Land files whose lines look like conflict markers (a doc or test "
              "fixture about merges); an unresolved merge is still refused.")
@actor_option
@json_option
def cli(status: str, note: str | None, priority: int, hotfix: bool, beads: tuple[str, ...],
        no_run: bool, allow_markers: bool, actor: str | None, as_json: bool) -> None:
    """Finish the work of this Hook (run inside its worktree).

    With --status completed (the default): commits the agent's leftover edits and new
    files (never a deletion it did not stage), checkpoints the Hook, queues a merge request
    for the branch tip (idempotent per branch and commit), marks the beads, starts the
    Refinery in the background and returns at once. A branch with no commits beyond the
    target is refused. A commit whose message has the trailer `Gt-Done: yes` does the
    same from any tool (through the post-commit hook).

    Refused, with nothing changed (exit 4): a branch with no commits beyond the target;
    an unresolved merge (unmerged paths, or a merge, rebase, cherry-pick, revert or git am
    under way in the worktree); conflict markers (a line starting `<<<<<<< ` and one
    starting `>>>>>>> `) in a file the branch adds or changes, unless --allow-markers;
    a commit the Refinery already rejected or found in conflict, handed in unchanged
    (commit a fix, or `git gt-refinery retry MR`). Outside a Hook's worktree, on the
    target branch or on a detached HEAD it is a usage error (exit 2).
    """
    from git_gastown.refinery.done import finish
    from git_gastown.rig import Rig, resolve_actor

    rig = Rig.open()
    who = resolve_actor(rig.repo, actor)
    result = finish(rig, who, status=status, note=note or "", priority=priority, hotfix=hotfix,
                    extra_beads=beads, start=not no_run, allow_markers=allow_markers)
    if as_json:
        emit_json(result.to_json())
        return
    if result.committed:
        click.echo(f"committed leftover edits as {result.committed[:12]}")
    if result.mr is not None:
        verb = {"queued": "queued", "updated": "moved to the new tip",
                "unchanged": "already queued"}[result.enqueued]
        click.echo(f"{result.mr.id}: {result.branch} at {result.commit[:12]} {verb} "
                   f"for {result.mr.target}")
        if result.refinery_pid:
            click.echo(f"refinery started (pid {result.refinery_pid})")
    elif result.escalation:
        click.echo(f"escalated as {result.escalation}")
    else:
        click.echo(f"{result.branch}: {status}")


MAN_SECTIONS = (
    ("EXAMPLES", """Inside a polecat's worktree, when the work is finished:

    git gt-done --note "login form validated on the server too"

The same from any tool, with an ordinary commit:

    git commit -m "Validate the login form" -m "Gt-Done: yes"

Park the work, or ask for help:

    git gt-done --status deferred --note "waiting for the API design"
    git gt-done --status escalated --note "the tests need credentials"
"""),
    ("FILES", (
        "The Hook is found from the gt-hook marker in the worktree's git directory, or from a "
        "branch named gt/<prefix>/<name>; its beads come from refs/gt/hooks/<name>. The merge "
        "request is refs/gt/mq/<id> plus a merge-request bead (see git-gt-refinery(1)).")),
)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-done") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
