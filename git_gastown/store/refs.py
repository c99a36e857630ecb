"""Refs: fast reads from the files git keeps, and compare-and-swap updates through git."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from git_gastown.errors import ConcurrentUpdate, GtError
from git_gastown.git import Repo


def read_ref(repo: Repo, name: str) -> str | None:
    """The id a ref points at, read straight from the ref files (no subprocess)."""
    loose = repo.common_dir / name
    try:
        text = loose.read_text().strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        text = ""
    if text.startswith("ref: "):
        return read_ref(repo, text[5:].strip())
    if text:
        return text
    return _packed_refs(repo.common_dir).get(name)


def _packed_refs(common_dir: Path) -> dict[str, str]:
    refs: dict[str, str] = {}
    try:
        with open(common_dir / "packed-refs") as fh:
            for line in fh:
                if line.startswith(("#", "^")):
                    continue
                sha, _, ref = line.strip().partition(" ")
                if ref:
                    refs[ref] = sha
    except FileNotFoundError:
        pass
    return refs


def list_refs(repo: Repo, prefix: str) -> dict[str, str]:
    """Every ref under PREFIX (e.g. 'refs/gt/hooks/') with its id."""
    out = repo.out("for-each-ref", "--format=%(objectname) %(refname)", prefix)
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        refs[ref] = sha
    return refs


def update_ref(repo: Repo, name: str, new: str, old: str | None, message: str) -> None:
    """Point NAME at NEW only if it still points at OLD (None: must not exist)."""
    proc = repo.git(
        "update-ref", "--create-reflog", "-m", message, name, new, old or "", check=False
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise ConcurrentUpdate(f"{name} moved during the update ({err})")


def delete_ref(repo: Repo, name: str, old: str | None = None) -> None:
    args = ["update-ref", "-d", name]
    if old:
        args.append(old)
    proc = repo.git(*args, check=False)
    if proc.returncode != 0:
        raise ConcurrentUpdate(f"could not delete {name}: {proc.stderr.decode().strip()}")


@dataclass(frozen=True)
class RefUpdate:
    name: str
    new: str | None  # None deletes
    old: str | None  # None: must not exist (for create) / unchecked for delete


def transaction(repo: Repo, updates: list[RefUpdate]) -> None:
    """Apply several ref updates atomically (all or none) with `update-ref --stdin`."""
    lines = ["start"]
    for u in updates:
        if u.new is None:
            lines.append(f"delete {u.name}" + (f" {u.old}" if u.old else ""))
        else:
            lines.append(f"update {u.name} {u.new} {u.old or '0' * len(u.new)}")
    lines += ["prepare", "commit"]
    proc = repo.git("update-ref", "--stdin", input=("\n".join(lines) + "\n").encode(),
                    check=False)
    if proc.returncode != 0:
        raise ConcurrentUpdate(f"ref transaction refused: {proc.stderr.decode().strip()}")


@contextlib.contextmanager
def locked(repo: Repo, name: str, timeout: float = 60.0) -> Iterator[None]:
    """Serialize local writers with a kernel file lock (released if the holder dies)."""
    path = repo.runtime_path("locks", f"{name}.lock")
    lock = FileLock(str(path), timeout=timeout)
    start = time.monotonic()
    try:
        lock.acquire()
    except Timeout as exc:
        waited = time.monotonic() - start
        raise GtError(
            f"waited {waited:.0f}s for the {name} lock held by another git-gastown process",
            hint=f"see which process holds {path} (fuser {path})",
        ) from exc
    try:
        yield
    finally:
        lock.release()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
