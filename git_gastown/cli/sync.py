"""git gt-sync: fetch, merge and push refs/gt/* with a git remote."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from git_gastown.cli.common import CONTEXT, actor_option, emit_json, json_option, run


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "-"


def _describe(o: dict[str, Any], dry_run: bool) -> str:
    ref, status = o["ref"].removeprefix("refs/gt/"), o["status"]
    would = "would be " if dry_run else ""
    if ref == "beads" and status in ("merged", "fast-forward", "adopted", "joined"):
        counts = (f"{o['added']} added, {o['changed']} changed, "
                  f"{o['conflicts_resolved']} conflict(s) resolved")
        if o["id_collisions"]:
            counts += f", {len(o['id_collisions'])} id collision(s)"
        return f"{ref}: {would}{status} ({counts})"
    text = f"{ref}: {would if status not in ('up-to-date', 'local-only', 'ahead') else ''}{status}"
    return text + (f" ({o['message']})" if o["message"] else "")


@click.command(context_settings=CONTEXT)
@click.argument("remote", required=False)
@click.option("--no-push", is_flag=True, help="Fetch and merge only; push nothing.")
@click.option("--dry-run", "-n", is_flag=True,
              help="Show what would change; change no ref (local or remote).")
@click.option("--allow-unrelated", is_flag=True,
              help="Merge a remote beads history that shares no commit with this one "
                   "(same prefix required).")
@actor_option
@json_option
def cli(remote: str | None, no_push: bool, dry_run: bool, allow_unrelated: bool,
        actor: str | None, as_json: bool) -> None:
    """Sync beads and the other refs/gt/* histories with REMOTE.

    REMOTE defaults to the current branch's remote, else origin. Fetches the remote's
    refs/gt/* (into refs/gt/remotes/REMOTE/* once checked), merges its beads history into
    refs/gt/beads with a merge commit that has both parents, and pushes the result. When
    the push loses a race with another clone it fetches, merges and pushes again (at most
    5 times).

    The merge is deterministic: clones that sync in any order end with identical
    refs/gt/beads trees. Different fields changed on two clones both survive; for one field
    the later change (logical clock, then actor) wins and the other stays in
    `git gt-bead history`; labels and dependencies merge as sets with removals; comments
    are a union; deletions propagate. Two beads created with one id on two clones are both
    kept and one gets a new id (reported). Dependency cycles the merge made are reported.

    A remote whose beads are malformed, in an unsupported format, with another prefix, or
    from an unrelated history is refused and nothing local changes. Your branches and
    working tree are never touched. Exit codes: 0 ok, 1 failure or refusal, 2 bad usage.
    """
    from git_gastown import sync as domain
    from git_gastown.beads.merge import Collision
    from git_gastown.git import Repo
    from git_gastown.rig import resolve_actor

    repo = Repo.discover()
    report = domain.sync(repo, remote, actor=resolve_actor(repo, actor), push=not no_push,
                         dry_run=dry_run, allow_unrelated=allow_unrelated)
    data = report.to_json()
    for cycle in data["cycles"]:
        click.echo(f"git gt-sync: warning: {domain.cycle_line(cycle)}", err=True)
    if as_json:
        emit_json(data)
        return
    prefix = "dry run: " if dry_run else ""
    for o in data["refs"]:
        click.echo(prefix + _describe(o, dry_run))
    for c in data["id_collisions"]:
        click.echo(prefix + "beads: " + domain.collision_line(
            Collision(c["id"], c["new_id"], c["title"], c["created_by"])))
    if dry_run:
        if data["would_push"]:
            click.echo(f"dry run: would push {', '.join(data['would_push'])} to {report.remote}")
        click.echo("dry run: nothing was changed")
        return
    if data["pushed"]:
        click.echo(f"pushed {', '.join(data['pushed'])} to {report.remote}"
                   + (f" (after {report.attempts} attempts)" if report.attempts > 1 else ""))
    elif no_push:
        click.echo(f"not pushed (--no-push); {report.remote} is unchanged")
    else:
        click.echo(f"{report.remote} is up to date")


def main(argv: Sequence[str] | None = None, prog: str = "git gt-sync") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
