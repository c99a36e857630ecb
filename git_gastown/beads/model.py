"""The bead: its stored document (mergeable registers and sets) and its plain view.

A stored bead is one JSON document:

    {"format": 1, "id": "gt-a3f8k",
     "fields":   {"title": {"v": "Fix login", "c": 3, "a": "alice", "t": "2026-..Z"}, ...},
     "labels":   {"bug": {"v": true, "c": 2, "a": "alice", "t": "..."}},
     "deps":     {"blocks:gt-x1y2z": {"v": true, "c": 4, "a": "bob", "t": "..."}},
     "comments": {"c-k2j4h9aa": {"author": "bob", "text": "...", "created_at": "..."}},
     "nonce": "9f2c4e1a7b3d5f60"}

Every field is a last-writer-wins register stamped with a per-bead Lamport clock `c`,
the actor `a` and the wall time `t`; labels and dependencies are sets of such registers
(`v` false records a removal, so removals propagate); comments are immutable and keyed
by a random id. Merging two versions of a bead is therefore a per-entry maximum, which
is commutative, associative and idempotent: any two clones converge. `nonce` is written
once at creation (beads imported or made before it existed have none); it tells two beads
that collided on one id apart when clones merge.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from git_gastown.errors import UsageError

FORMAT = 1

TYPES = (
    "task", "bug", "feature", "epic", "chore", "convoy", "message", "escalation",
    "molecule", "merge-request", "agent",
)
STATUSES = ("open", "in_progress", "hooked", "blocked", "deferred", "closed")
DEP_TYPES = ("blocks", "parent-child", "related", "discovered-from", "tracks")
# Edges that order work; a cycle among them is refused.
ORDERING_DEPS = ("blocks", "parent-child")
# Types that are records, not work: never offered by `ready`.
NON_WORK_TYPES = ("convoy", "message", "escalation", "molecule", "merge-request", "agent")

TEXT_FIELDS = ("title", "description", "design", "acceptance", "notes", "close_reason")
KNOWN_FIELDS = (
    *TEXT_FIELDS, "type", "status", "priority", "assignee", "created_at", "created_by",
    "closed_at", "deleted",
)
# Kept by gastown itself: set by create, close and delete, never by --field (a value given
# there would break the export/import round trip or misstate who made the bead).
SYSTEM_FIELDS = ("created_at", "created_by", "closed_at", "deleted")
# Names of a bead's JSON that are not plain fields: a --field of that name would make a
# custom field that `show` prints as if it were the real thing. Each has its own command.
STRUCTURAL_FIELDS = {
    "id": "a bead's id never changes",
    "labels": "git gt-bead label add/rm ID LABEL...",
    "dependencies": "git gt-bead dep add/rm ID TYPE:TARGET",
    "parent": "git gt-bead dep add ID parent-child:PARENT (or create --parent)",
    "comments": "git gt-bead comment ID TEXT",
    "fields": "give each custom field as --field KEY=VALUE",
    "updated_at": "it is set by every change",
    "blocked": "it follows from the bead's status and dependencies",
    "blocked_by": "it follows from the bead's dependencies",
}
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
LABEL = re.compile(r"^[^\s,][^,\n]{0,99}$")

Stamp = dict[str, Any]
Doc = dict[str, Any]


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stamp_key(s: Stamp) -> tuple[int, str, str, str]:
    """Order of two writes to one register: clock, then actor, then time, then value."""
    return (int(s["c"]), str(s["a"]), str(s["t"]), canonical(s.get("v")))


# -- validation ----------------------------------------------------------------------


def check_field(name: str, value: Any) -> Any:
    """Validate and normalize one field value; raise UsageError with the fix."""
    if name == "title":
        if not isinstance(value, str) or not value.strip():
            raise UsageError("a bead's title cannot be empty", hint="give a short title")
        if "\n" in value:
            raise UsageError("a bead's title is one line", hint="put detail in --description")
        return value.strip()
    if name == "type":
        if value not in TYPES:
            raise UsageError(f"unknown type {value!r}", hint=f"use one of: {', '.join(TYPES)}")
        return value
    if name == "status":
        if value not in STATUSES:
            raise UsageError(
                f"unknown status {value!r}", hint=f"use one of: {', '.join(STATUSES)}"
            )
        return value
    if name == "priority":
        try:
            prio = int(str(value).lstrip("Pp"))
        except ValueError:
            prio = -1
        if not 0 <= prio <= 4:
            raise UsageError(f"priority must be 0-4, not {value!r}", hint="0 is most urgent")
        return prio
    if name == "deleted":
        return bool(value)
    if name in KNOWN_FIELDS:
        if value is not None and not isinstance(value, str):
            raise UsageError(f"field {name} takes text, not {type(value).__name__}")
        return value
    if not FIELD_NAME.match(name):
        raise UsageError(
            f"invalid field name {name!r}",
            hint="use lowercase letters, digits, '_', '-' or '.', starting with a letter",
        )
    return value


def check_label(label: str) -> str:
    label = label.strip()
    if not LABEL.match(label):
        raise UsageError(f"invalid label {label!r}", hint="labels are one line, without commas")
    return label


def check_dep_type(kind: str) -> str:
    if kind not in DEP_TYPES:
        raise UsageError(
            f"unknown dependency type {kind!r}", hint=f"use one of: {', '.join(DEP_TYPES)}"
        )
    return kind


# -- the stored document ------------------------------------------------------------


def new_doc(bead_id: str) -> Doc:
    return {"format": FORMAT, "id": bead_id, "fields": {}, "labels": {}, "deps": {},
            "comments": {}}


def clock_of(doc: Doc) -> int:
    top = 0
    for section in ("fields", "labels", "deps"):
        for s in doc[section].values():
            top = max(top, int(s["c"]))
    return top


class Writer:
    """Stamps every change of one operation with the same clock, actor and time."""

    def __init__(self, doc: Doc, actor: str, when: str | None = None) -> None:
        self.doc = doc
        self.actor = actor
        self.when = when or now_iso()
        self.clock = clock_of(doc) + 1
        self.changed = False

    def _stamp(self, value: Any) -> Stamp:
        return {"v": value, "c": self.clock, "a": self.actor, "t": self.when}

    def set(self, name: str, value: Any) -> None:
        value = check_field(name, value)
        current = self.doc["fields"].get(name)
        if current is not None and current.get("v") == value:
            return
        if current is None and value is None:
            return
        self.doc["fields"][name] = self._stamp(value)
        self.changed = True

    def member(self, section: str, key: str, present: bool) -> None:
        current = self.doc[section].get(key)
        if current is not None and bool(current.get("v")) == present:
            return
        if current is None and not present:
            return
        self.doc[section][key] = self._stamp(present)
        self.changed = True

    def comment(self, comment_id: str, author: str, text: str) -> None:
        self.doc["comments"][comment_id] = {
            "author": author, "text": text, "created_at": self.when,
        }
        self.changed = True


def identity(doc: Doc) -> str:
    """Which creation a document belongs to: its nonce ('' for beads made without one).

    Two documents with one id and different identities are two beads that collided on
    the id (minted on two clones); see git_gastown/beads/merge.py.
    """
    nonce = doc.get("nonce")
    return nonce if isinstance(nonce, str) else ""


def new_nonce() -> str:
    """A random per-bead creation marker, written once by `create` and never changed."""
    return secrets.token_hex(8)


def _later(sb: Stamp, sa: Stamp) -> bool:
    """stamp_key(sb) > stamp_key(sa), rendering the values only when the stamps tie."""
    kb = (int(sb["c"]), str(sb["a"]), str(sb["t"]))
    ka = (int(sa["c"]), str(sa["a"]), str(sa["t"]))
    if kb != ka:
        return kb > ka
    return canonical(sb.get("v")) > canonical(sa.get("v"))


def merge_docs(a: Doc, b: Doc) -> Doc:
    """The join of two versions of one bead: for every entry, the later stamp wins."""
    out = new_doc(a["id"])
    nonce = max(identity(a), identity(b))  # equal for one bead; max keeps the join total
    if nonce:
        out["nonce"] = nonce
    for section in ("fields", "labels", "deps"):
        merged: dict[str, Stamp] = dict(a[section])
        for key, sb in b[section].items():
            sa = merged.get(key)
            if sa is None or _later(sb, sa):
                merged[key] = sb
        out[section] = merged
    comments = dict(a["comments"])
    for cid, cb in b["comments"].items():
        ca = comments.get(cid)
        # Compare canonical text, never ==: 1 == True in Python, and a shortcut on equality
        # would keep whichever side happens to be local, breaking commutativity.
        if ca is None or canonical(cb) > canonical(ca):
            comments[cid] = cb
    out["comments"] = comments
    return out


def encode(doc: Doc) -> bytes:
    """Deterministic bytes: sorted keys, fixed indentation, trailing newline."""
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def decode(data: bytes, *, path: str = "") -> Doc:
    """Parse and check a stored bead; raise ValueError naming what is malformed."""
    where = f" in {path}" if path else ""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed bead JSON{where}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        raise ValueError(f"not a bead document{where}")
    if doc.get("format") != FORMAT:
        raise ValueError(f"unsupported bead format {doc.get('format')!r}{where}")
    if "nonce" in doc and not isinstance(doc["nonce"], str):
        raise ValueError(f"bead {doc['id']}: nonce is not a string{where}")
    for section in ("fields", "labels", "deps", "comments"):
        value = doc.setdefault(section, {})
        if not isinstance(value, dict):
            raise ValueError(f"bead {doc['id']}: {section} is not an object{where}")
    for section in ("fields", "labels", "deps"):
        for key, s in doc[section].items():
            if (
                not isinstance(s, dict)
                or not isinstance(s.get("c"), int)
                or isinstance(s.get("c"), bool)
                or s["c"] < 0
                or not isinstance(s.get("a"), str)
                or not isinstance(s.get("t"), str)
                or "v" not in s
            ):
                raise ValueError(f"bead {doc['id']}: bad stamp for {section}.{key}{where}")
    for cid, c in doc["comments"].items():
        if not isinstance(c, dict) or not isinstance(c.get("text"), str):
            raise ValueError(f"bead {doc['id']}: bad comment {cid}{where}")
    return doc


def _value_problem(section: str, key: str, value: Any) -> str:
    """What is wrong with one stored register (KEY in SECTION holding VALUE), or ''."""
    from git_gastown.beads import ids

    if section in ("labels", "deps"):
        if not isinstance(value, bool):
            return f"is {canonical(value)}, not true or false"
        if section == "labels":
            return "" if LABEL.match(key) and key == key.strip() else \
                "is not a label (one line, without commas)"
        kind, sep, target = key.partition(":")
        if not sep or kind not in DEP_TYPES or not ids.ID_RE.match(target):
            return f"is not TYPE:ID with TYPE one of {', '.join(DEP_TYPES)}"
        return ""
    if key not in KNOWN_FIELDS:
        return "" if FIELD_NAME.match(key) else "is not a valid field name"
    if key == "deleted":
        return "" if isinstance(value, bool) else f"is {canonical(value)}, not true or false"
    if key == "priority":
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4
        return "" if ok else f"is {canonical(value)}, not 0-4"
    if key in ("type", "status"):
        allowed = TYPES if key == "type" else STATUSES
        return "" if value in allowed and isinstance(value, str) else \
            f"is {canonical(value)}, not one of {', '.join(allowed)}"
    if key == "title":
        ok = isinstance(value, str) and value.strip() == value != "" and "\n" not in value
        return "" if ok else f"is {canonical(value)}, not one line of text"
    return "" if value is None or isinstance(value, str) else \
        f"is {canonical(value)}, not text"


def validate(doc: Doc, *, path: str = "") -> Doc:
    """Check the values of a decoded bead as strictly as the commands that write them
    (types, enums, label and dependency syntax, comment fields); raise ValueError naming
    the first bad entry. Used on every document a remote brings, before it is merged."""
    where = f" in {path}" if path else ""
    for section in ("fields", "labels", "deps"):
        for key, s in sorted(doc[section].items()):
            problem = _value_problem(section, key, s["v"])
            if problem:
                name = json.dumps(key, ensure_ascii=False)[1:-1]
                raise ValueError(f"bead {doc['id']}: {section}.{name} {problem}{where}")
    for cid, c in sorted(doc["comments"].items()):
        if not all(isinstance(c.get(k, ""), str) for k in ("author", "text", "created_at")):
            raise ValueError(f"bead {doc['id']}: bad comment {cid} (author, text and "
                             f"created_at must be text){where}")
    return doc


# -- the plain view -----------------------------------------------------------------


@dataclass(frozen=True)
class Dep:
    type: str
    id: str


@dataclass(frozen=True)
class Comment:
    id: str
    author: str
    text: str
    created_at: str


@dataclass(frozen=True)
class Bead:
    id: str
    title: str
    type: str = "task"
    status: str = "open"
    priority: int = 2
    assignee: str = ""
    description: str = ""
    design: str = ""
    acceptance: str = ""
    notes: str = ""
    labels: tuple[str, ...] = ()
    deps: tuple[Dep, ...] = ()
    comments: tuple[Comment, ...] = ()
    created_at: str = ""
    updated_at: str = ""
    closed_at: str = ""
    created_by: str = ""
    close_reason: str = ""
    deleted: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def parent(self) -> str:
        for d in self.deps:
            if d.type == "parent-child":
                return d.id
        return ""

    def deps_of(self, kind: str) -> list[str]:
        return [d.id for d in self.deps if d.type == kind]

    def to_json(self) -> dict[str, Any]:
        """The stable, documented JSON form (docs/json.md)."""
        return {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "status": self.status,
            "priority": self.priority,
            "assignee": self.assignee,
            "description": self.description,
            "design": self.design,
            "acceptance": self.acceptance,
            "notes": self.notes,
            "labels": list(self.labels),
            "dependencies": [{"type": d.type, "id": d.id} for d in self.deps],
            "parent": self.parent,
            "comments": [
                {"id": c.id, "author": c.author, "text": c.text, "created_at": c.created_at}
                for c in self.comments
            ],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "closed_at": self.closed_at,
            "created_by": self.created_by,
            "close_reason": self.close_reason,
            "deleted": self.deleted,
            "fields": dict(self.extra),
        }


def flatten(doc: Doc) -> Bead:
    fields = {k: s["v"] for k, s in doc["fields"].items()}
    times = [s["t"] for sec in ("fields", "labels", "deps") for s in doc[sec].values()]
    times += [c.get("created_at", "") for c in doc["comments"].values()]
    deps = sorted(
        (Dep(*key.split(":", 1)) for key, s in doc["deps"].items() if s["v"] and ":" in key),
        key=lambda d: (d.type, d.id),
    )
    comments = sorted(
        (
            Comment(cid, str(c.get("author", "")), str(c["text"]), str(c.get("created_at", "")))
            for cid, c in doc["comments"].items()
        ),
        key=lambda c: (c.created_at, c.id),
    )
    # A cleared field (`--field k=`) keeps its register, with value None, so the clearing
    # merges like any other write; the plain view omits it.
    extra = {k: v for k, v in fields.items() if k not in KNOWN_FIELDS and v is not None}
    prio = fields.get("priority", 2)
    return Bead(
        id=doc["id"],
        title=str(fields.get("title") or ""),
        type=str(fields.get("type") or "task"),
        status=str(fields.get("status") or "open"),
        priority=prio if isinstance(prio, int) else 2,
        assignee=str(fields.get("assignee") or ""),
        description=str(fields.get("description") or ""),
        design=str(fields.get("design") or ""),
        acceptance=str(fields.get("acceptance") or ""),
        notes=str(fields.get("notes") or ""),
        labels=tuple(sorted(k for k, s in doc["labels"].items() if s["v"])),
        deps=tuple(deps),
        comments=tuple(comments),
        created_at=str(fields.get("created_at") or ""),
        updated_at=max(times) if times else "",
        closed_at=str(fields.get("closed_at") or ""),
        created_by=str(fields.get("created_by") or ""),
        close_reason=str(fields.get("close_reason") or ""),
        deleted=bool(fields.get("deleted", False)),
        extra=extra,
    )
