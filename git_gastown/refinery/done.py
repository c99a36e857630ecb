"""Finishing a Hook's work: commit leftovers, checkpoint, enqueue, mark beads, start a run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from git_gastown.beads.ops import Beads
from git_gastown.errors import Conflict, UsageError
from git_gastown.git import Repo
from git_gastown.hook import conflict_markers_in
from git_gastown.refinery import config as config_mod
from git_gastown.refinery import hooks, runner
from git_gastown.refinery.queue import MR, Queue
from git_gastown.rig import Rig

STATUSES = ("completed", "escalated", "deferred")
TRAILER = "Gt-Done"
_YES = re.compile(r"^\s*(yes|true|1)\s*$", re.IGNORECASE)


@dataclass
class DoneResult:
    status: str
    branch: str
    hook: str
    commit: str
    committed: str = ""  # the commit made from leftover edits, if any
    checkpoint: str = ""
    mr: MR | None = None
    enqueued: str = ""  # queued | updated | unchanged
    refinery_pid: int | None = None
    beads: list[str] = field(default_factory=list)
    escalation: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "branch": self.branch, "hook": self.hook,
                "commit": self.commit, "committed": self.committed,
                "checkpoint": self.checkpoint, "mr": self.mr.to_json() if self.mr else None,
                "enqueued": self.enqueued, "refinery_pid": self.refinery_pid,
                "beads": self.beads, "escalation": self.escalation}


def _in(repo: Repo, *args: str, check: bool = True) -> str:
    return repo.git(*args, check=check, env={"GT_HOOKS": "0"}).stdout.decode()


# (file in the git dir, the operation, how to go on once resolved, how to give up). A
# rebase first: it may leave a cherry-pick's files behind as it goes.
_IN_PROGRESS = (
    ("rebase-merge", "a rebase", "git rebase --continue", "git rebase --abort"),
    ("rebase-apply/applying", "git am", "git am --continue", "git am --abort"),
    ("rebase-apply", "a rebase", "git rebase --continue", "git rebase --abort"),
    ("REBASE_HEAD", "a rebase", "git rebase --continue", "git rebase --abort"),
    ("MERGE_HEAD", "a merge", "git commit", "git merge --abort"),
    ("CHERRY_PICK_HEAD", "a cherry-pick", "git cherry-pick --continue",
     "git cherry-pick --abort"),
    ("REVERT_HEAD", "a revert", "git revert --continue", "git revert --abort"),
)


def _operation(repo: Repo) -> tuple[str, str, str] | None:
    """(what, continue, abort) of the operation under way in this worktree, if any."""
    for name, what, go_on, abort in _IN_PROGRESS:
        if (repo.git_dir / name).exists():
            return what, go_on, abort
    return None


def _list(paths: list[str]) -> str:
    names = sorted(set(paths))
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_no_operation(repo: Repo) -> None:
    """Refuse an unmerged index, or a merge, rebase, cherry-pick, revert or am under way,
    naming the operation's own commands to go on or give up."""
    op = _operation(repo)
    unmerged = _in(repo, "ls-files", "-u", "-z")
    if unmerged:
        paths = [line.split("\t", 1)[-1] for line in unmerged.split("\0") if line]
        go_on = f"{op[1]}" if op else "commit"
        give_up = f" (or give up: {op[2]})" if op else ""
        raise Conflict(f"unresolved merge conflicts in {_list(paths)}"
                       + (f" ({op[0]} is under way)" if op else ""),
                       hint=f"resolve them, git add the files and {go_on}, then git gt-done"
                       + give_up)
    if op:
        raise Conflict(f"{op[0]} is under way in this worktree",
                       hint=f"finish it ({op[1]}) or abort it ({op[2]}), then git gt-done")


def check_resolved(repo: Repo, target_ref: str, *, allow_markers: bool = False) -> None:
    """Refuse work that still carries a conflict: an unmerged index, a merge or rebase under
    way, or (unless ALLOW_MARKERS: a file meant to hold such lines) conflict markers in
    what would be committed or in the branch's own commits."""
    branch = repo.head_branch() or "HEAD"
    check_no_operation(repo)
    if allow_markers:
        return
    # What would land: the worktree (leftovers are committed from it) against the point
    # where the branch forked from the target, plus new files.
    root = repo.worktree
    marked = []
    for p in _in(repo, "ls-files", "-o", "--exclude-standard", "-z").split("\0"):
        try:
            path = root / p if root and p else None
            if path is not None and path.is_file() and path.stat().st_size < 5_000_000 \
                    and conflict_markers_in(path.read_bytes()):
                marked.append(p)
        except OSError:
            continue
    fork = _in(repo, "merge-base", target_ref, "HEAD", check=False).strip()
    diff = repo.git("diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", fork, "--",
                    check=False, env={"GT_HOOKS": "0"}).stdout if fork else b""
    current = ""
    found: dict[str, list[bool]] = {}
    for line in diff.splitlines():
        if line.startswith(b"+++ b/"):
            current = line[6:].decode(errors="replace")
        elif line.startswith((b"+<<<<<<< ", b"+>>>>>>> ")) or line in (b"+<<<<<<<",
                                                                        b"+>>>>>>>"):
            found.setdefault(current, [False, False])[0 if line[1:2] == b"<" else 1] = True
    marked += [p for p, (lt, gt) in found.items() if lt and gt]
    if marked:
        raise Conflict(f"conflict markers left in {_list(marked)} on {branch}",
                       hint="resolve them and commit, then git gt-done (if those lines "
                       "are meant to be there: git gt-done --allow-markers)")


def commit_leftovers(repo: Repo, author: str) -> str:
    """Commit what the agent left uncommitted: edits and new files, never an unstaged deletion."""
    modified = [p for p in _in(repo, "ls-files", "-m", "-z").split("\0") if p]
    deleted = set(p for p in _in(repo, "ls-files", "-d", "-z").split("\0") if p)
    untracked = [p for p in _in(repo, "ls-files", "-o", "--exclude-standard", "-z").split("\0")
                 if p]
    to_add = [p for p in modified if p not in deleted] + untracked
    if to_add:
        # Literal paths: a name like `pages/[id].tsx` or `*` is no pattern that could pick
        # up a deletion the agent did not stage.
        repo.git("--literal-pathspecs", "add", "--", *to_add, env={"GT_HOOKS": "0"})
    if repo.git("diff", "--cached", "--quiet", check=False).returncode == 0:
        return ""
    repo.git("commit", "-q", "--no-verify", "-m", f"{author}: leftover edits at gt-done",
             env={"GT_HOOKS": "0"})
    return _in(repo, "rev-parse", "HEAD").strip()


def finish(
    rig: Rig,
    actor: str,
    *,
    status: str = "completed",
    note: str = "",
    priority: int = 2,
    hotfix: bool = False,
    extra_beads: tuple[str, ...] = (),
    commit_left: bool = True,
    start: bool = True,
    allow_markers: bool = False,
) -> DoneResult:
    repo = rig.repo
    if status not in STATUSES:
        raise UsageError(f"unknown status {status!r}", hint=f"use one of: {', '.join(STATUSES)}")
    if repo.worktree is None:
        raise UsageError("git gt-done runs inside a Hook's worktree",
                         hint="elsewhere, git gt-refinery enqueue BRANCH queues a branch")
    branch = repo.head_branch()
    if branch is None:
        check_no_operation(repo)  # a rebase detaches HEAD: name the rebase, not that
        raise UsageError("HEAD is detached", hint="check out the Hook's branch first")
    # The Refinery's target, never the Hook's base: the base is only where the work
    # started (a commit, or whatever branch the main checkout had out at spawn).
    cfg = config_mod.load(rig)
    if branch == cfg.target:
        raise UsageError(f"{branch} is the target branch",
                         hint="git gt-done finishes a work branch, not the branch it lands on")
    hook = hooks.hook_of_worktree(repo) or hooks.hook_for_branch(repo, branch) or ""
    info = hooks.load(repo, hook) if hook else None
    if not hook and not branch.startswith("gt/"):
        raise UsageError(f"{branch} is not a Hook's branch (gt/<prefix>/<name>)",
                         hint=f"to queue it anyway: git gt-refinery enqueue {branch}")
    result = DoneResult(status=status, branch=branch, hook=hook, commit="")
    author = hook or actor
    if status == "completed":
        check_resolved(repo, cfg.target_ref, allow_markers=allow_markers)
    else:
        try:
            check_resolved(repo, cfg.target_ref, allow_markers=allow_markers)
        except Conflict:
            commit_left = False  # never commit a conflict; the checkpoint keeps the state
    if commit_left:
        result.committed = commit_leftovers(repo, author)
    head = _in(repo, "rev-parse", "HEAD").strip()
    result.commit = head
    target_tip = _in(repo, "rev-parse", cfg.target_ref).strip()
    if status == "completed" and repo.git("merge-base", "--is-ancestor", head, target_tip,
                                          check=False).returncode == 0:
        raise Conflict(f"{branch} has no new commits beyond {cfg.target}",
                       hint="commit your work first (or finish with --status deferred)")
    if hook and repo.worktree is not None:
        result.checkpoint = hooks.checkpoint(repo, hook, repo.worktree, f"gt-done {status}") or ""
        if note:
            hooks.add_note(repo, hook, note, actor)
    bead_ids = list(dict.fromkeys([*(info.beads if info else ()), *extra_beads]))
    result.beads = bead_ids
    beads = Beads(rig.store)
    if status == "completed":
        mr, what = Queue(rig).enqueue(branch, actor, target=cfg.target, priority=priority,
                                      hotfix=hotfix, beads=bead_ids, hook=hook, polecat=hook)
        result.mr, result.enqueued = mr, what
        for bead_id in bead_ids:
            beads.update(bead_id, actor, {"mr": mr.id, "done": "completed"}, op="done")
            if note:
                beads.comment(bead_id, actor, f"done ({mr.id}): {note}")
        if start:
            result.refinery_pid = runner.kick(repo)
    elif status == "deferred":
        for bead_id in bead_ids:
            beads.update(bead_id, actor, {"status": "deferred", "done": "deferred"}, op="defer")
            if note:
                beads.comment(bead_id, actor, f"deferred: {note}")
    else:
        from git_gastown.beads.ops import NewBead

        text = note or f"{hook or branch} could not finish its work"
        esc = beads.create(NewBead(
            title=f"Escalated by {hook or actor}: {text.splitlines()[0][:80]}",
            type="escalation", priority=1, description=text,
            deps=[("related", b) for b in bead_ids],
            fields={"severity": "high", "hook": hook, "branch": branch, "source": "gt-done"},
        ), actor)
        result.escalation = esc.id
        for bead_id in bead_ids:
            beads.update(bead_id, actor, {"done": "escalated", "escalation": esc.id},
                         op="escalate")
    if hook and status != "completed":
        hooks.release(repo, hook, "done")
    return result


def has_done_trailer(repo: Repo, rev: str = "HEAD") -> bool:
    fmt = f"%(trailers:key={TRAILER},valueonly,separator=%x00)"
    out = repo.git("log", "-1", f"--format={fmt}", rev, check=False).stdout.decode()
    return any(_YES.match(v) for v in out.split("\0") if v.strip())
