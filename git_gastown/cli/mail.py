"""git gt-mail: send, list, read and acknowledge messages between agents and roles."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from git_gastown.cli.common import (
    CONTEXT,
    actor_for,
    actor_option,
    emit_json,
    json_option,
    open_rig,
    run,
    style,
)

if TYPE_CHECKING:
    from git_gastown.mail import Message

MAILBOX_HELP = ("Whose mailbox (default: $GT_HOOK inside a polecat, else $GT_ROLE, "
                "else overseer).")


MAN_SECTIONS = (
    ("Examples", """\
A polecat asks the Mayor, the Mayor answers (inside a polecat, $GT_HOOK names the
mailbox; a person at the terminal is the overseer):

    git gt-mail send mayor --subject "Which API version?" --body "v1 or v2 for /login?"
    GT_ROLE=mayor git gt-mail inbox
    GT_ROLE=mayor git gt-mail send nux --subject "v2" --reply-to gt-k2j4h
    git gt-mail read gt-k2j4h
    git gt-mail ack gt-k2j4h
"""),
    ("Storage", """\
A message is a bead of type message: its title is the subject, its description the body,
and its fields to, from, read_at, reply_to and about say the rest. It syncs with the
other beads; ack closes it, so `git gt-bead list --type message --all` shows them all.
"""),
)


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """Mail between agents and roles, stored as beads of type message.

    Addresses are the roles mayor, overseer (the human), deacon and refinery, or the
    name of a polecat of this rig. A message stays in its recipient's inbox until it is
    acknowledged (`ack` closes it); `read` marks it read. Mail syncs with the beads, and
    `git gt-prime` shows a fresh agent its unread mail.
    """


def _line(m: Message) -> str:
    mark = style("*", fg="yellow", bold=True) if m.unread else " "
    state = " (acked)" if m.acked else ""
    return f"{mark} {style(m.id, bold=True)}  {m.created_at}  from {m.sender}: {m.subject}{state}"


@cli.command(context_settings=CONTEXT)
@click.argument("to", metavar="TO...", nargs=-1, required=True)
@click.option("-s", "--subject", required=True, metavar="TEXT", help="One line.")
@click.option("-b", "--body", default="", metavar="TEXT", help="The message text ('-': stdin).")
@click.option("--from", "sender", metavar="ADDR",
              help="Reply address (default: your mailbox, as for inbox).")
@click.option("--reply-to", metavar="ID", default="", help="The message this answers.")
@click.option("--about", metavar="ID", default="", help="A bead the message concerns.")
@actor_option
@json_option
def send(to: tuple[str, ...], subject: str, body: str, sender: str | None, reply_to: str,
         about: str, actor: str | None, as_json: bool) -> None:
    """Send a message to each address TO; print the new message ids."""
    from git_gastown import mail

    rig = open_rig()
    if body == "-":
        body = sys.stdin.read()
    for addr in to:
        mail.check_address(rig.store, addr)  # refuse before writing any
    if about:
        from git_gastown.beads.ops import Beads

        if Beads(rig.store).cache().get(about) is None:
            raise rig.store.not_found(about)
    who = actor_for(rig, actor)
    sent = [mail.send_mail(rig.store, addr, subject, body, who, sender=sender,
                           reply_to=reply_to, about=about) for addr in to]
    if as_json:
        emit_json([m.to_json() for m in sent])
        return
    for m in sent:
        click.echo(m.id)


@cli.command(context_settings=CONTEXT)
@click.option("-m", "--mailbox", metavar="ADDR", help=MAILBOX_HELP)
@click.option("--all", "show_all", is_flag=True, help="Include acknowledged messages.")
@click.option("--unread", is_flag=True, help="Only messages not read yet.")
@json_option
def inbox(mailbox: str | None, show_all: bool, unread: bool, as_json: bool) -> None:
    """List the messages in a mailbox, oldest first (* marks unread)."""
    from git_gastown import mail
    from git_gastown.escalate import maybe_bump

    rig = open_rig()
    maybe_bump(rig, actor_for(rig, None))  # escalations due a raise show up in this inbox
    box = mail.default_mailbox(mailbox)
    msgs = mail.inbox(rig.store, box, include_acked=show_all, unread_only=unread)
    if as_json:
        emit_json([m.to_json() for m in msgs])
        return
    if not msgs:
        click.echo(f"no messages for {box}")
        return
    for m in msgs:
        click.echo(_line(m))


def _full(m: Message) -> str:
    out = [f"{style(m.id, bold=True)}: {m.subject}",
           f"  from {m.sender} to {m.to}, {m.created_at}"]
    if m.reply_to:
        out.append(f"  in reply to {m.reply_to}")
    if m.about:
        out.append(f"  about {m.about}")
    if m.acked:
        out.append(f"  acknowledged {m.acked_at}")
    if m.body:
        out += ["", m.body.rstrip("\n")]
    return "\n".join(out)


@cli.command(context_settings=CONTEXT)
@click.argument("message_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--peek", is_flag=True, help="Do not mark the messages read.")
@actor_option
@json_option
def read(message_ids: tuple[str, ...], peek: bool, actor: str | None, as_json: bool) -> None:
    """Show messages in full and mark them read."""
    from git_gastown import mail

    rig = open_rig()
    msgs = [mail.get_message(rig.store, mid) for mid in message_ids]
    if not peek:
        who = actor_for(rig, actor)
        msgs = [mail.mark_read(rig.store, m.id, who) for m in msgs]
    if as_json:
        emit_json([m.to_json() for m in msgs])
        return
    click.echo("\n\n".join(_full(m) for m in msgs))


@cli.command(context_settings=CONTEXT)
@click.argument("message_ids", metavar="ID...", nargs=-1, required=True)
@actor_option
@json_option
def ack(message_ids: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Acknowledge messages: they leave the inbox (inbox --all still lists them)."""
    from git_gastown import mail

    rig = open_rig()
    for mid in message_ids:
        mail.get_message(rig.store, mid)  # all exist before any changes
    who = actor_for(rig, actor)
    done = [mail.ack(rig.store, mid, who) for mid in message_ids]
    if as_json:
        emit_json([m.to_json() for m in done])
        return
    for m in done:
        click.echo(f"{m.id}: acknowledged")


def main(argv: Sequence[str] | None = None, prog: str = "git gt-mail") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
