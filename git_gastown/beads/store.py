"""Reading and writing refs/gt/beads: one commit per change, under the beads lock, by CAS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from git_gastown.beads import ids, model
from git_gastown.beads.model import Doc
from git_gastown.errors import ConcurrentUpdate, GtError, NotFound, NotInitialized
from git_gastown.git import Repo
from git_gastown.store import refs
from git_gastown.store.objects import ObjectStore, edit_tree, read_file_at

REF = "refs/gt/beads"
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
        prefix = self.meta["prefix"]
        length = model_len = ids.CHILD_LEN if parent else ids.ID_LEN
        for attempt in range(64):
            if attempt and attempt % 8 == 0:
                length += 1  # longer on repeated collision
            tok = ids.token(length)
            bead_id = f"{parent}.{tok}" if parent else f"{prefix}-{tok}"
            if self.get(bead_id) is None:
                return bead_id
        raise GtError(f"could not find a free id after 64 tries (length {model_len}+)")


class BeadStore:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.objects = ObjectStore(repo)

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
        from git_gastown.beads.cache import Cache

        near = Cache(self).closest(bead_id)
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
            for _attempt in range(5):
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
                    continue  # someone outside our lock moved the ref: redo on the new tip
                return result
        raise GtError("refs/gt/beads kept moving during the write", hint="try again")

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
        refs.update_ref(self.repo, REF, commit, tx.tip, f"gt {op}")
        from git_gastown.beads.cache import Cache

        Cache(self).applied(tx.tip, commit, tx.changed)

    def _author(self, actor: str) -> tuple[str, str]:
        _, email = self.repo.identity()
        return actor, email


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=1) + "\n").encode()
