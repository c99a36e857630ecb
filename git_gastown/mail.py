"""Mail between agents and roles: beads of type message, addressed to a role or a polecat.

A message is a bead with type `message`: its title is the subject, its description the
body, and the fields `to`, `from`, `read_at` (and `reply_to`) say where it goes and
whether it was seen. Acknowledging a message closes the bead. Because mail is beads, it
syncs between clones like any other bead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from git_gastown.beads import model
from git_gastown.beads.ops import Beads, NewBead
from git_gastown.beads.store import BeadStore
from git_gastown.errors import NotFound, UsageError
from git_gastown.store import refs

ROLES = ("mayor", "overseer", "deacon", "refinery")
ADDRESS_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
HOOK_REF = "refs/gt/hooks/"


@dataclass(frozen=True)
class Message:
    id: str
    to: str
    sender: str
    subject: str
    body: str
    created_at: str
    read_at: str
    acked: bool
    acked_at: str
    reply_to: str
    about: str

    @property
    def unread(self) -> bool:
        return not self.read_at and not self.acked

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "to": self.to, "from": self.sender, "subject": self.subject,
                "body": self.body, "created_at": self.created_at, "read": bool(self.read_at),
                "read_at": self.read_at, "acked": self.acked, "acked_at": self.acked_at,
                "reply_to": self.reply_to, "about": self.about}


def from_bead(b: dict[str, Any]) -> Message:
    """A message from a bead's JSON form (as the cache returns it)."""
    fields = b.get("fields", {})
    return Message(
        id=b["id"], to=str(fields.get("to") or b.get("assignee") or ""),
        sender=str(fields.get("from") or b.get("created_by") or ""), subject=b["title"],
        body=b.get("description", ""), created_at=b.get("created_at", ""),
        read_at=str(fields.get("read_at") or ""), acked=b["status"] == "closed",
        acked_at=b.get("closed_at", "") if b["status"] == "closed" else "",
        reply_to=str(fields.get("reply_to") or ""), about=str(fields.get("about") or ""),
    )


def polecat_names(store: BeadStore) -> list[str]:
    return sorted(r[len(HOOK_REF):] for r in refs.list_refs(store.repo, HOOK_REF))


def check_address(store: BeadStore, address: str) -> str:
    """A role or the name of a polecat of this rig; UsageError naming the choices otherwise."""
    addr = address.strip().lower()
    if addr in ROLES:
        return addr
    if ADDRESS_RE.match(addr) and refs.read_ref(store.repo, HOOK_REF + addr) is not None:
        return addr
    known = polecat_names(store)
    choices = ", ".join([*ROLES, *known[:10]]) + (", ..." if len(known) > 10 else "")
    raise UsageError(f"unknown mail address {address!r}",
                     hint=f"send to a role or a polecat of this rig: {choices}")


def default_mailbox(given: str | None = None) -> str:
    """Whose mail: given, else the polecat ($GT_HOOK), else an agent role ($GT_ROLE), else
    the overseer (the person at the terminal)."""
    if given:
        return given.strip().lower()
    hook = os.environ.get("GT_HOOK", "").strip().lower()
    if hook:
        return hook
    role = os.environ.get("GT_ROLE", "").strip().lower()
    if role in ROLES:
        return role
    return "overseer"


def send_mail(
    store: BeadStore,
    to: str,
    subject: str,
    body: str,
    actor: str,
    *,
    sender: str | None = None,
    reply_to: str = "",
    about: str = "",
    priority: int = 2,
    validate: bool = True,
) -> Message:
    """Write one message bead (one commit). `about` names a bead the message concerns."""
    if not subject.strip():
        raise UsageError("the subject is empty", hint='give one: --subject "what it is about"')
    to = check_address(store, to) if validate else to.strip().lower()
    fields: dict[str, Any] = {"to": to, "from": default_mailbox(sender)}
    if reply_to:
        fields["reply_to"] = get_message(store, reply_to).id
    if about:
        fields["about"] = about
    bead = Beads(store).create(
        NewBead(title=subject, type="message", priority=priority, assignee=to,
                description=body, fields=fields), actor)
    return from_bead(bead.to_json())


def inbox(store: BeadStore, to: str, *, include_acked: bool = False,
          unread_only: bool = False) -> list[Message]:
    """Messages to one address, oldest first; acked ones only with include_acked."""
    status = () if include_acked else ("open",)
    rows = Beads(store).cache().query(types=["message"], assignee=to, status=status,
                                      sort="created")
    msgs = [from_bead(b) for b in rows if from_bead(b).to == to]
    return [m for m in msgs if m.unread] if unread_only else msgs


def unread_mail(store: BeadStore, to: str) -> list[Message]:
    """What `git gt-prime` shows a fresh agent: mail to it nobody has read yet."""
    return inbox(store, to, unread_only=True)


def get_message(store: BeadStore, message_id: str) -> Message:
    b = Beads(store).cache().get(message_id)
    if b is None or b["deleted"]:
        raise store.not_found(message_id)
    if b["type"] != "message":
        raise NotFound(f"{message_id} is a {b['type']}, not a message",
                       hint="git gt-mail inbox lists your messages")
    return from_bead(b)


def mark_read(store: BeadStore, message_id: str, actor: str) -> Message:
    msg = get_message(store, message_id)
    if msg.read_at:
        return msg
    bead = Beads(store).update(msg.id, actor, {"read_at": model.now_iso()}, op="mail-read")
    return from_bead(bead.to_json())


def ack(store: BeadStore, message_id: str, actor: str) -> Message:
    """Acknowledge (close) a message; it leaves the inbox but stays in `inbox --all`."""
    msg = get_message(store, message_id)
    if msg.acked:
        return msg
    changes: dict[str, Any] = {"status": "closed", "close_reason": "acked"}
    if not msg.read_at:
        changes["read_at"] = model.now_iso()
    bead = Beads(store).update(msg.id, actor, changes, op="mail-ack")
    return from_bead(bead.to_json())


def prime_section(rig: Any, hook: Any) -> str | None:
    """The "Unread mail" part of `git gt-prime` for a polecat (None when there is none).

    Registered in git_gastown.polecat.prime.SECTIONS; RIG is a Rig, HOOK a Hook."""
    msgs = unread_mail(rig.store, str(hook.name))
    if not msgs:
        return None
    out = [f"## Unread mail ({len(msgs)})", ""]
    for m in msgs:
        out.append(f"### {m.id} from {m.sender}: {m.subject}")
        if m.about:
            out.append(f"(about {m.about})")
        if m.body.strip():
            out += ["", m.body.rstrip()]
        out.append("")
    out.append("Mark a message read with `git gt-mail read ID`, and acknowledge it with "
               "`git gt-mail ack ID` once handled; reply with "
               "`git gt-mail send ADDRESS --subject S --reply-to ID`.")
    return "\n".join(out)
