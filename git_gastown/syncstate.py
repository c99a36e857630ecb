"""The record of remote beads tips already merged, and the cheap check every command makes.

Kept apart from git_gastown.sync so that Rig.open pays only for reading a few small files
(no subprocess, no heavy import) when nothing new was fetched.
"""

from __future__ import annotations

import contextlib
import json
import os

from git_gastown.git import Repo

RECORD = "sync.json"
DEFERRED = "notices.jsonl"  # warnings of a background sync, for the next command to print


def read_record(repo: Repo) -> dict[str, dict[str, str]]:
    """{"merged": {remote: tip}, "refused": {remote: tip}} (empty when there is no record)."""
    try:
        data = json.loads((repo.gt_dir / RECORD).read_text())
    except (OSError, ValueError):
        return {"merged": {}, "refused": {}}
    if not isinstance(data, dict):
        return {"merged": {}, "refused": {}}
    return {"merged": dict(data.get("merged") or {}), "refused": dict(data.get("refused") or {})}


def write_record(repo: Repo, remote: str, tip: str | None, *, refused: bool = False) -> None:
    """Record TIP of REMOTE as merged (or refused), atomically."""
    record = read_record(repo)
    key, other = ("refused", "merged") if refused else ("merged", "refused")
    if tip is None:
        record[key].pop(remote, None)
    else:
        record[key][remote] = tip
    if not refused:
        record[other].pop(remote, None)
    path = repo.runtime_path(RECORD)
    tmp = path.with_name(f".{RECORD}.{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, path)


def tracking_beads_tips(repo: Repo) -> dict[str, str]:
    """refs/gt/remotes/<remote>/beads for every remote, from the ref files (no subprocess)."""
    tips: dict[str, str] = {}
    base = repo.common_dir / "refs" / "gt" / "remotes"
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for remote in names:
        try:
            text = (base / remote / "beads").read_text().strip()
        except OSError:
            continue
        if len(text) >= 40:
            tips[remote] = text
    try:
        with open(repo.common_dir / "packed-refs") as fh:
            for line in fh:
                if " refs/gt/remotes/" not in line or not line.rstrip().endswith("/beads"):
                    continue
                sha, _, ref = line.strip().partition(" ")
                remote = ref[len("refs/gt/remotes/"):-len("/beads")]
                if "/" not in remote:
                    tips.setdefault(remote, sha)
    except OSError:
        pass
    return tips


def pending(repo: Repo) -> dict[str, str]:
    """Remote beads tips that arrived by fetch and were neither merged nor refused yet."""
    tips = tracking_beads_tips(repo)
    if not tips:
        return {}
    record = read_record(repo)
    return {r: t for r, t in tips.items()
            if record["merged"].get(r) != t and record["refused"].get(r) != t}


def defer(repo: Repo, code: str, message: str) -> None:
    """Keep a warning of a sync nobody watches (gt.autosync) for the next command."""
    line = json.dumps({"code": code, "message": message}, sort_keys=True) + "\n"
    with open(repo.runtime_path(DEFERRED), "a") as fh:
        fh.write(line)


def take_deferred(repo: Repo) -> list[tuple[str, str]]:
    """The deferred warnings, oldest first, removed so that they are shown once."""
    path = repo.gt_dir / DEFERRED
    if not path.exists():
        return []
    claimed = path.with_name(f".{DEFERRED}.{os.getpid()}")
    try:
        os.replace(path, claimed)  # one reader wins; a writer appending later starts anew
    except OSError:
        return []
    try:
        text = claimed.read_text(errors="replace")  # a damaged line is skipped below
    except OSError:
        return []
    finally:
        with contextlib.suppress(OSError):
            claimed.unlink()
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
            out.append((str(item["code"]), str(item["message"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out
