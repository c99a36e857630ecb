"""What can be done to beads: each operation is one commit on refs/gt/beads."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from git_gastown.beads import ids, model
from git_gastown.beads.cache import Cache
from git_gastown.beads.model import Doc
from git_gastown.beads.store import BeadStore, Tx
from git_gastown.errors import Conflict, NotFound, UsageError


@dataclass
class NewBead:
    title: str
    type: str = "task"
    priority: int = 2
    assignee: str = ""
    description: str = ""
    labels: Sequence[str] = ()
    parent: str | None = None
    deps: Sequence[tuple[str, str]] = ()  # (type, id): this bead depends on id
    fields: Mapping[str, Any] = field(default_factory=dict)
    status: str = "open"


class Beads:
    """The bead operations of one repository."""

    def __init__(self, store: BeadStore) -> None:
        self.store = store

    def cache(self) -> Cache:
        return self.store.cache().fresh()

    # -- create / update ---------------------------------------------------------------

    def create(self, new: NewBead, actor: str) -> model.Bead:
        def apply(tx: Tx) -> Doc:
            if new.parent:
                tx.require(ids.check_id(new.parent))
            bead_id = tx.new_id(new.parent)
            doc = model.new_doc(bead_id)
            doc["nonce"] = model.new_nonce()
            w = tx.writer(doc)
            w.set("title", new.title)
            w.set("type", new.type)
            w.set("priority", new.priority)
            if new.assignee:
                w.set("assignee", new.assignee)
            if new.description:
                w.set("description", new.description)
            # status through the same path as update, so --field status=closed sets closed_at
            _apply_fields(w, doc, {"status": new.status, **check_user_fields(new.fields)})
            w.set("created_at", tx.when)
            w.set("created_by", tx.actor)
            for label in new.labels:
                w.member("labels", model.check_label(label), True)
            deps = list(new.deps)
            if new.parent:
                deps.append(("parent-child", new.parent))
            for kind, target in deps:
                self._add_dep(tx, doc, kind, target, new_bead=True)
            tx.put(doc)
            return doc

        doc = self.store.transact("create", actor, apply)
        return model.flatten(doc)

    def update(
        self, bead_id: str, actor: str, changes: Mapping[str, Any], *, op: str = "update"
    ) -> model.Bead:
        def apply(tx: Tx) -> Doc:
            doc = tx.require(bead_id)
            w = tx.writer(doc)
            _apply_fields(w, doc, changes)
            if w.changed:
                tx.put(doc)
            return doc

        return model.flatten(self.store.transact(op, actor, apply))

    def update_fields(self, bead_id: str, actor: str, changes: Mapping[str, Any]) -> model.Bead:
        """A user's change (git gt-bead update): every field but gastown's own."""
        return self.update(bead_id, actor, check_user_fields(changes))

    def update_many(
        self, changes: Mapping[str, Mapping[str, Any]], actor: str, *, op: str = "update",
        subject: str | None = None,
    ) -> list[model.Bead]:
        """Change several beads in one commit (bead id -> field changes)."""

        def apply(tx: Tx) -> list[Doc]:
            docs = []
            for bead_id, fields in changes.items():
                doc = tx.require(bead_id)
                w = tx.writer(doc)
                _apply_fields(w, doc, fields)
                if w.changed:
                    tx.put(doc)
                docs.append(doc)
            return docs

        if not changes:
            return []
        docs = self.store.transact(op, actor, apply, subject=subject)
        return [model.flatten(d) for d in docs]

    def close(self, bead_id: str, actor: str, reason: str = "") -> model.Bead:
        changes: dict[str, Any] = {"status": "closed"}
        if reason:
            changes["close_reason"] = reason
        return self.update(bead_id, actor, changes, op="close")

    def reopen(self, bead_id: str, actor: str) -> model.Bead:
        return self.update(bead_id, actor, {"status": "open"}, op="reopen")

    def delete(self, bead_id: str, actor: str) -> model.Bead:
        """Tombstone a bead; warn about the live beads that still depend on it."""
        from git_gastown import notices

        bead = self.update(bead_id, actor, {"deleted": True}, op="delete")
        left = self.cache().dependents(bead_id)
        if left:
            names = ", ".join(f"{bid} ({kind})" for bid, kind in left)
            notices.warn("deleted_with_dependents",
                         f"{bead_id} was deleted while {len(left)} bead(s) depend on it: "
                         f"{names}; they no longer wait for it (git gt-bead dep rm to tidy)")
        return bead

    def claim(self, bead_id: str, actor: str) -> model.Bead:
        """Take a bead atomically: only if it is open and nobody else holds it."""

        def apply(tx: Tx) -> Doc:
            doc = tx.require(bead_id)
            _claim(tx, doc)
            return doc

        bead = model.flatten(self.store.transact("claim", actor, apply))
        waits = [r["id"] for r in self.cache().blockers(bead_id) if r["id"] != bead_id]
        if waits:
            from git_gastown import notices

            notices.warn("claimed_blocked", f"{bead_id} is blocked by {', '.join(waits)}; "
                         "it cannot start until they close")
        return bead

    def claim_ready(self, actor: str, **filters: Any) -> model.Bead | None:
        """Claim the first ready bead (priority, then age) that nobody else holds."""

        def apply(tx: Tx) -> Doc | None:
            # Under the beads lock the fresh cache equals the tip, so its first ready bead
            # nobody else holds is the one to take; the document itself is read from git.
            cache = self.store.cache().fresh()
            for item in cache.query_brief(ready=True, available_to=tx.actor, limit=1,
                                          **filters):
                doc = tx.require(item["id"])
                _claim(tx, doc)
                return doc
            return None

        doc = self.store.transact("claim", actor, apply)
        return model.flatten(doc) if doc is not None else None

    # -- labels, comments, deps --------------------------------------------------------

    def label(self, bead_id: str, actor: str, labels: Sequence[str], present: bool) -> model.Bead:
        def apply(tx: Tx) -> Doc:
            doc = tx.require(bead_id)
            w = tx.writer(doc)
            for label in labels:
                w.member("labels", model.check_label(label), present)
            if w.changed:
                tx.put(doc)
            return doc

        return model.flatten(self.store.transact("label", actor, apply))

    def comment(self, bead_id: str, actor: str, text: str) -> model.Bead:
        if not text.strip():
            raise UsageError("the comment is empty", hint="give the comment text")

        def apply(tx: Tx) -> Doc:
            doc = tx.require(bead_id)
            tx.writer(doc).comment(_comment_id(), tx.actor, text)
            tx.put(doc)
            return doc

        return model.flatten(self.store.transact("comment", actor, apply))

    def dep_add(self, bead_id: str, kind: str, target: str, actor: str) -> model.Bead:
        def apply(tx: Tx) -> Doc:
            doc = tx.require(bead_id)
            if self._add_dep(tx, doc, kind, target):
                tx.put(doc)
            return doc

        return model.flatten(self.store.transact("dep-add", actor, apply))

    def dep_rm(self, bead_id: str, kind: str, target: str, actor: str) -> model.Bead:
        def apply(tx: Tx) -> Doc:
            doc = tx.require(bead_id)
            key = f"{model.check_dep_type(kind)}:{target}"
            if not doc["deps"].get(key, {}).get("v"):
                raise NotFound(f"{bead_id} has no {kind} dependency on {target}",
                               hint=f"git gt-bead show {bead_id} lists its dependencies")
            tx.writer(doc).member("deps", key, False)
            tx.put(doc)
            return doc

        return model.flatten(self.store.transact("dep-rm", actor, apply))

    def _add_dep(self, tx: Tx, doc: Doc, kind: str, target: str, new_bead: bool = False) -> bool:
        """Add one dependency after the checks; return whether the bead changed."""
        kind = model.check_dep_type(kind)
        ids.check_id(target)
        bead_id = doc["id"]
        if target == bead_id:
            raise UsageError(f"{bead_id} cannot depend on itself")
        tx.require(target)
        if kind == "parent-child":
            current = model.flatten(doc).parent
            if current and current != target:
                raise Conflict(
                    f"{bead_id} already has parent {current}",
                    hint=f"remove it first: git gt-bead dep rm {bead_id} parent-child {current}",
                )
        if kind in model.ORDERING_DEPS and not new_bead:
            graph = self.store.cache().fresh().edges()
            for other in tx.changed.values():
                graph[other["id"]] = [d.id for d in model.flatten(other).deps
                                      if d.type in model.ORDERING_DEPS]
            path = find_path(graph, target, bead_id)
            if path is not None:
                cycle = " -> ".join([bead_id, *path])
                raise Conflict(
                    f"adding {bead_id} {kind} {target} would make a cycle: {cycle}",
                    hint="remove one of those dependencies first",
                )
        w = tx.writer(doc)
        w.member("deps", f"{kind}:{target}", True)
        return w.changed

    # -- import / export ---------------------------------------------------------------

    def export(self) -> list[dict[str, Any]]:
        return self.cache().query(include_deleted=True, sort="id")

    def import_lines(self, lines: Iterable[str], actor: str) -> dict[str, int]:
        """Import JSONL (ours, or Beads' issues.jsonl) in one commit; idempotent.

        Every line is checked before anything is written, so a malformed line changes
        nothing. An imported record sets its fields and adds its labels, dependencies and
        comments; it never removes them and never undeletes a bead. Its changes are
        stamped with the record's updated_at, so an export imported elsewhere exports
        identically.
        """
        records = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"line {n} is not JSON: {exc.msg}",
                                 hint="each line must be one JSON object") from exc
            if not isinstance(obj, dict):
                raise UsageError(f"line {n} is not a JSON object",
                                 hint="each line must be one JSON object")
            try:
                records.append(normalize_record(obj))
            except UsageError as exc:
                raise UsageError(f"line {n}: {exc.message}",
                                 hint=exc.hint or "fix that line and import again") from exc
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        missing: dict[str, list[str]] = {}
        beads = _fold_records(records)

        def apply(tx: Tx) -> None:
            ids_here = {rec["id"] for rec in beads}
            for rec in beads:
                for _, target in rec["deps"]:
                    if target not in ids_here and tx.get(target) is None:
                        missing.setdefault(rec["id"], []).append(target)
                existing = tx.get(rec["id"])
                doc = existing if existing is not None else model.new_doc(rec["id"])
                w = tx.writer(doc, rec["when"])
                _apply_fields(w, doc, rec["fields"])
                for label in rec["labels"]:
                    w.member("labels", label, True)
                for kind, target in rec["deps"]:
                    w.member("deps", f"{kind}:{target}", True)
                for c in rec["comments"]:
                    if c["id"] not in doc["comments"]:
                        doc["comments"][c["id"]] = {
                            "author": c["author"], "text": c["text"],
                            "created_at": c["created_at"] or w.when,
                        }
                        w.changed = True
                if existing is None:
                    counts["created"] += 1
                elif w.changed:
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
                if w.changed:
                    tx.put(doc)

        self.store.transact("import", actor, apply, subject=f"import {len(records)} beads")
        _import_warnings(records, missing, self.cache().edges())
        return counts


def _fold_records(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per bead: the later lines of an id that appears more than once win its
    fields and add their labels, dependencies and comments, so importing the same file
    again finds nothing to change."""
    folded: dict[str, dict[str, Any]] = {}
    for rec in records:
        seen = folded.get(rec["id"])
        if seen is None:
            folded[rec["id"]] = {**rec, "fields": dict(rec["fields"]),
                                 "labels": list(rec["labels"]), "deps": list(rec["deps"]),
                                 "comments": list(rec["comments"])}
            continue
        seen["fields"].update(rec["fields"])
        seen["labels"] += [x for x in rec["labels"] if x not in seen["labels"]]
        seen["deps"] += [x for x in rec["deps"] if x not in seen["deps"]]
        ids = {c["id"] for c in seen["comments"]}
        seen["comments"] += [c for c in rec["comments"] if c["id"] not in ids]
        seen["when"] = max((w for w in (seen["when"], rec["when"]) if w), default=None)
    return list(folded.values())


def _import_warnings(records: Sequence[Mapping[str, Any]], missing: Mapping[str, list[str]],
                     edges: Mapping[str, Sequence[str]]) -> None:
    """What an import accepted but the user should know: the data already exists
    elsewhere, so it is kept as it is, and named."""
    from collections import Counter

    from git_gastown import notices

    for bead_id, n in sorted(Counter(rec["id"] for rec in records).items()):
        if n > 1:
            notices.warn("duplicate_id", f"{bead_id} is on {n} lines; the later lines' "
                         "fields won and their labels, dependencies and comments were added")
    for bead_id, targets in sorted(missing.items()):
        names = ", ".join(sorted(set(targets)))
        notices.warn("missing_target", f"{bead_id} depends on {names}, which this rig "
                     "does not have; such a dependency blocks nothing")
    imported = {rec["id"] for rec in records}
    for cycle in find_cycles(edges):
        if imported & set(cycle):
            notices.warn("dependency_cycle", "the import made a dependency cycle: "
                         + " -> ".join(cycle) + " (git gt-bead dep rm to break it)")


def _comment_id() -> str:
    """A random comment id that sorts by creation time, so comments made within one
    second (the resolution of created_at) still list in the order they were made."""
    ms = time.time_ns() // 1_000_000
    stamp = ""
    while ms:
        ms, digit = divmod(ms, 36)
        stamp = ids.ALPHABET[digit] + stamp
    return f"c-{stamp.rjust(9, '0')}{ids.token(5)}"


def _content_comment_id(bead_id: str, comment: Mapping[str, Any]) -> str:
    """The id of an imported comment that has none: a hash of what it says, so importing
    the same file again (here or in another clone) finds the same comment."""
    from hashlib import sha1

    key = "\0".join(str(comment.get(k) or "") for k in ("author", "created_at", "text"))
    return "c-" + sha1(f"{bead_id}\0{key}".encode()).hexdigest()[:12]


def check_user_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse the fields only gastown sets (model.SYSTEM_FIELDS) and the names that are
    not plain fields (model.STRUCTURAL_FIELDS); check the others."""
    for key in changes:
        if key in model.SYSTEM_FIELDS:
            how = {"deleted": "git gt-bead delete", "closed_at": "git gt-bead close"}.get(
                key, "it is set when the bead is created")
            raise UsageError(f"{key} is kept by git-gastown and cannot be set",
                             hint=f"{how}; nothing was changed")
        if key in model.STRUCTURAL_FIELDS:
            raise UsageError(f"{key} is not a field --field can set",
                             hint=f"{model.STRUCTURAL_FIELDS[key]}; nothing was changed")
    return {key: model.check_field(key, value) for key, value in changes.items()}


def _apply_fields(w: model.Writer, doc: Doc, changes: Mapping[str, Any]) -> None:
    was_closed = doc["fields"].get("status", {}).get("v") == "closed"
    for key, value in changes.items():
        w.set(key, value)
    status = changes.get("status")
    if "closed_at" in changes:
        return
    if status == "closed" and not was_closed:
        w.set("closed_at", w.when)
    elif status is not None and status != "closed":
        w.set("closed_at", None)
        if was_closed and "close_reason" not in changes:
            w.set("close_reason", None)  # a reopened bead has no reason to be closed


def _claim(tx: Tx, doc: Doc) -> None:
    bead = model.flatten(doc)
    if bead.assignee and bead.assignee != tx.actor:
        raise Conflict(f"{bead.id} is already claimed by {bead.assignee}",
                       hint="pick another bead (git gt-bead ready)")
    if bead.status not in ("open", "in_progress", "hooked"):
        raise Conflict(f"{bead.id} is {bead.status}, not open",
                       hint=f"reopen it first: git gt-bead reopen {bead.id}")
    if bead.status != "open" and bead.assignee == tx.actor:
        return  # already ours: claiming again is a no-op
    w = tx.writer(doc)
    w.set("assignee", tx.actor)
    w.set("status", "in_progress")
    tx.put(doc)


def find_path(graph: Mapping[str, Sequence[str]], start: str, goal: str) -> list[str] | None:
    """A path start -> ... -> goal along dependency edges, or None (iterative DFS)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen = {start}
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every elementary cycle's representative: one per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = sorted(graph.get(node, ()))
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    comps.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    cycles = []
    for comp in comps:
        members = set(comp)
        sub = {n: [t for t in graph.get(n, ()) if t in members] for n in comp}
        start = comp[0]
        first = sub[start][0] if sub[start] else start
        path = find_path(sub, first, start) or [start]
        cycles.append([start, *path] if path[0] != start else path)
    return sorted(cycles)


# Beads (bd) statuses and dependency types that we do not have map to the nearest of
# ours; the original is kept in a field (beads_status, beads_dependencies) so that
# nothing of the user's data is lost.
_BEADS_STATUS = {
    "open": "open", "in_progress": "in_progress", "blocked": "blocked", "closed": "closed",
    "deferred": "deferred", "hooked": "hooked", "pinned": "open", "tombstone": "closed",
}
# Beads' role and rig beads describe agents (never work to pick up); other types we lack
# (gate, event, ...) become tasks, which someone must then resolve by hand.
_BEADS_TYPE = {"role": "agent", "rig": "agent"}
_BEADS_DEP = {
    "blocks": "blocks", "conditional-blocks": "blocks", "waits-for": "blocks",
    "parent-child": "parent-child", "related": "related", "discovered-from": "discovered-from",
    "tracks": "tracks",
}
# Keys of a record that are mapped explicitly (everything else becomes a free field).
_KNOWN_KEYS = frozenset({
    "id", "title", "issue_type", "type", "status", "priority", "description", "design",
    "notes", "assignee", "close_reason", "created_at", "closed_at", "created_by",
    "acceptance_criteria", "acceptance", "labels", "dependencies", "comments", "updated_at",
    "parent", "deleted", "blocked", "blocked_by", "fields",
})
_TIME_KEYS = ("created_at", "closed_at")


def rfc3339_utc(value: str, what: str) -> str:
    """An RFC 3339 time as our canonical UTC form (2026-01-02T03:04:05Z)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{what} {value!r} is not an RFC 3339 time",
                         hint="use a time like 2026-01-02T03:04:05Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list_of(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(f"{key} must be an array, not {type(value).__name__}")
    return value


def _field_name(key: str) -> str:
    """A free field name from any JSON key (lowercase, safe characters)."""
    name = re.sub(r"[^a-z0-9_.-]+", "_", key.lower()).strip("_") or "field"
    if not name[0].isalpha():
        name = "x_" + name
    return name[:64]


def normalize_record(obj: Mapping[str, Any]) -> dict[str, Any]:
    """One JSONL record (ours or Beads') as checked fields, labels, deps and comments.

    Raises UsageError naming what is wrong; unknown keys are kept as free fields.
    """
    bead_id = obj.get("id")
    if not isinstance(bead_id, str):
        raise UsageError("record has no string id", hint='every line needs "id"')
    ids.check_id(bead_id)
    is_beads = "issue_type" in obj or "acceptance_criteria" in obj or any(
        isinstance(d, dict) and "depends_on_id" in d for d in _list_of(obj, "dependencies")
    )
    fields: dict[str, Any] = {}
    title = obj.get("title")
    fields["title"] = " ".join(title.split()) if isinstance(title, str) and title.strip() \
        else bead_id
    kind = obj.get("issue_type") if is_beads else obj.get("type")
    if kind in model.TYPES:
        fields["type"] = kind
    elif kind:
        fields["type"] = _BEADS_TYPE.get(str(kind), "task")
        fields["beads_type"] = str(kind)
    status = str(obj.get("status") or "open")
    fields["status"] = _BEADS_STATUS.get(status, "open")
    if fields["status"] != status:
        fields["beads_status"] = status
    if status == "tombstone" or obj.get("deleted") is True:
        fields["deleted"] = True
    priority = obj.get("priority")
    if priority is not None:
        if isinstance(priority, bool):
            raise UsageError(f"priority must be 0-4, not {priority!r}")
        fields["priority"] = model.check_field("priority", priority)
    for ours, theirs in (("description", "description"), ("design", "design"),
                         ("notes", "notes"), ("assignee", "assignee"),
                         ("close_reason", "close_reason"), ("created_at", "created_at"),
                         ("closed_at", "closed_at"), ("created_by", "created_by"),
                         ("acceptance", "acceptance_criteria" if is_beads else "acceptance")):
        value = obj.get(theirs)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{theirs} must be text, not {type(value).__name__}")
        if value:
            fields[ours] = rfc3339_utc(value, theirs) if ours in _TIME_KEYS else value
    updated = obj.get("updated_at")
    when = rfc3339_utc(updated, "updated_at") if isinstance(updated, str) and updated else None
    extras = {}
    if not is_beads and isinstance(obj.get("fields"), dict):
        extras.update(obj["fields"])
    for key, value in obj.items():
        if key not in _KNOWN_KEYS and value not in (None, "", [], {}):
            extras[key] = value
    for key, value in extras.items():
        name = _field_name(key)
        if name in model.KNOWN_FIELDS:
            name = "beads_" + name
        fields.setdefault(name, value)
    labels = []
    for x in _list_of(obj, "labels"):
        if not isinstance(x, str):
            raise UsageError(f"labels must be strings, not {x!r}")
        if x.strip():
            labels.append(model.check_label(x))
    deps: list[tuple[str, str]] = []
    lossy: list[str] = []
    for n, d in enumerate(_list_of(obj, "dependencies"), 1):
        if not isinstance(d, dict):
            raise UsageError(f"dependency {n} is not an object")
        if is_beads:
            if d.get("issue_id", bead_id) != bead_id:
                continue  # stored with the issue it belongs to
            target, theirs_kind = d.get("depends_on_id"), str(d.get("type") or "blocks")
            dkind = _BEADS_DEP.get(theirs_kind, "related")
            if dkind != theirs_kind:
                lossy.append(f"{theirs_kind}:{target}")
        else:
            target, dkind = d.get("id"), model.check_dep_type(str(d.get("type")))
        if not isinstance(target, str):
            raise UsageError(f"dependency {n} has no target id")
        ids.check_id(target)
        if target != bead_id:
            deps.append((dkind, target))
    if lossy:
        fields["beads_dependencies"] = lossy
    comments = []
    for n, c in enumerate(_list_of(obj, "comments"), 1):
        if not isinstance(c, dict) or not isinstance(c.get("text"), str):
            raise UsageError(f"comment {n} has no text")
        created = c.get("created_at")
        cid = str(c.get("id") or _content_comment_id(bead_id, c))
        comments.append({
            "id": cid if cid.startswith("c-") else f"c-{cid}",
            "author": str(c.get("author") or ""),
            "text": c["text"],
            "created_at": rfc3339_utc(created, f"comment {n} created_at")
            if isinstance(created, str) and created else "",
        })
    for name, value in fields.items():
        fields[name] = model.check_field(name, value)
    return {"id": bead_id, "fields": fields, "labels": labels, "deps": deps,
            "comments": comments, "when": when}
