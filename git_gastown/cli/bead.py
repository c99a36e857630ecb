"""git gt-bead: create, query and change beads."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from git_gastown.cli import render
from git_gastown.cli.common import (
    CONTEXT,
    actor_option,
    emit_json,
    json_option,
    parse_kv,
    run,
    style,
)
from git_gastown.errors import NotFound, UsageError

TYPE_HELP = "task|bug|feature|epic|chore|convoy|message|escalation|molecule|merge-request|agent"
STATUS_HELP = "open|in_progress|hooked|blocked|deferred|closed"
DEP_HELP = "blocks|parent-child|related|discovered-from|tracks"


# Extra sections of git-gt-bead(1) (rendered by git_gastown.manpage).
MAN_SECTIONS = (
    ("Examples", """\
Create work, see what is ready, take it atomically, finish it:

    git gt-bead create "Fix login" -p 1 -l bug          # prints gt-a3f8k
    git gt-bead create "Add tests" --dep blocks:gt-a3f8k
    git gt-bead ready
    git gt-bead ready --claim --actor agent-1
    git gt-bead close gt-a3f8k --reason "fixed in 4c1d2e0"
    git gt-bead history gt-a3f8k

Script against it: every read command takes --json.

    git gt-bead list --status open --label bug --json
    git gt-bead show gt-a3f8k --json

Move over from Beads (bd): its issues.jsonl imports in one commit, and importing it again
changes nothing.

    git gt-bead import .beads/issues.jsonl
"""),
    ("Storage", """\
Every change is one commit on refs/gt/beads (see `git log refs/gt/beads`), whose tree
holds one JSON file per bead. Every field carries its own version stamp, so two clones
that changed the same bead merge without conflicts. Deleting leaves a tombstone, never a
vanished file.

Ids are random: PREFIX-a3f8k. A child's id is its parent's, this clone's tag (5 random
characters chosen once per clone) and the clone's next number under that parent, e.g.
gt-a3f8k.k7m2q1. One clone never repeats a child id; two clones mint the same one only
if their tags are equal (1 in 60 million for a pair of clones), and git gt-sync then
renames one of the two deterministically.

Reads answer from a cache under the repository's gt/ directory that is
checked against refs/gt/beads on every call; deleting it loses nothing.

Writers on one machine are serialized by a file lock that the kernel releases when its
holder dies, and the ref update is a compare-and-swap: 30 agents writing at once lose
nothing, and two agents never claim the same bead.
"""),
    ("JSON", """\
With --json, read commands print objects and arrays with stable field names (documented
in docs/json.md), and errors are one JSON object on standard error:

    {"error": {"code": "not_found", "message": "no bead gt-zzzzz",
               "hint": "did you mean gt-a3f8k?", "exit": 3}}
"""),
)


class Ctx:
    """The opened rig, made on first use so `--help` never touches git."""

    def __init__(self) -> None:
        from git_gastown.beads.ops import Beads
        from git_gastown.rig import Rig

        self.rig = Rig.open()
        self.beads = Beads(self.rig.store)

    def actor(self, given: str | None) -> str:
        from git_gastown.rig import resolve_actor

        return resolve_actor(self.rig.repo, given)


def ctx() -> Ctx:
    c = click.get_current_context()
    obj = c.find_root().obj
    if obj is None:
        obj = Ctx()
        c.find_root().obj = obj
    assert isinstance(obj, Ctx)
    return obj


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """Beads: the work items of this repository, stored in refs/gt/beads.

    Every change is one commit on refs/gt/beads; reads answer from a cache checked against
    that ref. Exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found, 4 refused by the
    current state (already claimed, would make a cycle).
    """


# -- output helpers ----------------------------------------------------------------------


_line = render.line
_show = render.show_text
_print_list = render.print_list


def _dep_pairs(items: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        kind, sep, target = item.partition(":")
        if not sep or not target:
            raise UsageError(f"--dep takes TYPE:ID, not {item!r}",
                             hint="e.g. --dep blocks:gt-a3f8k")
        pairs.append((kind, target))
    return pairs


# -- writes ------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("title")
@click.option("-t", "--type", "kind", default="task", show_default=True, metavar="TYPE",
              help=TYPE_HELP)
@click.option("-p", "--priority", default="2", show_default=True, metavar="0-4",
              help="0 is most urgent.")
@click.option("-a", "--assignee", default="", metavar="NAME", help="Who works on it.")
@click.option("-l", "--label", "labels", multiple=True, metavar="LABEL", help="Repeatable.")
@click.option("--parent", metavar="ID",
              help="Make it a child: its id becomes ID.<this clone's tag><n>.")
@click.option("-d", "--description", default="", metavar="TEXT", help="Longer text.")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE",
              help="Any other field, e.g. --field run='make test' (repeatable).")
@click.option("--dep", "deps", multiple=True, metavar="TYPE:ID",
              help=f"This bead depends on ID ({DEP_HELP}); repeatable.")
@actor_option
@json_option
def create(title: str, kind: str, priority: str, assignee: str, labels: tuple[str, ...],
           parent: str | None, description: str, fields: tuple[str, ...],
           deps: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Create a bead and print its id (with --json, the whole bead)."""
    from git_gastown.beads.model import check_field
    from git_gastown.beads.ops import NewBead

    c = ctx()
    new = NewBead(title=title, type=check_field("type", kind),
                  priority=check_field("priority", priority), assignee=assignee,
                  description=description, labels=labels, parent=parent,
                  deps=_dep_pairs(deps),
                  fields={k: v for k, v in parse_kv(fields).items() if v is not None})
    bead = c.beads.create(new, c.actor(actor))
    if as_json:
        emit_json(bead.to_json())
    else:
        click.echo(bead.id)


@cli.command(context_settings=CONTEXT)
@click.argument("bead_id", metavar="ID")
@click.option("--title", metavar="TEXT")
@click.option("-d", "--description", metavar="TEXT")
@click.option("-t", "--type", "kind", metavar="TYPE", help=TYPE_HELP)
@click.option("-s", "--status", metavar="STATUS", help=STATUS_HELP)
@click.option("-p", "--priority", metavar="0-4")
@click.option("-a", "--assignee", metavar="NAME", help="Empty string to unassign.")
@click.option("--design", metavar="TEXT")
@click.option("--acceptance", metavar="TEXT")
@click.option("--notes", metavar="TEXT")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE",
              help="Set a field or a custom one (KEY= clears it); labels, deps, parent "
                   "and comments have their own commands; repeatable.")
@click.option("--claim", is_flag=True,
              help="Atomically take the bead: assignee=you, in_progress; refused if held.")
@actor_option
@json_option
def update(bead_id: str, title: str | None, description: str | None, kind: str | None,
           status: str | None, priority: str | None, assignee: str | None,
           design: str | None, acceptance: str | None, notes: str | None,
           fields: tuple[str, ...], claim: bool, actor: str | None, as_json: bool) -> None:
    """Change fields of a bead, or --claim it."""
    c = ctx()
    who = c.actor(actor)
    changes: dict[str, Any] = dict(parse_kv(fields))
    for key, value in (("title", title), ("description", description), ("type", kind),
                       ("status", status), ("priority", priority), ("assignee", assignee),
                       ("design", design), ("acceptance", acceptance), ("notes", notes)):
        if value is not None:
            changes[key] = value
    if claim:
        if changes:
            raise UsageError("--claim cannot be combined with field changes",
                             hint="claim first, then update")
        bead = c.beads.claim(bead_id, who)
    elif not changes:
        raise UsageError("nothing to update", hint="give at least one field, e.g. --status closed")
    else:
        bead = c.beads.update_fields(bead_id, who, changes)
    if as_json:
        emit_json(bead.to_json())
    else:
        click.echo(f"{bead.id}: {'claimed' if claim else 'updated'}")
    if changes.get("status") == "closed":
        from git_gastown.convoy import check_convoys

        check_convoys(c.rig.store, who, [bead.id])


@cli.command(context_settings=CONTEXT)
@click.argument("bead_ids", metavar="ID...", nargs=-1, required=True)
@click.option("-r", "--reason", default="", metavar="TEXT", help="Why it is closed.")
@actor_option
@json_option
def close(bead_ids: tuple[str, ...], reason: str, actor: str | None, as_json: bool) -> None:
    """Close beads."""
    from git_gastown.convoy import check_convoys

    c = ctx()
    _require_all(c, bead_ids)
    done = [c.beads.close(b, c.actor(actor), reason) for b in bead_ids]
    _report_each(done, "closed", as_json)
    for convoy in check_convoys(c.rig.store, c.actor(actor), bead_ids):
        if not as_json:
            click.echo(f"convoy {convoy.name}: landed (all {convoy.total} beads closed)")


@cli.command(context_settings=CONTEXT)
@click.argument("bead_ids", metavar="ID...", nargs=-1, required=True)
@actor_option
@json_option
def reopen(bead_ids: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Reopen closed beads (status open)."""
    c = ctx()
    _require_all(c, bead_ids)
    done = [c.beads.reopen(b, c.actor(actor)) for b in bead_ids]
    _report_each(done, "reopened", as_json)


@cli.command(context_settings=CONTEXT)
@click.argument("bead_ids", metavar="ID...", nargs=-1, required=True)
@actor_option
@json_option
def delete(bead_ids: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Delete beads: a tombstone that syncs, never a vanished file.

    Beads that still depend on a deleted one are named in a warning: they no longer wait
    for it.
    """
    c = ctx()
    _require_all(c, bead_ids)
    done = [c.beads.delete(b, c.actor(actor)) for b in bead_ids]
    _report_each(done, "deleted", as_json)


def _require_all(c: Ctx, bead_ids: Sequence[str]) -> None:
    """Refuse the whole command before its first write if any id is unknown."""
    cache = c.beads.cache()
    for bid in bead_ids:
        b = cache.get(bid)
        if b is None or b["deleted"]:
            raise c.rig.store.not_found(bid)


def _report_each(beads: list[Any], verb: str, as_json: bool) -> None:
    if as_json:
        emit_json([b.to_json() for b in beads])
        return
    for b in beads:
        click.echo(f"{b.id}: {verb}")


@cli.command(context_settings=CONTEXT)
@click.argument("bead_id", metavar="ID")
@click.argument("text")
@actor_option
@json_option
def comment(bead_id: str, text: str, actor: str | None, as_json: bool) -> None:
    """Add a comment to a bead."""
    c = ctx()
    bead = c.beads.comment(bead_id, c.actor(actor), text)
    if as_json:
        emit_json(bead.to_json())
    else:
        click.echo(f"{bead.id}: commented")


@cli.group(context_settings=CONTEXT)
def label() -> None:
    """Add or remove labels."""


@label.command("add", context_settings=CONTEXT)
@click.argument("bead_id", metavar="ID")
@click.argument("labels", metavar="LABEL...", nargs=-1, required=True)
@actor_option
@json_option
def label_add(bead_id: str, labels: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Add labels to a bead."""
    c = ctx()
    bead = c.beads.label(bead_id, c.actor(actor), labels, True)
    _report_each([bead], "labels " + ", ".join(bead.labels), as_json)


@label.command("rm", context_settings=CONTEXT)
@click.argument("bead_id", metavar="ID")
@click.argument("labels", metavar="LABEL...", nargs=-1, required=True)
@actor_option
@json_option
def label_rm(bead_id: str, labels: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Remove labels from a bead (the removal syncs to other clones)."""
    c = ctx()
    bead = c.beads.label(bead_id, c.actor(actor), labels, False)
    _report_each([bead], "labels " + (", ".join(bead.labels) or "(none)"), as_json)


@cli.group(context_settings=CONTEXT)
def dep() -> None:
    """Dependencies: `dep add A TYPE B` means A depends on B (for blocks: B must close first)."""


@dep.command("add", context_settings=CONTEXT)
@click.argument("bead_id", metavar="ID")
@click.argument("kind", metavar="TYPE")
@click.argument("target", metavar="ID2")
@actor_option
@json_option
def dep_add(bead_id: str, kind: str, target: str, actor: str | None, as_json: bool) -> None:
    """Make ID depend on ID2 with TYPE; a blocks/parent-child cycle is refused.

    TYPE is blocks, parent-child, related, discovered-from or tracks.
    """
    c = ctx()
    bead = c.beads.dep_add(bead_id, kind, target, c.actor(actor))
    _report_each([bead], f"depends on {target} ({kind})", as_json)


@dep.command("rm", context_settings=CONTEXT)
@click.argument("bead_id", metavar="ID")
@click.argument("kind", metavar="TYPE")
@click.argument("target", metavar="ID2")
@actor_option
@json_option
def dep_rm(bead_id: str, kind: str, target: str, actor: str | None, as_json: bool) -> None:
    """Remove the dependency of ID on ID2."""
    c = ctx()
    bead = c.beads.dep_rm(bead_id, kind, target, c.actor(actor))
    _report_each([bead], f"no longer depends on {target} ({kind})", as_json)


@dep.command("tree", context_settings=CONTEXT)
@click.argument("bead_id", metavar="ID")
@click.option("--depth", default=10, show_default=True, help="How deep to go.")
@json_option
def dep_tree(bead_id: str, depth: int, as_json: bool) -> None:
    """Show what ID depends on, recursively."""
    cache = ctx().beads.cache()
    if cache.get(bead_id) is None:
        raise ctx().rig.store.not_found(bead_id)

    def node(bid: str, level: int, seen: frozenset[str]) -> dict[str, Any]:
        b = cache.get(bid)
        entry: dict[str, Any] = {"id": bid, "title": b["title"] if b else "(missing)",
                                 "status": b["status"] if b else "missing",
                                 "deleted": bool(b and b["deleted"]), "deps": []}
        if b and not b["deleted"] and level < depth:
            for d in b["dependencies"]:
                if d["id"] in seen:
                    entry["deps"].append({"id": d["id"], "type": d["type"], "cycle": True})
                    continue
                child = node(d["id"], level + 1, seen | {d["id"]})
                child["type"] = d["type"]
                entry["deps"].append(child)
        return entry

    tree = node(bead_id, 0, frozenset({bead_id}))
    if as_json:
        emit_json(tree)
        return

    def show(n: dict[str, Any], indent: str) -> None:
        for d in n["deps"]:
            if d.get("cycle"):
                click.echo(f"{indent}{d['type']} -> {d['id']} (cycle)")
                continue
            state = "deleted" if d["deleted"] else d["status"]
            click.echo(f"{indent}{d['type']} -> {d['id']} [{state}] {d['title']}")
            show(d, indent + "  ")

    click.echo(f"{tree['id']} [{tree['status']}] {tree['title']}")
    show(tree, "  ")


@dep.command("cycles", context_settings=CONTEXT)
@json_option
def dep_cycles(as_json: bool) -> None:
    """List dependency cycles among blocks/parent-child edges (exit 1 if any)."""
    from git_gastown.beads.ops import find_cycles

    cycles = find_cycles(ctx().beads.cache().edges())
    if as_json:
        emit_json(cycles)
    elif not cycles:
        click.echo("no cycles")
    for cyc in cycles if not as_json else []:
        click.echo(" -> ".join(cyc))
    if cycles:
        raise click.exceptions.Exit(1)


# -- reads -------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("bead_ids", metavar="ID...", nargs=-1, required=True)
@json_option
def show(bead_ids: tuple[str, ...], as_json: bool) -> None:
    """Show beads in full."""
    c = ctx()
    cache = c.beads.cache()
    found = []
    for bid in bead_ids:
        b = cache.get(bid)
        if b is None or b["deleted"]:
            raise c.rig.store.not_found(bid)
        b["blocked_by"] = cache.blockers(bid)
        found.append(b)
    if as_json:
        emit_json(found)
        return
    click.echo("\n\n".join(_show(b, b["blocked_by"]) for b in found))


def _list_options(fn: Any) -> Any:
    for opt in reversed([
        click.option("-s", "--status", "statuses", multiple=True, metavar="STATUS",
                     help=f"{STATUS_HELP} (repeatable)."),
        click.option("-t", "--type", "types", multiple=True, metavar="TYPE",
                     help="Repeatable."),
        click.option("-a", "--assignee", metavar="NAME"),
        click.option("-l", "--label", "labels", multiple=True, metavar="LABEL",
                     help="Must carry every label given."),
        click.option("-p", "--priority", "priorities", multiple=True, type=click.IntRange(0, 4),
                     help="Repeatable."),
        click.option("--parent", metavar="ID", help="Children of ID."),
        click.option("--sort", type=click.Choice(["priority", "created", "-created", "updated",
                                                  "id", "title"]),
                     default="priority", show_default=True),
        click.option("-n", "--limit", type=click.IntRange(min=1), metavar="N"),
    ]):
        fn = opt(fn)
    return fn


@cli.command("list", context_settings=CONTEXT)
@_list_options
@click.option("--all", "show_all", is_flag=True, help="Include closed beads.")
@json_option
def list_(statuses: tuple[str, ...], types: tuple[str, ...], assignee: str | None,
          labels: tuple[str, ...], priorities: tuple[int, ...], parent: str | None,
          sort: str, limit: int | None, show_all: bool, as_json: bool) -> None:
    """List beads (closed ones only with --all or --status closed)."""
    from git_gastown.beads.model import check_field

    for s in statuses:
        check_field("status", s)
    for t in types:
        check_field("type", t)
    wanted = statuses or (() if show_all else
                          ("open", "in_progress", "hooked", "blocked", "deferred"))
    _print_list(ctx().beads.cache(), as_json, status=wanted, types=types, assignee=assignee,
                labels=labels, priority=priorities, parent=parent, sort=sort, limit=limit)


@cli.command(context_settings=CONTEXT)
@click.option("-a", "--assignee", metavar="NAME", help="Only beads assigned to NAME.")
@click.option("--unassigned", is_flag=True, help="Only beads nobody holds (not with -a).")
@click.option("-n", "--limit", type=click.IntRange(min=1), metavar="N")
@click.option("--claim", is_flag=True,
              help="Atomically take the first ready bead nobody else holds, and print it.")
@actor_option
@json_option
def ready(assignee: str | None, unassigned: bool, limit: int | None, claim: bool,
          actor: str | None, as_json: bool) -> None:
    """Open beads whose blockers are all closed, by priority then age."""
    if assignee is not None and unassigned:
        raise UsageError("--assignee and --unassigned exclude each other",
                         hint="give one of them")
    c = ctx()
    if claim:
        who = c.actor(actor)
        bead = c.beads.claim_ready(who, assignee=assignee, unassigned=unassigned)
        if bead is None:
            held = c.beads.cache().count(ready=True, assignee=assignee, unassigned=unassigned)
            if held:
                raise NotFound(f"no ready bead to claim: all {held} are held by others",
                               hint="git gt-bead ready shows them and who holds each")
            raise NotFound("no ready bead to claim", hint="git gt-bead blocked shows what waits")
        if as_json:
            emit_json(bead.to_json())
        else:
            click.echo(bead.id)
        return
    _print_list(c.beads.cache(), as_json, ready=True, assignee=assignee,
                unassigned=unassigned, limit=limit)


@cli.command(context_settings=CONTEXT)
@json_option
def blocked(as_json: bool) -> None:
    """Beads that cannot start, each with what blocks it."""
    cache = ctx().beads.cache()
    items = cache.query(blocked=True)
    for b in items:
        b["blocked_by"] = cache.blockers(b["id"])
    if as_json:
        emit_json(items)
        return
    for b in items:
        click.echo(_line(b))
        for r in b["blocked_by"]:
            click.echo(f"    {r['reason']}")


@cli.command(context_settings=CONTEXT)
@click.argument("text")
@click.option("--all", "show_all", is_flag=True, help="Include closed beads.")
@click.option("-n", "--limit", type=click.IntRange(min=1), metavar="N")
@json_option
def search(text: str, show_all: bool, limit: int | None, as_json: bool) -> None:
    """Find beads whose title, text fields or comments contain TEXT (any case)."""
    wanted = () if show_all else ("open", "in_progress", "hooked", "blocked", "deferred")
    _print_list(ctx().beads.cache(), as_json, text=text, status=wanted, limit=limit)


@cli.command(context_settings=CONTEXT)
@json_option
def stats(as_json: bool) -> None:
    """Counts by status, type and priority; ready and blocked totals."""
    data = ctx().beads.cache().stats()
    if as_json:
        emit_json(data)
        return
    click.echo(f"beads: {data['total']}  ready: {data['ready']}  blocked: {data['blocked']}"
               f"  deleted: {data['deleted']}")
    for key in ("by_status", "by_type", "by_priority"):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(data[key].items()))
        click.echo(f"{key.replace('_', ' ')}: {parts}")


@cli.command(context_settings=CONTEXT)
@click.argument("bead_id", metavar="ID")
@json_option
def history(bead_id: str, as_json: bool) -> None:
    """Every change to one bead, oldest first, including values a merge overrode."""
    from git_gastown.beads.history import history as read_history

    c = ctx()
    changes = read_history(c.rig.store, bead_id)
    if not changes:
        raise c.rig.store.not_found(bead_id)
    if as_json:
        emit_json([ch.to_json() for ch in changes])
        return
    for ch in changes:
        what = ch.key if ch.section == "fields" else f"{ch.section[:-1]} {ch.key}"
        value = ch.value
        if ch.section in ("labels", "deps"):
            value = "added" if value else "removed"
        elif value is None:
            value = "(cleared)"
        mark = "" if ch.current else style("  (superseded)", fg="bright_black")
        click.echo(f"{ch.time}  {ch.actor}  {what} = {value!s}{mark}  [{ch.commit[:8]}]")


@cli.command(context_settings=CONTEXT)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE instead of standard output.")
def export(output: str | None) -> None:
    """Write every bead (tombstones included) as JSONL, one bead a line, sorted by id."""
    lines = [json.dumps(b, sort_keys=True, ensure_ascii=False) + "\n"
             for b in ctx().beads.export()]
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.writelines(lines)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}",
                             hint="give a writable file path") from exc
    else:
        sys.stdout.writelines(lines)


@cli.command("import", context_settings=CONTEXT)
@click.argument("file", metavar="FILE")
@actor_option
@json_option
def import_(file: str, actor: str | None, as_json: bool) -> None:
    """Import JSONL (`-` for stdin): ours, or the issues.jsonl of Beads (bd); one commit.

    The data already exists elsewhere, so what a write would refuse is imported and named
    in a warning: a dependency cycle, a dependency on an id this rig lacks, one id on
    several lines.
    """
    c = ctx()
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(file, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{file} is not UTF-8 text (byte {exc.start})",
                         hint="export the issues as JSONL in UTF-8") from exc
    # Split on newlines only: str.splitlines() would also cut at U+2028 or U+0085, which
    # JSON leaves unescaped inside strings.
    lines = text.split("\n")
    counts = c.beads.import_lines(lines, c.actor(actor))
    if as_json:
        emit_json(counts)
    else:
        click.echo(f"imported: {counts['created']} created, {counts['updated']} updated,"
                   f" {counts['unchanged']} unchanged")


def main(argv: Sequence[str] | None = None, prog: str = "git gt-bead") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
