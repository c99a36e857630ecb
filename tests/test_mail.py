"""git gt-mail: addresses, send, inbox, read, ack, and the functions other features call."""

from __future__ import annotations

from conftest import Repo


def _ids(repo: Repo, *args: str) -> list[str]:
    return [m["id"] for m in repo.gt("mail", "inbox", "--json", *args).json()]


def test_round_trip_send_inbox_read_ack(repo: Repo) -> None:
    mid = repo.gt("mail", "send", "mayor", "-s", "Need review", "-b", "line 1\nline 2").out.strip()
    box = repo.gt("mail", "inbox", "-m", "mayor", "--json").json()
    assert [m["id"] for m in box] == [mid]
    m = box[0]
    assert (m["to"], m["from"], m["subject"], m["body"]) == ("mayor", "overseer", "Need review",
                                                             "line 1\nline 2")
    assert m["read"] is False and m["acked"] is False
    assert repo.gt("mail", "inbox", "-m", "mayor").out.startswith("* ")  # unread mark

    shown = repo.gt("mail", "read", mid).out
    assert "Need review" in shown and "line 2" in shown
    assert repo.gt("mail", "inbox", "-m", "mayor", "--unread", "--json").json() == []
    assert _ids(repo, "-m", "mayor") == [mid]  # read but not acked: still in the inbox

    repo.gt("mail", "ack", mid)
    assert _ids(repo, "-m", "mayor") == []
    everything = repo.gt("mail", "inbox", "-m", "mayor", "--all", "--json").json()
    assert everything[0]["acked"] is True and everything[0]["read"] is True
    # mail is beads: one commit each for send, read, ack
    log = repo.git("log", "--format=%s", "refs/gt/beads")
    assert f"mail-ack {mid}" in log and f"mail-read {mid}" in log


def test_mailbox_defaults_to_polecat_then_role(repo: Repo) -> None:
    repo.gt("mail", "send", "deacon", "-s", "for the deacon")
    env = dict(repo.env, GT_ROLE="deacon")
    out = repo.run("git-gt-mail", "inbox", "--json", env=env).json()
    assert [m["subject"] for m in out] == ["for the deacon"]
    assert repo.gt("mail", "inbox", "--json").json() == []  # overseer's box is empty
    sent = repo.run("git-gt-mail", "send", "overseer", "-s", "hi", "--json", env=env).json()
    assert sent[0]["from"] == "deacon"


def test_polecat_address_needs_a_hook_ref(repo: Repo) -> None:
    bad = repo.gt("mail", "send", "nux", "-s", "x", check=False)
    assert bad.code == 2 and "unknown mail address 'nux'" in bad.err
    assert "mayor, overseer, deacon, refinery" in bad.err
    # a polecat exists once its Hook's state ref does
    head = repo.git("rev-parse", "HEAD")
    repo.git("update-ref", "refs/gt/hooks/nux", head)
    mid = repo.gt("mail", "send", "nux", "mayor", "-s", "two at once").out.split()
    assert len(mid) == 2
    assert len(repo.gt("mail", "inbox", "-m", "nux", "--json").json()) == 1


def test_bad_input_changes_nothing(repo: Repo) -> None:
    tip = repo.git("rev-parse", "refs/gt/beads")
    assert repo.gt("mail", "send", "mayor", "nobody", "-s", "x", check=False).code == 2
    empty = repo.gt("mail", "send", "mayor", "-s", "", check=False)
    assert empty.code == 2 and "the subject is empty" in empty.err and "title" not in empty.err
    assert "the subject is empty" in repo.gt("mail", "send", "mayor", "-s", "  ",
                                             check=False).err
    assert repo.gt("mail", "send", "mayor", "-s", "two\nlines", check=False).code == 2
    missing = repo.gt("mail", "read", "gt-zzzzz", check=False)
    assert missing.code == 3 and "no bead gt-zzzzz" in missing.err
    task = repo.create("a task")
    assert repo.gt("mail", "ack", task, check=False).code == 3
    assert repo.git("rev-parse", "refs/gt/beads") != tip  # only the task was created
    err = repo.gt("mail", "read", "gt-zzzzz", "--json", check=False).err
    assert '"code": "not_found"' in err


def test_reply_and_about(repo: Repo) -> None:
    task = repo.create("fix it")
    first = repo.gt("mail", "send", "mayor", "-s", "q", "--about", task).out.strip()
    env = dict(repo.env, GT_ROLE="mayor")
    reply = repo.run("git-gt-mail", "send", "overseer", "-s", "a", "--reply-to", first,
                     "--json", env=env).json()[0]
    assert reply["reply_to"] == first and reply["from"] == "mayor"
    assert repo.gt("mail", "read", first, "--json").json()[0]["about"] == task


def test_unread_mail_function_for_prime(repo: Repo) -> None:
    import subprocess
    import sys

    repo.gt("mail", "send", "refinery", "-s", "one")
    repo.gt("mail", "send", "refinery", "-s", "two")
    code = ("from git_gastown.rig import Rig; from git_gastown.mail import unread_mail;"
            "print(sorted(m.subject for m in unread_mail(Rig.open().store, 'refinery')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo.path, env=repo.env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['one', 'two']"
