"""Merging two beads trees: the path-by-path join of their bead documents.

The merged tree is a function of the two input trees only (never of their merge base or of
the order of syncs), so clones that exchange histories in any order end with byte-identical
trees:

- a path equal on both sides, or present on one side only, is kept as it is;
- a bead present on both sides with the same identity (nonce) becomes `merge_docs` of the
  two versions, re-encoded canonically;
- two beads with one id and different identities (an id minted on two clones) are both
  kept: the smaller identity keeps the id, the other moves to `reidentify(id, nonce)`, a
  new id derived from its nonce so that every clone picks the same one;
- `meta.json` must agree on the prefix and a supported format; other keys are joined.

Only subtrees whose ids differ are read: the walk goes level by level, reading each level's
trees and then all differing blobs with one `cat-file --batch` each, so a merge costs in
proportion to what changed, not to the size of the store. Every document the remote brings
is decoded and checked; a malformed one refuses the whole merge before anything is written.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from git_gastown.beads import ids, model
from git_gastown.beads.model import Doc
from git_gastown.errors import Refused
from git_gastown.store.objects import (
    EMPTY_TREE,
    MODE_BLOB,
    MODE_EXEC,
    MODE_TREE,
    ObjectStore,
    TreeEntry,
    decode_tree,
    encode_tree,
)

META_PATH = "meta.json"
SUPPORTED_FORMATS = (1,)


@dataclass(frozen=True)
class Collision:
    """Two beads created on two clones with one id; `moved` now lives at `new_id`."""

    id: str
    new_id: str
    title: str
    created_by: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "new_id": self.new_id, "title": self.title,
                "created_by": self.created_by}


@dataclass
class TreeMerge:
    """The merged tree and what it changes from the local side's point of view."""

    tree: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    conflicts: int = 0
    collisions: list[Collision] = field(default_factory=list)
    docs: dict[str, Doc] = field(default_factory=dict)  # merged docs that differ from local
    checked: int = 0  # remote documents decoded and validated


def reidentify(bead_id: str, nonce: str) -> str:
    """The id a colliding bead moves to: its last id segment plus two characters that
    depend only on (id, nonce), so every clone computes the same new id."""
    digest = int(hashlib.sha1(f"{bead_id}\0{nonce}".encode()).hexdigest(), 16)
    extra = ""
    for _ in range(2):
        digest, rem = divmod(digest, 36)
        extra += ids.ALPHABET[rem]
    prefix, rest = ids.split_id(bead_id)
    head, sep, last = rest.rpartition(".")
    head = f"{prefix}-{head}" if sep else prefix
    sep = sep or "-"
    last = (last[:30] + extra) if len(last) > 30 else last + extra
    return f"{head}{sep}{last}"


def meta_bytes(meta: dict[str, Any]) -> bytes:
    """The canonical form of meta.json (the same bytes BeadStore writes)."""
    return (json.dumps(meta, sort_keys=True, indent=1) + "\n").encode()


def check_meta(data: bytes | None, where: str) -> dict[str, Any]:
    """Parse a meta.json the merge can use, or refuse naming what is wrong."""
    if data is None:
        raise Refused(f"{where} has no meta.json, so it is not a git-gastown beads history",
                      hint="check the remote; nothing was changed")
    try:
        meta = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"{where} has a malformed meta.json ({exc})",
                      hint="repair it on the remote; nothing was changed") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("prefix"), str):
        raise Refused(f"{where} has a meta.json without a prefix",
                      hint="repair it on the remote; nothing was changed")
    fmt = meta.get("format", 1)
    if fmt not in SUPPORTED_FORMATS:
        raise Refused(f"{where} uses beads format {fmt!r}; this git-gastown reads format "
                      f"{', '.join(map(str, SUPPORTED_FORMATS))}",
                      hint="upgrade git-gastown on this machine; nothing was changed")
    return meta


def merge_meta(local: dict[str, Any], remote: dict[str, Any], where: str) -> dict[str, Any]:
    if local["prefix"] != remote["prefix"]:
        raise Refused(
            f"{where} uses bead prefix {remote['prefix']!r} but this clone uses "
            f"{local['prefix']!r}",
            hint=f"make them agree (git gt-init --prefix {remote['prefix']}) or sync with "
                 "the right remote; nothing was changed",
        )
    out = dict(local)
    for key, value in remote.items():
        if key not in out or model.canonical(value) > model.canonical(out[key]):
            out[key] = value
    return out


@dataclass
class _Slot:
    doc: Doc
    sha: str | None  # an existing blob holding exactly this doc, or None: encode it


class TreeMerger:
    """Merge the beads tree REMOTE into LOCAL (BASE only counts concurrent conflicts)."""

    def __init__(self, store: ObjectStore, local: str | None, remote: str,
                 base: str | None = None, *, where: str = "the remote") -> None:
        self.store = store
        self.local = local
        self.remote = remote
        self.base = base
        self.where = where
        self.trees: dict[str, list[TreeEntry]] = {}
        self.slots: dict[str, _Slot] = {}
        self.local_blob: dict[str, str | None] = {}
        self.result = TreeMerge(tree="")
        self._moves: list[_Slot] = []

    # -- reading -------------------------------------------------------------------

    def _load(self, shas: Iterable[str | None]) -> None:
        need = sorted({s for s in shas if s and s not in self.trees})
        for sha, data in self.store.read_many(need):
            self.trees[sha] = decode_tree(data, self.store.hash_len)

    def _tree(self, sha: str | None) -> list[TreeEntry]:
        if not sha:
            return []
        if sha not in self.trees:
            self.trees[sha] = self.store.read_tree(sha)
        return self.trees[sha]

    def _entries(self, sha: str | None) -> dict[str, TreeEntry]:
        return {e.name: e for e in self._tree(sha)}

    def _local_entry(self, path: str) -> TreeEntry | None:
        sha = self.local
        parts = path.split("/")
        entry: TreeEntry | None = None
        for i, part in enumerate(parts):
            entry = self._entries(sha).get(part)
            if entry is None or (i < len(parts) - 1 and not entry.is_tree):
                return None
            sha = entry.sha
        return entry

    # -- the walk ------------------------------------------------------------------

    def _walk(self) -> list[tuple[str, str | None, str | None, str | None]]:
        """Every blob path whose id differs: (path, local, remote, base) blob ids."""
        leaves: list[tuple[str, str | None, str | None, str | None]] = []
        pending: list[tuple[str, str | None, str | None, str | None]] = [
            ("", self.local, self.remote, self.base)]
        while pending:
            self._load(s for item in pending for s in item[1:])
            nxt: list[tuple[str, str | None, str | None, str | None]] = []
            for prefix, l_sha, r_sha, b_sha in pending:
                le, re_, be = self._entries(l_sha), self._entries(r_sha), self._entries(b_sha)
                for name, r in re_.items():
                    lo = le.get(name)
                    if lo is not None and lo.sha == r.sha and lo.mode == r.mode:
                        continue
                    path = prefix + name
                    if r.mode not in (MODE_TREE, MODE_BLOB, MODE_EXEC):
                        raise Refused(f"{self.where}: {path} is neither a file nor a "
                                      "directory", hint="repair the remote; nothing was changed")
                    if lo is not None and lo.is_tree != r.is_tree:
                        raise Refused(f"{self.where}: {path} is a file on one side and a "
                                      "directory on the other",
                                      hint="repair the remote; nothing was changed")
                    bo = be.get(name)
                    b = bo.sha if bo is not None and bo.is_tree == r.is_tree else None
                    lsha = lo.sha if lo is not None else None
                    if r.is_tree:
                        nxt.append((path + "/", lsha, r.sha, b))
                    else:
                        leaves.append((path, lsha, r.sha, b))
                for name, lo in le.items():
                    if name not in re_ and not lo.is_tree:
                        leaves.append((prefix + name, lo.sha, None, None))
            pending = nxt
        return leaves

    # -- merging -------------------------------------------------------------------

    def run(self) -> TreeMerge:
        leaves = self._walk()
        blobs: dict[str, bytes] = {}
        want = sorted({s for leaf in leaves for s in leaf[1:] if s})
        for sha, data in self.store.read_many(want):
            blobs[sha] = data
        changes: dict[str, tuple[str, str] | None] = {}  # path -> (mode, blob) or removal
        for path, l_sha, r_sha, b_sha in leaves:
            if path == META_PATH:
                changes.update(self._meta(l_sha, r_sha, blobs))
                continue
            bead_id = ids.id_from_path(path)
            if bead_id is None or ids.fanout(bead_id) != path:
                if r_sha is not None and path.startswith("beads/"):
                    raise Refused(f"{self.where}: {path} is not where a bead file belongs",
                                  hint="repair the remote; nothing was changed")
                changes.update(self._other(path, l_sha, r_sha, blobs))
                continue
            self.local_blob[path] = l_sha
            ldoc = self._decode_local(blobs, l_sha, path)
            if r_sha is None:
                if ldoc is not None:
                    self.slots[path] = _Slot(ldoc, l_sha)  # only here: unchanged
                continue
            rdoc = self._decode_remote(blobs[r_sha], path, bead_id)
            if ldoc is None:
                self._place(path, _Slot(rdoc, r_sha))
                continue
            if model.identity(ldoc) == model.identity(rdoc):
                bdoc = self._decode_base(blobs, b_sha)
                self.result.conflicts += _conflicts(ldoc, rdoc, bdoc)
            self.slots[path] = _Slot(ldoc, l_sha)
            self._place(path, _Slot(rdoc, r_sha))
        while self._moves:
            slot = self._moves.pop(0)
            self._place(ids.fanout(slot.doc["id"]), slot)
        for path, slot in sorted(self.slots.items()):
            encoded = model.encode(slot.doc) if slot.sha is None else None
            new_sha = slot.sha if slot.sha is not None else \
                self.store.hash_object("blob", encoded or b"")[0]
            l_sha = self.local_blob.get(path)
            if new_sha == l_sha:
                continue
            if encoded is not None and new_sha not in blobs:
                self.store.write_blob(encoded)
            changes[path] = (MODE_BLOB, new_sha)
            bead_id = slot.doc["id"]
            (self.result.changed if l_sha else self.result.added).append(bead_id)
            self.result.docs[bead_id] = slot.doc
        known = set(self.trees)
        self.result.tree = self._rebuild(self.local, changes, known)
        self.result.added.sort()
        self.result.changed.sort()
        return self.result

    def _place(self, path: str, new: _Slot) -> None:
        """Put a document at PATH, joining it with the same bead or resolving a collision."""
        cur = self.slots.get(path)
        if cur is None and path not in self.local_blob:
            cur = self._read_local(path)
        if cur is None:
            self.slots[path] = new
            return
        if model.identity(cur.doc) == model.identity(new.doc):
            if cur.sha is None or cur.sha != new.sha:
                self.slots[path] = _Slot(model.merge_docs(cur.doc, new.doc), None)
            return
        keep, move = sorted((cur, new), key=lambda s: model.identity(s.doc))
        self.slots[path] = keep
        old_id = move.doc["id"]
        moved = copy.deepcopy(move.doc)
        moved["id"] = reidentify(old_id, model.identity(move.doc))
        fields = move.doc["fields"]
        self.result.collisions.append(Collision(
            old_id, moved["id"], str(fields.get("title", {}).get("v") or ""),
            str(fields.get("created_by", {}).get("v") or "")))
        self._moves.append(_Slot(moved, None))

    def _read_local(self, path: str) -> _Slot | None:
        entry = self._local_entry(path)
        self.local_blob[path] = entry.sha if entry is not None else None
        if entry is None:
            return None
        _, data = self.store.read(entry.sha)
        try:
            doc = model.decode(data, path=path)
        except ValueError:
            return None
        slot = _Slot(doc, entry.sha)
        self.slots[path] = slot
        return slot

    # -- decoding and the other files ----------------------------------------------

    def _decode_remote(self, data: bytes, path: str, bead_id: str) -> Doc:
        self.result.checked += 1
        try:
            doc = model.decode(data, path=path)
        except ValueError as exc:
            raise Refused(f"{self.where}: {exc}",
                          hint="repair the bead on the remote; nothing was changed") from exc
        if doc["id"] != bead_id:
            raise Refused(f"{self.where}: {path} holds bead {doc['id']!r}, not {bead_id!r}",
                          hint="repair the remote; nothing was changed")
        return doc

    @staticmethod
    def _decode_local(blobs: dict[str, bytes], sha: str | None, path: str) -> Doc | None:
        if sha is None:
            return None
        try:
            return model.decode(blobs[sha], path=path)
        except ValueError:
            return None  # a damaged local file is replaced by the remote's version

    @staticmethod
    def _decode_base(blobs: dict[str, bytes], sha: str | None) -> Doc | None:
        if sha is None:
            return None
        try:
            return model.decode(blobs[sha])
        except ValueError:
            return None

    def _meta(self, l_sha: str | None, r_sha: str | None,
              blobs: dict[str, bytes]) -> dict[str, tuple[str, str] | None]:
        remote = check_meta(blobs[r_sha] if r_sha else None, self.where)
        if l_sha is None:
            return {META_PATH: (MODE_BLOB, r_sha)} if r_sha else {}
        try:
            local = check_meta(blobs[l_sha], "this clone's refs/gt/beads")
        except Refused:
            return {META_PATH: (MODE_BLOB, r_sha)} if r_sha else {}  # damaged here: take theirs
        data = meta_bytes(merge_meta(local, remote, self.where))
        sha = self.store.hash_object("blob", data)[0]
        if sha == l_sha:
            return {}
        if sha not in blobs:
            self.store.write_blob(data)
        return {META_PATH: (MODE_BLOB, sha)}

    def _other(self, path: str, l_sha: str | None, r_sha: str | None,
               blobs: dict[str, bytes]) -> dict[str, tuple[str, str] | None]:
        """A file that is not a bead: union, and on a difference the larger content."""
        if r_sha is None or (l_sha is not None and blobs[l_sha] >= blobs[r_sha]):
            return {}
        if l_sha is not None:
            self.result.conflicts += 1
        return {path: (MODE_BLOB, r_sha)}

    # -- writing the tree ----------------------------------------------------------

    def _rebuild(self, root: str | None, changes: dict[str, tuple[str, str] | None],
                 known: set[str]) -> str:
        entries = {e.name: e for e in self._tree(root)}
        groups: dict[str, dict[str, tuple[str, str] | None]] = {}
        for path, value in changes.items():
            head, sep, rest = path.partition("/")
            if sep:
                groups.setdefault(head, {})[rest] = value
            elif value is None:
                entries.pop(head, None)
            else:
                entries[head] = TreeEntry(value[0], head, value[1])
        for name, sub in groups.items():
            old = entries.get(name)
            new_sha = self._rebuild(old.sha if old is not None and old.is_tree else None,
                                    sub, known)
            if new_sha == EMPTY_TREE.get(self.store.hash_name):
                entries.pop(name, None)
            else:
                entries[name] = TreeEntry(MODE_TREE, name, new_sha)
        data = encode_tree(entries.values())
        sha = self.store.hash_object("tree", data)[0]
        if sha not in known:
            self.store.write("tree", data)
            known.add(sha)
        return sha


def _conflicts(local: Doc, remote: Doc, base: Doc | None) -> int:
    """Registers that both sides changed since the base, to different stamps."""
    count = 0
    for section in ("fields", "labels", "deps"):
        ls, rs = local[section], remote[section]
        bs = base[section] if base is not None else {}
        for key in ls.keys() & rs.keys():
            sl, sr, sb = ls[key], rs[key], bs.get(key)
            if sl != sr and sl != sb and sr != sb:
                count += 1
    return count


def merge_trees(store: ObjectStore, local: str | None, remote: str, base: str | None = None,
                *, where: str = "the remote") -> TreeMerge:
    """Merge beads tree REMOTE into LOCAL; see the module docstring for the rules."""
    return TreeMerger(store, local, remote, base, where=where).run()


