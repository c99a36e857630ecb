"""Escalations: beads of type escalation (P0 critical, P1 high, P2 medium), routed by
severity to mail and to a notify command, and raised a level when nobody acknowledges
them in time.

Settings (`.gastown.toml`, overridden by `git config gt.escalation.<key>`):

    [escalation]
    notify = "notify-send-json --channel ops"   # argv (no shell); the escalation is JSON on stdin
    notifyTimeout = "10s"
    bumpAfter = "30m"            # or a table: {medium = "4h", high = "1h"}
    [escalation.routes]
    critical = ["mail:overseer", "mail:mayor", "notify"]
    high = ["mail:overseer", "mail:mayor"]
    medium = ["mail:mayor"]
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from git_gastown import timeutil
from git_gastown.beads import model
from git_gastown.beads.ops import Beads, NewBead
from git_gastown.errors import Conflict, GtError, NotFound, UsageError
from git_gastown.rig import Rig

SEVERITIES = ("critical", "high", "medium")
PRIORITY = {"critical": 0, "high": 1, "medium": 2}
RAISE = {"medium": "high", "high": "critical"}
DEFAULT_ROUTES: dict[str, list[str]] = {
    "critical": ["mail:overseer", "mail:mayor", "notify"],
    "high": ["mail:overseer", "mail:mayor"],
    "medium": ["mail:mayor"],
}
DEFAULT_BUMP_AFTER = 30 * 60.0
DEFAULT_NOTIFY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Escalation:
    id: str
    severity: str
    message: str
    description: str
    status: str  # open (unacknowledged), acked, closed
    about: str
    raised_at: str
    created_at: str
    created_by: str
    bumps: int
    acked_at: str
    acked_by: str
    closed_at: str

    @property
    def priority(self) -> int:
        return PRIORITY[self.severity]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "priority": self.priority,
                "message": self.message, "description": self.description,
                "status": self.status, "bead": self.about, "raised_at": self.raised_at,
                "created_at": self.created_at, "created_by": self.created_by,
                "bumps": self.bumps, "acked_at": self.acked_at, "acked_by": self.acked_by,
                "closed_at": self.closed_at}


@dataclass
class RouteResult:
    route: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "ok": self.ok, "detail": self.detail}


@dataclass
class Raised:
    """An escalation just created or bumped, with what each route did."""

    escalation: Escalation
    event: str  # created | bumped
    routes: list[RouteResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.escalation.to_json(), "event": self.event,
                "routes": [r.to_json() for r in self.routes]}


def check_severity(severity: str) -> str:
    sev = severity.strip().lower()
    if sev not in SEVERITIES:
        raise UsageError(f"unknown severity {severity!r}",
                         hint="use critical (P0), high (P1) or medium (P2)")
    return sev


def from_bead(b: dict[str, Any]) -> Escalation:
    fields = b.get("fields", {})
    sev = str(fields.get("severity") or "")
    if sev not in SEVERITIES:
        sev = {0: "critical", 1: "high"}.get(int(b.get("priority", 2)), "medium")
    if b["status"] == "closed":
        status = "closed"
    elif fields.get("acked_at"):
        status = "acked"
    else:
        status = "open"
    bumps = fields.get("bumps", 0)
    return Escalation(
        id=b["id"], severity=sev, message=b["title"], description=b.get("description", ""),
        status=status, about=str(fields.get("about") or ""),
        raised_at=str(fields.get("raised_at") or b.get("created_at", "")),
        created_at=b.get("created_at", ""), created_by=b.get("created_by", ""),
        bumps=bumps if isinstance(bumps, int) else 0,
        acked_at=str(fields.get("acked_at") or ""), acked_by=str(fields.get("acked_by") or ""),
        closed_at=b.get("closed_at", ""),
    )


# -- settings ---------------------------------------------------------------------------


def routes_for(rig: Rig, severity: str) -> list[str]:
    value = rig.setting(f"escalation.routes.{severity}", None)
    if value is None:
        return list(DEFAULT_ROUTES[severity])
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise UsageError(f"escalation.routes.{severity} must be a list of routes",
                         hint='e.g. critical = ["mail:overseer", "notify"]')
    routes = [x.strip() for x in items if x.strip()]
    for r in routes:
        if r != "notify" and not r.startswith("mail:"):
            raise UsageError(f"unknown escalation route {r!r} for {severity}",
                             hint='routes are "mail:<address>" or "notify"')
    return routes


def bump_after(rig: Rig, severity: str) -> float | None:
    """Seconds an unacknowledged escalation waits before it is raised (None: never)."""
    if severity == "critical":
        return None
    value = rig.setting(f"escalation.bumpAfter.{severity}", None)
    if value is None:
        value = rig.setting("escalation.bumpAfter", None)
    if isinstance(value, dict):
        value = value.get(severity)
    if value is None:
        return DEFAULT_BUMP_AFTER
    if str(value).strip().lower() in ("never", "off", "false"):
        return None
    return timeutil.parse_duration(value, "escalation.bumpAfter")


def notify_argv(rig: Rig) -> list[str] | None:
    value = rig.setting("escalation.notify", None)
    if value in (None, ""):
        return None
    if isinstance(value, list) and all(isinstance(x, str) for x in value) and value:
        return list(value)
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise UsageError(f"escalation.notify is not a valid command: {exc}",
                             hint="quote it as you would in a shell (it runs without one)"
                             ) from exc
        return argv or None
    raise UsageError("escalation.notify must be a command string or a list of arguments")


# -- raising and routing ------------------------------------------------------------------


def _payload(rig: Rig, esc: Escalation, event: str) -> dict[str, Any]:
    root = rig.repo.worktree or rig.repo.common_dir
    return {**esc.to_json(), "event": event, "rig": rig.name, "repository": str(root)}


def route(rig: Rig, esc: Escalation, event: str, actor: str) -> list[RouteResult]:
    """Deliver one escalation along its severity's routes; failures are reported, not raised."""
    from git_gastown import mail

    results: list[RouteResult] = []
    subject = f"[{esc.severity.upper()} P{esc.priority}] {esc.message}"
    if event == "bumped":
        subject += f" (raised after {esc.bumps} bump{'s' if esc.bumps != 1 else ''})"
    body = f"Escalation {esc.id} ({event}) from {esc.created_by} at {esc.raised_at}.\n"
    if esc.about:
        body += f"Concerns bead {esc.about}.\n"
    if esc.description:
        body += f"\n{esc.description}\n"
    body += f"\nAcknowledge with: git gt-escalate ack {esc.id}\n"
    for r in routes_for(rig, esc.severity):
        if r.startswith("mail:"):
            addr = r[5:]
            try:
                msg = mail.send_mail(rig.store, addr, subject, body, actor, sender="deacon",
                                     about=esc.id, priority=esc.priority)
                results.append(RouteResult(r, True, msg.id))
            except GtError as err:
                results.append(RouteResult(r, False, err.line()))
        else:
            results.append(_notify(rig, esc, event))
    return results


def _notify(rig: Rig, esc: Escalation, event: str) -> RouteResult:
    try:
        argv = notify_argv(rig)
    except UsageError as bad:
        return RouteResult("notify", False, bad.line())
    if argv is None:
        return RouteResult("notify", False, "no escalation.notify command is configured")
    timeout = timeutil.parse_duration(
        rig.setting("escalation.notifyTimeout", DEFAULT_NOTIFY_TIMEOUT),
        "escalation.notifyTimeout")
    data = json.dumps(_payload(rig, esc, event), sort_keys=True).encode()
    env = {**os.environ, "GT_ESCALATION_ID": esc.id, "GT_ESCALATION_SEVERITY": esc.severity}
    try:
        proc = subprocess.run(argv, input=data, capture_output=True, timeout=timeout,
                              cwd=rig.repo.worktree or rig.repo.common_dir, env=env,
                              check=False)
    except FileNotFoundError:
        return RouteResult("notify", False, f"command not found: {argv[0]}")
    except subprocess.TimeoutExpired:
        return RouteResult("notify", False, f"{argv[0]} timed out after {timeout:g}s")
    except OSError as exc:
        return RouteResult("notify", False, f"{argv[0]}: {exc.strerror}")
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        tail = f": {err[-1]}" if err else ""
        return RouteResult("notify", False, f"{argv[0]} exited {proc.returncode}{tail}")
    return RouteResult("notify", True, f"{argv[0]} exit 0")


def _record_routes(rig: Rig, esc_id: str, event: str, results: Sequence[RouteResult],
                   actor: str) -> None:
    if not results:
        return
    text = f"{event}: routed " + "; ".join(
        f"{r.route} {'ok' if r.ok else 'FAILED'} ({r.detail})" for r in results)
    Beads(rig.store).comment(esc_id, actor, text)


def escalate(rig: Rig, severity: str, message: str, actor: str, *, about: str = "",
             description: str = "", fields: dict[str, Any] | None = None) -> Raised:
    """Create an escalation bead and route it. The bead exists even if a route fails.

    FIELDS are extra bead fields (the Witness records which finding it escalates)."""
    sev = check_severity(severity)
    text = message.strip()
    if not text:
        raise UsageError("the escalation message is empty", hint="say what needs a human")
    title, _, rest = text.partition("\n")
    description = "\n".join(x for x in (rest.strip(), description.strip()) if x)
    routes_for(rig, sev)  # a bad setting is refused before anything is written
    beads = Beads(rig.store)
    if about and beads.cache().get(about) is None:
        raise rig.store.not_found(about)
    extra = dict(fields or {})
    extra.update({"severity": sev, "raised_at": model.now_iso(), "bumps": 0})
    if about:
        extra["about"] = about
    bead = beads.create(NewBead(
        title=title.strip(), type="escalation", priority=PRIORITY[sev], description=description,
        fields=extra, deps=[("related", about)] if about else []), actor)
    esc = from_bead(bead.to_json())
    from git_gastown.due import mark_due

    mark_due(rig.repo)
    results = route(rig, esc, "created", actor)
    _record_routes(rig, esc.id, "created", results, actor)
    return Raised(esc, "created", results)


# -- reading and changing -------------------------------------------------------------------


def list_escalations(rig: Rig, *, include_closed: bool = False,
                     severity: str | None = None) -> list[Escalation]:
    status = () if include_closed else ("open", "in_progress", "hooked", "blocked", "deferred")
    rows = Beads(rig.store).cache().query(types=["escalation"], status=status, sort="priority")
    out = [from_bead(b) for b in rows]
    if severity:
        out = [e for e in out if e.severity == check_severity(severity)]
    return out


def get(rig: Rig, esc_id: str) -> Escalation:
    b = Beads(rig.store).cache().get(esc_id)
    if b is None or b["deleted"]:
        raise rig.store.not_found(esc_id)
    if b["type"] != "escalation":
        raise NotFound(f"{esc_id} is a {b['type']}, not an escalation",
                       hint="git gt-escalate list shows the escalations")
    return from_bead(b)


def ack(rig: Rig, esc_id: str, actor: str) -> Escalation:
    """Acknowledge: someone owns it now, so it is not raised any further."""
    esc = get(rig, esc_id)
    if esc.status == "closed":
        raise Conflict(f"{esc_id} is already closed", hint="nothing left to acknowledge")
    if esc.status == "acked":
        return esc
    bead = Beads(rig.store).update(esc.id, actor, {
        "acked_at": model.now_iso(), "acked_by": actor, "assignee": actor,
        "status": "in_progress"}, op="escalation-ack")
    return from_bead(bead.to_json())


def close(rig: Rig, esc_id: str, actor: str, reason: str = "") -> Escalation:
    esc = get(rig, esc_id)
    if esc.status == "closed":
        return esc
    changes: dict[str, Any] = {"status": "closed", "close_reason": reason or "resolved"}
    if not esc.acked_at:
        changes.update({"acked_at": model.now_iso(), "acked_by": actor})
    bead = Beads(rig.store).update(esc.id, actor, changes, op="escalation-close")
    return from_bead(bead.to_json())


def bump(rig: Rig, actor: str, now: float | None = None) -> list[Raised]:
    """Raise every unacknowledged escalation that waited longer than bumpAfter, one level
    (P2 -> P1 -> P0), and route it again. Safe to run from many processes at once."""
    from git_gastown.store.refs import locked

    now = time.time() if now is None else now
    raised: list[Raised] = []
    if not pending(rig):
        return raised
    with locked(rig.repo, "escalation-bump", timeout=30):
        for esc in list_escalations(rig):  # re-read: another process may have bumped them
            if esc.status != "open" or esc.severity == "critical":
                continue
            wait = bump_after(rig, esc.severity)
            since = timeutil.iso_to_epoch(esc.raised_at)
            if wait is None or since is None or now - since < wait:
                continue
            new = RAISE[esc.severity]
            bead = Beads(rig.store).update(esc.id, actor, {
                "severity": new, "priority": PRIORITY[new], "bumps": esc.bumps + 1,
                "raised_at": timeutil.epoch_to_iso(now)}, op="escalation-bump")
            up = from_bead(bead.to_json())
            results = route(rig, up, "bumped", actor)
            _record_routes(rig, up.id, f"raised {esc.severity} -> {new}", results, actor)
            raised.append(Raised(up, "bumped", results))
    return raised


def pending(rig: Rig) -> bool:
    """Whether any escalation could still be raised (keeps the hook patrols running)."""
    return any(e.status == "open" and e.severity != "critical" for e in list_escalations(rig))


def maybe_bump(rig: Rig, actor: str) -> list[Raised]:
    """Bump from an unrelated command: never let a failure here fail that command."""
    from git_gastown.due import log

    try:
        return bump(rig, actor)
    except GtError as err:
        log(rig.repo, "escalation bump", err.line())
        return []
