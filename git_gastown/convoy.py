"""Convoys: beads of type convoy that track a bundle of beads and close themselves when
every tracked bead is closed. A convoy labelled `mountain` is also watched for stalls,
and its beads that keep failing are blocked and skipped (see witness.py).

A convoy's title is its name (unique among convoys); it tracks a bead through a
`tracks:<id>` dependency, which never blocks anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from git_gastown.beads import model
from git_gastown.beads.cache import Cache
from git_gastown.beads.ops import Beads
from git_gastown.beads.store import BeadStore, Tx
from git_gastown.errors import Conflict, GtError, NotFound, UsageError
from git_gastown.rig import Rig

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MOUNTAIN = "mountain"
STALLED = "stalled"
UNTRACKABLE = ("convoy", "message", "escalation")


@dataclass(frozen=True)
class Tracked:
    id: str
    title: str
    type: str
    status: str
    priority: int
    assignee: str
    blocked: bool
    stalled: bool
    attempts: int

    @property
    def state(self) -> str:
        """done, active (someone works on it), blocked, stalled, ready or deferred."""
        if self.status == "closed":
            return "done"
        if self.status == "blocked" or (self.blocked and self.status == "open"):
            return "blocked"
        if self.stalled:
            return "stalled"
        if self.status in ("in_progress", "hooked"):
            return "active"
        if self.status == "deferred":
            return "deferred"
        return "ready"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "type": self.type, "status": self.status,
                "priority": self.priority, "agent": self.assignee, "state": self.state,
                "blocked": self.blocked, "stalled": self.stalled, "attempts": self.attempts}


@dataclass(frozen=True)
class Convoy:
    id: str
    name: str
    status: str
    mountain: bool
    created_at: str
    closed_at: str
    close_reason: str
    tracked: tuple[Tracked, ...] = field(default=())

    @property
    def total(self) -> int:
        return len(self.tracked)

    def count(self, state: str) -> int:
        return sum(1 for t in self.tracked if t.state == state)

    @property
    def done(self) -> int:
        return self.count("done")

    def to_json(self, with_beads: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "name": self.name, "status": self.status, "mountain": self.mountain,
            "created_at": self.created_at, "closed_at": self.closed_at,
            "close_reason": self.close_reason, "total": self.total, "done": self.done,
            "active": self.count("active"), "ready": self.count("ready"),
            "blocked": self.count("blocked"), "stalled": self.count("stalled"),
            "progress": round(self.done / self.total, 4) if self.total else 0.0,
        }
        if with_beads:
            data["beads"] = [t.to_json() for t in self.tracked]
        return data


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise UsageError(f"invalid convoy name {name!r}",
                         hint="use letters, digits, '.', '_' or '-' (at most 64), e.g. auth")
    return name


def _tracked(cache: Cache, bead_id: str) -> Tracked | None:
    b = cache.get(bead_id)
    if b is None or b["deleted"]:
        return None
    attempts = b["fields"].get("attempts", 0)
    return Tracked(id=b["id"], title=b["title"], type=b["type"], status=b["status"],
                   priority=b["priority"], assignee=b["assignee"], blocked=bool(b["blocked"]),
                   stalled=STALLED in b["labels"],
                   attempts=attempts if isinstance(attempts, int) else 0)


def _convoy(cache: Cache, b: dict[str, Any]) -> Convoy:
    tracked = [t for d in b["dependencies"] if d["type"] == "tracks"
               for t in [_tracked(cache, d["id"])] if t is not None]
    tracked.sort(key=lambda t: (t.priority, t.id))
    return Convoy(id=b["id"], name=b["title"], status=b["status"],
                  mountain=MOUNTAIN in b["labels"], created_at=b["created_at"],
                  closed_at=b["closed_at"], close_reason=b["close_reason"],
                  tracked=tuple(tracked))


def list_convoys(store: BeadStore, *, include_closed: bool = False) -> list[Convoy]:
    cache = Cache(store).fresh()
    status = () if include_closed else ("open", "in_progress", "hooked", "blocked", "deferred")
    return [_convoy(cache, b) for b in cache.query(types=["convoy"], status=status,
                                                    sort="created")]


def find(store: BeadStore, name_or_id: str) -> Convoy:
    """A convoy by its name (or its bead id)."""
    cache = Cache(store).fresh()
    rows = [b for b in cache.query(types=["convoy"], sort="created")
            if b["title"] == name_or_id or b["id"] == name_or_id]
    if not rows:
        names = [b["title"] for b in cache.query(types=["convoy"], sort="created")]
        import difflib

        near = difflib.get_close_matches(name_or_id, names, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}?" if near else "git gt-convoy list shows them"
        raise NotFound(f"no convoy {name_or_id!r}", hint=hint)
    return _convoy(cache, rows[-1])


def _check_trackable(tx: Tx, bead_id: str) -> None:
    doc = tx.require(bead_id)
    kind = doc["fields"].get("type", {}).get("v", "task")
    if kind in UNTRACKABLE:
        raise UsageError(f"{bead_id} is a {kind}; a convoy tracks work beads",
                         hint="give the ids of tasks, bugs, features, epics or chores")


def create(rig: Rig, name: str, bead_ids: Sequence[str], actor: str, *,
           labels: Sequence[str] = (), description: str = "") -> Convoy:
    """Create convoy NAME tracking BEAD_IDS (one commit); the name must be new."""
    check_name(name)
    if not bead_ids:
        raise UsageError("a convoy needs at least one bead to track",
                         hint="git gt-convoy create --name NAME ID...")
    store = rig.store

    def apply(tx: Tx) -> str:
        cache = Cache(store).fresh()  # we hold the beads lock: nobody can add one now
        if any(b["title"] == name for b in cache.query(types=["convoy"])):
            raise Conflict(f"a convoy named {name!r} exists",
                           hint="pick another name, or git gt-convoy add to extend it")
        for bid in dict.fromkeys(bead_ids):
            _check_trackable(tx, bid)
        bead_id = tx.new_id()
        doc = model.new_doc(bead_id)
        w = tx.writer(doc)
        for key, value in (("title", name), ("type", "convoy"), ("status", "open"),
                           ("priority", 2), ("created_at", tx.when),
                           ("created_by", tx.actor)):
            w.set(key, value)
        if description:
            w.set("description", description)
        for label in labels:
            w.member("labels", model.check_label(label), True)
        for bid in dict.fromkeys(bead_ids):
            w.member("deps", f"tracks:{bid}", True)
        tx.put(doc)
        return bead_id

    store.transact("convoy-create", actor, apply)
    check_convoys(store, actor, bead_ids)  # over beads already closed: landed at once
    return find(store, name)


def add(rig: Rig, name: str, bead_ids: Sequence[str], actor: str) -> Convoy:
    """Track more beads; a landed (closed) convoy opens again."""
    convoy = find(rig.store, name)

    def apply(tx: Tx) -> None:
        doc = tx.require(convoy.id)
        for bid in bead_ids:
            _check_trackable(tx, bid)
        w = tx.writer(doc)
        for bid in bead_ids:
            w.member("deps", f"tracks:{bid}", True)
        if convoy.status == "closed" and w.changed:
            w.set("status", "open")
            w.set("closed_at", None)
            w.set("close_reason", None)
        if w.changed:
            tx.put(doc)

    rig.store.transact("convoy-add", actor, apply)
    check_convoys(rig.store, actor, bead_ids)
    return find(rig.store, convoy.id)


def set_mountain(rig: Rig, name: str, actor: str, on: bool) -> Convoy:
    convoy = find(rig.store, name)
    Beads(rig.store).label(convoy.id, actor, [MOUNTAIN], on)
    return find(rig.store, convoy.id)


def check_convoys(store: BeadStore, actor: str, beads: Iterable[str] | None = None
                  ) -> list[Convoy]:
    """Close every open convoy whose tracked beads are all closed; return those closed.

    Call it after closing beads (pass their ids to look only at the convoys tracking
    them). All landed convoys close in one commit; running it twice changes nothing.
    """
    cache = Cache(store).fresh()
    if beads is not None:
        wanted = {cid for bid in beads for cid, kind in cache.dependents(bid)
                  if kind == "tracks"}
        if not wanted:
            return []
    elif not cache.query(types=["convoy"], status=("open",), limit=1):
        return []

    def apply(tx: Tx) -> list[str]:
        fresh = Cache(store).fresh()
        closed: list[str] = []
        for b in fresh.query(types=["convoy"], status=("open", "in_progress", "blocked")):
            if beads is not None and b["id"] not in wanted:
                continue
            convoy = _convoy(fresh, b)
            if convoy.total == 0 or convoy.done < convoy.total:
                continue
            doc = tx.require(b["id"])
            w = tx.writer(doc)
            w.set("status", "closed")
            w.set("closed_at", tx.when)
            w.set("close_reason", f"landed: all {convoy.total} tracked beads closed")
            tx.put(doc)
            closed.append(b["id"])
        return closed

    closed_ids = store.transact("convoy-land", actor, apply)
    return [find(store, cid) for cid in closed_ids]


def progress_bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def convoys_of(store: BeadStore, bead_id: str) -> list[str]:
    """Ids of the open convoys that track a bead."""
    cache = Cache(store).fresh()
    out = []
    for cid, kind in cache.dependents(bead_id):
        b = cache.get(cid) if kind == "tracks" else None
        if b is not None and b["type"] == "convoy" and b["status"] != "closed":
            out.append(cid)
    return out


# -- dispatch --------------------------------------------------------------------------------


@dataclass
class Dispatch:
    convoy: str
    max_active: int
    active: int
    started: list[tuple[str, str]] = field(default_factory=list)  # (bead, polecat)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (bead, error)

    def to_json(self) -> dict[str, Any]:
        return {"convoy": self.convoy, "max": self.max_active, "active": self.active,
                "started": [{"bead": b, "polecat": n} for b, n in self.started],
                "failed": [{"bead": b, "error": e} for b, e in self.failed]}


def dispatch(rig: Rig, name: str, actor: str, *, max_active: int | None = None,
             agent: str | None = None, remember: bool = True) -> Dispatch:
    """Spawn polecats for the convoy's ready beads (one bead each), so that at most
    MAX_ACTIVE of its beads are being worked on. The settings are remembered on the convoy
    so patrols keep a mountain convoy going with them."""
    from git_gastown.store.refs import locked

    with locked(rig.repo, "convoy-dispatch", timeout=120):
        return _dispatch(rig, name, actor, max_active, agent, remember)


def _dispatch(rig: Rig, name: str, actor: str, max_active: int | None, agent: str | None,
              remember: bool) -> Dispatch:
    from git_gastown import polecat_view

    c = find(rig.store, name)
    if c.status == "closed":
        raise Conflict(f"convoy {c.name} has landed",
                       hint="git gt-convoy add NAME ID... extends it")
    b = Beads(rig.store).cache().get(c.id) or {}
    fields = b.get("fields", {})
    if max_active is None:
        recorded = fields.get("dispatch_max")
        max_active = recorded if isinstance(recorded, int) else int(
            rig.setting("convoy.maxPolecats", 4))
    if max_active < 1:
        raise UsageError("--max must be at least 1")
    agent = agent or (str(fields["dispatch_agent"]) if fields.get("dispatch_agent") else None)
    if remember:
        from git_gastown.polecat.spawn import check_agent

        # Before "nothing to dispatch" and before remembering it: a missing program is
        # the user's mistake to hear about now, not at the next free slot.
        check_agent(rig, agent)
    if remember and (fields.get("dispatch_max") != max_active
                     or (agent or "") != (fields.get("dispatch_agent") or "")):
        Beads(rig.store).update(c.id, actor, {"dispatch_max": max_active,
                                              "dispatch_agent": agent or None},
                                op="convoy-dispatch")
    active = c.count("active")
    report = Dispatch(c.name, max_active, active)
    for t in c.tracked:
        if active >= max_active:
            break
        if t.state != "ready" or t.assignee:
            continue
        try:
            polecat = polecat_view.spawn(rig, [t.id], agent, actor)
        except GtError as err:
            report.failed.append((t.id, err.line()))
            continue
        report.started.append((t.id, polecat))
        active += 1
    if report.started:
        from git_gastown.due import mark_due

        mark_due(rig.repo)
    return report


def continue_dispatch(rig: Rig, convoy_id: str, actor: str) -> list[tuple[str, str]]:
    """For a convoy someone dispatched before: start polecats for free slots."""
    b = Beads(rig.store).cache().get(convoy_id)
    if b is None or b["status"] == "closed" or not isinstance(
            b["fields"].get("dispatch_max"), int):
        return []
    try:
        return dispatch(rig, convoy_id, actor, remember=False).started
    except GtError:
        return []
