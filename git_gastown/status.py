"""One view of a rig: agents, convoys, merge queue, escalations and unread mail."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from git_gastown.rig import Rig


def _agents(rig: Rig) -> list[dict[str, Any]]:
    from git_gastown import hook as hk

    out = []
    for h in hk.list_hooks(rig.repo):
        live = h.liveness()
        if live == "nuked":
            continue
        s = h.state
        out.append({"name": s.name, "status": live, "agent": s.agent, "beads": list(s.beads),
                    "last_event_at": s.last_event_at, "waiting": s.waiting,
                    "branch": s.branch, "cost_usd": s.usage.cost_usd})
    return out


def _beads(rig: Rig) -> dict[str, Any]:
    from git_gastown.beads.ops import Beads
    from git_gastown.sync import current_cycles

    stats = Beads(rig.store).cache().stats()
    return {"total": stats["total"], "ready": stats["ready"], "blocked": stats["blocked"],
            "by_status": stats["by_status"], "cycles": current_cycles(rig.store)}


def _convoys(rig: Rig) -> list[dict[str, Any]]:
    from git_gastown import convoy

    return [c.to_json(with_beads=False) for c in convoy.list_convoys(rig.store)]


def _queue(rig: Rig) -> dict[str, Any] | None:
    if importlib.util.find_spec("git_gastown.refinery") is None:
        return None
    from git_gastown.refinery.queue import Queue
    from git_gastown.refinery.runner import running

    mrs = Queue(rig).all()
    counts: dict[str, int] = {}
    for m in mrs:
        counts[m.state] = counts.get(m.state, 0) + 1
    waiting = [{"id": m.id, "branch": m.branch, "state": m.state} for m in mrs
               if m.state in ("queued", "testing")]
    return {"running": running(rig.repo) is not None, "counts": counts,
            "waiting": waiting}


def _escalations(rig: Rig) -> list[dict[str, Any]]:
    from git_gastown import escalate

    return [e.to_json() for e in escalate.list_escalations(rig) if e.status != "closed"]


def _mail(rig: Rig) -> list[dict[str, Any]]:
    from git_gastown import mail

    return [m.to_json() for m in mail.unread_mail(rig.store, mail.default_mailbox())]


SECTIONS: dict[str, Callable[[Rig], Any]] = {
    "beads": _beads, "agents": _agents, "convoys": _convoys, "merge_queue": _queue,
    "escalations": _escalations, "mail": _mail,
}


def _error_line(exc: Exception) -> str:
    """One line for a failed section; git failures (a refs/gt/* ref at a blob, say) point at
    doctor, which names every broken ref and its recovery."""
    from git_gastown.errors import GitFailed

    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, GitFailed):
        return f"cannot read ({first}): run git gt-doctor"
    return f"{type(exc).__name__}: {first}"


def collect(rig: Rig) -> dict[str, Any]:
    """Every section; one that fails is reported in `errors`, never hides the others."""
    from git_gastown.mail import default_mailbox

    data: dict[str, Any] = {"rig": rig.name, "prefix": rig.prefix(),
                            "mailbox": default_mailbox(), "errors": {}}
    for name, fn in SECTIONS.items():
        try:
            data[name] = fn(rig)
        except Exception as exc:  # a broken feature must not blank the whole screen
            data[name] = None
            data["errors"][name] = _error_line(exc)
    return data
