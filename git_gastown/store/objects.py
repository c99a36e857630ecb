"""Git objects: loose-object writes in pure Python, reads through `git cat-file --batch`.

Writing loose objects ourselves avoids importing dulwich on every command (60-95 ms) and
avoids dulwich's one-pack-per-write behaviour; a Dog repacks later.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from git_gastown.errors import GitFailed, GtError
from git_gastown.git import Repo, scrubbed_env

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
        fmt = (repo.config_get("extensions.objectformat") or "sha1").lower()
        if fmt not in ("sha1", "sha256"):
            raise GtError(f"unsupported object format {fmt}")
        self.hash_name = fmt
        self.hash_len = 20 if fmt == "sha1" else 32
        self.objects_dir = repo.common_dir / "objects"
        self._catfile: subprocess.Popen[bytes] | None = None

    # -- writing -----------------------------------------------------------------

    def hash_object(self, kind: str, data: bytes) -> tuple[str, bytes]:
        raw = f"{kind} {len(data)}".encode() + b"\0" + data
        return hashlib.new(self.hash_name, raw).hexdigest(), raw

    def write(self, kind: str, data: bytes) -> str:
        """Write one loose object atomically (temp file, then rename); return its id."""
        sha, raw = self.hash_object(kind, data)
        path = self.objects_dir / sha[:2] / sha[2:]
        if path.exists():
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="tmp_obj_")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(zlib.compress(raw, 1))
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return sha

    def write_blob(self, data: bytes) -> str:
        return self.write("blob", data)

    def write_tree(self, entries: Iterable[TreeEntry]) -> str:
        return self.write("tree", encode_tree(entries))

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
        proc = self._proc()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.flush()
        return self._read_one(proc, sha)

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
        kind, data = self.read(sha)
        if kind != "tree":
            raise GitFailed(f"object {sha} is a {kind}, expected a tree")
        return decode_tree(data, self.hash_len)

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


EMPTY_TREE = {
    "sha1": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "sha256": "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
}
