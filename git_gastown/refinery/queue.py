"""Merge requests: refs/gt/mq/<id> at the branch tip plus a merge-request bead per MR."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from git_gastown.beads.ops import Beads, NewBead
from git_gastown.errors import ConcurrentUpdate, Conflict, NotFound, UsageError
from git_gastown.git import Repo
from git_gastown.refinery.clone import clone_id
from git_gastown.rig import Rig
from git_gastown.store import refs

MQ_PREFIX = "refs/gt/mq/"
LIVE = ("queued", "testing")
STATES = ("queued", "testing", "landed", "rejected", "conflict")
MR_TYPE = "merge-request"


@dataclass(frozen=True)
class MR:
    """One merge request: a branch at a commit, waiting to land on the target."""

    id: str
    branch: str
    commit: str
    target: str
    state: str = "queued"
    priority: int = 2
    hotfix: bool = False
    hook: str = ""
    polecat: str = ""
    beads: tuple[str, ...] = ()
    attempts: int = 0
    enqueued_at: str = ""
    enqueued_by: str = ""
    landed_commit: str = ""
    reason: str = ""
    title: str = ""
    clone: str = ""  # the clone whose Refinery lands it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return MQ_PREFIX + self.id

    @property
    def owner(self) -> str:
        """Who fixes it when it fails: the polecat, else whoever enqueued it."""
        return self.polecat or self.hook or self.enqueued_by

    def sort_key(self) -> tuple[int, int, str, str]:
        return (0 if self.hotfix else 1, self.priority, self.enqueued_at, self.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "branch": self.branch, "commit": self.commit, "target": self.target,
            "state": self.state, "priority": self.priority, "hotfix": self.hotfix,
            "hook": self.hook, "polecat": self.polecat, "beads": list(self.beads),
            "attempts": self.attempts, "enqueued_at": self.enqueued_at,
            "enqueued_by": self.enqueued_by, "landed_commit": self.landed_commit,
            "reason": self.reason, "ref": self.ref, "clone": self.clone,
        }

    @classmethod
    def from_bead(cls, bead: dict[str, Any]) -> MR:
        f = bead.get("fields", {})
        beads = f.get("beads") or []
        return cls(
            id=bead["id"],
            branch=str(f.get("branch", "")),
            commit=str(f.get("commit", "")),
            target=str(f.get("target", "")),
            state=str(f.get("state", "queued")),
            priority=int(bead.get("priority", 2)),
            hotfix=bool(f.get("hotfix", False)),
            hook=str(f.get("hook", "")),
            polecat=str(f.get("polecat", "")),
            beads=tuple(str(b) for b in beads if isinstance(b, str)),
            attempts=int(f.get("attempts", 0) or 0),
            enqueued_at=str(f.get("enqueued_at", "") or bead.get("created_at", "")),
            enqueued_by=str(f.get("enqueued_by", "") or bead.get("created_by", "")),
            landed_commit=str(f.get("landed_commit", "")),
            reason=str(f.get("reason", "")),
            title=str(bead.get("title", "")),
            clone=str(f.get("clone", "")),
        )


def _iso_now() -> str:
    # Sub-second precision so MRs enqueued in one second keep their order.
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


class Queue:
    """The merge requests of one rig."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.repo: Repo = rig.repo
        self.beads = Beads(rig.store)

    # -- reading -------------------------------------------------------------------

    def all(self) -> list[MR]:
        items = self.beads.cache().query(types=[MR_TYPE], sort="created")
        return [MR.from_bead(b) for b in items]

    def get(self, mr_id: str) -> MR:
        bead = self.beads.cache().get(mr_id)
        if bead is None or bead.get("type") != MR_TYPE or bead.get("deleted"):
            near = [m.id for m in self.all() if m.id.startswith(mr_id[:4])][:3]
            hint = f"did you mean {', '.join(near)}?" if near else \
                "git gt-refinery list shows the merge requests"
            raise NotFound(f"no merge request {mr_id}", hint=hint)
        return MR.from_bead(bead)

    def refs(self) -> dict[str, str]:
        """MR id -> commit of every ref under refs/gt/mq/."""
        return {name.removeprefix(MQ_PREFIX): sha
                for name, sha in refs.list_refs(self.repo, MQ_PREFIX).items()}

    def ready(self, target: str) -> list[MR]:
        """Queued MRs for TARGET whose ref is present, hotfixes first, then by priority."""
        present = self.refs()
        out = [m for m in self.all()
               if m.state == "queued" and m.target == target and present.get(m.id) == m.commit]
        return sorted(out, key=MR.sort_key)

    # -- writing -------------------------------------------------------------------

    def set(self, mr: MR, actor: str, **changes: Any) -> MR:
        """Write MR fields (state, commit, attempts, ...) to its bead."""
        return self.set_many([mr], actor, **changes)[0]

    def set_many(self, mrs: Sequence[MR], actor: str, *,
                 extra: Mapping[str, Mapping[str, Any]] | None = None,
                 **changes: Any) -> list[MR]:
        """Write the same MR fields to several MRs, plus EXTRA bead changes, in one commit."""
        bead_changes = _bead_changes(changes)
        plan: dict[str, Mapping[str, Any]] = {m.id: bead_changes for m in mrs}
        plan.update(extra or {})
        status = changes.get("state")
        label = f"{len(mrs)} merge requests" if len(mrs) > 1 else None
        self.beads.update_many(plan, actor, op=f"mq-{status or 'update'}", subject=label)
        plain: dict[str, Any] = {k: (tuple(v) if k == "beads" else v)
                                 for k, v in changes.items()}
        return [replace(m, **plain) for m in mrs]

    def enqueue(
        self,
        branch: str,
        actor: str,
        *,
        target: str,
        priority: int = 2,
        hotfix: bool = False,
        beads: Sequence[str] = (),
        hook: str = "",
        polecat: str = "",
    ) -> tuple[MR, str]:
        """Queue BRANCH at its tip; idempotent per branch and commit.

        Returns the MR and what happened: "queued" (new), "updated" (the branch's live MR
        moved to the new tip), or "unchanged" (this branch and commit are already queued).
        """
        branch = branch.removeprefix("refs/heads/")
        commit = self._branch_tip(branch)
        if branch == target:
            raise UsageError(f"{branch} is the Refinery's target branch",
                             hint="enqueue a work branch, not the branch it lands on")
        target_tip = refs.read_ref(self.repo, f"refs/heads/{target}")
        if target_tip and self._is_ancestor(commit, target_tip):
            raise Conflict(f"{branch} has no commits that {target} lacks (already landed?)",
                           hint=f"commit your work on {branch} first")
        if not 0 <= priority <= 4:
            raise UsageError(f"priority must be 0-4, not {priority}", hint="0 is most urgent")
        for bead_id in beads:
            if self.beads.cache().get(bead_id) is None:
                raise self.rig.store.not_found(bead_id)
        with refs.locked(self.repo, "mq"):
            here = clone_id(self.repo)
            mine = [m for m in self.all() if m.branch == branch and m.target == target
                    and m.clone in ("", here)]
            for m in mine:
                if m.commit == commit:
                    if m.state in LIVE:
                        self._ensure_ref(m)
                        return m, "unchanged"
                    if m.state == "landed":
                        raise Conflict(f"{branch} at {commit[:10]} already landed as {m.id}",
                                       hint="commit new work before enqueueing again")
                    if m.state in ("rejected", "conflict"):
                        # The same commit would fail the same way: no gate runs for it.
                        raise Conflict(
                            f"{branch} at {commit[:10]} was already "
                            f"{'rejected' if m.state == 'rejected' else 'found in conflict'}"
                            f" as {m.id}"
                            + (f": {m.reason}" if m.reason else ""),
                            hint=f"commit a fix on {branch} and finish again, or: "
                            f"git gt-refinery retry {m.id}")
            live = [m for m in mine if m.state in (*LIVE, "conflict", "rejected")]
            if live:
                # One MR per branch: a new tip supersedes the old one and requeues it.
                m = sorted(live, key=lambda x: x.enqueued_at)[-1]
                old = refs.read_ref(self.repo, m.ref)
                merged_beads = tuple(dict.fromkeys([*m.beads, *beads]))
                m = self.set(m, actor, commit=commit, state="queued", reason="",
                             priority=min(priority, m.priority) if hotfix else priority,
                             hotfix=hotfix or m.hotfix, beads=merged_beads,
                             enqueued_at=_iso_now())
                refs.update_ref(self.repo, m.ref, commit, old, f"gt mq: {branch} moved")
                return m, "updated"
            fields: dict[str, Any] = {
                "clone": clone_id(self.repo),
                "branch": branch, "commit": commit, "target": target, "state": "queued",
                "hotfix": hotfix, "hook": hook, "polecat": polecat, "beads": list(beads),
                "attempts": 0, "enqueued_at": _iso_now(), "enqueued_by": actor,
            }
            bead = self.beads.create(NewBead(
                title=f"Land {branch} on {target}", type=MR_TYPE, priority=priority,
                fields=fields, assignee="refinery",
            ), actor)
            mr = MR.from_bead(bead.to_json())
            refs.update_ref(self.repo, mr.ref, commit, None, f"gt mq: enqueue {branch}")
        mark_watch(self.repo)
        return mr, "queued"

    def requeue(self, mr: MR, actor: str, *, refresh: bool = True) -> MR:
        """Put a rejected or conflicted MR back in the queue (at its branch's tip)."""
        commit = mr.commit
        if refresh and self._branch_exists(mr.branch):
            commit = self._branch_tip(mr.branch)
        with refs.locked(self.repo, "mq"):
            old = refs.read_ref(self.repo, mr.ref)
            mr = self.set(mr, actor, state="queued", commit=commit, reason="",
                          enqueued_at=_iso_now())
            refs.update_ref(self.repo, mr.ref, commit, old, f"gt mq: retry {mr.branch}")
        return mr

    def drop_ref(self, mr: MR) -> None:
        """Take the MR out of the queue, unless it was re-enqueued at a new commit."""
        if refs.read_ref(self.repo, mr.ref) == mr.commit:
            with contextlib.suppress(ConcurrentUpdate):
                refs.delete_ref(self.repo, mr.ref, mr.commit)

    def _ensure_ref(self, mr: MR) -> None:
        if refs.read_ref(self.repo, mr.ref) is None:
            refs.update_ref(self.repo, mr.ref, mr.commit, None, f"gt mq: restore {mr.branch}")

    def reconcile(self, actor: str, target_tip: str | None) -> list[tuple[MR, str]]:
        """Repair what a killed run or enqueue left: returns (mr, what was done)."""
        fixed: list[tuple[MR, str]] = []
        present = self.refs()
        mine = clone_id(self.repo)
        for mr in self.all():
            if mr.state not in LIVE:
                continue
            if present.get(mr.id) is None:
                if mr.clone and mr.clone != mine:
                    continue  # queued on another clone: its Refinery lands it
                if target_tip and mr.commit and self._is_ancestor(mr.commit, target_tip):
                    fixed.append((mr, "landed"))  # landed, but the books were not written
                    continue
                if self._commit_exists(mr.commit):
                    refs.update_ref(self.repo, mr.ref, mr.commit, None, "gt mq: restore")
            if mr.state == "testing":
                fixed.append((self.set(mr, actor, state="queued"), "requeued"))
        return fixed

    # -- git helpers -----------------------------------------------------------------

    def _branch_exists(self, branch: str) -> bool:
        return refs.read_ref(self.repo, f"refs/heads/{branch}") is not None

    def _branch_tip(self, branch: str) -> str:
        proc = self.repo.git("rev-parse", "--verify", "--quiet",
                             f"refs/heads/{branch}^{{commit}}", check=False)
        if proc.returncode != 0:
            raise NotFound(f"no branch {branch}", hint="git branch --list shows the branches")
        return proc.stdout.decode().strip()

    def _is_ancestor(self, a: str, b: str) -> bool:
        return self.repo.git("merge-base", "--is-ancestor", a, b, check=False).returncode == 0

    def _commit_exists(self, sha: str) -> bool:
        return bool(sha) and self.repo.git("cat-file", "-e", f"{sha}^{{commit}}",
                                           check=False).returncode == 0


WATCH = "refinery-watch"


def _bead_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: (list(v) if k == "beads" else v) for k, v in changes.items()}
    status = changes.get("state")
    if status in ("landed", "rejected"):
        out["status"] = "closed"
        out["close_reason"] = changes.get("reason") or status
    elif status in LIVE or status == "conflict":
        out["status"] = "open"
    return out


def mark_watch(repo: Repo) -> None:
    """Ask the post-merge stub to call us: an MR or Hook branch may be merged by hand."""
    try:
        path = repo.runtime_path(WATCH)
        if not path.exists():
            path.write_text("post-merge records hand merges while this file exists\n")
    except OSError:
        pass


def clear_watch(repo: Repo) -> None:
    with contextlib.suppress(FileNotFoundError):
        (repo.gt_dir / WATCH).unlink()


def paused_path(repo: Repo) -> Path:
    return repo.runtime_path("refinery", "paused")


def is_paused(repo: Repo) -> str | None:
    """The reason the queue is paused, or None."""
    try:
        return paused_path(repo).read_text().strip() or "paused"
    except FileNotFoundError:
        return None


def set_paused(repo: Repo, reason: str | None) -> None:
    path = paused_path(repo)
    if reason is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        path.write_text(reason + "\n")


def by_id(mrs: Iterable[MR]) -> dict[str, MR]:
    return {m.id: m for m in mrs}
