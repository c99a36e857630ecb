"""GT_PORT allocation, machine-wide: one port per live polecat across every repository.

Ports are recorded in ports.json under the user state dir (platformdirs), changed only
under an flock on ports.lock, so two repositories' polecats (or two spawns at once) never
get the same port. A port something already listens on is skipped too, which also keeps
clear of other users' servers. An allocation is released by nuke, or dropped as stale
once its repository or its Hook's runtime directory is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

FILE = "ports.json"
GRACE = 120.0  # seconds an allocation is kept before its Hook's runtime dir must exist
HIGHEST = 65535


def state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("git-gastown"))


@contextlib.contextmanager
def _locked() -> Iterator[dict[str, Any]]:
    """The allocation table, read and written back under the machine-wide lock."""
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "ports.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = root / FILE
        try:
            table = json.loads(path.read_text())
            if not isinstance(table, dict):
                table = {}
        except (OSError, json.JSONDecodeError):
            table = {}
        before = json.dumps(table, sort_keys=True)
        yield table
        if json.dumps(table, sort_keys=True) != before:
            tmp = path.with_name(f"{FILE}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(table, sort_keys=True, indent=1))
            os.replace(tmp, path)
    finally:
        os.close(fd)


def _stale(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return True
    common = Path(str(entry.get("repo", "")))
    if not (common / "HEAD").exists():
        return True
    if time.time() - float(entry.get("at") or 0) < GRACE:
        return False
    return not (common / "gt" / "polecats" / str(entry.get("hook", ""))).is_dir()


def _free(port: int) -> bool:
    """Whether nothing listens on PORT (on the loopback or any address) right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate(common_dir: Path, hook: str, base: int, own: Iterable[int] = ()) -> int:
    """The lowest port from BASE that no live polecat on this machine holds, that is not in
    OWN (ports of this repository's Hooks) and that nothing listens on; recorded for HOOK."""
    repo = str(common_dir.resolve())
    taken = set(own)
    with _locked() as table:
        for key in [k for k, v in table.items() if _stale(v)]:
            del table[key]
        for key, entry in list(table.items()):
            if entry.get("repo") == repo and entry.get("hook") == hook:
                del table[key]  # a name reused after nuke --purge: its old port goes back
        taken |= {int(k) for k in table if k.isdigit()}
        port = max(1024, base)
        while port <= HIGHEST and (port in taken or not _free(port)):
            port += 1
        if port > HIGHEST:
            raise OSError(f"no free port from {base} up")
        table[str(port)] = {"repo": repo, "hook": hook, "at": time.time()}
    return port


def release(common_dir: Path, hook: str) -> None:
    """Give back the port of HOOK (nuke, or a spawn that was undone)."""
    repo = str(common_dir.resolve())
    with contextlib.suppress(OSError), _locked() as table:
        for key, entry in list(table.items()):
            if isinstance(entry, dict) and entry.get("repo") == repo and \
                    entry.get("hook") == hook:
                del table[key]
