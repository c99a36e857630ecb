"""git gt-sync: fetch, merge and push refs/gt/* with a git remote."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from git_gastown.cli.common import CONTEXT, actor_option, emit_json, json_option, run

MAN_SECTIONS = (
    ("Examples", """\
Work on two machines through any shared remote (GitHub, a bare repository, git daemon):

    git gt-sync                    # fetch, merge, push with the branch's remote (or origin)
    git gt-sync upstream --no-push # merge what upstream has, push nothing
    git gt-sync --dry-run          # which beads would be added or changed; changes nothing
    git gt-sync --json             # counts, ids and each conflict (bead, field, kept, lost)

A fresh clone joins the existing beads history:

    git clone URL && cd repo && git gt-init     # adopts the remote's refs/gt/beads

Stay in sync without typing git gt-sync: a plain `git fetch` brings the remote's beads into
refs/gt/remotes/REMOTE/beads and the next git gt-* command merges them; with
`git config gt.autosync true`, `git push` also pushes refs/gt/* (in the background).
Only the beads are merged that way; Hook states and the other refs/gt/* a fetch brought
wait for the next git gt-sync. A remote added after git gt-init carries refs/gt/* on a
plain fetch once `git gt-doctor --fix` adds its refspec (git gt-sync REMOTE works
meanwhile, and says so).
"""),
    ("The merge", """\
Every bead field, label and dependency carries its own stamp (a per-bead logical clock,
the actor and the time). Merging takes, entry by entry, the later stamp: different fields
changed on two clones both survive; one field changed on both keeps the change with the
higher clock, ties broken by actor, and the other value stays visible in
`git gt-bead history`. The sync lists each such conflict (bead, field, the value kept and
the value lost, with their actors), and the ids of the beads it added or changed (the
first ten of each; --json has them all). Labels and dependencies are sets with
removals, so a removal propagates; comments are a union; a deleted bead stays deleted.
Only the subtrees that differ are read, so the cost follows the size of the change, not
of the store.

The merged tree depends only on the two trees, never on the order of syncs, so clones
converge to byte-identical refs/gt/beads trees. The merge commit has both parents (local
first), so `git log refs/gt/beads` shows the true history.

Two beads created on two clones with one id (told apart by the random nonce written at
creation) are both kept: the one with the smaller nonce keeps the id, the other gets the
id plus two characters derived from its nonce, the same on every clone. The sync prints
both ids, and `git gt-bead history NEW-ID` still shows what happened before the move.
When the bead that moved is this clone's, the Hooks of agents on this machine that named
the old id are changed to name the new one (so `git gt-done` closes the right bead); the
sync lists them.
Dependencies that named the id are not rewritten: a dependency recorded on the other
clone meant the moved bead, one recorded after the sync means the bead that stayed, and
the merge cannot tell them apart; check them with `git gt-bead show ID`.

Dependency cycles (blocks, parent-child) that two clones made together are reported on
stderr and in --json after the merge; break one edge with `git gt-bead dep rm`.
"""),
    ("Refusals", """\
Nothing local changes, and the sync exits 1 with one line naming the bead file, when the
remote's refs/gt/beads holds malformed JSON, a bead at the wrong path or a bead whose
values are invalid (a title that is not one line of text, an unknown type or status, a
priority outside 0-4, a label with a comma or newline, a dependency that is not TYPE:ID,
a comment whose author is not text), uses a beads format this version does not read,
uses another id prefix, or shares no commit with the local history (an unrelated
history). An unrelated history is adopted when this clone has no beads yet (its
prefix must agree), and merged with --allow-unrelated when both sides hold beads with the
same prefix. Other refs/gt/* kinds fast-forward only; a diverged one keeps the local tip
and is reported, and one the remote deleted is not pushed back.
"""),
    ("Files", """\
The remote's refs are fetched into refs/gt-fetch/REMOTE/* while they are checked, then
copied to refs/gt/remotes/REMOTE/*. $GIT_COMMON_DIR/gt/sync.json records the remote beads
tips already merged (or refused), so commands merge a fetched tip once.
$GIT_COMMON_DIR/gt/logs/autosync.log holds the output of syncs started by the pre-push
hook; their warnings (id collisions, dependency cycles, a failed sync) also wait in
$GIT_COMMON_DIR/gt/notices.jsonl until the next git gt-* command prints them once.
`git gt-doctor` and `git gt-status` keep reporting a dependency cycle until it is broken.
"""),
    ("Configuration", """\
gt.autosync (default false): the pre-push hook starts a git gt-sync of the remote being
pushed to, detached, so the push never waits for it or fails because of it.

gt.automerge (default true): git gt-* commands merge beads that a plain git fetch brought.
"""),
)


LIST_LIMIT = 10  # ids or conflicts shown per line kind; --json lists them all


def _ids(label: str, ids: list[str]) -> list[str]:
    if not ids:
        return []
    more = f" ... and {len(ids) - LIST_LIMIT} more" if len(ids) > LIST_LIMIT else ""
    return [f"  {label}: {', '.join(ids[:LIST_LIMIT])}{more}"]


def _value(section: str, v: Any) -> str:
    if section != "fields":
        return "present" if v else "removed"
    return "(cleared)" if v is None else repr(v) if isinstance(v, str) else json.dumps(v)


def conflict_line(c: dict[str, Any]) -> str:
    """One resolved conflict: which bead and entry, the value kept and the value lost."""
    section, kept, lost = c["section"], c["kept"], c["lost"]
    what = {"fields": "", "labels": "label ", "deps": "dependency "}[section] + c["field"]
    return (f"{c['id']} {what}: kept {_value(section, kept['value'])} by {kept['actor']}, "
            f"lost {_value(section, lost['value'])} by {lost['actor']} "
            f"(git gt-bead history {c['id']})")


def _describe(o: dict[str, Any], dry_run: bool) -> list[str]:
    ref, status = o["ref"].removeprefix("refs/gt/"), o["status"]
    would = "would be " if dry_run else ""
    if ref == "beads" and status in ("merged", "fast-forward", "adopted", "joined"):
        counts = (f"{o['added']} added, {o['changed']} changed, "
                  f"{o['conflicts_resolved']} conflict(s) resolved")
        if o["id_collisions"]:
            counts += f", {len(o['id_collisions'])} id collision(s)"
        lines = [f"{ref}: {would}{status} ({counts})"]
        lines += _ids("added", o["added_ids"]) + _ids("changed", o["changed_ids"])
        conflicts = o["conflicts"]
        lines += [f"  conflict: {conflict_line(c)}" for c in conflicts[:LIST_LIMIT]]
        if len(conflicts) > LIST_LIMIT:
            lines.append(f"  ... and {len(conflicts) - LIST_LIMIT} more conflicts "
                         "(git gt-sync --json lists them all)")
        return lines
    text = f"{ref}: {would if status not in ('up-to-date', 'local-only', 'ahead') else ''}{status}"
    return [text + (f" ({o['message']})" if o["message"] else "")]


@click.command(context_settings=CONTEXT)
@click.argument("remote", required=False)
@click.option("--no-push", is_flag=True, help="Fetch and merge only; push nothing.")
@click.option("--dry-run", "-n", is_flag=True,
              help="Show what would change (beads added or changed, each conflict and "
                   "what it keeps); change no ref (local or remote).")
@click.option("--allow-unrelated", is_flag=True,
              help="Merge a remote beads history that shares no commit with this one "
                   "(same prefix required).")
@actor_option
@json_option
def cli(remote: str | None, no_push: bool, dry_run: bool, allow_unrelated: bool,
        actor: str | None, as_json: bool) -> None:
    """Sync beads and the other refs/gt/* histories with REMOTE.

    REMOTE is the name of a configured remote (git remote -v; not a URL) and defaults to
    the current branch's remote, else origin. Fetches the remote's
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

    A remote whose beads are malformed or hold invalid values, in an unsupported format,
    with another prefix, or from an unrelated history is refused and nothing local
    changes. Your branches and working tree are never touched. Exit codes: 0 ok,
    1 failure or refusal, 2 bad usage.
    """
    from git_gastown import sync as domain
    from git_gastown import syncstate
    from git_gastown.beads.merge import Collision
    from git_gastown.errors import GtError
    from git_gastown.git import Repo
    from git_gastown.rig import resolve_actor

    repo = Repo.discover()
    background = bool(os.environ.get(domain.AUTOSYNC_ENV))
    try:
        report = domain.sync(repo, remote, actor=resolve_actor(repo, actor), push=not no_push,
                             dry_run=dry_run, allow_unrelated=allow_unrelated)
    except GtError as err:
        if background:  # started by pre-push: its log is not enough, tell the next command
            syncstate.defer(repo, "sync_failed", f"the background sync with {remote} "
                                                 f"(gt.autosync) failed: {err.line()}")
        raise
    domain.note_missing_refspec(repo, report.remote)
    data = report.to_json()
    if background:
        for c in data["id_collisions"]:
            syncstate.defer(repo, "id_collision", domain.collision_line(
                Collision(c["id"], c["new_id"], c["title"], c["created_by"]), c["hooks"]))
        for cycle in data["cycles"]:
            syncstate.defer(repo, "dependency_cycle", domain.cycle_line(cycle))
    for cycle in data["cycles"]:
        click.echo(f"git gt-sync: warning: {domain.cycle_line(cycle)}", err=True)
    if as_json:
        emit_json(data)
        return
    prefix = "dry run: " if dry_run else ""
    for o in data["refs"]:
        for line in _describe(o, dry_run):
            click.echo(prefix + line)
    for c in data["id_collisions"]:
        click.echo(prefix + "beads: " + domain.collision_line(
            Collision(c["id"], c["new_id"], c["title"], c["created_by"]), c["hooks"]))
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
