"""Refs: fast reads from the files git keeps, and compare-and-swap updates through git."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def update_ref(
    repo: Repo, name: str, new: str, old: str | None, message: str, *, direct: bool = False
) -> None:
    """Point NAME at NEW only if it still points at OLD (None: must not exist).

    With DIRECT (for a writer that holds the ref's gastown lock), a loose ref in the files
    backend is updated in-process exactly as git does it, saving a git process per write:
    take git's lock file `<ref>.lock` (O_EXCL, so git and we exclude each other), check the
    current value, write the new one, append the reflog entry, rename the lock into place.
    Whenever git might do more (reftable, fsync settings, a reference-transaction hook),
    git does it.
    """
    if direct and old is not None and _direct_ok(repo):
        _update_loose(repo, name, new, old, message)
        return
    proc = repo.git(
        "update-ref", "--create-reflog", "-m", message, name, new, old or "", check=False
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise ConcurrentUpdate(f"{name} moved during the update ({err})")


def _direct_ok(repo: Repo) -> bool:
    cfg = repo.config()
    if any(k in cfg for k in ("extensions.refstorage", "core.fsync", "core.fsyncreffiles",
                              "core.fsyncobjectfiles", "core.hookspath")):
        return False
    return not (repo.common_dir / "hooks" / "reference-transaction").exists()


def _update_loose(repo: Repo, name: str, new: str, old: str, message: str) -> None:
    path = repo.common_dir / name
    lock = f"{path}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)  # the ref may live in packed-refs only
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except FileExistsError:
        raise ConcurrentUpdate(f"{name} is locked by another git process ({lock})") from None
    try:
        try:
            os.write(fd, f"{new}\n".encode())
        finally:
            os.close(fd)
        current = read_ref(repo, name)
        if current != old:
            raise ConcurrentUpdate(f"{name} moved during the update (now {current})")
        log = repo.common_dir / "logs" / name
        log.parent.mkdir(parents=True, exist_ok=True)
        who = os.environ.get("GIT_COMMITTER_NAME") or repo.identity()[0]
        email = os.environ.get("GIT_COMMITTER_EMAIL") or repo.identity()[1]
        entry = f"{old} {new} {who} <{email}> {int(time.time())} +0000\t{message}\n"
        with open(log, "a") as fh:
            fh.write(entry)
        os.rename(lock, path)  # the commit point, as in git's files backend
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        raise


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
    check: bool = True  # False: set NEW whatever the ref holds now (remote-tracking copies)


def transaction(repo: Repo, updates: list[RefUpdate]) -> None:
    """Apply several ref updates atomically (all or none) with `update-ref --stdin`."""
    lines = ["start"]
    for u in updates:
        if u.new is None:
            lines.append(f"delete {u.name}" + (f" {u.old}" if u.old else ""))
        elif not u.check:
            lines.append(f"update {u.name} {u.new}")
        else:
            lines.append(f"update {u.name} {u.new} {u.old or '0' * len(u.new)}")
    lines += ["prepare", "commit"]
    proc = repo.git("update-ref", "--stdin", input=("\n".join(lines) + "\n").encode(),
                    check=False)
    if proc.returncode != 0:
        raise ConcurrentUpdate(f"ref transaction refused: {proc.stderr.decode().strip()}")


@contextlib.contextmanager
def locked(repo: Repo, name: str, timeout: float = 60.0) -> Iterator[None]:
    """Serialize local writers with a kernel file lock (released if the holder dies).

    flock(2) on a file that is never deleted: the kernel drops the lock when the holder's
    descriptor closes, however the process ends, so the lock can never be left stale.
    """
    import fcntl

    path = repo.runtime_path("locks", f"{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        _acquire(fd, timeout, name, path)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def try_locked(repo: Repo, name: str) -> Iterator[bool]:
    """The same lock as `locked`, taken only if it is free: yields False at once when
    another process holds it (for work that must be single, where a second one just
    leaves, e.g. one Refinery run or one patrol per rig)."""
    import fcntl

    path = repo.runtime_path("locks", f"{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class _LockTimeout(Exception):
    pass


def _acquire(fd: int, timeout: float, name: str, path: Path) -> None:
    """Take the lock; a waiter sleeps in the kernel and wakes the moment it is released."""
    import fcntl
    import signal
    import threading

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    start = time.monotonic()
    try:
        if threading.current_thread() is threading.main_thread():
            # A blocking flock bounded by a one-shot timer: no polling delay per handoff.
            def expire(_sig: int, _frame: object) -> None:
                raise _LockTimeout

            previous = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            return
        while time.monotonic() - start < timeout:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(0.002)
        raise _LockTimeout
    except _LockTimeout:
        waited = time.monotonic() - start
        raise GtError(
            f"waited {waited:.0f}s for the {name} lock held by another git-gastown process",
            hint=f"see which process holds {path} (fuser {path})",
        ) from None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
