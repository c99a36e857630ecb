"""Syncing refs/gt/* with a git remote: fetch, merge each kind of ref, push, retry on a race.

A sync fetches the remote's refs/gt/* into a staging namespace (refs/gt-fetch/<remote>/,
outside refs/gt/ so nothing else sees it), merges each ref with the merge step registered
for its kind (MERGERS), and only when every check passed moves the local refs and the
remote-tracking copies refs/gt/remotes/<remote>/*. A refused remote therefore changes
nothing local. Then it pushes what the remote lacks; a push that lost a race (the remote
moved since the fetch) fetches, merges and pushes again, at most MAX_ATTEMPTS times.

`catch_up` is the cheap path every command takes (Rig.open): it compares the tips of
refs/gt/remotes/*/beads that a plain `git fetch` brought with the record of what was last
merged, reading ref files only, and merges when they differ.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from git_gastown import notices
from git_gastown.beads import merge as beads_merge
from git_gastown.beads.model import Doc
from git_gastown.beads.store import BeadStore
from git_gastown.errors import ConcurrentUpdate, GitFailed, GtError, Refused, UsageError
from git_gastown.git import Repo, error_line, scrubbed_env
from git_gastown.store import refs
from git_gastown.store.objects import read_file_at
from git_gastown.syncstate import pending, write_record

STAGING = "refs/gt-fetch"
MAX_ATTEMPTS = 5
CATCH_UP_WAIT = 10.0  # seconds a command waits for a running sync before going on
SYNC_ENV = "GT_SYNC_ACTIVE"  # set for the pushes a sync makes: the pre-push hook stands down
AUTOSYNC_ENV = "GT_AUTOSYNC_RUN"  # set for the sync pre-push starts: nobody reads its output

# Kind of ref under refs/gt/ (an exact name, or a prefix ending in "/") -> its merge step,
# "module:function" taking a RefJob and returning a RefOutcome. Kinds not listed use
# DEFAULT_MERGER. Features add their line here (the hook-state merge replaces "hooks/").
MERGERS: dict[str, str] = {
    "beads": "git_gastown.sync:merge_beads_ref",
    "hooks/": "git_gastown.hook:sync_merge",  # fast-forward, else merge_tips (W3)
    "mq/": "git_gastown.refinery.clone:keep_local",
    "mq-ledger": "git_gastown.refinery.clone:keep_local",
}
DEFAULT_MERGER = "git_gastown.sync:fast_forward_only"


# -- the registry's contract ---------------------------------------------------------------


@dataclass(frozen=True)
class RefJob:
    """One ref to merge: its local tip and the remote's (staged) tip."""

    repo: Repo
    name: str  # under refs/gt/, e.g. "beads" or "hooks/agent-1"
    local: str | None
    remote: str | None
    remote_name: str
    actor: str
    dry_run: bool = False
    allow_unrelated: bool = False
    tracked: str | None = None  # the remote's tip at the last sync (refs/gt/remotes/...)

    @property
    def ref(self) -> str:
        return f"refs/gt/{self.name}"


@dataclass
class RefOutcome:
    """What a merge step did (or, in a dry run, would do) to one ref."""

    name: str
    status: str  # up-to-date|fast-forward|merged|joined|adopted|created|local-only|ahead|diverged
    before: str | None
    after: str | None
    push: bool = False  # the remote lacks AFTER: push it
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ref": f"refs/gt/{self.name}", "status": self.status, "before": self.before,
                "after": self.after, "push": self.push, "message": self.message,
                **self.detail}


Merger = Callable[[RefJob], RefOutcome]


def merger_for(name: str) -> Merger:
    path = MERGERS.get(name)
    if path is None:
        prefixes = [p for p in MERGERS if p.endswith("/") and name.startswith(p)]
        path = MERGERS[max(prefixes, key=len)] if prefixes else DEFAULT_MERGER
    module, _, attr = path.partition(":")
    fn: Merger = getattr(__import__(module, fromlist=[attr]), attr)
    return fn


def is_ancestor(repo: Repo, older: str, newer: str) -> bool:
    return repo.git("merge-base", "--is-ancestor", older, newer, check=False).returncode == 0


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    proc = repo.git("merge-base", a, b, check=False)
    return proc.stdout.decode().strip() or None


def fast_forward_only(job: RefJob) -> RefOutcome:
    """The default merge step: take the remote's tip when it only adds commits; when the
    two diverged keep the local tip and say so (a later feature can plug a real merge)."""
    local, remote = job.local, job.remote
    if remote is None and job.tracked is not None:
        # The remote had it at the last sync and has deleted it since: do not push it
        # back (a deletion elsewhere is not undone), and keep the local copy.
        return RefOutcome(job.name, "gone", local, local,
                          message=f"{job.remote_name} deleted it; kept the local copy")
    if remote is None:
        return RefOutcome(job.name, "local-only", local, local, push=local is not None)
    if local is None:
        if not job.dry_run:
            refs.update_ref(job.repo, job.ref, remote, None, f"gt sync: from {job.remote_name}")
        return RefOutcome(job.name, "created", None, remote)
    if local == remote:
        return RefOutcome(job.name, "up-to-date", local, local)
    if is_ancestor(job.repo, local, remote):
        if not job.dry_run:
            refs.update_ref(job.repo, job.ref, remote, local, "gt sync: fast-forward")
        return RefOutcome(job.name, "fast-forward", local, remote)
    if is_ancestor(job.repo, remote, local):
        return RefOutcome(job.name, "ahead", local, local, push=True)
    return RefOutcome(job.name, "diverged", local, local,
                      message=f"kept the local {job.ref}; {job.remote_name} has other commits "
                              "and this kind of ref only fast-forwards")


# -- the beads merge -----------------------------------------------------------------------


@dataclass
class BeadsResult:
    status: str  # up-to-date|fast-forward|merged|joined|adopted
    before: str
    after: str
    merge: beads_merge.TreeMerge | None = None
    cycles: list[list[str]] = field(default_factory=list)
    retargeted: dict[str, list[str]] = field(default_factory=dict)  # old id -> hooks moved

    def counts(self) -> dict[str, Any]:
        m = self.merge
        return {
            "added": len(m.added) if m else 0,
            "changed": len(m.changed) if m else 0,
            "conflicts_resolved": m.conflicts if m else 0,
            "added_ids": list(m.added) if m else [],
            "changed_ids": list(m.changed) if m else [],
            "conflicts": [c.to_json() for c in m.resolved] if m else [],
            "id_collisions": [{**c.to_json(), "hooks": self.retargeted.get(c.id, [])}
                              for c in m.collisions] if m else [],
            "cycles": self.cycles,
        }


def _commit_time(store: BeadStore, sha: str) -> int:
    _, data = store.objects.read(sha)
    for line in data.split(b"\n\n", 1)[0].split(b"\n"):
        if line.startswith(b"committer "):
            return int(line.rsplit(b" ", 2)[-2])
    return 0


def _has_beads(store: BeadStore, tree: str) -> bool:
    return any(e.name == "beads" and e.is_tree for e in store.objects.read_tree(tree))


def _plan(store: BeadStore, local: str, remote: str, *, where: str,
          allow_unrelated: bool) -> tuple[str, beads_merge.TreeMerge | None, str | None]:
    """Decide how REMOTE joins LOCAL: (status, tree merge, merge base)."""
    repo, objects = store.repo, store.objects
    if local == remote:
        return "up-to-date", None, None
    try:
        r_tree = objects.read_commit_tree(remote)
    except GitFailed as exc:
        raise Refused(f"{where} is not a commit", hint="repair the remote; nothing was changed") \
            from exc
    base = merge_base(repo, local, remote)
    if base == remote:
        return "up-to-date", None, base
    l_tree = objects.read_commit_tree(local)
    r_meta = beads_merge.check_meta(read_file_at(objects, r_tree, beads_merge.META_PATH), where)
    beads_merge.merge_meta(store.read_meta(local), r_meta, where)  # the prefixes must agree
    status = "merged"
    if base is None:
        if not _has_beads(store, l_tree):
            status = "adopted"  # nothing here yet: take their history
        elif _has_beads(store, r_tree) and not allow_unrelated:
            raise Refused(
                f"{where} has no history in common with this clone's refs/gt/beads",
                hint="if both really hold this project's beads, run git gt-sync "
                     "--allow-unrelated; nothing was changed")
    elif base == local:
        status = "fast-forward"
    b_tree = objects.read_commit_tree(base) if base else None
    merged = beads_merge.merge_trees(objects, None if status == "adopted" else l_tree, r_tree,
                                     b_tree, where=where)
    if status == "merged" and l_tree == r_tree:
        status = "joined"
    return status, merged, base


def merge_beads(repo: Repo, remote_tip: str, *, remote_name: str, actor: str,
                dry_run: bool = False, allow_unrelated: bool = False,
                store: BeadStore | None = None) -> BeadsResult:
    """Merge the beads history REMOTE_TIP into refs/gt/beads (commit only if not DRY_RUN)."""
    store = store or BeadStore(repo)
    where = f"{remote_name}'s refs/gt/beads"
    for attempt in range(4):
        holding = attempt == 3  # a busy clone: compute under the lock so writers wait
        with store.lock() if holding else contextlib.nullcontext():
            local = store.require_tip()
            status, merged, _base = _plan(store, local, remote_tip, where=where,
                                          allow_unrelated=allow_unrelated)
            if merged is None:
                return BeadsResult(status, local, local)
            cycles = cycles_after(store, merged.docs) if merged.docs else []
            new = _result_commit(store, status, local, remote_tip, merged, remote_name, actor)
            result = BeadsResult(status, local, new, merged, cycles)
            if dry_run or new == local:
                return result
            try:
                store.advance(local, new, f"sync {remote_name}", merged.docs, lock=not holding)
            except ConcurrentUpdate:
                continue
            for c in merged.collisions:
                if c.local:
                    result.retargeted[c.id] = retarget_hooks(repo, c.id, c.new_id)
            return result
    raise GtError("refs/gt/beads kept moving during the merge", hint="run git gt-sync again")


def _result_commit(store: BeadStore, status: str, local: str, remote: str,
                   merged: beads_merge.TreeMerge, remote_name: str, actor: str) -> str:
    if status in ("fast-forward", "adopted"):
        return remote
    if status == "joined":
        # Equal trees on diverged histories (two clones merged each other): a commit that
        # both compute identically, so the histories converge instead of re-merging forever.
        parents = sorted((local, remote))
        when = max(_commit_time(store, local), _commit_time(store, remote))
        return store.objects.write_commit(
            merged.tree, parents, "sync: join identical beads histories\n\nGt-Op: sync",
            author=("git-gastown", "sync@gastown.invalid"), when=when)
    counts = (f"{len(merged.added)} added, {len(merged.changed)} changed, "
              f"{merged.conflicts} conflict{'s' if merged.conflicts != 1 else ''} resolved")
    if merged.collisions:
        counts += f", {len(merged.collisions)} id collision(s)"
    trailers = [f"Gt-Actor: {actor}", "Gt-Op: sync", f"Gt-Remote: {remote_name}"]
    trailers += [f"Gt-Collision: {c.id} -> {c.new_id}" for c in merged.collisions]
    message = f"sync: merge {remote_name} ({counts})\n\n" + "\n".join(trailers)
    _, email = store.repo.identity()
    return store.objects.write_commit(merged.tree, [local, remote], message,
                                      author=(actor, email), when=int(time.time()))


def retarget_hooks(repo: Repo, old_id: str, new_id: str) -> list[str]:
    """After this clone's bead OLD_ID moved to NEW_ID (an id collision), make the Hooks of
    agents on this machine that named it name NEW_ID, so `git gt-done` and the Witness act
    on the right bead. Hooks of other machines meant the bead that kept the id: untouched."""
    from git_gastown import hook

    def swap(items: Sequence[str]) -> tuple[str, ...]:
        return tuple(new_id if b == old_id else b for b in items)

    moved: list[str] = []
    for h in hook.list_hooks(repo, live=False):
        st = h.state
        if old_id not in st.beads and old_id not in st.finished and old_id not in st.attempts:
            continue
        if not (h.runtime_dir().exists() or h.worktree.exists()):
            continue  # an agent of another clone: its bead kept the id
        attempts = {(new_id if k == old_id else k): v for k, v in st.attempts.items()}
        hook.update_state(repo, h.name, "retarget", f"{old_id} is now {new_id} (id collision)",
                          beads=swap(st.beads), finished=swap(st.finished), attempts=attempts)
        moved.append(h.name)
    return moved


def cycles_after(store: BeadStore, docs: dict[str, Doc]) -> list[list[str]]:
    """blocks/parent-child cycles through the beads a merge changed, in the merged state."""
    from git_gastown.beads import model
    from git_gastown.beads.cache import Cache
    from git_gastown.beads.ops import find_cycles

    graph, dead, known = Cache(store).fresh().dep_graph()
    for bid, doc in docs.items():
        bead = model.flatten(doc)
        known.add(bid)
        if bead.deleted:
            dead.add(bid)
        else:
            dead.discard(bid)
        graph[bid] = [d.id for d in bead.deps if d.type in model.ORDERING_DEPS]
    sub: dict[str, list[str]] = {}
    frontier = list(docs)
    while frontier:
        node = frontier.pop()
        if node in sub or node in dead or node not in known:
            continue
        targets = [t for t in graph.get(node, ()) if t not in dead and t in known]
        sub[node] = targets
        frontier.extend(targets)
    return find_cycles(sub)


def merge_beads_ref(job: RefJob) -> RefOutcome:
    """The merge step of refs/gt/beads (registered in MERGERS)."""
    if job.remote is None:
        return RefOutcome(job.name, "local-only", job.local, job.local,
                          push=job.local is not None)
    if job.local is None:
        raise UsageError("git-gastown is not set up in this repository", hint="run git gt-init")
    res = merge_beads(job.repo, job.remote, remote_name=job.remote_name, actor=job.actor,
                      dry_run=job.dry_run, allow_unrelated=job.allow_unrelated)
    push = res.after != job.remote and res.status != "fast-forward"
    status = "ahead" if res.status == "up-to-date" and push else res.status
    return RefOutcome(job.name, status, res.before, res.after, push=push, detail=res.counts())


# -- fetching, tracking copies, pushing ------------------------------------------------------


def _git_env() -> dict[str, str]:
    # Never wait on a password prompt; never let our own pushes run the pre-push autosync.
    return {"GIT_TERMINAL_PROMPT": "0", SYNC_ENV: "1", "GT_HOOKS": "0"}


def remotes(repo: Repo) -> list[str]:
    return [r for r in repo.out("remote").splitlines() if r]


def default_remote(repo: Repo) -> str:
    """The current branch's remote, else origin."""
    branch = repo.head_branch()
    if branch:
        name = repo.config_get(f"branch.{branch}.remote")
        if name and name != ".":
            return name
    return "origin"


def check_remote(repo: Repo, name: str | None) -> str:
    chosen = name or default_remote(repo)
    known = remotes(repo)
    if chosen not in known:
        listed = ", ".join(known) if known else "none configured"
        raise UsageError(f"no remote named {chosen!r} (remotes: {listed})",
                         hint="pass a remote name, or add one with git remote add NAME URL")
    return chosen


def fetch_staged(repo: Repo, remote: str) -> dict[str, str]:
    """Fetch the remote's refs/gt/* (not its own remote-tracking copies) into staging."""
    clear_staging(repo, remote)
    ns = f"{STAGING}/{remote}"
    proc = repo.git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--refmap=",
                    "--no-recurse-submodules", remote, f"+refs/gt/*:{ns}/*",
                    "^refs/gt/remotes/*", check=False, env=_git_env())
    if proc.returncode != 0:
        raise GtError(f"could not fetch from {remote}: {error_line(proc.stderr)}",
                      hint="check the remote (git remote -v) and the network; nothing changed")
    return {ref[len(ns) + 1:]: sha for ref, sha in refs.list_refs(repo, ns + "/").items()}


def clear_staging(repo: Repo, remote: str) -> None:
    staged = refs.list_refs(repo, f"{STAGING}/{remote}/")
    if staged:
        refs.transaction(repo, [refs.RefUpdate(r, None, None) for r in staged])


def update_tracking(repo: Repo, remote: str, tips: dict[str, str], *, prune: bool,
                    keep: set[str] | frozenset[str] = frozenset()) -> None:
    """Make refs/gt/remotes/<remote>/* mirror TIPS (what the remote holds now); with PRUNE
    drop the copies of refs the remote no longer has, except those named in KEEP."""
    prefix = f"refs/gt/remotes/{remote}/"
    current = refs.list_refs(repo, prefix)
    updates = [refs.RefUpdate(prefix + name, sha, None, check=False)
               for name, sha in sorted(tips.items()) if current.get(prefix + name) != sha]
    if prune:
        updates += [refs.RefUpdate(r, None, None) for r in current
                    if r[len(prefix):] not in tips and r[len(prefix):] not in keep]
    if updates:
        refs.transaction(repo, updates)


# A remote refusal that only means another push got there first: retry like a rejection.
_RACE_REASONS = ("failed to update ref", "cannot lock ref", "failed to lock",
                 "incorrect old value", "stale info")


@dataclass
class PushResult:
    pushed: list[str] = field(default_factory=list)
    raced: list[str] = field(default_factory=list)


def push_refs(repo: Repo, remote: str, names: Sequence[str]) -> PushResult:
    """Push refs/gt/<name> for NAMES (fast-forward only); report which lost a race."""
    specs = [f"refs/gt/{n}:refs/gt/{n}" for n in names]
    proc = repo.git("push", "--porcelain", "--no-verify", remote, *specs, check=False,
                    env=_git_env())
    result = PushResult()
    refused: list[str] = []
    for line in proc.stdout.decode(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or ":" not in parts[1]:
            continue
        flag, dst, summary = parts[0], parts[1].split(":", 1)[1], parts[2]
        name = dst.removeprefix("refs/gt/")
        if flag != "!":
            result.pushed.append(name)
        elif summary.startswith("[remote rejected]") and not any(
                why in summary for why in _RACE_REASONS):
            refused.append(f"{dst} {summary.removeprefix('[remote rejected]').strip()}")
        else:
            result.raced.append(name)
    if refused:
        raise GtError(f"{remote} refused the push of {'; '.join(refused)}",
                      hint="check your rights on the remote, or use git gt-sync --no-push "
                           "for a read-only remote; the local merge is kept")
    if proc.returncode != 0 and not result.raced:
        raise GtError(f"could not push to {remote}: {error_line(proc.stderr)}",
                      hint="check the remote and the network, or use git gt-sync --no-push "
                           "for a read-only remote; the local merge is kept")
    return result


# -- git gt-sync ---------------------------------------------------------------------------


@dataclass
class SyncReport:
    remote: str
    dry_run: bool
    push: bool
    attempts: int = 0
    refs: list[RefOutcome] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    would_push: list[str] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=lambda: {
        "added": 0, "changed": 0, "conflicts_resolved": 0, "added_ids": [], "changed_ids": [],
        "conflicts": [], "id_collisions": [], "cycles": []})

    def add(self, outcome: RefOutcome) -> None:
        if outcome.name != "beads":
            return
        for key in ("added", "changed", "conflicts_resolved"):
            self.totals[key] += int(outcome.detail.get(key, 0))
        for key in ("added_ids", "changed_ids", "conflicts", "id_collisions"):
            self.totals[key] += outcome.detail.get(key, [])
        for cycle in outcome.detail.get("cycles", []):
            if cycle not in self.totals["cycles"]:
                self.totals["cycles"].append(cycle)

    def to_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "dry_run": self.dry_run, "attempts": self.attempts,
                "pushed": [f"refs/gt/{n}" for n in self.pushed],
                "would_push": [f"refs/gt/{n}" for n in self.would_push],
                "refs": [o.to_json() for o in self.refs], **self.totals}


def note_missing_refspec(repo: Repo, remote: str) -> None:
    """Warn when a plain `git fetch` from REMOTE does not bring refs/gt/* (a remote added
    after git gt-init, or --no-remote-refspecs): say so rather than change the config."""
    from git_gastown.init import fetch_refspecs

    if fetch_refspecs(remote)[0] not in repo.config().get(f"remote.{remote}.fetch".lower(), []):
        notices.warn("refspec_missing", f"a plain git fetch from {remote} does not bring "
                                        "refs/gt/*; git gt-doctor --fix adds the refspec")


def local_gt_refs(repo: Repo) -> dict[str, str]:
    return {ref.removeprefix("refs/gt/"): sha
            for ref, sha in refs.list_refs(repo, "refs/gt/").items()
            if not ref.startswith("refs/gt/remotes/")}


def sync(
    repo: Repo,
    remote: str | None,
    *,
    actor: str,
    push: bool = True,
    dry_run: bool = False,
    allow_unrelated: bool = False,
    before_push: Callable[[int], None] | None = None,
) -> SyncReport:
    """Fetch, merge and push refs/gt/* with REMOTE; see the module docstring.

    BEFORE_PUSH, if given, is called with the attempt number just before each push (the
    tests use it to make another clone win the race).
    """
    BeadStore(repo).require_tip()
    name = check_remote(repo, remote)
    report = SyncReport(name, dry_run, push and not dry_run)
    with refs.locked(repo, "sync"):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            report.attempts = attempt
            try:
                staged = fetch_staged(repo, name)
                outcomes = _merge_all(repo, name, staged, actor, dry_run, allow_unrelated)
                report.refs = outcomes
                for o in outcomes:
                    report.add(o)
                to_push = [o.name for o in outcomes if o.push]
                if dry_run:
                    report.would_push = to_push if push else []
                    return report
                # A ref the remote deleted keeps its tracking copy while this clone keeps
                # the ref: that memory is what stops later syncs from pushing it back.
                gone = {o.name for o in outcomes if o.status == "gone"}
                update_tracking(repo, name, staged, prune=True, keep=gone)
                beads_tip = staged.get("beads")
                if beads_tip:
                    write_record(repo, name, beads_tip)
                if not push or not to_push:
                    return report
                if before_push is not None:
                    before_push(attempt)
                result = push_refs(repo, name, to_push)
                pushed_tips = {n: refs.read_ref(repo, f"refs/gt/{n}") or "" for n in result.pushed}
                update_tracking(repo, name, {n: s for n, s in pushed_tips.items() if s},
                                prune=False)
                report.pushed += [n for n in result.pushed if n not in report.pushed]
                if pushed_tips.get("beads"):
                    write_record(repo, name, pushed_tips["beads"])
                if not result.raced:
                    return report
            finally:
                clear_staging(repo, name)
            time.sleep(random.uniform(0.05, 0.2) * attempt)
    raise GtError(f"{name} kept moving: the push lost the race {MAX_ATTEMPTS} times",
                  hint="run git gt-sync again; the local merge is kept")


def _merge_all(repo: Repo, remote: str, staged: dict[str, str], actor: str, dry_run: bool,
               allow_unrelated: bool) -> list[RefOutcome]:
    local = local_gt_refs(repo)
    prefix = f"refs/gt/remotes/{remote}/"
    tracked = {ref[len(prefix):]: sha for ref, sha in refs.list_refs(repo, prefix).items()}
    names = sorted(set(staged) | set(local), key=lambda n: (n != "beads", n))
    outcomes: list[RefOutcome] = []
    for n in names:
        job = RefJob(repo, n, local.get(n), staged.get(n), remote, actor, dry_run,
                     allow_unrelated, tracked.get(n))
        try:
            outcomes.append(merger_for(n)(job))
        except GtError as err:
            if n == "beads":
                raise  # the beads are the point: a bad remote refuses the whole sync
            outcomes.append(RefOutcome(n, "refused", job.local, job.local, message=err.line()))
    return outcomes


# -- after a plain `git fetch`: the cheap check every command makes --------------------------


def catch_up(repo: Repo, actor: str) -> list[BeadsResult]:
    """Merge what a plain `git fetch` brought into refs/gt/remotes/*/beads (see pending)."""
    if not pending(repo) or not repo.config_bool("gt.automerge", True):
        return []
    results: list[BeadsResult] = []
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(refs.locked(repo, "sync", timeout=CATCH_UP_WAIT))
        except GtError:
            return []  # a git gt-sync is running: it merges what arrived
        for remote, tip in sorted(pending(repo).items()):
            try:
                res = merge_beads(repo, tip, remote_name=remote, actor=actor)
            except Refused as err:
                write_record(repo, remote, tip, refused=True)
                notices.warn("sync_refused", f"did not merge refs/gt/remotes/{remote}/beads: "
                                             f"{err.line()}")
                continue
            write_record(repo, remote, tip)
            results.append(res)
            for c in res.merge.collisions if res.merge else []:
                notices.warn("id_collision", collision_line(c, res.retargeted.get(c.id, [])))
            for cycle in res.cycles:
                notices.warn("dependency_cycle", cycle_line(cycle))
    return results


def collision_line(c: beads_merge.Collision, hooks: Sequence[str] = ()) -> str:
    who = f" by {c.created_by}" if c.created_by else ""
    moved = f"; hooks {', '.join(hooks)} now name {c.new_id}" if hooks else ""
    return (f"two beads had the id {c.id}: {c.title!r}{who} is now {c.new_id}{moved} "
            f"(check dependencies on {c.id}: git gt-bead show {c.id})")


def current_cycles(store: BeadStore) -> list[list[str]]:
    """Every blocks/parent-child cycle among live beads now (a merge can leave one)."""
    from git_gastown.beads.cache import Cache
    from git_gastown.beads.ops import find_cycles

    graph, dead, known = Cache(store).fresh().dep_graph()
    live = {n: [t for t in targets if t in known and t not in dead]
            for n, targets in graph.items() if n in known and n not in dead}
    return find_cycles(live)


def cycle_line(cycle: Sequence[str]) -> str:
    return (f"dependency cycle after the merge: {' -> '.join(cycle)} "
            "(break it: git gt-bead dep rm ID TYPE ID on one of these edges)")


# -- the pre-push hook: gt.autosync ------------------------------------------------------------


def pre_push(repo: Repo, args: Sequence[str]) -> None:
    """With gt.autosync true, sync refs/gt/* with the remote the user pushes to.

    Runs as a detached `git gt-sync REMOTE` so the user's push never waits for it or fails
    because of it; its output goes to $GIT_COMMON_DIR/gt/logs/autosync.log, and its warnings
    (collisions, cycles, a failure) are also kept for the next git gt-* command to print.
    Pushes made by a sync carry GT_SYNC_ACTIVE and skip hooks, so this never recurses.
    """
    if os.environ.get(SYNC_ENV) or not repo.config_bool("gt.autosync", False):
        return
    if args:
        remote = args[0]
        pushed = [ln.split()[0] for ln in sys.stdin.read().splitlines() if ln.split()]
    else:
        # Run by the pre-commit framework: no arguments and no stdin, the push described in
        # PRE_COMMIT_* variables instead (only the first ref pushed is named).
        remote = os.environ.get("PRE_COMMIT_REMOTE_NAME", "")
        pushed = [r for r in [os.environ.get("PRE_COMMIT_LOCAL_BRANCH", "")] if r]
    if not remote or repo.config_get(f"remote.{remote}.url") is None:
        return  # a push to a bare URL has no remote-tracking namespace to sync through
    if pushed and all(r.startswith("refs/gt/") for r in pushed):
        return  # the user pushes gastown refs by hand
    if BeadStore(repo).tip() is None:
        return
    log = repo.runtime_path("logs", "autosync.log")
    with open(log, "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} pre-push: "
                 f"git gt-sync {remote}\n")
        fh.flush()
        subprocess.Popen(
            [sys.executable, "-m", "git_gastown.cli.sync", remote],
            cwd=repo.worktree or repo.git_dir,
            env=scrubbed_env({SYNC_ENV: "1", AUTOSYNC_ENV: "1"}),
            stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
