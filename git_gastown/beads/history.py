"""A bead's history: every stamped change it ever carried, read from the ref's log.

Each register write carries its own stamp, so the history is the set of stamps seen in
any version of the bead's file. A stamp missing from the current version was overwritten:
by a later local write, or by the winner of a merge (the losing value stays visible here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from git_gastown.beads import ids, model
from git_gastown.beads.store import BeadStore
from git_gastown.store.objects import read_file_at


@dataclass(frozen=True)
class Change:
    commit: str
    subject: str
    section: str  # fields, labels, deps, comments
    key: str
    value: Any
    clock: int
    actor: str
    time: str
    current: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit, "subject": self.subject, "section": self.section,
            "key": self.key, "value": self.value, "clock": self.clock, "actor": self.actor,
            "time": self.time, "current": self.current,
        }


def _versions(store: BeadStore, tip: str, path: str) -> list[tuple[str, str, model.Doc]]:
    """Every version of the file at PATH in the history of TIP: (commit, subject, doc)."""
    out = store.repo.out("log", "--full-history", "--reverse", "--format=%H%x09%s",
                         tip, "--", path)
    commits = [line.split("\t", 1) for line in out.splitlines() if line]
    versions: list[tuple[str, str, model.Doc]] = []
    specs = [f"{sha}:{path}" for sha, _ in commits]
    for (sha, subject), (_, data) in zip(commits, store.objects.read_many(specs), strict=True):
        try:
            versions.append((sha, subject, model.decode(data)))
        except ValueError:
            continue
    return versions


def _origins(bead_id: str, nonce: str) -> list[str]:
    """The ids a bead had before merges re-identified it (two clones minted one id)."""
    from git_gastown.beads.merge import reidentify

    found: list[str] = []
    current = bead_id
    while nonce and len(current) > 2 and reidentify(current[:-2], nonce) == current:
        current = current[:-2]
        found.append(current)
    return found


def history(store: BeadStore, bead_id: str) -> list[Change]:
    path = ids.fanout(bead_id)
    tip = store.require_tip()
    versions = _versions(store, tip, path)
    if not versions:
        return []
    # The current version is the tip's, not the last in log order: after a merge the
    # log's last commit for the path may be a side commit whose value lost.
    at_tip = read_file_at(store.objects, store.objects.read_commit_tree(tip), path)
    try:
        current = model.decode(at_tip) if at_tip is not None else model.new_doc(bead_id)
    except ValueError:
        current = versions[-1][2] if versions else model.new_doc(bead_id)
    nonce = model.identity(current)
    for old_id in _origins(bead_id, nonce):
        earlier = _versions(store, tip, ids.fanout(old_id))
        versions = [v for v in earlier if model.identity(v[2]) == nonce] + versions
    seen: set[tuple[str, str, str]] = set()
    changes: list[tuple[int, Change]] = []
    for pos, (sha, subject, doc) in enumerate(versions):
        for section in ("fields", "labels", "deps"):
            for key, s in doc[section].items():
                ident = (section, key, model.canonical(s))
                if ident in seen:
                    continue
                seen.add(ident)
                now = current[section].get(key)
                changes.append((pos, Change(sha, subject, section, key, s.get("v"),
                                            int(s["c"]), str(s["a"]), str(s["t"]), now == s)))
        for cid, c in doc["comments"].items():
            ident = ("comments", cid, model.canonical(c))
            if ident in seen:
                continue
            seen.add(ident)
            changes.append((pos, Change(sha, subject, "comments", cid, c.get("text"), 0,
                                        str(c.get("author", "")), str(c.get("created_at", "")),
                                        current["comments"].get(cid) == c)))
    # In the order of the commits that first carried each change (times have one-second
    # resolution, and comments no clock), then by stamp within one commit.
    changes.sort(key=lambda pc: (pc[0], pc[1].clock, pc[1].time, pc[1].actor,
                                 pc[1].section, pc[1].key))
    return [ch for _, ch in changes]

