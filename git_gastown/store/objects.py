"""Git objects: loose-object writes in pure Python, reads through `git cat-file --batch`.

Writing loose objects ourselves avoids importing dulwich on every command (60-95 ms) and
avoids dulwich's one-pack-per-write behaviour; a Dog repacks later. Reads of loose objects
(the trees and commits a writer just made) are inflated in-process; anything else goes to
one long-lived `git cat-file --batch`, started only when first needed.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from git_gastown.errors import GitFailed, GtError
from git_gastown.git import Repo, scrubbed_env

if TYPE_CHECKING:
    import subprocess

MODE_TREE = "40000"
MODE_BLOB = "100644"
MODE_EXEC = "100755"


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    name: str
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == MODE_TREE


def _tree_sort_key(entry: TreeEntry) -> bytes:
    # git orders tree entries as if directory names ended in "/".
    name = entry.name.encode()
    return name + b"/" if entry.is_tree else name


def encode_tree(entries: Iterable[TreeEntry]) -> bytes:
    out = bytearray()
    for e in sorted(entries, key=_tree_sort_key):
        out += f"{e.mode} {e.name}".encode() + b"\0" + bytes.fromhex(e.sha)
    return bytes(out)


def decode_tree(data: bytes, hash_len: int = 20) -> list[TreeEntry]:
    entries: list[TreeEntry] = []
    i = 0
    while i < len(data):
        sp = data.index(b" ", i)
        nul = data.index(b"\0", sp)
        mode = data[i:sp].decode()
        name = data[sp + 1 : nul].decode()
        sha = data[nul + 1 : nul + 1 + hash_len].hex()
        entries.append(TreeEntry(mode, name, sha))
        i = nul + 1 + hash_len
    return entries


class ObjectStore:
    """Reads and writes the objects of one repository."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.objects_dir = repo.common_dir / "objects"
        self._catfile: subprocess.Popen[bytes] | None = None
        self._hash_name: str | None = None
        self._seen: dict[str, tuple[str, bytes]] = {}
        self._trees: dict[str, list[TreeEntry]] = {}

    @property
    def hash_name(self) -> str:
        if self._hash_name is None:
            fmt = (self.repo.config_get("extensions.objectformat") or "sha1").lower()
            if fmt not in ("sha1", "sha256"):
                raise GtError(f"unsupported object format {fmt}")
            self._hash_name = fmt
        return self._hash_name

    @property
    def hash_len(self) -> int:
        return 20 if self.hash_name == "sha1" else 32

    # -- writing -----------------------------------------------------------------

    def hash_object(self, kind: str, data: bytes) -> tuple[str, bytes]:
        import hashlib  # lazily: reads answered from the cache never hash

        raw = f"{kind} {len(data)}".encode() + b"\0" + data
        return hashlib.new(self.hash_name, raw).hexdigest(), raw

    def write(self, kind: str, data: bytes) -> str:
        """Write one loose object atomically (temp file, then rename); return its id."""
        sha, raw = self.hash_object(kind, data)
        path = self.objects_dir / sha[:2] / sha[2:]
        if path.exists():
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same naming as git's own temporary objects, so `git gc` cleans up after a crash.
        tmp = f"{path.parent}/tmp_obj_{os.getpid()}_{os.urandom(6).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(zlib.compress(raw, 1))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return sha

    def write_blob(self, data: bytes) -> str:
        return self.write("blob", data)

    def write_tree(self, entries: Iterable[TreeEntry]) -> str:
        ordered = sorted(entries, key=_tree_sort_key)
        sha = self.write("tree", encode_tree(ordered))
        self._remember_tree(sha, ordered)  # the next write starts from this tree
        return sha

    def _remember_tree(self, sha: str, entries: list[TreeEntry]) -> None:
        if len(self._trees) >= 1024:
            self._trees.clear()
        self._trees[sha] = entries

    def write_commit(
        self,
        tree: str,
        parents: list[str],
        message: str,
        *,
        author: tuple[str, str],
        when: int,
    ) -> str:
        ident = f"{author[0]} <{author[1]}> {when} +0000"
        lines = [f"tree {tree}"]
        lines += [f"parent {p}" for p in parents]
        lines += [f"author {ident}", f"committer {ident}", ""]
        body = "\n".join(lines) + "\n" + message.rstrip("\n") + "\n"
        return self.write("commit", body.encode())

    # -- reading -----------------------------------------------------------------

    def _proc(self) -> subprocess.Popen[bytes]:
        import subprocess

        if self._catfile is None or self._catfile.poll() is not None:
            env = scrubbed_env({"GIT_DIR": str(self.repo.common_dir)})
            self._catfile = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=self.repo.common_dir,
            )
        return self._catfile

    def read(self, sha: str) -> tuple[str, bytes]:
        # Objects never change, so what a write reads twice (the trees on its path, read
        # to find the bead and again to rewrite them) is remembered, not asked for again.
        hit = self._seen.get(sha)
        if hit is not None:
            return hit
        got = self._read_loose(sha) or self._read_git(sha)
        if len(self._seen) >= 1024:
            self._seen.clear()
        self._seen[sha] = got
        return got

    def _read_git(self, sha: str) -> tuple[str, bytes]:
        proc = self._proc()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.flush()
        return self._read_one(proc, sha)

    def _read_loose(self, sha: str) -> tuple[str, bytes] | None:
        """A loose object inflated in-process (no subprocess), or None if it is not loose."""
        try:
            with open(f"{self.objects_dir}/{sha[:2]}/{sha[2:]}", "rb") as fh:
                raw = zlib.decompress(fh.read())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, zlib.error):
            return None  # let git read (and report) anything odd
        header, nul, data = raw.partition(b"\0")
        kind, _, size = header.decode("ascii", "replace").partition(" ")
        if not nul or not size.isdigit() or int(size) != len(data):
            return None
        return kind, data

    @staticmethod
    def _read_one(proc: subprocess.Popen[bytes], sha: str) -> tuple[str, bytes]:
        assert proc.stdout is not None
        header = proc.stdout.readline().decode().split()
        if len(header) != 3:
            raise GitFailed(f"object {sha} is missing from the repository")
        _, kind, size = header
        data = proc.stdout.read(int(size) + 1)[:-1]
        return kind, data

    def read_many(self, shas: list[str]) -> Iterator[tuple[str, bytes]]:
        """Stream many objects with one pass (a writer thread keeps the pipe moving)."""
        import subprocess
        import threading

        if not shas:
            return
        env = scrubbed_env({"GIT_DIR": str(self.repo.common_dir)})
        proc = subprocess.Popen(
            ["git", "cat-file", "--batch", "--buffer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=self.repo.common_dir,
        )
        assert proc.stdin is not None

        def feed() -> None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(b"".join(s.encode() + b"\n" for s in shas))
            finally:
                proc.stdin.close()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            for sha in shas:
                yield sha, self._read_one(proc, sha)[1]
        finally:
            writer.join()
            proc.wait()

    def read_tree(self, sha: str) -> list[TreeEntry]:
        known = self._trees.get(sha)
        if known is not None:
            return known
        kind, data = self.read(sha)
        if kind != "tree":
            raise GitFailed(f"object {sha} is a {kind}, expected a tree")
        entries = decode_tree(data, len(sha) // 2)
        self._remember_tree(sha, entries)
        return entries

    def read_commit_tree(self, sha: str) -> str:
        kind, data = self.read(sha)
        if kind != "commit":
            raise GitFailed(f"object {sha} is a {kind}, expected a commit")
        first = data.split(b"\n", 1)[0].decode()
        return first.split()[1]

    def close(self) -> None:
        if self._catfile is not None:
            if self._catfile.stdin:
                self._catfile.stdin.close()
            self._catfile.wait()
            self._catfile = None


def read_file_at(store: ObjectStore, tree: str, path: str) -> bytes | None:
    """The blob at PATH inside TREE, or None."""
    sha = tree
    parts = path.split("/")
    for i, part in enumerate(parts):
        entries = {e.name: e for e in store.read_tree(sha)}
        entry = entries.get(part)
        if entry is None:
            return None
        if i < len(parts) - 1 and not entry.is_tree:
            return None
        sha = entry.sha
    kind, data = store.read(sha)
    return data if kind == "blob" else None


def edit_tree(store: ObjectStore, root: str | None, changes: dict[str, bytes | None]) -> str:
    """Write a new tree: ROOT with each path set to its blob content (None removes it).

    Only the subtrees on changed paths are read and rewritten, so a write touches a
    handful of objects however many files the tree holds.
    """
    entries = {e.name: e for e in store.read_tree(root)} if root else {}
    groups: dict[str, dict[str, bytes | None]] = {}
    for path, content in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            groups.setdefault(head, {})[rest] = content
        elif content is None:
            entries.pop(head, None)
        else:
            entries[head] = TreeEntry(MODE_BLOB, head, store.write_blob(content))
    for name, sub in groups.items():
        old = entries.get(name)
        sub_root = old.sha if old is not None and old.is_tree else None
        new_sha = edit_tree(store, sub_root, sub)
        if new_sha == EMPTY_TREE.get(store.hash_name):
            entries.pop(name, None)
        else:
            entries[name] = TreeEntry(MODE_TREE, name, new_sha)
    return store.write_tree(entries.values())


class _TooManyTrees(Exception):
    pass


def diff_trees(
    store: ObjectStore, old: str | None, new: str | None, max_reads: int = 64
) -> dict[str, str | None] | None:
    """Paths of the blobs that differ between two trees, each with its new blob id (None:
    removed); None when that takes more than MAX_READS tree reads (then ask git).

    Subtrees with equal ids are skipped, so one changed bead costs a few tree reads, all
    in-process while the trees are still loose.
    """
    out: dict[str, str | None] = {}
    reads = 0

    def walk(a: str | None, b: str | None, prefix: str) -> None:
        nonlocal reads
        reads += (a is not None) + (b is not None)
        if reads > max_reads:
            raise _TooManyTrees
        ea = {e.name: e for e in store.read_tree(a)} if a else {}
        eb = {e.name: e for e in store.read_tree(b)} if b else {}
        for name in ea.keys() | eb.keys():
            x, y = ea.get(name), eb.get(name)
            if x is not None and y is not None and x.sha == y.sha and x.mode == y.mode:
                continue
            path = prefix + name
            xt = x.sha if x is not None and x.is_tree else None
            yt = y.sha if y is not None and y.is_tree else None
            if xt or yt:
                walk(xt, yt, path + "/")
            if y is not None and not y.is_tree:
                out[path] = y.sha
            elif x is not None and not x.is_tree:
                out[path] = None

    try:
        walk(old, new, "")
    except _TooManyTrees:
        return None
    return out


EMPTY_TREE = {
    "sha1": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "sha256": "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
}
