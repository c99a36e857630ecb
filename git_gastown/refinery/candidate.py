"""Candidates: MR branches stacked on the target tip by merge-tree and commit-tree, no worktree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from git_gastown.git import Repo
from git_gastown.refinery.queue import MR


@dataclass
class Candidate:
    base: str
    commit: str  # == base when nothing was stacked
    members: list[MR] = field(default_factory=list)
    conflicts: list[tuple[MR, list[str]]] = field(default_factory=list)  # with the target
    deferred: list[tuple[MR, list[str]]] = field(default_factory=list)  # with batch-mates only


def is_ancestor(repo: Repo, a: str, b: str) -> bool:
    return repo.git("merge-base", "--is-ancestor", a, b, check=False).returncode == 0


def merge(repo: Repo, ours: str, theirs: str) -> tuple[str | None, list[str]]:
    """The tree of merging THEIRS into OURS, or None and the conflicting paths."""
    proc = repo.git("merge-tree", "--write-tree", "--name-only", "--no-messages", "-z",
                    ours, theirs, check=False)
    if proc.returncode not in (0, 1):
        err = proc.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"git merge-tree failed: {err}")
    parts = [p for p in proc.stdout.decode(errors="replace").split("\0") if p]
    tree = parts[0] if parts else ""
    if proc.returncode == 1:
        return None, sorted(set(parts[1:]))
    return tree, []


def commit_tree(repo: Repo, tree: str, parents: Sequence[str], message: str) -> str:
    # The candidate that passes the gates is exactly the commit that lands.
    args = ["commit-tree", tree, "-m", message]
    for p in parents:
        args += ["-p", p]
    email = _email(repo)
    env = {"GIT_AUTHOR_NAME": "git-gastown refinery", "GIT_COMMITTER_NAME": "git-gastown refinery",
           "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_EMAIL": email}
    return repo.git(*args, env=env).stdout.decode().strip()


def _email(repo: Repo) -> str:
    return repo.identity()[1]


def build(repo: Repo, base: str, mrs: Sequence[MR], target: str) -> Candidate:
    """Stack MRS on BASE in order; take out each MR that would conflict.

    An MR that conflicts with the target tip alone is a conflict (its owner must rebase);
    one that merges cleanly on the target but not on its batch-mates waits for a later
    batch, when those have landed.
    """
    cand = Candidate(base=base, commit=base)
    fast_forwarded = True  # cand.commit is base or an MR's own commit, not one we made
    cand_tree = repo.out("rev-parse", f"{base}^{{tree}}")
    for mr in mrs:
        if fast_forwarded and is_ancestor(repo, cand.commit, mr.commit):
            cand.commit = mr.commit  # a fast-forward keeps the branch's own history
            cand_tree = repo.out("rev-parse", f"{mr.commit}^{{tree}}")
            cand.members.append(mr)
            continue
        tree, paths = merge(repo, cand.commit, mr.commit)
        if tree is not None and tree == cand_tree:
            cand.members.append(mr)  # its changes are already there: only its books remain
            continue
        if tree is None:
            if cand.commit != base:
                alone, alone_paths = merge(repo, base, mr.commit)
                if alone is not None:
                    cand.deferred.append((mr, paths))
                    continue
                paths = alone_paths
            cand.conflicts.append((mr, paths))
            continue
        message = f"Merge {mr.branch} into {target} ({mr.id})\n\nGt-MR: {mr.id}\n"
        cand.commit = commit_tree(repo, tree, [cand.commit, mr.commit], message)
        cand_tree = tree
        fast_forwarded = False
        cand.members.append(mr)
    return cand
