"""One Refinery run: batch the ready MRs, verify, bisect failures, land atomically.

Bisection (REFERENCE A4): a failing set S carries the number of failure observations that
only S can explain. While that number is 1 both halves are tested (the left first, landed
at once when green, then the right on the new tip); once it is 2 or more the failure has
repeated, so when the left half passes the right half inherits the failure without a run.
A single MR is rejected only with two observations (the flake guard); with one it is run
alone once more. A batch failure itself blames nobody.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from git_gastown.errors import ConcurrentUpdate, GtError
from git_gastown.git import error_line
from git_gastown.refinery import books as books_mod
from git_gastown.refinery import candidate as cand_mod
from git_gastown.refinery.books import Books, Notes
from git_gastown.refinery.config import Config
from git_gastown.refinery.gates import RunResult, kill_leftover, run_gates
from git_gastown.refinery.ledger import LEDGER_REF, Ledger, TuningState
from git_gastown.refinery.queue import MR, Queue, is_paused
from git_gastown.rig import Rig
from git_gastown.store import refs

PASS, FAIL, EMPTY, MOVED, HELD = "pass", "fail", "empty", "moved", "held"
MAX_REBUILDS = 5
Log = Callable[[str], None]


@dataclass
class Outcome:
    result: str
    members: list[MR]
    run: RunResult | None = None


@dataclass
class RunReport:
    batches: list[dict[str, Any]] = field(default_factory=list)
    landed: int = 0
    rejected: int = 0
    conflicts: int = 0
    runs: int = 0
    stopped: str = ""
    held: list[str] = field(default_factory=list)  # MRs waiting for a dirty checkout

    def to_json(self) -> dict[str, Any]:
        return {"batches": [b["id"] for b in self.batches], "landed": self.landed,
                "rejected": self.rejected, "conflicts": self.conflicts, "runs": self.runs,
                "stopped": self.stopped, "held": self.held}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Refinery:
    """Drains the queue of one rig; the caller holds the run lock."""

    def __init__(self, rig: Rig, cfg: Config, log: Log | None = None) -> None:
        self.rig = rig
        self.repo = rig.repo
        self.cfg = cfg
        self.queue = Queue(rig)
        self.books = Books(rig, self.queue, cfg)
        self.ledger = Ledger(self.repo)
        self.log: Log = log or (lambda _line: None)
        self.state = TuningState()
        self.rec: dict[str, Any] = {}
        self.notes = Notes()
        self.fail_output: dict[str, tuple[str, str]] = {}  # mr id -> (candidate, output)
        self.tested_alone: set[str] = set()
        self.fail_sig: dict[str, dict[str, Any]] = {}  # mr id -> its last failing run
        self.held: dict[str, str] = {}  # mr id -> why its landing waits, for this drain
        self.holding: set[str] = set()  # checkouts that hold a landing in this drain

    # -- the run ---------------------------------------------------------------------

    def drain(self) -> RunReport:
        report = RunReport()
        kill_leftover(self.repo)
        self.recover()
        while True:
            reason = is_paused(self.repo)
            if reason is not None:
                report.stopped = f"paused: {reason}"
                break
            ready = [m for m in self.queue.ready(self.cfg.target) if m.id not in self.held]
            if not ready:
                break
            self.state = self.ledger.state()
            if ready[0].hotfix:
                members = ready[:1]
            else:
                members = [m for m in ready if not m.hotfix][: self.state.size(self.cfg.max_batch)]
            rec = self.batch(members)
            report.batches.append(rec)
            report.landed += len(rec["landed"])
            report.rejected += len(rec["rejected"])
            report.conflicts += len(rec["conflicts"])
            report.runs += len(rec["runs"])
            if not (rec["landed"] or rec["rejected"] or rec["conflicts"] or rec["held"]):
                # Nothing was decided (the target kept moving): stop rather than spin.
                report.stopped = "no progress: the target kept moving; run again later"
                break
        if self.held:
            report.held = sorted(self.held)
            report.stopped = report.stopped or next(iter(self.held.values()))
        # A checkout that held nothing in this run holds nothing now (the user committed).
        # ... except checkouts of another target, which that target's drain judges.
        heads = {str(p): h for p, h in books_mod.worktrees(self.rig) if p.exists()}
        waiting = {f"refs/heads/{m.target}" for m in self.queue.all()
                   if m.state == "queued" and m.target != self.cfg.target}
        others = {k for k in books_mod.read_sync_state(self.rig) if heads.get(k) in waiting}
        books_mod.clear_held(self.rig, keep=self.holding | others)
        self.update_watch()
        return report

    def update_watch(self) -> None:
        """Keep the post-merge marker only while something could still be merged by hand."""
        from git_gastown.refinery import hooks
        from git_gastown.refinery.queue import clear_watch, mark_watch

        every = self.queue.all()
        self.books.sweep_branches(every, Notes())
        open_mrs = any(m.state != "landed" for m in every)
        if open_mrs or hooks.names(self.repo):
            mark_watch(self.repo)
        else:
            clear_watch(self.repo)

    def recover(self) -> None:
        """Finish the books of a run that was killed: landed MRs closed, the rest requeued."""
        for path in books_mod.recover_checkouts(self.rig):
            self.log(f"recovered {path}: put back where its branch is (a run was killed "
                     "while landing)")
        tip = refs.read_ref(self.repo, self.cfg.target_ref)
        for mr, what in self.queue.reconcile("refinery", tip):
            if what == "landed":
                self.books.landed_many([mr], tip or "", Notes())
                self.log(f"recovered {mr.id}: landed before the last run stopped")

    # -- one batch -------------------------------------------------------------------

    def batch(self, members: list[MR]) -> dict[str, Any]:
        self.notes = Notes()
        self.rec = {
            "id": f"b-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}",
            "started_at": _now(), "finished_at": "", "target": self.cfg.target,
            "gates_from": self.cfg.source, "gates": list(self.cfg.gates),
            "size_limit": self.state.size(self.cfg.max_batch),
            "members": [_member(m) for m in members],
            "runs": [], "events": [], "landed": [], "rejected": [], "conflicts": [],
            "deferred": [], "held": [], "bisection": {"depth": 0, "culprits": [], "reruns": 0},
            "verdict": "", "summary": "", "notes": [], "worktrees": [], "error": "",
        }
        self.log(f"batch {self.rec['id']}: {len(members)} MR(s) onto {self.cfg.target}")
        started = time.monotonic()
        live = self.queue.set_many(members, "refinery", state="testing")
        try:
            first = self.attempt(live, depth=0)
            if first.run is not None and first.result in (PASS, FAIL):
                self.state.record(first.result == PASS, self.cfg.max_batch)
            if first.result == FAIL:
                self.resolve(first.members, obs=1, depth=1)
            elif first.result == MOVED:
                self.requeue(first.members, "the target kept moving; tried again next batch")
        except BaseException as exc:
            # Nothing may stay "testing": the members go back to the queue, and the batch
            # record says why the run stopped (a background run has no terminal).
            self.rec["error"] = (exc.message if isinstance(exc, GtError)
                                 else f"stopped by {type(exc).__name__}")
            try:
                self.release_leftovers(members, f"the run stopped: {self.rec['error']}")
            finally:
                self.finish(started, aborted=True)
            raise
        self.release_leftovers(members)
        self.finish(started)
        return self.rec

    def finish(self, started: float, aborted: bool = False) -> None:
        rec = self.rec
        rec["finished_at"] = _now()
        rec["duration"] = round(time.monotonic() - started, 3)
        rec["notes"] = self.notes.lines
        n_land, n_rej, n_con = len(rec["landed"]), len(rec["rejected"]), len(rec["conflicts"])
        n_held = len(rec["held"])
        if aborted:
            rec["verdict"] = "aborted"
        elif n_land and not (n_rej or n_con or n_held):
            rec["verdict"] = "landed"
        elif n_land:
            rec["verdict"] = "partial"
        elif n_rej:
            rec["verdict"] = "rejected"
        elif n_con:
            rec["verdict"] = "conflict"
        elif n_held:
            rec["verdict"] = "held"
        else:
            rec["verdict"] = "none"
        rec["summary"] = (f"{rec['verdict']}: {n_land} landed, {n_rej} rejected, "
                          f"{n_con} conflict, {len(rec['runs'])} gate run(s)")
        if n_held:
            rec["summary"] += f", {n_held} held"
        if rec.get("error"):
            rec["summary"] += f"; {rec['error']}"
        self.state.runs += len(rec["runs"])
        self.state.landed += n_land
        self.state.rejected += n_rej
        try:
            self.ledger.append(rec, self.state)
        except GtError as exc:
            self.log(f"ledger not written: {exc.message}")
        self.log(f"batch {rec['id']}: {rec['summary']}")

    # -- bisection -------------------------------------------------------------------

    def resolve(self, members: list[MR], obs: int, depth: int) -> None:
        """MEMBERS failed together, with OBS observations that only they explain."""
        if not members:
            return
        bis = self.rec["bisection"]
        bis["depth"] = max(bis["depth"], depth)
        if len(members) == 1:
            self.single(members[0], obs, depth)
            return
        half = len(members) // 2
        left, right = members[:half], members[half:]
        self.event("split", depth=depth, observations=obs, left=_ids(left), right=_ids(right),
                   mode="infer" if obs >= 2 else "both")
        o_left = self.attempt(left, depth)
        if o_left.result == FAIL:
            o_right = self.attempt(right, depth)
            if o_right.result == FAIL:
                self.resolve(o_left.members, 1, depth + 1)
                self.resolve(o_right.members, 1, depth + 1)
            elif o_right.result == PASS:
                self.resolve(o_left.members, obs + 1, depth + 1)
            else:
                self.resolve(o_left.members, 1, depth + 1)
            return
        if o_left.result != PASS:
            # Nothing of the left half could be tested: the right half proves nothing yet.
            self.resolve_unknown(right, depth)
            return
        if obs >= 2:
            self.event("inferred", depth=depth, members=_ids(right), observations=obs)
            self.resolve(right, obs, depth + 1)
            return
        o_right = self.attempt(right, depth)
        if o_right.result == FAIL:
            self.resolve(o_right.members, obs + 1, depth + 1)
        elif o_right.result == PASS:
            self.event("flake", depth=depth, members=_ids(members),
                       signature=self.signature(members),
                       detail="both halves passed: the batch failure blamed nobody")
            self.state.flakes += 1

    def resolve_unknown(self, members: list[MR], depth: int) -> None:
        o = self.attempt(members, depth)
        if o.result == FAIL:
            self.resolve(o.members, 1, depth + 1)

    def single(self, mr: MR, obs: int, depth: int) -> None:
        if not self.still_queued([mr]):
            return
        if obs < 2:
            self.rec["bisection"]["reruns"] += 1
            o = self.attempt([mr], depth)
            if o.result == PASS:
                self.event("flake", depth=depth, members=[mr.id],
                           signature=self.signature([mr]),
                           detail="its failure did not repeat: landed")
                self.state.flakes += 1
                return
            if o.result != FAIL:
                return
            obs += 1
            how = "repeated"
        else:
            how = "inferred" if mr.id not in self.tested_alone else "repeated"
        cand, output = self.fail_output.get(mr.id, ("", ""))
        self.rec["bisection"]["culprits"].append(
            {"mr": mr.id, "depth": depth, "observations": obs, "how": how})
        self.event("culprit", depth=depth, members=[mr.id], observations=obs, how=how)
        self.books.rejected(mr, output, cand, self.notes)
        self.rec["rejected"].append(mr.id)
        self.log(f"rejected {mr.id} ({mr.branch}): failure {how}")

    # -- one verification: build, run the gates, land when green ---------------------

    def attempt(self, members: list[MR], depth: int) -> Outcome:
        for _round in range(MAX_REBUILDS):
            base = self.sync_remote(members)
            if base is None:
                return Outcome(HELD, members)
            cand = cand_mod.build(self.repo, base, members, self.cfg.target)
            for mr, paths in cand.conflicts:
                if not self.still_queued([mr]):
                    continue
                self.books.conflict(mr, paths, self.notes)
                self.rec["conflicts"].append(mr.id)
                self.event("conflict", depth=depth, members=[mr.id], paths=paths[:20])
                self.log(f"conflict {mr.id} ({mr.branch}): {', '.join(paths[:5])}")
            for mr, paths in cand.deferred:
                self.requeue([mr], "conflicts with a batch-mate; waits for the next batch")
                self.rec["deferred"].append(mr.id)
                self.event("deferred", depth=depth, members=[mr.id], paths=paths[:20])
            members = cand.members
            if not members:
                return Outcome(EMPTY, [])
            if cand.commit != base:
                # Before any gate: a checkout of the target that could not follow the
                # landing holds the MRs that touch its dirty paths; the rest go on.
                held = books_mod.check_checkouts(self.rig, self.cfg.target, base, cand.commit)
                if held:
                    waiting = self.touching(base, members, held)
                    self.hold(waiting, held, depth)
                    if len(waiting) < len(members):
                        members = [m for m in members if m not in waiting]
                        continue
                    return Outcome(HELD, members)
            if cand.commit == base:
                landed = self.land(base, cand, depth)
                if landed == PASS:
                    return Outcome(PASS, members)
                if landed == HELD:
                    return Outcome(HELD, members)
                continue
            result = self.verify(cand, depth)
            if len(members) == 1:
                self.tested_alone.add(members[0].id)
            if not result.passed:
                for mr in members:
                    self.fail_output[mr.id] = (cand.commit, result.output())
                g = result.failed_gate
                sig = {"base": cand.base, "candidate": cand.commit,
                       "gate": g.command if g else "", "exit": g.exit if g else 0,
                       "timed_out": bool(g and g.timed_out)}
                self.fail_sig.update({mr.id: sig for mr in members})
                return Outcome(FAIL, members, result)
            landed = self.land(base, cand, depth)
            if landed == PASS:
                return Outcome(PASS, members, result)
            if landed == HELD:
                return Outcome(HELD, members, result)
            members = self.still_queued(members)
            self.event("target-moved", depth=depth, members=_ids(members),
                       detail="rebuilt and verified again, without bisecting")
        return Outcome(MOVED, members)

    def verify(self, cand: cand_mod.Candidate, depth: int) -> RunResult:
        members = cand.members
        extra = {"GT_TARGET": self.cfg.target, "GT_BASE": cand.base, "GT_DEPTH": str(depth),
                 "GT_MRS": " ".join(_ids(members)),
                 "GT_BRANCHES": " ".join(m.branch for m in members)}
        self.log(f"  run {len(self.rec['runs']) + 1}: {len(members)} MR(s) "
                 f"{cand.commit[:12]} (depth {depth})")
        self.write_current(members, cand.commit, depth)
        result = run_gates(self.repo, cand.commit, self.cfg.gates, self.cfg.timeout, extra,
                           self.repo.gt_dir / "logs" / "gates")
        self.rec["runs"].append({
            "n": len(self.rec["runs"]) + 1, "depth": depth, "members": _ids(members),
            "base": cand.base, "candidate": cand.commit,
            "result": PASS if result.passed else FAIL, "duration": round(result.duration, 3),
            "gates": [g.to_json() for g in result.gates],
        })
        return result

    def land(self, base: str, cand: cand_mod.Candidate, depth: int) -> str:
        """Move the target and drop the MR refs in one transaction: PASS; MOVED if anything
        moved meanwhile; HELD if a checkout of the target cannot follow."""
        members = cand.members
        moved: list[dict[str, Any]] = []
        if cand.commit != base:
            # The checkouts first: the ref never moves under one that did not follow.
            moved, held = books_mod.advance_checkouts(self.rig, self.cfg.target, base,
                                                      cand.commit)
            if held:
                self.hold(members, held, depth)
                return HELD
            try:
                pushed = not self.cfg.push or self.push(cand.commit)
            except BaseException:
                books_mod.rollback_checkouts(self.rig, moved)
                raise
            if not pushed:
                books_mod.rollback_checkouts(self.rig, moved)
                return MOVED
        landed_ids = _ids(members)
        self.rec["landed"].extend(landed_ids)
        self.event("landed", depth=depth, members=landed_ids, commit=cand.commit)
        self.rec["verdict"] = "in-progress"
        self.rec["summary"] = f"in progress: {len(self.rec['landed'])} landed so far"
        new_ledger, old_ledger = self.ledger.prepare(self.rec, self.state)
        updates = [refs.RefUpdate(m.ref, None, m.commit) for m in members]
        if cand.commit != base:
            updates.insert(0, refs.RefUpdate(self.cfg.target_ref, cand.commit, base))
        updates.append(refs.RefUpdate(LEDGER_REF, new_ledger, old_ledger))
        try:
            refs.transaction(self.repo, updates)
        except ConcurrentUpdate:
            books_mod.rollback_checkouts(self.rig, moved)
            del self.rec["landed"][-len(landed_ids):]
            self.rec["events"].pop()
            return MOVED
        except BaseException:
            books_mod.rollback_checkouts(self.rig, moved)
            raise
        books_mod.settle_checkouts(self.rig)
        self.log(f"  landed {', '.join(landed_ids)} as {cand.commit[:12]}")
        self.rec["worktrees"].extend(moved)
        self.books.landed_many(members, cand.commit, self.notes)
        return PASS

    def touching(self, base: str, members: list[MR],
                 held: list[dict[str, Any]]) -> list[MR]:
        """The MEMBERS whose own changes touch a path that holds a checkout; all of them
        when that cannot be told."""
        blocking = {p for h in held for p in h["paths"]}
        if not blocking:
            return members
        out = []
        for m in members:
            proc = self.repo.git("diff", "--no-renames", "--name-only", "-z",
                                 f"{base}...{m.commit}", check=False)
            names = set(proc.stdout.decode(errors="replace").split("\0"))
            if proc.returncode != 0 or names & blocking:
                out.append(m)
        return out or members

    def hold(self, members: list[MR], held: list[dict[str, Any]], depth: int) -> None:
        """MEMBERS wait in the queue: a checkout of the target has uncommitted changes
        their landing would overwrite. A later run lands them once it is clean."""
        reason = held[0]["reason"]
        for m in members:
            self.held[m.id] = f"held: {reason}"
        self.holding.update(h["path"] for h in held)
        books_mod.record_held(self.rig, held, _ids(members))
        self.rec["held"].extend(m.id for m in members if m.id not in self.rec["held"])
        self.rec["worktrees"].extend(held)
        self.event("held", depth=depth, members=_ids(members), detail=reason,
                   paths=held[0]["paths"][:20])
        self.log(f"  held {', '.join(_ids(members))}: {reason}")

    # -- push mode -------------------------------------------------------------------

    def sync_remote(self, members: list[MR]) -> str | None:
        """The target tip to build on; in push mode first caught up with the remote.
        None when a checkout of the target cannot follow the remote's new commits."""
        local = refs.read_ref(self.repo, self.cfg.target_ref)
        if local is None:
            raise GtError(f"the target branch {self.cfg.target} is gone",
                          hint="recreate it or set gt.refinery.target")
        if not self.cfg.push:
            return local
        remote_ref = f"refs/remotes/{self.cfg.remote}/{self.cfg.target}"
        proc = self.repo.git("fetch", "--quiet", self.cfg.remote,
                             f"+refs/heads/{self.cfg.target}:{remote_ref}", check=False,
                             env={"GT_HOOKS": "0"})
        if proc.returncode != 0:
            err = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines()
                   if ln.strip()]
            first = next((ln for ln in err if ln.startswith(("fatal:", "error:"))),
                         err[0] if err else f"exit {proc.returncode}")
            raise GtError(f"push mode: cannot fetch {self.cfg.target} from remote "
                          f"{self.cfg.remote!r}: {first}",
                          hint="check git remote -v (or gt.refinery.remote), or turn push "
                          "mode off: git config gt.refinery.push false")
        theirs = refs.read_ref(self.repo, remote_ref)
        if theirs is None or theirs == local:
            return local
        if cand_mod.is_ancestor(self.repo, theirs, local):
            return local  # ours is ahead: the next push carries both
        if not cand_mod.is_ancestor(self.repo, local, theirs):
            raise GtError(f"{self.cfg.target} and {self.cfg.remote}/{self.cfg.target} diverged",
                          hint="reconcile them by hand, then git gt-refinery run")
        moved, held = books_mod.advance_checkouts(self.rig, self.cfg.target, local, theirs)
        if held:
            self.hold(members, held, 0)
            return None
        try:
            refs.update_ref(self.repo, self.cfg.target_ref, theirs, local,
                            f"gt refinery: fast-forward to {self.cfg.remote}")
        except BaseException:
            books_mod.rollback_checkouts(self.rig, moved)
            raise
        books_mod.settle_checkouts(self.rig)
        self.rec["worktrees"].extend(moved)
        self.event("fetched", members=[], commit=theirs,
                   detail=f"{self.cfg.remote} moved; building on its tip")
        return theirs

    def push(self, commit: str) -> bool:
        proc = self.repo.git("push", "--porcelain", self.cfg.remote,
                             f"{commit}:refs/heads/{self.cfg.target}", check=False,
                             env={"GT_HOOKS": "0"})
        if proc.returncode == 0:
            return True
        err = (proc.stdout + proc.stderr).decode(errors="replace")
        if "rejected" in err or "non-fast-forward" in err or "fetch first" in err:
            self.event("push-rejected", members=[], commit=commit,
                       detail="the remote moved: fetch, rebuild, verify again")
            return False
        raise GtError(f"push to {self.cfg.remote} failed: {error_line(err, '?')}",
                      hint="check the remote, or turn push mode off: "
                      "git config gt.refinery.push false")

    # -- helpers ---------------------------------------------------------------------

    def still_queued(self, members: list[MR]) -> list[MR]:
        present = self.queue.refs()
        out = []
        for m in members:
            if present.get(m.id) == m.commit:
                out.append(m)
            else:
                self.event("dropped", members=[m.id], detail="its ref moved: left in the queue")
        return out

    def release_leftovers(self, members: list[MR], why: str = "") -> None:
        """Members the batch neither landed nor judged go back to the queue."""
        current = {m.id: m for m in self.queue.all()}
        left = [current[m.id] for m in members
                if m.id in current and current[m.id].state == "testing"]
        held = [m for m in left if m.id in self.held]
        for m in held:
            self.requeue([m], self.held[m.id], record=True)
        self.requeue([m for m in left if m.id not in self.held],
                     why or "not decided in this batch; back in the queue", record=bool(why))

    def requeue(self, members: list[MR], why: str, *, record: bool = False) -> None:
        """Back to queued; RECORD writes WHY on the MRs too (list and show print it)."""
        if members:
            changes: dict[str, Any] = {"reason": why} if record else {}
            self.queue.set_many(members, "refinery", state="queued", **changes)
            self.notes.add(f"{', '.join(_ids(members))}: {why}")

    def write_current(self, members: list[MR], candidate: str, depth: int) -> None:
        """What the run is doing now, for `status` (runtime only, never shared)."""
        import json

        data = {"batch": self.rec["id"], "run": len(self.rec["runs"]) + 1, "depth": depth,
                "members": _ids(members), "candidate": candidate, "since": _now(),
                "landed": list(self.rec["landed"]), "rejected": list(self.rec["rejected"])}
        path = self.repo.runtime_path("refinery", "current.json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)

    def signature(self, members: list[MR]) -> dict[str, Any]:
        """The failure a flake verdict forgave: base, candidate, gate and exit code."""
        for m in members:
            if m.id in self.fail_sig:
                return self.fail_sig[m.id]
        return {}

    def event(self, kind: str, **data: Any) -> None:
        self.rec["events"].append({"kind": kind, "at": _now(), **data})


def _ids(mrs: list[MR]) -> list[str]:
    return [m.id for m in mrs]


def _member(m: MR) -> dict[str, Any]:
    return {"id": m.id, "branch": m.branch, "commit": m.commit, "priority": m.priority,
            "hotfix": m.hotfix}
