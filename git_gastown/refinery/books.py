"""Keeping the books after a verdict: beads, mail, conflicts, branches and checked-out worktrees."""

from __future__ import annotations

import importlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown.beads.ops import Beads, NewBead
from git_gastown.errors import GtError
from git_gastown.git import Repo
from git_gastown.refinery import hooks
from git_gastown.refinery.candidate import is_ancestor
from git_gastown.refinery.config import Config
from git_gastown.refinery.queue import MR, Queue
from git_gastown.rig import Rig
from git_gastown.store import refs

ACTOR = "refinery"
OUTPUT_LIMIT = 3000


@dataclass
class Notes:
    """What the books did, for the ledger (one line each)."""

    lines: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.lines.append(text)


class Books:
    def __init__(self, rig: Rig, queue: Queue, cfg: Config) -> None:
        self.rig = rig
        self.repo = rig.repo
        self.queue = queue
        self.cfg = cfg
        self.beads = Beads(rig.store)

    # -- landed ----------------------------------------------------------------------

    def landed_many(self, mrs: list[MR], landed_commit: str, notes: Notes) -> list[MR]:
        """The books of MRs that landed in LANDED_COMMIT: one bead commit for all of them."""
        if not mrs:
            return []
        target = mrs[0].target
        reason = f"landed in {landed_commit[:12]} on {target}"
        cache = self.beads.cache()
        work: dict[str, dict[str, Any]] = {}
        for mr in mrs:
            for bead_id in mr.beads:
                bead = cache.get(bead_id)
                if bead is None or bead.get("status") == "closed" or bead_id in work:
                    continue
                work[bead_id] = {"status": "closed", "close_reason": f"{reason} ({mr.id})",
                                 "mr": mr.id, "landed_commit": landed_commit}
        ids = {m.id for m in mrs}
        for bead in cache.query(labels=["conflict"], status=("open", "in_progress")):
            if bead.get("fields", {}).get("mr") in ids and bead["id"] not in work:
                work[bead["id"]] = {"status": "closed",
                                    "close_reason": f"resolved: {reason}"}
        # The FIX_NEEDED messages about these MRs (or their conflict beads) are done with.
        about = ids | set(work)
        for msg in cache.query(types=["message"], status=("open",)):
            if msg.get("fields", {}).get("about") in about and \
                    str(msg.get("title", "")).startswith("FIX_NEEDED") and msg["id"] not in work:
                work[msg["id"]] = {"status": "closed", "close_reason": f"resolved: {reason}"}
        mrs = self.queue.set_many(mrs, ACTOR, extra=work, state="landed",
                                  landed_commit=landed_commit, reason=reason)
        if work:
            notes.add(f"closed {', '.join(work)}")
            self._check_convoys(list(work), notes)
        checked_out = {head for _path, head in worktrees(self.rig)}
        for mr in mrs:
            if mr.hook and hooks.release(self.repo, mr.hook, "done"):
                notes.add(f"{mr.id}: released hook {mr.hook}")
            self.delete_branch(mr, notes, checked_out)
        return mrs

    def _check_convoys(self, bead_ids: list[str], notes: Notes) -> None:
        try:
            convoy: Any = importlib.import_module("git_gastown.convoy")
        except ImportError:
            return
        check = getattr(convoy, "check_convoys", None)
        if check is None:
            return
        for c in check(self.rig.store, ACTOR, beads=bead_ids):
            notes.add(f"convoy {getattr(c, 'id', c)} landed")

    def sweep_branches(self, mrs: list[MR], notes: Notes) -> None:
        """Delete branches of landed MRs kept earlier because a worktree had them checked
        out, once that worktree is gone (a Dog pruned the Hook)."""
        heads = refs.list_refs(self.repo, "refs/heads/")
        landed = [m for m in mrs if m.state == "landed" and m.target == self.cfg.target
                  and heads.get(f"refs/heads/{m.branch}") == m.commit]
        if not landed:
            return
        checked_out = {head for _path, head in worktrees(self.rig)}
        for mr in landed:
            self.delete_branch(mr, notes, checked_out)

    def delete_branch(self, mr: MR, notes: Notes, checked_out: set[str]) -> None:
        """Delete the MR's branch only once its tip is reachable from the target."""
        ref = f"refs/heads/{mr.branch}"
        tip = refs.read_ref(self.repo, ref)
        target_tip = refs.read_ref(self.repo, self.cfg.target_ref)
        if tip is None or target_tip is None:
            return
        if tip != mr.commit:
            notes.add(f"{mr.id}: kept {mr.branch}: it moved on to {tip[:12]}")
            return
        if not is_ancestor(self.repo, tip, target_tip):
            notes.add(f"{mr.id}: kept {mr.branch}: not reachable from {mr.target}")
            return
        if ref in checked_out:
            notes.add(f"{mr.id}: kept {mr.branch}: checked out in a worktree")
            return
        try:
            refs.delete_ref(self.repo, ref, tip)
            notes.add(f"{mr.id}: deleted branch {mr.branch}")
        except GtError as exc:
            notes.add(f"{mr.id}: kept {mr.branch}: {exc.message}")

    # -- rejected --------------------------------------------------------------------

    def rejected(self, mr: MR, output: str, candidate: str, notes: Notes) -> MR:
        attempts = mr.attempts + 1
        short = output[-OUTPUT_LIMIT:]
        reason = f"gates failed on {candidate[:12]}"
        mr = self.queue.set(mr, ACTOR, state="rejected", attempts=attempts, reason=reason)
        self.queue.drop_ref(mr)
        comment = (f"Refinery rejected {mr.branch} ({mr.id}, attempt {attempts}): {reason}."
                   f"\n\n```\n{short}\n```")
        for bead_id in mr.beads:
            bead = self.beads.cache().get(bead_id)
            if bead is None:
                continue
            if bead.get("status") == "closed":
                self.beads.reopen(bead_id, ACTOR)
            if bead.get("fields", {}).get("done") == "completed":
                self.beads.update(bead_id, ACTOR, {"done": "rejected"}, op="reject")
            self.beads.comment(bead_id, ACTOR, comment)
        subject = f"FIX_NEEDED: {mr.branch} failed the gates"
        body = (f"The Refinery rejected merge request {mr.id} ({mr.branch} at {mr.commit[:12]}) "
                f"after its failure repeated.\n\n{comment}\n\nFix it on {mr.branch}, commit, "
                f"and finish again (git gt-done), or: git gt-refinery retry {mr.id}")
        if attempts > self.cfg.fix_limit:
            esc = self.escalate(mr, f"{mr.branch} rejected {attempts} times", body)
            notes.add(f"{mr.id}: escalated as {esc} after {attempts} rejections")
            return mr
        if mr.owner:
            msg = self.mail(mr.owner, subject, body, about=mr.id)
            notes.add(f"{mr.id}: FIX_NEEDED mail {msg} to {mr.owner}")
        if mr.hook and hooks.resume(self.repo, mr.hook, self._cwd()):
            notes.add(f"{mr.id}: resumed polecat {mr.hook}")
        return mr

    # -- conflict --------------------------------------------------------------------

    def conflict(self, mr: MR, paths: list[str], notes: Notes) -> MR:
        files = ", ".join(paths[:20]) or "(paths not reported)"
        reason = f"conflicts with {mr.target} in {files}"
        mr = self.queue.set(mr, ACTOR, state="conflict", reason=reason)
        self.queue.drop_ref(mr)
        description = (
            f"{mr.branch} (merge request {mr.id}, at {mr.commit[:12]}) no longer merges into "
            f"{mr.target}: {reason}.\n\nTo fix: on {mr.branch}, `git merge {mr.target}` (or "
            f"rebase), resolve, commit, then `git gt-done` (or `git gt-refinery enqueue "
            f"{mr.branch}`).")
        bead = self.beads.create(NewBead(
            title=f"Resolve merge conflict: {mr.branch} vs {mr.target}", type="bug", priority=1,
            assignee=mr.owner, description=description,
            deps=[("related", mr.id)], labels=["conflict"],
            fields={"mr": mr.id, "branch": mr.branch, "paths": paths[:100]},
        ), ACTOR)
        notes.add(f"{mr.id}: conflict bead {bead.id} for {mr.owner or 'nobody'}")
        if mr.owner:
            self.mail(mr.owner, f"FIX_NEEDED: {mr.branch} conflicts with {mr.target}",
                      description, about=bead.id)
        return mr

    # -- messages --------------------------------------------------------------------

    def mail(self, to: str, subject: str, body: str, *, about: str = "") -> str:
        """Mail through W4's git_gastown.mail when present, else the same message bead."""
        try:
            mail: Any = importlib.import_module("git_gastown.mail")
            msg = mail.send_mail(self.rig.store, to, subject, body, ACTOR, sender="refinery",
                                 about=about, validate=False)
            return str(msg.id)
        except (ImportError, AttributeError, TypeError, GtError):
            pass  # no mail module, or it refused: the same message as a bead of our own
        fields = {"to": to, "from": "refinery", "subject": subject, "body": body}
        if about:
            fields["about"] = about
        bead = self.beads.create(NewBead(title=subject, type="message", assignee=to,
                                         description=body, fields=fields), ACTOR)
        return bead.id

    def escalate(self, mr: MR, message: str, body: str) -> str:
        bead = self.beads.create(NewBead(
            title=message, type="escalation", priority=1, description=body,
            deps=[("related", mr.id)], fields={"severity": "high", "mr": mr.id,
                                                "source": "refinery"}), ACTOR)
        return bead.id

    def _cwd(self) -> Path:
        return self.repo.worktree or self.repo.common_dir


# -- worktrees that have the target checked out ------------------------------------------


def worktrees(rig: Rig) -> list[tuple[Path, str]]:
    """(path, HEAD ref or commit) of every worktree of the repository."""
    out = rig.repo.out("worktree", "list", "--porcelain")
    items: list[tuple[Path, str]] = []
    path: Path | None = None
    head = ""
    for line in [*out.splitlines(), ""]:
        if line.startswith("worktree "):
            path = Path(line[9:])
        elif line.startswith("branch "):
            head = line[7:]
        elif line.startswith("HEAD ") and not head:
            head = line[5:]
        elif line == "" and path is not None:
            items.append((path, head))
            path, head = None, ""
    return items


def target_checkouts(rig: Rig, target: str) -> list[Path]:
    """The worktrees that have TARGET checked out (the user's main checkout, usually)."""
    ref = f"refs/heads/{target}"
    return [path for path, head in worktrees(rig) if head == ref and path.exists()]


def sync_state_path(rig: Rig | Repo) -> Path:
    repo = rig.repo if isinstance(rig, Rig) else rig
    return repo.runtime_path("refinery", "worktrees.json")


def read_sync_state(rig: Rig | Repo) -> dict[str, Any]:
    """Checkout path -> why it holds a landing: {"reason", "paths", "mrs", "since"}."""
    try:
        data: dict[str, Any] = json.loads(sync_state_path(rig).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    # Entries of the old format (a checkout left behind "at" a commit) say nothing true now.
    return {k: v for k, v in data.items() if isinstance(v, dict) and "at" not in v}


def _write_sync_state(rig: Rig, state: dict[str, Any]) -> None:
    path = sync_state_path(rig)
    if not state:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(path)


def record_held(rig: Rig, held: list[dict[str, Any]], mrs: list[str]) -> None:
    state = read_sync_state(rig)
    for entry in held:
        old = state.get(entry["path"], {})
        state[entry["path"]] = {
            "reason": entry["reason"], "paths": entry["paths"],
            "mrs": sorted({*old.get("mrs", []), *mrs}),
            "since": old.get("since") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _write_sync_state(rig, state)


def clear_held(rig: Rig, keep: set[str] | None = None) -> None:
    """Forget the holds of every checkout but KEEP (the ones still holding a landing)."""
    state = read_sync_state(rig)
    left = {k: v for k, v in state.items() if keep and k in keep}
    if left or sync_state_path(rig).exists():
        _write_sync_state(rig, left)


def _git_env() -> dict[str, str]:
    from git_gastown.git import scrubbed_env

    return scrubbed_env({"GT_HOOKS": "0"})


def _blocking_paths(rig: Rig, path: Path, old: str, new: str,
                    stderr: str) -> tuple[list[str], list[str]]:
    """The checkout's (dirty, untracked) paths that moving from OLD to NEW would overwrite;
    git's own words for what else stops it go with the dirty ones."""
    repo = rig.repo
    env = _git_env()

    def names(*args: str) -> set[str]:
        proc = repo.git(*args, cwd=path, env=env, check=False)
        return {p for p in proc.stdout.decode(errors="replace").split("\0") if p}

    changed = names("diff-tree", "-r", "--no-renames", "--name-only", "-z", old, new)
    dirty = changed & names("diff-index", "--no-renames", "--name-only", "-z", old, "--")
    untracked = (changed & names("ls-files", "-o", "-z")) - dirty
    if not dirty and not untracked:  # a file/directory clash, an unmerged index, a lock
        return sorted(set(re.findall(r"'([^']+)'", stderr))), []
    return sorted(dirty), sorted(untracked)


def _shown(paths: list[str]) -> str:
    return ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")


def _held_entry(rig: Rig, path: Path, old: str, new: str, stderr: str) -> dict[str, Any]:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    dirty, untracked = _blocking_paths(rig, path, old, new, stderr)
    paths = sorted([*dirty, *untracked])
    if paths:
        # `git stash` alone leaves untracked files where they are: name them apart.
        what = " and ".join(
            ([f"uncommitted changes to {_shown(dirty)}"] if dirty else [])
            + ([f"untracked {_shown(untracked)}"] if untracked else []))
        todo = "; ".join(
            (["commit or stash the changes" if untracked else "commit or stash them"]
             if dirty else [])
            + ([f"move the untracked file{'s' if len(untracked) > 1 else ''} away or "
                "git stash -u"] if untracked else []))
        reason = (f"{what} in {path} would be overwritten; the landing waits: {todo} "
                  "(then git gt-refinery run)")
    else:
        reason = (f"git cannot carry {path} forward ({lines[-1] if lines else 'read-tree failed'}"
                  "); the landing waits until it can (then git gt-refinery run)")
    return {"path": str(path), "from": old, "to": new, "status": "held", "reason": reason,
            "paths": paths}


def _read_tree(rig: Rig, path: Path, old: str, new: str, *, dry: bool) -> tuple[bool, str]:
    repo = rig.repo
    env = _git_env()
    # Stat-only changes (a touched file) must not count as edits.
    repo.git("update-index", "-q", "--refresh", cwd=path, env=env, check=False)
    args = ["read-tree", *(["-n"] if dry else []), "-m", "-u", old, new]
    proc = repo.git(*args, cwd=path, env=env, check=False)
    return proc.returncode == 0, proc.stderr.decode(errors="replace")


def check_checkouts(rig: Rig, target: str, old: str, new: str) -> list[dict[str, Any]]:
    """Checkouts of TARGET that could not follow it from OLD to NEW (git's own dry run)."""
    held = []
    for path in target_checkouts(rig, target):
        ok, err = _read_tree(rig, path, old, new, dry=True)
        if not ok:
            held.append(_held_entry(rig, path, old, new, err))
    return held


def advance_checkouts(rig: Rig, target: str, old: str,
                      new: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Carry every checkout of TARGET from OLD to NEW, before the ref moves.

    A two-tree `read-tree -m -u`, as `git merge --ff-only` does: the user's edits to other
    files are kept, and git refuses, touching nothing, when one would be overwritten.
    Returns (moved, held); when anything is held the moved ones are put back, and the
    caller must not move the ref: a HEAD that moved under an index that did not would
    make the next `git commit -a` revert the landed work.
    """
    moved: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    paths = target_checkouts(rig, target)
    if paths:
        # A journal until the ref has moved (settle_checkouts): a run killed in between
        # leaves it, and the next run puts these checkouts back (recover_checkouts).
        _write_json(_journal_path(rig), {"target": target, "from": old, "to": new,
                                         "paths": [str(p) for p in paths]})
    for path in paths:
        ok, err = _read_tree(rig, path, old, new, dry=False)
        if ok:
            moved.append({"path": str(path), "from": old, "to": new, "status": "updated",
                          "reason": "", "paths": []})
        else:
            held.append(_held_entry(rig, path, old, new, err))
            break
    if held:
        rollback_checkouts(rig, moved)
        moved = []
    return moved, held


def rollback_checkouts(rig: Rig, moved: list[dict[str, Any]]) -> None:
    """Put checkouts advanced by advance_checkouts back (the ref did not move after all)."""
    for entry in moved:
        _read_tree(rig, Path(entry["path"]), entry["to"], entry["from"], dry=False)
    settle_checkouts(rig)


def settle_checkouts(rig: Rig) -> None:
    """The ref moved (or the checkouts went back): the journal is done with."""
    _journal_path(rig).unlink(missing_ok=True)


def recover_checkouts(rig: Rig) -> list[str]:
    """After a run killed between carrying the checkouts forward and moving the ref: put
    back the checkouts whose ref did not move. Returns the paths put back."""
    try:
        j = json.loads(_journal_path(rig).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    tip = refs.read_ref(rig.repo, f"refs/heads/{j.get('target', '')}")
    back: list[str] = []
    if tip is not None and tip != j.get("to"):
        ref = f"refs/heads/{j['target']}"
        heads = dict((str(p), h) for p, h in worktrees(rig))
        for path in j.get("paths", []):
            if heads.get(path) == ref and Path(path).exists():
                ok, _err = _read_tree(rig, Path(path), j["to"], tip, dry=False)
                if ok:
                    back.append(path)
    settle_checkouts(rig)
    return back


def _journal_path(rig: Rig) -> Path:
    return rig.repo.runtime_path("refinery", "checkouts-moving.json")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)
