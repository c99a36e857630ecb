"""Reading and writing refs/gt/beads: one commit per change, under the beads lock, by CAS."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from git_gastown.beads import ids, model
from git_gastown.beads.model import Doc
from git_gastown.errors import ConcurrentUpdate, GtError, NotFound, NotInitialized
from git_gastown.git import Repo
from git_gastown.store import refs
from git_gastown.store.objects import ObjectStore, edit_tree, read_file_at

if TYPE_CHECKING:
    from git_gastown.beads.cache import Cache

REF = "refs/gt/beads"
# How long a write retries while the ref moves under it, and how old git's lock file on
# the ref must be before we know its git was killed (a live one holds it milliseconds).
_MOVING_LIMIT = 10.0
_STALE_REF_LOCK = 1.0
META_PATH = "meta.json"
T = TypeVar("T")


@dataclass
class Tx:
    """One write: the docs it read and the docs it will write, against one tip."""

    store: BeadStore
    tip: str | None
    tree: str | None
    meta: dict[str, Any]
    actor: str
    when: str = field(default_factory=model.now_iso)
    changed: dict[str, Doc] = field(default_factory=dict)
    _read: dict[str, Doc | None] = field(default_factory=dict)

    def get(self, bead_id: str) -> Doc | None:
        if bead_id in self.changed:
            return self.changed[bead_id]
        if bead_id not in self._read:
            data = read_file_at(self.store.objects, self.tree, ids.fanout(bead_id)) \
                if self.tree else None
            self._read[bead_id] = model.decode(data) if data is not None else None
        doc = self._read[bead_id]
        return json.loads(json.dumps(doc)) if doc is not None else None

    def require(self, bead_id: str) -> Doc:
        doc = self.get(bead_id)
        if doc is None or doc["fields"].get("deleted", {}).get("v"):
            raise self.store.not_found(bead_id)
        return doc

    def put(self, doc: Doc) -> None:
        self.changed[doc["id"]] = doc

    def writer(self, doc: Doc, when: str | None = None) -> model.Writer:
        return model.Writer(doc, self.actor, when or self.when)

    def new_id(self, parent: str | None = None) -> str:
        if parent:
            return self._new_child_id(parent)
        prefix = self.meta["prefix"]
        length = ids.ID_LEN
        for attempt in range(64):
            if attempt and attempt % 8 == 0:
                length += 1  # longer on repeated collision
            bead_id = f"{prefix}-{ids.token(length)}"
            if self.get(bead_id) is None:
                return bead_id
        raise GtError(f"could not find a free id after 64 tries (length {ids.ID_LEN}+)")

    def _new_child_id(self, parent: str) -> str:
        """<parent>.<tag><n>: this clone's tag and its next number under that parent.

        The number is counted under the beads lock, so one clone never repeats a child id;
        another clone has its own tag, so two clones mint the same child id only if their
        random tags are equal (1 in 36**5 for a pair of clones).
        """
        from git_gastown.refinery.clone import clone_id

        base = f"{parent}.{ids.clone_tag(clone_id(self.store.repo))}"
        taken = [x[len(base):] for x in self.store.cache().fresh().ids_starting(base)]
        n = 1 + max((int(t) for t in taken if t.isdigit()), default=0)
        while self.get(f"{base}{n}") is not None:
            n += 1
        return f"{base}{n}"


class BeadStore:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._objects: ObjectStore | None = None
        self._cache: Cache | None = None

    @property
    def objects(self) -> ObjectStore:
        # Made on first use: a read answered from the cache never needs git's objects.
        if self._objects is None:
            self._objects = ObjectStore(self.repo)
        return self._objects

    def cache(self) -> Cache:
        """This store's query cache (one connection per store; call .fresh() to read)."""
        if self._cache is None:
            from git_gastown.beads.cache import Cache

            self._cache = Cache(self)
        return self._cache

    def tip(self) -> str | None:
        return refs.read_ref(self.repo, REF)

    def require_tip(self) -> str:
        tip = self.tip()
        if tip is None:
            raise NotInitialized(
                "git-gastown is not set up in this repository", hint="run git gt-init"
            )
        return tip

    def read_meta(self, tip: str) -> dict[str, Any]:
        data = read_file_at(self.objects, self.objects.read_commit_tree(tip), META_PATH)
        meta: dict[str, Any] = json.loads(data) if data else {}
        return meta

    def not_found(self, bead_id: str) -> NotFound:
        """The one error for an id that names no live bead (unknown, or a tombstone)."""
        with contextlib.suppress(Exception):
            known = self.cache().fresh().get(bead_id)
            if known is not None and known["deleted"]:
                return NotFound(f"{bead_id} was deleted",
                                hint=f"git gt-bead history {bead_id} shows it")
        near = self.cache().closest(bead_id)
        hint = f"did you mean {', '.join(near)}?" if near else "git gt-bead list shows the beads"
        return NotFound(f"no bead {bead_id}", hint=hint)

    # -- writing ---------------------------------------------------------------------

    def create_root(self, meta: dict[str, Any], actor: str) -> str:
        """Start the orphan beads history with its meta.json."""
        with refs.locked(self.repo, "beads"):
            if self.tip() is not None:
                return self.require_tip()
            tree = edit_tree(self.objects, None, {META_PATH: _json_bytes(meta)})
            commit = self.objects.write_commit(
                tree, [], f"init beads (prefix {meta['prefix']})\n\nGt-Actor: {actor}\nGt-Op: init",
                author=self._author(actor), when=int(time.time()),
            )
            refs.update_ref(self.repo, REF, commit, None, "gt init")
            return commit

    def set_meta(self, meta: dict[str, Any], actor: str) -> None:
        def apply(tx: Tx) -> None:
            tx.meta = meta

        self.transact("meta", actor, apply, subject="update meta.json", meta_changed=True)

    def transact(
        self,
        op: str,
        actor: str,
        fn: Callable[[Tx], T],
        *,
        subject: str | None = None,
        meta_changed: bool = False,
    ) -> T:
        """Run FN against the current tip under the lock and commit what it changed."""
        with refs.locked(self.repo, "beads"):
            deadline = time.monotonic() + _MOVING_LIMIT
            while True:
                tip = self.require_tip()
                tree = self.objects.read_commit_tree(tip)
                meta = self.read_meta(tip)
                tx = Tx(self, tip, tree, meta, actor)
                result = fn(tx)
                if not tx.changed and not meta_changed:
                    return result
                try:
                    self._commit(tx, op, subject)
                except ConcurrentUpdate:
                    # Someone outside our lock moved the ref, or holds git's own lock on
                    # it: redo the change on the new tip.
                    if time.monotonic() > deadline:
                        raise GtError("refs/gt/beads kept moving during the write",
                                      hint="try again") from None
                    self._clear_stale_ref_lock()
                    continue
                return result

    def _clear_stale_ref_lock(self) -> None:
        """Remove git's lock on our ref if a killed git left it behind, else pause briefly.

        Every gastown writer of refs/gt/beads holds the beads lock, which we hold now, so
        the lock file can only belong to a plain git command (pack-refs holds it for
        milliseconds) or to a git killed in the middle of `update-ref` (then forever).
        """
        path = self.repo.common_dir / f"{REF}.lock"
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return
        if age > _STALE_REF_LOCK:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        else:
            time.sleep(0.02)

    def _commit(self, tx: Tx, op: str, subject: str | None) -> None:
        changes: dict[str, bytes | None] = {
            ids.fanout(bid): model.encode(doc) for bid, doc in tx.changed.items()
        }
        changes[META_PATH] = _json_bytes(tx.meta)
        new_tree = edit_tree(self.objects, tx.tree, changes)
        if subject is None:
            if len(tx.changed) == 1:
                (bid, doc), = tx.changed.items()
                title = doc["fields"].get("title", {}).get("v", "")
                subject = f"{op} {bid}: {title}"
            else:
                subject = f"{op} {len(tx.changed)} beads"
        trailers = f"Gt-Actor: {tx.actor}\nGt-Op: {op}"
        if len(tx.changed) > 1:
            trailers += "".join(f"\nGt-Bead: {bid}" for bid in sorted(tx.changed))
        elif tx.changed:
            trailers += f"\nGt-Bead: {next(iter(tx.changed))}"
        message = f"{subject[:200]}\n\n{trailers}"
        commit = self.objects.write_commit(
            new_tree, [tx.tip] if tx.tip else [], message,
            author=self._author(tx.actor), when=int(time.time()),
        )
        refs.update_ref(self.repo, REF, commit, tx.tip, f"gt {op}", direct=True)
        self.cache().applied(tx.tip, commit, tx.changed)

    # -- merging (git gt-sync) -----------------------------------------------------------

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The beads lock every local writer takes (a merge may hold it while it computes)."""
        return refs.locked(self.repo, "beads")

    def advance(self, old: str | None, new: str, reason: str,
                docs: dict[str, Doc] | None = None, *, lock: bool = True) -> None:
        """Move refs/gt/beads from OLD to NEW (a merge, fast-forward or adoption).

        Taken under the beads lock (unless the caller holds it: lock=False) with the ref
        compare-and-swap; raises ConcurrentUpdate if a local writer moved the ref since OLD
        was read, so the caller merges again.
        """
        with self.lock() if lock else contextlib.nullcontext():
            if self.tip() != old:
                raise ConcurrentUpdate("refs/gt/beads moved while merging")
            refs.update_ref(self.repo, REF, new, old, f"gt {reason}")
        if docs is not None and old is not None and len(docs) <= 20000:
            from git_gastown.beads.cache import Cache

            Cache(self).applied(old, new, docs)

    def _author(self, actor: str) -> tuple[str, str]:
        _, email = self.repo.identity()
        return actor, email


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=1) + "\n").encode()
