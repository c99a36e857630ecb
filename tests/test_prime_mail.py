"""git gt-prime shows a polecat its unread mail (the Hook layer calls mail.prime_section)."""

from __future__ import annotations

from conftest import Repo


def test_prime_shows_unread_mail_only(rig: Repo) -> None:
    rig.env.update(GT_HOOKS="0")
    bead = rig.create("job", "--field", "run=sleep 5")
    rig.gt("polecat", "spawn", "--bead", bead, "--name", "nux")
    first = rig.gt("mail", "send", "nux", "-s", "Use API v2", "-b", "v1 is going away",
                   "--about", bead).out.strip()
    read = rig.gt("mail", "send", "nux", "-s", "Already seen").out.strip()
    rig.gt("mail", "read", read)
    text = rig.gt("prime", "--hook", "nux").out
    assert "## Unread mail (1)" in text
    assert f"### {first} from overseer: Use API v2" in text and "v1 is going away" in text
    assert "Already seen" not in text
    rig.gt("mail", "ack", first)
    assert "Unread mail" not in rig.gt("prime", "--hook", "nux").out
