"""The query cache: SQLite under $GIT_COMMON_DIR/gt/, checked against the ref tip on every
call and brought up to date by diffing trees. Deleting it loses nothing."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from git_gastown import jsonfmt
from git_gastown.beads import ids, model
from git_gastown.beads.model import Doc
from git_gastown.errors import GtError

if TYPE_CHECKING:
    from git_gastown.beads.store import BeadStore

SCHEMA = 5  # bump whenever the stored rows or the plain view (model.flatten) change
# Each bead's JSON is stored already rendered as an element of a `--json` array (j1, then
# the `blocked` value, which changes with other beads, then j2), so listing 50,000 beads
# concatenates text instead of parsing and re-encoding it. Rows are kept in the order
# `list` and `ready` read them (status, then priority, age, id: the primary key of a
# WITHOUT ROWID table), so a long listing is one sequential scan, not 50,000 lookups.
_DDL = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS beads (
  status TEXT NOT NULL, priority INTEGER NOT NULL, created_at TEXT NOT NULL, id TEXT NOT NULL,
  title TEXT, type TEXT, assignee TEXT, parent TEXT, updated_at TEXT, deleted INTEGER,
  blocked INTEGER DEFAULT 0, text TEXT, j1 TEXT, j2 TEXT,
  PRIMARY KEY (status, priority, created_at, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS beads_id ON beads (id);
CREATE TABLE IF NOT EXISTS deps (id TEXT, type TEXT, target TEXT, PRIMARY KEY (id, type, target));
CREATE TABLE IF NOT EXISTS labels (id TEXT, label TEXT, PRIMARY KEY (id, label));
CREATE INDEX IF NOT EXISTS deps_target ON deps (target, type);
CREATE INDEX IF NOT EXISTS labels_label ON labels (label);
CREATE INDEX IF NOT EXISTS beads_parent ON beads (parent);
"""
_JSON = "j1 || CASE blocked WHEN 0 THEN 'false' ELSE 'true' END || j2"
_BLOCKED_SLOT = '\n    "blocked": '
# A writer never waits long for the cache (it holds the beads lock): if a reader is
# refreshing or rebuilding it, the writer leaves its change for the next refresh (the ref,
# not the cache, is the truth). A reader waits for another's rebuild, which on a large
# store under load can take tens of seconds.
_WRITER_BUSY_MS = 20
_READER_BUSY_MS = 180_000
# Beyond this many changed beads, recomputing `blocked` for all is cheaper than following
# dependents (and keeps SQL parameter lists short).
_BULK = 2000

SORTS = {
    "priority": "priority ASC, created_at ASC, id ASC",
    "created": "created_at ASC, id ASC",
    "-created": "created_at DESC, id ASC",
    "updated": "updated_at DESC, id ASC",
    "id": "id ASC",
    "title": "title ASC, id ASC",
}


class Cache:
    def __init__(self, store: BeadStore) -> None:
        self.store = store
        self.path = store.repo.runtime_path("cache.sqlite")
        self._db: sqlite3.Connection | None = None

    # -- connection and freshness ------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        for attempt in range(2):
            try:
                return self._connect()
            except sqlite3.DatabaseError:
                if attempt:
                    raise
                self.drop()  # garbage or a foreign file: the cache is only a copy
        raise AssertionError("unreachable")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=_READER_BUSY_MS / 1000, isolation_level=None)
        try:
            # Big pages keep a whole bead row on its page (a new file only; harmless after).
            db.execute("PRAGMA page_size=16384")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # Large result sets are read straight from the mapped file.
            db.execute("PRAGMA mmap_size=1073741824")
            db.execute("PRAGMA cache_size=-65536")
            db.execute("PRAGMA temp_store=MEMORY")
            row = db.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchone()
            version = None
            if row:
                got = db.execute("SELECT v FROM meta WHERE k='schema'").fetchone()
                version = got[0] if got else None
            if version != str(SCHEMA):
                db.execute("BEGIN IMMEDIATE")
                got = db.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchone()
                again = got and db.execute("SELECT v FROM meta WHERE k='schema'").fetchone()
                if not again or again[0] != str(SCHEMA):
                    for table in ("beads", "deps", "labels", "meta"):
                        db.execute(f"DROP TABLE IF EXISTS {table}")
                    for stmt in _DDL.strip().split(";"):
                        if stmt.strip():
                            db.execute(stmt)
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
                db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def drop(self) -> None:
        """Delete the cache files (a corrupt or stale cache is simply rebuilt)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(self.path) + suffix)

    def cached_tip(self) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k='tip'").fetchone()
        return row[0] if row else None

    def fresh(self) -> Cache:
        """Bring the cache to the current tip of refs/gt/beads; return self.

        A cache that SQLite finds damaged is deleted and rebuilt from the ref once.
        """
        try:
            return self._fresh()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise GtError(
                    f"the query cache {self.path} stayed locked by another process",
                    hint="it is being rebuilt; try again in a minute",
                ) from exc
            self.drop()
            return self._fresh()

    def _fresh(self) -> Cache:
        tip = self.store.require_tip()
        if self.cached_tip() == tip:
            return self
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read the ref again now that we hold the cache's write lock: a writer may
            # have moved both while we waited, and we must never move the cache backwards.
            tip = self.store.require_tip()
            old = self.cached_tip()
            if old != tip:
                self._refresh(old, tip)
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        return self

    def rebuild(self) -> int:
        """Forget everything and read the whole store again; return the bead count."""
        self.drop()
        self.fresh()
        return int(self.db.execute("SELECT count(*) FROM beads").fetchone()[0])

    def _refresh(self, old: str | None, tip: str) -> None:
        from git_gastown.errors import GitFailed
        from git_gastown.store.objects import diff_trees

        objects = self.store.objects
        changed_paths: dict[str, str | None] | None = None
        old_tree = None
        if old is not None:
            try:
                old_tree = objects.read_commit_tree(old)
            except GitFailed:
                old_tree = None  # gone (a reset, then gc): start again from the tip
        full = old_tree is None
        if not full:
            changed_paths = diff_trees(objects, old_tree, objects.read_commit_tree(tip))
        if changed_paths is None and not full:
            assert old is not None
            changed_paths = {}
            proc = self.store.repo.git("diff-tree", "-r", "-z", "--no-renames", old, tip)
            fields = proc.stdout.decode().split("\0")
            for i in range(0, len(fields) - 1, 2):
                meta_part, path = fields[i], fields[i + 1]
                parts = meta_part.split()
                if len(parts) < 5:
                    continue
                changed_paths[path] = None if parts[4].startswith("D") else parts[3]
        if full:
            changed_paths = {}
            for table in ("beads", "deps", "labels"):
                self.db.execute(f"DELETE FROM {table}")
            proc = self.store.repo.git("ls-tree", "-r", "-z", tip)
            for item in proc.stdout.decode().split("\0"):
                if not item:
                    continue
                info, _, path = item.partition("\t")
                changed_paths[path] = info.split()[2]
        assert changed_paths is not None
        removed = [ids.id_from_path(p) for p, sha in changed_paths.items() if sha is None]
        wanted = [sha for p, sha in changed_paths.items() if sha and ids.id_from_path(p)]
        if len(wanted) <= 32:  # a few recent changes: loose, read in-process
            blobs = [objects.read(sha)[1] for sha in wanted]
        else:
            blobs = [data for _sha, data in objects.read_many(wanted)]
        docs: list[Doc] = []
        for data in blobs:
            try:
                docs.append(model.decode(data))
            except ValueError:
                continue  # a malformed file is reported by doctor, never fatal for reads
        self._remove([r for r in removed if r])
        self._upsert(docs, replace=not full)
        self._recompute_blocked({d["id"] for d in docs} | {r for r in removed if r},
                                full=full)
        self._set_tip(tip)

    def _set_tip(self, tip: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('tip', ?)", (tip,))

    def applied(self, old_tip: str | None, new_tip: str, docs: dict[str, Doc]) -> None:
        """A writer's fast path: apply its own change if the cache was at the old tip."""
        try:
            db = self.db
            db.execute(f"PRAGMA busy_timeout={_WRITER_BUSY_MS}")
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if self.cached_tip() == old_tip and old_tip is not None:
                        self._upsert(list(docs.values()))
                        self._recompute_blocked(set(docs), full=False)
                        self._set_tip(new_tip)
                    db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
            finally:
                if self._db is not None:
                    self._db.execute(f"PRAGMA busy_timeout={_READER_BUSY_MS}")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                self.drop()
            # Busy: someone is refreshing; the next read catches up from the ref.
        except sqlite3.Error:
            self.drop()  # the next read rebuilds it

    # -- maintenance of rows -----------------------------------------------------------

    def _remove(self, bead_ids: Sequence[str]) -> None:
        for bid in bead_ids:
            for table in ("beads", "deps", "labels"):
                self.db.execute(f"DELETE FROM {table} WHERE id=?", (bid,))

    def _upsert(self, docs: Iterable[Doc], *, replace: bool = True) -> None:
        rows, dep_rows, label_rows, ids_ = [], [], [], []
        for doc in docs:
            b = model.flatten(doc)
            ids_.append((b.id,))
            text = "\n".join(
                [b.title, b.description, b.design, b.acceptance, b.notes]
                + [c.text for c in b.comments]
            ).lower()
            j1, j2 = render(b)
            rows.append((b.status, b.priority, b.created_at, b.id, b.title, b.type,
                         b.assignee, b.parent, b.updated_at, int(b.deleted), text, j1, j2))
            dep_rows += [(b.id, d.type, d.id) for d in b.deps]
            label_rows += [(b.id, lab) for lab in b.labels]
        db = self.db
        if replace:
            db.executemany("DELETE FROM deps WHERE id=?", ids_)
            db.executemany("DELETE FROM labels WHERE id=?", ids_)
        rows.sort(key=lambda r: r[:4])  # appends in key order: a bulk load stays sequential
        db.executemany(
            "INSERT OR REPLACE INTO beads (status, priority, created_at, id, title, type,"
            " assignee, parent, updated_at, deleted, text, j1, j2)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.executemany("INSERT OR IGNORE INTO deps VALUES (?,?,?)", dep_rows)
        db.executemany("INSERT OR IGNORE INTO labels VALUES (?,?)", label_rows)

    def _recompute_blocked(self, changed: set[str], *, full: bool) -> None:
        """Materialize `blocked`: own status, an open `blocks` target, or a blocked parent."""
        db = self.db
        if full or len(changed) > _BULK:
            affected = {r[0] for r in db.execute("SELECT id FROM beads")}
        else:
            affected = set(changed)
            frontier = set(changed)
            while frontier:
                nxt: set[str] = set()
                batch = sorted(frontier)
                for i in range(0, len(batch), 500):
                    part = batch[i : i + 500]
                    nxt.update(r[0] for r in db.execute(
                        f"SELECT id FROM deps WHERE target IN ({','.join('?' * len(part))})"
                        " AND type IN ('blocks','parent-child')", part))
                nxt -= affected
                affected |= nxt
                frontier = nxt
        if not affected:
            return
        info = _BlockInfo(db, affected)
        updates = []
        for bid in affected:
            now = int(info.blocked(bid))
            if info.stored(bid) != now:
                updates.append((now, bid))
        db.executemany("UPDATE beads SET blocked=? WHERE id=?", updates)

    # -- queries -----------------------------------------------------------------------

    def get(self, bead_id: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {_JSON} FROM beads WHERE id=?", (bead_id,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        return data

    def closest(self, bead_id: str, n: int = 3) -> list[str]:
        import difflib

        try:
            self.fresh()
        except Exception:
            return []
        # Match without case, and on the part after the prefix too, so R-12GGM and a bare
        # 12ggm both find r-12ggm. The prefix is everything before the last '-'.
        wanted = bead_id.lower()
        prefix, rest = ids.split_id(wanted)
        if prefix:
            found = self.db.execute(
                "SELECT id FROM beads WHERE deleted=0 AND lower(id) LIKE ? ESCAPE '!'",
                (_like_escape(prefix) + "-%",)).fetchall()
        else:
            found = []
        if not found or not prefix:
            found = self.db.execute(
                "SELECT id FROM beads WHERE deleted=0 AND lower(id) LIKE ? ESCAPE '!'",
                ("%-" + _like_escape(rest[:3]) + "%",)).fetchall()
        by_lower = {r[0].lower(): r[0] for r in found}
        near = difflib.get_close_matches(wanted, list(by_lower), n=n, cutoff=0.5)
        if not near:
            tails = {ids.split_id(low)[1]: low for low in by_lower}
            near = [tails[t] for t in difflib.get_close_matches(rest, list(tails), n=n,
                                                                 cutoff=0.6)]
        return [by_lower[x] for x in near]

    def ids_starting(self, start: str) -> list[str]:
        """Every id (tombstones too) that starts with START."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM beads WHERE id >= ? AND id < ?", (start, start + "\U0010ffff"))]

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        """Beads matching the filters (see `_select`), each in its `--json` form."""
        sql, args = _select(_JSON, **filters)
        return [json.loads(row[0]) for row in self.db.execute(sql, args)]

    def query_json(self, **filters: Any) -> bytes:
        """The UTF-8 `--json` text of `query(**filters)`, joined from the stored text
        without decoding it."""
        sql, args = _select(_JSON, **filters)
        db = self.db
        db.text_factory = bytes
        try:
            items = [row[0] for row in db.execute(sql, args)]
        finally:
            db.text_factory = str
        if not items:
            return b"[]"
        return b"[\n" + b",\n".join(items) + b"\n]"

    def count(self, **filters: Any) -> int:
        sql, args = _select("count(*)", **filters)
        return int(self.db.execute(sql, args).fetchone()[0])

    def query_brief(self, **filters: Any) -> list[dict[str, Any]]:
        """Only what a one-line listing shows, without parsing any stored JSON."""
        sql, args = _select("id, title, type, status, priority, assignee, blocked", **filters)
        return [
            {"id": r[0], "title": r[1], "type": r[2], "status": r[3], "priority": r[4],
             "assignee": r[5], "blocked": bool(r[6])}
            for r in self.db.execute(sql, args)
        ]

    def blockers(self, bead_id: str) -> list[dict[str, str]]:
        """What keeps a bead from being ready, each as {"reason", "id"}."""
        reasons: list[dict[str, str]] = []
        row = self.db.execute("SELECT status, parent FROM beads WHERE id=?",
                              (bead_id,)).fetchone()
        if row is None:
            return reasons
        if row[0] == "blocked":
            reasons.append({"reason": "status", "id": bead_id})
        for (target, status) in self.db.execute(
            "SELECT d.target, b.status FROM deps d JOIN beads b ON b.id=d.target"
            " WHERE d.id=? AND d.type='blocks' AND b.status!='closed' AND b.deleted=0",
            (bead_id,),
        ):
            reasons.append({"reason": f"blocked by {target} ({status})", "id": target})
        if row[1]:
            prow = self.db.execute("SELECT blocked, status FROM beads WHERE id=? AND deleted=0",
                                   (row[1],)).fetchone()
            if prow is not None and (prow[0] or prow[1] == "blocked"):
                reasons.append({"reason": f"parent {row[1]} is blocked", "id": row[1]})
        return reasons

    def edges(self, kinds: Sequence[str] = model.ORDERING_DEPS) -> dict[str, list[str]]:
        """bead -> the beads it depends on, over live beads, for the given dep types."""
        graph: dict[str, list[str]] = {}
        marks = ",".join("?" * len(kinds))
        for bid, target in self.db.execute(
            f"SELECT d.id, d.target FROM deps d JOIN beads a ON a.id=d.id AND a.deleted=0"
            f" JOIN beads b ON b.id=d.target AND b.deleted=0 WHERE d.type IN ({marks})",
            tuple(kinds),
        ):
            graph.setdefault(bid, []).append(target)
        return graph

    def dep_graph(
        self, kinds: Sequence[str] = model.ORDERING_DEPS
    ) -> tuple[dict[str, list[str]], set[str], set[str]]:
        """Every bead's dependencies of KINDS (dangling ones too), the deleted ids, all ids."""
        graph: dict[str, list[str]] = {}
        marks = ",".join("?" * len(kinds))
        for bid, target in self.db.execute(
            f"SELECT id, target FROM deps WHERE type IN ({marks})", tuple(kinds)
        ):
            graph.setdefault(bid, []).append(target)
        deleted: set[str] = set()
        known: set[str] = set()
        for bid, dead in self.db.execute("SELECT id, deleted FROM beads"):
            known.add(bid)
            if dead:
                deleted.add(bid)
        return graph, deleted, known

    def dependents(self, bead_id: str) -> list[tuple[str, str]]:
        return [
            (r[0], r[1]) for r in self.db.execute(
                "SELECT d.id, d.type FROM deps d JOIN beads b ON b.id=d.id AND b.deleted=0"
                " WHERE d.target=? ORDER BY d.type, d.id", (bead_id,))
        ]

    def stats(self) -> dict[str, Any]:
        db = self.db

        def grouped(col: str) -> dict[str, int]:
            return {
                str(k): v for k, v in db.execute(
                    f"SELECT {col}, count(*) FROM beads WHERE deleted=0 GROUP BY {col}")
            }

        total = db.execute("SELECT count(*) FROM beads WHERE deleted=0").fetchone()[0]
        deleted = db.execute("SELECT count(*) FROM beads WHERE deleted=1").fetchone()[0]
        return {
            "total": total,
            "deleted": deleted,
            "by_status": grouped("status"),
            "by_type": grouped("type"),
            "by_priority": grouped("priority"),
            "ready": self.count(ready=True),
            "blocked": self.count(blocked=True),
        }


class _BlockInfo:
    """Computes `blocked` for a set of beads, parents first, from the rows in the cache."""

    def __init__(self, db: sqlite3.Connection, affected: set[str]) -> None:
        self.db = db
        self.affected = affected
        self.memo: dict[str, bool] = {}
        self.rows: dict[str, tuple[str, str, int, int]] = {}
        self.open_blocker: set[str] = set()
        if len(affected) > 500:
            for bid, status, parent, blocked, deleted in db.execute(
                "SELECT id, status, parent, blocked, deleted FROM beads"
            ):
                self.rows[bid] = (status, parent, blocked, deleted)
            self.open_blocker = {
                r[0] for r in db.execute(
                    "SELECT d.id FROM deps d JOIN beads b ON b.id=d.target"
                    " WHERE d.type='blocks' AND b.status!='closed' AND b.deleted=0")
            }
            self._bulk = True
        else:
            self._bulk = False

    def _row(self, bid: str) -> tuple[str, str, int, int] | None:
        if bid in self.rows:
            return self.rows[bid]
        if self._bulk:
            return None
        r = self.db.execute(
            "SELECT status, parent, blocked, deleted FROM beads WHERE id=?", (bid,)
        ).fetchone()
        if r is None:
            return None
        self.rows[bid] = (r[0], r[1], r[2], r[3])
        return self.rows[bid]

    def _has_open_blocker(self, bid: str) -> bool:
        if self._bulk:
            return bid in self.open_blocker
        return self.db.execute(
            "SELECT 1 FROM deps d JOIN beads b ON b.id=d.target WHERE d.id=?"
            " AND d.type='blocks' AND b.status!='closed' AND b.deleted=0 LIMIT 1", (bid,)
        ).fetchone() is not None

    def stored(self, bid: str) -> int | None:
        row = self._row(bid)
        return None if row is None else int(row[2])

    def blocked(self, bid: str, depth: int = 0) -> bool:
        if bid in self.memo:
            return self.memo[bid]
        row = self._row(bid)
        if row is None or row[3]:
            return False
        status, parent, stored, _ = row
        if bid not in self.affected:
            return bool(stored) or status == "blocked"
        self.memo[bid] = False  # guards a parent cycle a merge might have made
        result = status == "blocked" or self._has_open_blocker(bid)
        if not result and parent and depth < 1000:
            result = self.blocked(parent, depth + 1)
        self.memo[bid] = result
        return result


def render(b: model.Bead) -> tuple[str, str]:
    """A bead's `--json` array element, split around the value of `blocked`.

    Written out key by key (the generic renderer took most of a cold rebuild); the
    result equals jsonfmt.element(to_json() + blocked), which a test checks.
    """
    if not _KEYS_KNOWN or type(b.priority) is not int:
        return _render_generic(b)
    e = jsonfmt.encode_str
    n = ",\n    "
    head = ('  {\n    "acceptance": ' + e(b.acceptance) + n + '"assignee": ' + e(b.assignee)
            + n + '"blocked": ')
    if b.comments:
        comments = "[\n      " + ",\n      ".join(
            '{\n        "author": ' + e(c.author) + ',\n        "created_at": '
            + e(c.created_at) + ',\n        "id": ' + e(c.id) + ',\n        "text": '
            + e(c.text) + "\n      }" for c in b.comments) + "\n    ]"
    else:
        comments = "[]"
    if b.deps:
        deps = "[\n      " + ",\n      ".join(
            '{\n        "id": ' + e(d.id) + ',\n        "type": ' + e(d.type) + "\n      }"
            for d in b.deps) + "\n    ]"
    else:
        deps = "[]"
    labels = ("[\n      " + ",\n      ".join(e(x) for x in b.labels) + "\n    ]"
              if b.labels else "[]")
    tail = (n + '"close_reason": ' + e(b.close_reason) + n + '"closed_at": ' + e(b.closed_at)
            + n + '"comments": ' + comments + n + '"created_at": ' + e(b.created_at)
            + n + '"created_by": ' + e(b.created_by)
            + n + '"deleted": ' + ("true" if b.deleted else "false")
            + n + '"dependencies": ' + deps + n + '"description": ' + e(b.description)
            + n + '"design": ' + e(b.design)
            + n + '"fields": ' + jsonfmt.render_at(dict(b.extra), "\n    ")
            + n + '"id": ' + e(b.id) + n + '"labels": ' + labels + n + '"notes": ' + e(b.notes)
            + n + '"parent": ' + e(b.parent) + n + '"priority": ' + int.__repr__(b.priority)
            + n + '"status": ' + e(b.status) + n + '"title": ' + e(b.title)
            + n + '"type": ' + e(b.type) + n + '"updated_at": ' + e(b.updated_at) + "\n  }")
    return head, tail


def _render_generic(b: model.Bead) -> tuple[str, str]:
    data = b.to_json()
    data["blocked"] = False
    text = jsonfmt.element(data)
    cut = text.index(_BLOCKED_SLOT) + len(_BLOCKED_SLOT)
    return text[:cut], text[cut + len("false"):]


# The hand-written order above is to_json's keys plus `blocked`, sorted; if the model ever
# grows a field, every bead takes the generic path until render learns it.
_KEYS_KNOWN = sorted([*model.Bead(id="x", title="x").to_json(), "blocked"]) == [
    "acceptance", "assignee", "blocked", "close_reason", "closed_at", "comments",
    "created_at", "created_by", "deleted", "dependencies", "description", "design", "fields",
    "id", "labels", "notes", "parent", "priority", "status", "title", "type", "updated_at",
]


def _select(
    columns: str,
    *,
    status: Sequence[str] = (),
    types: Sequence[str] = (),
    assignee: str | None = None,
    unassigned: bool = False,
    available_to: str | None = None,
    labels: Sequence[str] = (),
    priority: Sequence[int] = (),
    parent: str | None = None,
    ready: bool = False,
    blocked: bool = False,
    text: str | None = None,
    include_deleted: bool = False,
    sort: str = "priority",
    limit: int | None = None,
) -> tuple[str, list[Any]]:
    where, args = [], []  # type: list[str], list[Any]
    if not include_deleted:
        where.append("deleted=0")
    if status:
        where.append(f"status IN ({','.join('?' * len(status))})")
        args += list(status)
    if types:
        where.append(f"type IN ({','.join('?' * len(types))})")
        args += list(types)
    if assignee is not None:
        where.append("assignee=?")
        args.append(assignee)
    if unassigned:
        where.append("assignee=''")
    if available_to is not None:
        where.append("assignee IN ('', ?)")
        args.append(available_to)
    for lab in labels:
        where.append("id IN (SELECT id FROM labels WHERE label=?)")
        args.append(lab)
    if priority:
        where.append(f"priority IN ({','.join('?' * len(priority))})")
        args += list(priority)
    if parent is not None:
        where.append("parent=?")
        args.append(parent)
    if ready:
        where.append("status='open' AND blocked=0")
        where.append(f"type NOT IN ({','.join('?' * len(model.NON_WORK_TYPES))})")
        args += list(model.NON_WORK_TYPES)
    if blocked:
        where.append("(blocked=1 OR status='blocked') AND status != 'closed'")
    if text:
        where.append("instr(text, ?) > 0")
        args.append(text.lower())
    sql = f"SELECT {columns} FROM beads"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY " + SORTS.get(sort, SORTS["priority"])
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return sql, args


def _like_escape(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
