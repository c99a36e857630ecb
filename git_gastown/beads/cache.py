"""The query cache: SQLite under $GIT_COMMON_DIR/gt/, checked against the ref tip on every
call and brought up to date by diffing trees. Deleting it loses nothing."""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from git_gastown.beads import ids, model
from git_gastown.beads.model import Doc

if TYPE_CHECKING:
    from git_gastown.beads.store import BeadStore

SCHEMA = 4  # bump whenever the stored rows or the plain view (model.flatten) change
_DDL = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS beads (
  id TEXT PRIMARY KEY, title TEXT, type TEXT, status TEXT, priority INTEGER,
  assignee TEXT, parent TEXT, created_at TEXT, updated_at TEXT, deleted INTEGER,
  blocked INTEGER DEFAULT 0, text TEXT, json TEXT);
CREATE TABLE IF NOT EXISTS deps (id TEXT, type TEXT, target TEXT, PRIMARY KEY (id, type, target));
CREATE TABLE IF NOT EXISTS labels (id TEXT, label TEXT, PRIMARY KEY (id, label));
CREATE INDEX IF NOT EXISTS deps_target ON deps (target, type);
CREATE INDEX IF NOT EXISTS labels_label ON labels (label);
CREATE INDEX IF NOT EXISTS beads_status ON beads (status, priority, created_at);
CREATE INDEX IF NOT EXISTS beads_parent ON beads (parent);
"""

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
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                row = db.execute(
                    "SELECT name FROM sqlite_master WHERE name='meta'"
                ).fetchone()
                version = None
                if row:
                    got = db.execute("SELECT v FROM meta WHERE k='schema'").fetchone()
                    version = got[0] if got else None
                if version != str(SCHEMA):
                    db.executescript(
                        "DROP TABLE IF EXISTS beads; DROP TABLE IF EXISTS deps;"
                        "DROP TABLE IF EXISTS labels; DROP TABLE IF EXISTS meta;"
                    )
                    db.executescript(_DDL)
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
                return db
            except sqlite3.DatabaseError:
                if attempt:
                    raise
                self.drop()
        raise AssertionError("unreachable")

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
        """Bring the cache to the current tip of refs/gt/beads; return self."""
        tip = self.store.require_tip()
        if self.cached_tip() == tip:
            return self
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            old = self.cached_tip()
            if old != tip:
                self._refresh(old, tip)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self

    def rebuild(self) -> int:
        """Forget everything and read the whole store again; return the bead count."""
        self.drop()
        self.fresh()
        return int(self.db.execute("SELECT count(*) FROM beads").fetchone()[0])

    def _refresh(self, old: str | None, tip: str) -> None:
        objects = self.store.objects
        changed_paths: dict[str, str | None] = {}
        if old is not None and self._has_commit(old):
            proc = self.store.repo.git("diff-tree", "-r", "-z", "--no-renames", old, tip)
            fields = proc.stdout.decode().split("\0")
            for i in range(0, len(fields) - 1, 2):
                meta_part, path = fields[i], fields[i + 1]
                parts = meta_part.split()
                if len(parts) < 5:
                    continue
                changed_paths[path] = None if parts[4].startswith("D") else parts[3]
        else:
            for table in ("beads", "deps", "labels"):
                self.db.execute(f"DELETE FROM {table}")
            proc = self.store.repo.git("ls-tree", "-r", "-z", tip)
            for item in proc.stdout.decode().split("\0"):
                if not item:
                    continue
                info, _, path = item.partition("\t")
                changed_paths[path] = info.split()[2]
        removed = [ids.id_from_path(p) for p, sha in changed_paths.items() if sha is None]
        wanted = {p: sha for p, sha in changed_paths.items() if sha and ids.id_from_path(p)}
        docs: list[Doc] = []
        for _sha, data in objects.read_many(list(wanted.values())):
            try:
                docs.append(model.decode(data))
            except ValueError:
                continue  # a malformed file is reported by doctor, never fatal for reads
        self._remove([r for r in removed if r])
        self._upsert(docs)
        self._recompute_blocked({d["id"] for d in docs} | {r for r in removed if r},
                                full=old is None)
        self._set_tip(tip)

    def _has_commit(self, sha: str) -> bool:
        path = self.store.repo.common_dir / "objects" / sha[:2] / sha[2:]
        if path.exists():
            return True
        proc = self.store.repo.git("cat-file", "-e", f"{sha}^{{commit}}", check=False)
        return proc.returncode == 0

    def _set_tip(self, tip: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('tip', ?)", (tip,))

    def applied(self, old_tip: str | None, new_tip: str, docs: dict[str, Doc]) -> None:
        """A writer's fast path: apply its own change if the cache was at the old tip."""
        try:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                if self.cached_tip() == old_tip and old_tip is not None:
                    self._upsert(list(docs.values()))
                    self._recompute_blocked(set(docs), full=False)
                    self._set_tip(new_tip)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error:
            self.drop()  # the next read rebuilds it

    # -- maintenance of rows -----------------------------------------------------------

    def _remove(self, bead_ids: Sequence[str]) -> None:
        for bid in bead_ids:
            for table in ("beads", "deps", "labels"):
                self.db.execute(f"DELETE FROM {table} WHERE id=?", (bid,))

    def _upsert(self, docs: Iterable[Doc]) -> None:
        rows, dep_rows, label_rows, ids_ = [], [], [], []
        for doc in docs:
            b = model.flatten(doc)
            ids_.append((b.id,))
            text = "\n".join(
                [b.title, b.description, b.design, b.acceptance, b.notes]
                + [c.text for c in b.comments]
            ).lower()
            rows.append((b.id, b.title, b.type, b.status, b.priority, b.assignee, b.parent,
                         b.created_at, b.updated_at, int(b.deleted), text,
                         json.dumps(b.to_json(), sort_keys=True)))
            dep_rows += [(b.id, d.type, d.id) for d in b.deps]
            label_rows += [(b.id, lab) for lab in b.labels]
        db = self.db
        db.executemany("DELETE FROM deps WHERE id=?", ids_)
        db.executemany("DELETE FROM labels WHERE id=?", ids_)
        db.executemany(
            "INSERT OR REPLACE INTO beads (id, title, type, status, priority, assignee, parent,"
            " created_at, updated_at, deleted, text, json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.executemany("INSERT OR IGNORE INTO deps VALUES (?,?,?)", dep_rows)
        db.executemany("INSERT OR IGNORE INTO labels VALUES (?,?)", label_rows)

    def _recompute_blocked(self, changed: set[str], *, full: bool) -> None:
        """Materialize `blocked`: own status, an open `blocks` target, or a blocked parent."""
        db = self.db
        if full:
            affected = {r[0] for r in db.execute("SELECT id FROM beads")}
        else:
            affected = set(changed)
            frontier = set(changed)
            while frontier:
                marks = ",".join("?" * len(frontier))
                nxt = {
                    r[0] for r in db.execute(
                        f"SELECT id FROM deps WHERE target IN ({marks})"
                        " AND type IN ('blocks','parent-child')", tuple(frontier))
                } - affected
                affected |= nxt
                frontier = nxt
        if not affected:
            return
        info = _BlockInfo(db, affected)
        updates = [(int(info.blocked(bid)), bid) for bid in affected]
        db.executemany("UPDATE beads SET blocked=? WHERE id=?", updates)

    # -- queries -----------------------------------------------------------------------

    def get(self, bead_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT json, blocked FROM beads WHERE id=?", (bead_id,)
        ).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        data["blocked"] = bool(row[1])
        return data

    def closest(self, bead_id: str, n: int = 3) -> list[str]:
        try:
            self.fresh()
        except Exception:
            return []
        prefix = bead_id.split("-", 1)[0]
        candidates = [
            r[0] for r in self.db.execute(
                "SELECT id FROM beads WHERE deleted=0 AND id LIKE ?", (prefix + "-%",))
        ]
        return difflib.get_close_matches(bead_id, candidates, n=n, cutoff=0.5)

    def query(
        self,
        *,
        status: Sequence[str] = (),
        types: Sequence[str] = (),
        assignee: str | None = None,
        unassigned: bool = False,
        labels: Sequence[str] = (),
        priority: Sequence[int] = (),
        parent: str | None = None,
        ready: bool = False,
        blocked: bool = False,
        text: str | None = None,
        include_deleted: bool = False,
        sort: str = "priority",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
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
        sql = "SELECT json, blocked FROM beads"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + SORTS.get(sort, SORTS["priority"])
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        out = []
        for row in self.db.execute(sql, args):
            data = json.loads(row[0])
            data["blocked"] = bool(row[1])
            out.append(data)
        return out

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
            "ready": len(self.query(ready=True)),
            "blocked": len(self.query(blocked=True)),
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
