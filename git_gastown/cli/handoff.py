"""git gt-handoff: leave notes and a checkpoint for the agent that comes next."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from git_gastown.cli.common import CONTEXT, actor_option, emit_json, json_option, run

MAN_SECTIONS = (
    ("Examples", """\
Before an agent stops without finishing:

    git gt-handoff --note "parser done; the error messages still need tests"

The next agent on this Hook sees the note and the checkpoint in git gt-prime.
"""),
)


@click.command(context_settings=CONTEXT)
@click.option("--note", "-m", "notes", multiple=True, metavar="TEXT",
              help="A note for your successor (repeatable).")
@click.option("--hook", "hook_name", metavar="NAME",
              help="The Hook (default: $GT_HOOK, else the worktree you are in).")
@actor_option
@json_option
def cli(notes: tuple[str, ...], hook_name: str | None, actor: str | None, as_json: bool) -> None:
    """Leave notes and a checkpoint of your uncommitted work for your successor.

    The notes go into the Hook's notes.jsonl and the checkpoint (a commit of the
    worktree's tracked and untracked files, made without touching the worktree or the
    index) into refs/gt/hooks/NAME; git gt-prime shows both to the next agent.
    """
    from git_gastown import hook as hk
    from git_gastown.cli.prime import current_hook
    from git_gastown.rig import Rig, resolve_actor

    rig = Rig.open()
    name = current_hook(hook_name)
    hook = hk.load_hook(rig.repo, name)
    who = resolve_actor(rig.repo, actor)
    for text in notes:
        hk.add_note(rig.repo, name, text, who)
    hook = hk.fold(rig.repo, name, reason="handoff")
    ckpt = hook.state.checkpoint
    if as_json:
        emit_json({"hook": name, "notes": len(notes),
                   "checkpoint": ckpt.to_json() if ckpt else None})
        return
    if notes:
        click.echo(f"{len(notes)} note(s) left on {name}")
    if ckpt is not None:
        what = "with uncommitted changes" if ckpt.dirty else "clean worktree"
        click.echo(f"checkpoint {ckpt.commit[:12]} ({what}) in {hook.ref}")


def main(argv: Sequence[str] | None = None, prog: str = "git gt-handoff") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
