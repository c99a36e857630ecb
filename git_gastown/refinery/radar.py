"""Conflict radar: live branches whose changes would conflict, by merge-tree, no worktree."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from git_gastown.refinery import hooks
from git_gastown.refinery.books import Books
from git_gastown.refinery.candidate import is_ancestor, merge
from git_gastown.refinery.config import Config
from git_gastown.refinery.queue import LIVE, Queue
from git_gastown.rig import Rig
from git_gastown.store import refs


@dataclass(frozen=True)
class Live:
    branch: str
    commit: str
    owner: str  # the polecat (Hook) or whoever enqueued it
    mr: str = ""


@dataclass(frozen=True)
class Overlap:
    a: Live
    b: Live | None  # None: conflicts with the target
    paths: tuple[str, ...]

    @property
    def key(self) -> str:
        """The branch pair and the paths in conflict: new commits that leave both the same
        are no news (the owners were told), a new path is."""
        pair = sorted([self.a.branch, self.b.branch]) if self.b else [self.a.branch, "@target"]
        return "|".join([*pair, ",".join(sorted(self.paths))])

    def to_json(self) -> dict[str, Any]:
        def side(x: Live | None, target: str) -> dict[str, Any]:
            if x is None:
                return {"branch": target, "commit": "", "owner": "", "mr": "", "target": True}
            return {"branch": x.branch, "commit": x.commit, "owner": x.owner, "mr": x.mr,
                    "target": False}

        return {"a": side(self.a, ""), "b": side(self.b, ""), "paths": list(self.paths),
                "with_target": self.b is None}


def live_branches(rig: Rig, cfg: Config) -> list[Live]:
    """Hooks' gt/* branches and the branches of live MRs, once each.

    Not live: a branch already in the target (landed, or nothing done yet) and a Hook that
    is done or nuked (its branch may stay while its worktree does).
    """
    repo = rig.repo
    found: dict[str, Live] = {}
    target_tip = refs.read_ref(repo, cfg.target_ref) or ""
    finished = set()
    for hook_name in hooks.names(repo):
        info = hooks.load(repo, hook_name)
        if info is not None and info.status in ("done", "nuked"):
            finished.add(info.branch)
    for name, sha in refs.list_refs(repo, "refs/heads/gt/").items():
        branch = name.removeprefix("refs/heads/")
        if branch in finished or sha == target_tip:
            continue
        if target_tip and is_ancestor(repo, sha, target_tip):
            continue
        found[branch] = Live(branch, sha, branch.rsplit("/", 1)[-1])
    for mr in Queue(rig).all():
        if mr.state not in LIVE or mr.target != cfg.target:
            continue
        tip = refs.read_ref(repo, f"refs/heads/{mr.branch}") or mr.commit
        found[mr.branch] = Live(mr.branch, tip, mr.owner, mr.id)
    return sorted(found.values(), key=lambda x: x.branch)


def scan(rig: Rig, cfg: Config) -> tuple[list[Live], list[Overlap]]:
    repo = rig.repo
    target_tip = refs.read_ref(repo, cfg.target_ref)
    branches = live_branches(rig, cfg)
    overlaps: list[Overlap] = []
    if target_tip:
        for x in branches:
            tree, paths = merge(repo, target_tip, x.commit)
            if tree is None:
                overlaps.append(Overlap(x, None, tuple(paths)))
    for x, y in itertools.combinations(branches, 2):
        if x.commit == y.commit:
            continue
        tree, paths = merge(repo, x.commit, y.commit)
        if tree is None:
            overlaps.append(Overlap(x, y, tuple(paths)))
    return branches, overlaps


def scan_and_notify(rig: Rig, cfg: Config) -> tuple[list[Live], list[Overlap], list[str]]:
    """scan() then notify_new(), one radar at a time: two scans started by commits close
    together must not both mail the same new overlap."""
    with refs.locked(rig.repo, "radar"):
        branches, overlaps = scan(rig, cfg)
        return branches, overlaps, notify_new(rig, cfg, overlaps)


def notify_new(rig: Rig, cfg: Config, overlaps: list[Overlap]) -> list[str]:
    """Mail both owners of each overlap not seen before; returns the message ids."""
    path = rig.repo.runtime_path("refinery", "radar.json")
    try:
        seen = set(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        seen = set()
    books = Books(rig, Queue(rig), cfg)
    sent: list[str] = []
    current = set()
    for o in overlaps:
        current.add(o.key)
        if o.key in seen:
            continue
        files = ", ".join(o.paths[:10])
        other = o.b.branch if o.b else cfg.target
        for me, them in ((o.a, other), (o.b, o.a.branch)):
            if me is None or not me.owner:
                continue
            body = (f"{me.branch} and {them} change the same lines ({files}); they will "
                    f"conflict when both land. Agree on an order, or merge {them} into "
                    f"{me.branch} early.")
            sent.append(books.mail(me.owner, f"Conflict ahead: {me.branch} vs {them}", body))
    path.write_text(json.dumps(sorted(current)))
    return sent

