"""The Witness: the per-rig health check of every polecat, and what to do about each one.

`check` observes every polecat (processes by pid and start time, the agent's last event,
its last commit, whether it waits for a person) and puts each in exactly one class, each
class with one action:

    ok                  working: nothing to do
    idle                no progress for idleAfter (report only)
    hung                agent alive, no progress for hungAfter: resume (stop, then resume)
    permission_denied   the agent was refused a tool use it needed (Claude's
                        permission_denials, a declined Codex command, a Gemini
                        policy_violation): escalate (a person grants it, then resumes)
    waiting_input       the agent asked a question nobody can answer headless (Codex
                        request_user_input): escalate
    orphaned            agent alive but its runner died: resume (stop, then resume)
    dead                runner and agent gone while running: resume
    dead_dirty          the same, with uncommitted work no checkpoint holds: checkpoint
                        (then, in the same pass, the `dead` action)
    exited_unfinished   the agent exited without finishing its beads or `git gt-done`: resume
    exited_unlanded     the agent closed its beads and exited, but never ran `git gt-done`:
                        its branch has commits neither merged nor queued: escalate (a
                        person lands them: `git gt-done` in its worktree)
    done_refused        the shell agent finished its beads but its closing `git gt-done` was
                        refused (a rejected commit handed in unchanged, conflict markers)
                        and nothing since queued or landed its branch: escalate, with
                        gt-done's reason and what to do
    starting, done, stopped, nuked   nothing to do

The recovering actions wait until the polecat has shown no sign of life (event, commit,
runner heartbeat) for deadGrace (default 1m), so a person who just stopped or killed an
agent, or is resuming it by hand, is not raced.

A resume is allowed at most `maxResumes` times per bead (default 3); after that the
action is `escalate`. For a bead of a mountain convoy, a failure after `maxAttempts`
attempts blocks the bead instead, and the convoy's next ready bead is dispatched.
Escalations are made once per polecat, class and run (an open one is not repeated).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from git_gastown import polecat_view, timeutil
from git_gastown.beads.ops import Beads
from git_gastown.errors import GtError
from git_gastown.polecat_view import Polecat
from git_gastown.rig import Rig

DEFAULTS: dict[str, Any] = {
    "idleAfter": "10m",
    "hungAfter": "30m",
    "maxResumes": 3,
    "startGrace": "2m",
    "deadGrace": "1m",
    "patrolInterval": "3m",
}
ACTIONS = ("none", "checkpoint", "resume", "escalate", "block")


@dataclass(frozen=True)
class Thresholds:
    idle_after: float
    hung_after: float
    max_resumes: int
    start_grace: float
    dead_grace: float
    stall_after: float
    max_attempts: int

    @classmethod
    def of(cls, rig: Rig) -> Thresholds:
        def dur(key: str, section: str = "witness", default: Any = None) -> float:
            value = rig.setting(f"{section}.{key}", default if default is not None
                                else DEFAULTS[key])
            return timeutil.parse_duration(value, f"{section}.{key}")

        def count(key: str, section: str, default: int) -> int:
            value = rig.setting(f"{section}.{key}", default)
            try:
                n = int(value)
            except (TypeError, ValueError):
                n = -1
            if n < 0:
                from git_gastown.errors import UsageError

                raise UsageError(f"{section}.{key} must be a whole number, not {value!r}")
            return n

        return cls(idle_after=dur("idleAfter"), hung_after=dur("hungAfter"),
                   max_resumes=count("maxResumes", "witness", DEFAULTS["maxResumes"]),
                   start_grace=dur("startGrace"), dead_grace=dur("deadGrace"),
                   stall_after=dur("stallAfter", "convoy", "1h"),
                   max_attempts=count("maxAttempts", "convoy", 3))


def patrol_interval(rig: Rig) -> float:
    return timeutil.parse_duration(rig.setting("witness.patrolInterval",
                                               DEFAULTS["patrolInterval"]),
                                   "witness.patrolInterval")


@dataclass
class Finding:
    polecat: str
    cls: str
    action: str
    detail: str
    beads: tuple[str, ...]
    status: str
    agent_alive: bool
    runner_alive: bool
    last_event_age: float | None
    last_commit_age: float | None
    attempts: int
    applied: list[str] = field(default_factory=list)  # what the Witness did, when it acted

    def to_json(self) -> dict[str, Any]:
        return {"polecat": self.polecat, "class": self.cls, "action": self.action,
                "detail": self.detail, "beads": list(self.beads), "status": self.status,
                "agent_alive": self.agent_alive, "runner_alive": self.runner_alive,
                "last_event_age": _round(self.last_event_age),
                "last_commit_age": _round(self.last_commit_age),
                "attempts": self.attempts, "applied": list(self.applied)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# -- classifying -------------------------------------------------------------------------------


def classify(p: Polecat, open_beads: Sequence[str], th: Thresholds, now: float,
             dirty: bool = False, unlanded: str = "", refused: str = "") -> tuple[str, str]:
    """(class, detail) of one polecat. Pure: everything it needs is passed in (UNLANDED:
    what of an exited polecat's branch is neither merged nor queued, "" if nothing;
    REFUSED: why its `git gt-done` was refused, if that still stands)."""
    progress = p.last_progress()
    quiet = now - progress if progress is not None else None
    if p.status in ("done", "nuked", "stopped"):
        return p.status, ""
    if p.live:
        if p.agent_alive and not p.runner_alive and p.runner_pid:
            return "orphaned", (f"the agent's processes (group {p.pgid or p.pid}) run on but "
                                f"its runner {p.runner_pid} died")
        if not p.agent_alive and not p.runner_alive:
            if p.status == "spawning" and not p.runner_pid:
                if quiet is not None and quiet < th.start_grace:
                    return "starting", ""
                return ("dead_dirty" if dirty else "dead"), "its runner never started"
            return ("dead_dirty" if dirty else "dead"), "agent and runner are gone"
        if p.waiting:
            return "waiting_input", f"the agent waits for {p.waiting}"
        if p.agent_alive and quiet is not None and quiet >= th.hung_after:
            return "hung", f"no agent event or commit for {timeutil.human_age(quiet)}"
        if p.denied:
            return "permission_denied", _denied(p)
        if quiet is not None and quiet >= th.idle_after:
            return "idle", f"no agent event or commit for {timeutil.human_age(quiet)}"
        return "ok", ""
    if p.status == "exited":
        unfinished = [b for b in open_beads if b not in p.finished]
        if unfinished and p.denied:
            return "permission_denied", _denied(p)  # a resume would be refused the same
        if unfinished:
            code = f" (exit {p.exit_code})" if p.exit_code not in (None, 0) else ""
            return "exited_unfinished", f"exited{code} with {', '.join(unfinished)} unfinished"
        if refused and open_beads:
            return "done_refused", f"git gt-done was refused: {refused}"
        if unlanded:
            return "exited_unlanded", f"exited without git gt-done: {unlanded}"
        if not open_beads:
            return "done", "every bead is closed or blocked"
        return "done", "finished; waiting for a review or the Refinery"
    return "ok", ""


def _denied(p: Polecat) -> str:
    shown = "; ".join(p.denied[-3:])
    more = f" (and {len(p.denied) - 3} more)" if len(p.denied) > 3 else ""
    return f"the agent was refused {shown}{more}"


RECOVER = ("dead", "dead_dirty", "orphaned", "exited_unfinished")


def _action(cls: str, p: Polecat, open_beads: Sequence[str], th: Thresholds,
            mountain: set[str], now: float) -> str:
    if cls in ("permission_denied", "waiting_input", "exited_unlanded", "done_refused"):
        return "escalate"
    if cls in RECOVER:
        alive = p.last_alive()
        if alive is not None and now - alive < th.dead_grace:
            return "none"  # it just died: give a person (or its own exit) a moment first
    if cls == "dead_dirty":
        return "checkpoint"
    if cls in ("dead", "orphaned", "hung", "exited_unfinished"):
        if not open_beads:
            return "none"  # its beads were closed or blocked meanwhile: nothing to redo
        tries = attempts(p, open_beads)
        if any(b in mountain for b in open_beads) and tries >= th.max_attempts:
            return "block"
        return "resume" if tries - 1 < th.max_resumes else "escalate"
    return "none"


def attempts(p: Polecat, open_beads: Sequence[str]) -> int:
    """Attempts so far at this polecat's open beads (the first spawn counts as one)."""
    return max((p.attempts.get(b, 1) for b in open_beads), default=1)


# -- checking and acting ---------------------------------------------------------------------


@dataclass
class Report:
    findings: list[Finding]
    convoys: list[dict[str, Any]] = field(default_factory=list)  # mountain convoy events
    elapsed: float = 0.0

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.cls] = counts.get(f.cls, 0) + 1
        return {"polecats": [f.to_json() for f in self.findings], "counts": counts,
                "convoys": self.convoys, "elapsed": round(self.elapsed, 3)}

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.action != "none"]


def check(rig: Rig, *, apply: bool = False, actor: str = "witness",
          now: float | None = None) -> Report:
    """Inspect every polecat; with apply, take each finding's action.

    Acting holds the rig's witness lock, so two patrols never resume one polecat twice.
    """
    if not apply:
        return _check(rig, apply=False, actor=actor, now=now)
    from git_gastown.store.refs import locked

    with locked(rig.repo, "witness", timeout=120):
        return _check(rig, apply=True, actor=actor, now=now)


def _check(rig: Rig, *, apply: bool, actor: str, now: float | None) -> Report:
    start = time.monotonic()
    now = time.time() if now is None else now
    th = Thresholds.of(rig)
    cache = Beads(rig.store).cache()
    mountain = _mountain_beads(rig)
    findings = []
    polecats = polecat_view.observe(rig)
    queued: dict[str, dict[str, str]] | None = None
    for p in polecats:
        open_beads = [b for b in p.beads if _is_open(cache.get(b))]
        dirty = False
        if p.live and not p.agent_alive and not p.runner_alive:
            dirty = _dirty(rig, p)
        unlanded = refused = ""
        if p.status == "exited" and (p.done_error or not open_beads):
            if queued is None:
                queued = _merge_requests(cache)
            if not open_beads:
                unlanded = polecat_view.unlanded(rig, p, queued)
            elif p.done_error:
                refused = _refused(rig, p, queued)
        cls, detail = classify(p, open_beads, th, now, dirty, unlanded, refused)
        action = _action(cls, p, open_beads, th, mountain, now)
        if cls in RECOVER and action == "none" and open_beads:
            detail += f"; recovered once quiet for {timeutil.human_age(th.dead_grace)}"
        f = Finding(p.name, cls, action, detail, p.beads,
                    p.status, p.agent_alive, p.runner_alive,
                    now - p.last_event_at if p.last_event_at else None,
                    now - p.last_commit_at if p.last_commit_at else None,
                    attempts(p, open_beads))
        if apply and f.action != "none":
            _act(rig, f, p, open_beads, th, mountain, actor)
        findings.append(f)
    if apply:
        _close_cleared(rig, polecats, findings, actor)
    report = Report(findings)
    report.convoys = mountains(rig, polecats, apply=apply, actor=actor, now=now, th=th)
    report.elapsed = time.monotonic() - start
    return report


RESOLVED = "resolved by itself"


def _open_findings(rig: Rig) -> list[tuple[str, dict[str, Any]]]:
    """(finding key, fields) of every open escalation the Witness made."""
    out = []
    for e in Beads(rig.store).cache().query(types=["escalation"],
                                            status=("open", "in_progress")):
        key = str(e["fields"].get("finding") or "")
        if key:
            out.append((e["id"], e["fields"]))
    return out


def _close_cleared(rig: Rig, polecats: Sequence[Polecat], findings: Sequence[Finding],
                   actor: str) -> None:
    """Close the escalations of findings that went away (the agent went on after asking,
    its work got queued, a person resumed it), so they are not raised to critical later.
    A block's escalation stays: the bead waits for a person whatever the polecat does."""
    from git_gastown import escalate

    now_of = {f.polecat: f for f in findings}
    runs = {p.name: p.run_id for p in polecats}
    for eid, fields in _open_findings(rig):
        name, _, rest = str(fields["finding"]).partition(":")
        cls, _, run = rest.partition(":")
        f = now_of.get(name)
        if f is None or cls == "stalled" or fields.get("action") == "block":
            continue  # a polecat gone from this rig, a stall (see mountains), a block
        if f.cls == cls and runs.get(name) == run:
            continue  # still the same finding
        escalate.close(rig, eid, actor, RESOLVED)
        f.applied.append(f"closed {eid} ({cls} {RESOLVED})")


def _close_stall(rig: Rig, bead_id: str, actor: str, reason: str = RESOLVED) -> list[str]:
    """Close the open stall escalations of BEAD_ID (it moves again, or is closed or
    blocked); return their ids."""
    from git_gastown import escalate

    closed = []
    for eid, fields in _open_findings(rig):
        if str(fields["finding"]).endswith(f":stalled:{bead_id}"):
            escalate.close(rig, eid, actor, reason)
            closed.append(eid)
    return closed


def _merge_requests(cache: Any) -> dict[str, dict[str, str]]:
    """branch -> commit -> the state of its merge request, whatever it is (the Refinery
    owns the work once it is queued)."""
    out: dict[str, dict[str, str]] = {}
    for mr in cache.query(types=["merge-request"]):
        fields = mr.get("fields") or {}
        branch, commit = str(fields.get("branch", "")), str(fields.get("commit", ""))
        if branch and commit:
            out.setdefault(branch, {})[commit] = str(fields.get("state", ""))
    return out


def _refused(rig: Rig, p: Polecat, queued: dict[str, dict[str, str]]) -> str:
    """Why P's last `git gt-done` was refused, while that still strands its work: its
    branch tip is in no queued or landed merge request and not in its target (a person
    who finished or retried it by hand, or merged it, settled it)."""
    if queued.get(p.branch, {}).get(p.branch_tip) in ("queued", "testing", "landed") \
            or polecat_view.merged(rig, p):
        return ""
    lines = [line for line in p.done_error.splitlines() if line.strip()]
    last = lines[-1] if lines else p.done_error
    return last.split(": error: ", 1)[-1].strip()


def _is_open(b: dict[str, Any] | None) -> bool:
    """Work still to do: not closed, and not blocked by the Witness or a person."""
    return b is not None and not b["deleted"] and b["status"] not in ("closed", "blocked")


def _dirty(rig: Rig, p: Polecat) -> bool:
    if not p.worktree.exists():
        return False
    try:
        return any("uncommitted" in r for r in polecat_view.unsaved(rig, p.name))
    except GtError:
        return False


def _act(rig: Rig, f: Finding, p: Polecat, open_beads: Sequence[str], th: Thresholds,
         mountain: set[str], actor: str) -> None:
    try:
        if f.action == "checkpoint":
            commit = polecat_view.checkpoint(rig, p.name, f"witness: {f.cls}")
            f.applied.append(f"checkpoint {commit[:12]}")
            follow = _action("dead", p, open_beads, th, mountain, time.time())
            if follow != "checkpoint":
                f.action = follow
                _act(rig, f, p, open_beads, th, mountain, actor)
            return
        if f.action == "resume":
            if p.agent_alive or p.runner_alive:
                polecat_view.stop(rig, p.name)
                f.applied.append("stopped")
            polecat_view.resume(rig, p.name, actor)
            f.applied.append(f"resumed (attempt {f.attempts + 1})")
            return
        if f.action == "escalate":
            eid = _escalate_once(rig, f, p, actor)
            f.applied.append(f"escalated {eid}" if eid else "already escalated")
            return
        if f.action == "block":
            _block(rig, f, p, open_beads, actor)
    except GtError as err:
        f.applied.append(f"failed: {err.line()}")
        from git_gastown.due import log

        log(rig.repo, f"witness {f.action} {p.name}", err.line())


def _escalate_once(rig: Rig, f: Finding, p: Polecat, actor: str) -> str:
    """An escalation for this polecat, class and run, unless an open one exists."""
    from git_gastown import escalate

    key = f"{p.name}:{f.cls}:{p.run_id}"
    for e in Beads(rig.store).cache().query(types=["escalation"],
                                            status=("open", "in_progress")):
        if e["fields"].get("finding") == key:
            return ""
    severity = "high" if f.action == "escalate" else "medium"
    why = {"permission_denied": "was refused a permission it needed",
           "waiting_input": "is waiting for input",
           "exited_unlanded": "exited without git gt-done; its work is not landed",
           "done_refused": "exited after git gt-done refused its work"}.get(
        f.cls, f"is {f.cls.replace('_', ' ')} after {f.attempts} attempts")
    about = p.beads[0] if p.beads else ""
    raised = escalate.escalate(
        rig, severity, f"polecat {p.name} {why}", actor, about=about,
        description=f"{f.detail}.\nInspect: git gt-polecat status {p.name}; " + (
            f"land it: cd {p.worktree} && git gt-done" if f.cls == "exited_unlanded" else
            f"do what gt-done asks above in {p.worktree} (branch {p.branch}), then land "
            f"it: cd {p.worktree} && git gt-done" if f.cls == "done_refused" else
            f"allow it in the agent's settings, then resume: git gt-polecat stop {p.name}; "
            f"git gt-polecat spawn --resume {p.name}" if f.cls == "permission_denied" else
            f"resume: git gt-polecat spawn --resume {p.name}"),
        fields={"finding": key, "polecat": p.name, "action": f.action})
    return raised.escalation.id


def _block(rig: Rig, f: Finding, p: Polecat, open_beads: Sequence[str], actor: str) -> None:
    """A mountain bead that failed maxAttempts times: stop its agent (a hung one would
    run, and spend, forever), block the bead, release it, go on."""
    from git_gastown import convoy

    if p.agent_alive or p.runner_alive:
        polecat_view.stop(rig, p.name)
        f.applied.append("stopped")
    beads = Beads(rig.store)
    cache = beads.cache()
    for b in open_beads:
        beads.update(b, actor, {"status": "blocked", "assignee": None,
                                "blocked_reason": f"failed {f.attempts} attempts ({f.cls})"},
                     op="block")
        bead = cache.get(b)
        if bead is not None and convoy.STALLED in bead["labels"]:
            beads.label(b, actor, [convoy.STALLED], False)  # blocked now, not stalled
        _close_stall(rig, b, actor, "superseded: the bead is blocked")
        beads.comment(b, actor, f"Witness: blocked after {f.attempts} failed attempts "
                                f"by {p.name} ({f.detail}); skipped so the convoy goes on")
    f.applied.append(f"blocked {', '.join(open_beads)}")
    _escalate_once(rig, f, p, actor)
    for cid in {c for b in open_beads for c in convoy.convoys_of(rig.store, b)}:
        started = convoy.continue_dispatch(rig, cid, actor)
        if started:
            f.applied.append("dispatched " + ", ".join(f"{b}->{n}" for b, n in started))


# -- mountain convoys -----------------------------------------------------------------------------


def _mountain_beads(rig: Rig) -> set[str]:
    from git_gastown import convoy

    return {t.id for c in convoy.list_convoys(rig.store) if c.mountain for t in c.tracked}


def mountains(rig: Rig, polecats: Sequence[Polecat], *, apply: bool, actor: str, now: float,
              th: Thresholds) -> list[dict[str, Any]]:
    """Stall marks on mountain convoys' beads, and keeping their dispatch going."""
    from git_gastown import convoy

    # A closed convoy still counts while a bead of it carries the stall mark: its last bead
    # landed (closing it) after being marked, and the mark and escalation must go.
    from git_gastown.beads.cache import Cache

    marked = bool(Cache(rig.store).fresh().query(labels=(convoy.STALLED,), limit=1))
    convoys = [c for c in convoy.list_convoys(rig.store, include_closed=marked)
               if c.mountain and (c.status != "closed" or any(t.stalled for t in c.tracked))]
    if not convoys:
        return []
    by_name = {p.name: p for p in polecats}
    events: list[dict[str, Any]] = []
    beads = Beads(rig.store)
    for c in convoys:
        for t in c.tracked:
            p = by_name.get(t.assignee)
            if t.status not in ("in_progress", "hooked") or p is None:
                if t.stalled and t.status in ("closed", "blocked") and apply:
                    beads.label(t.id, actor, [convoy.STALLED], False)
                    _close_stall(rig, t.id, actor)
                continue
            progress = p.last_progress()
            quiet = now - progress if progress is not None else None
            stalled = quiet is not None and quiet >= th.stall_after
            if stalled and not t.stalled:
                event: dict[str, Any] = {"convoy": c.name, "bead": t.id, "event": "stalled",
                                         "polecat": p.name, "quiet": round(quiet or 0, 1)}
                if apply:
                    beads.label(t.id, actor, [convoy.STALLED], True)
                    from git_gastown import escalate

                    raised = escalate.escalate(
                        rig, "medium",
                        f"convoy {c.name}: {t.id} stalled (no progress for "
                        f"{timeutil.human_age(quiet)})", actor, about=t.id,
                        fields={"polecat": p.name, "finding": f"{p.name}:stalled:{t.id}"})
                    event["escalation"] = raised.escalation.id
                events.append(event)
            elif not stalled and t.stalled:
                event = {"convoy": c.name, "bead": t.id, "event": "moving", "polecat": p.name}
                if apply:
                    beads.label(t.id, actor, [convoy.STALLED], False)
                    closed = _close_stall(rig, t.id, actor)
                    if closed:
                        event["closed"] = closed
                events.append(event)
        if apply and c.status != "closed":
            for bead_id, name in convoy.continue_dispatch(rig, c.id, actor):
                events.append({"convoy": c.name, "bead": bead_id, "event": "dispatched",
                               "polecat": name})
    return events
