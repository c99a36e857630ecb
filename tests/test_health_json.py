"""docs/json.md documents exactly the fields mail, escalate, convoy, witness, deacon and
dogs print."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Repo

DOC = (Path(__file__).resolve().parents[1] / "docs" / "json.md").read_text()


def tables(heading: str) -> list[set[str]]:
    """The first-column names of each field table under HEADING (up to the next heading)."""
    m = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", DOC, re.M | re.S)
    assert m, f"docs/json.md has no section {heading!r}"
    found: list[set[str]] = []
    current: set[str] | None = None
    for line in m.group(1).splitlines():
        if line.startswith("| field |"):
            current = set()
            found.append(current)
        elif current is not None and line.startswith("| `"):
            current.add(line.split("|")[1].strip().strip("`"))
        elif not line.startswith("|"):
            current = None
    return found


def test_mail_and_escalation_fields(repo: Repo, tmp_path: Path) -> None:
    (message,) = tables("git gt-mail")
    mid = repo.gt("mail", "send", "mayor", "-s", "x", "--json").json()[0]
    assert set(mid) == message
    for cmd in (("inbox", "-m", "mayor"), ("read", mid["id"]), ("ack", mid["id"])):
        assert set(repo.gt("mail", *cmd, "--json").json()[0]) == message
    (esc,) = tables("git gt-escalate")
    extra, route = tables("git gt-escalate raise and bump")
    script = tmp_path / "cat.sh"
    payload = tmp_path / "payload.json"
    script.write_text(f"#!/bin/sh\ncat > {payload}\n")
    script.chmod(0o755)
    repo.git("config", "gt.escalation.notify", str(script))
    raised = repo.gt("escalate", "-s", "critical", "x", "--json").json()
    assert set(raised) == esc | extra and set(raised["routes"][0]) == route
    import json

    (notify,) = tables("The escalation notify command")
    assert set(json.loads(payload.read_text())) == esc | notify
    assert set(repo.gt("escalate", "list", "--json").json()[0]) == esc
    assert set(repo.gt("escalate", "show", raised["id"], "--json").json()) == esc | {"log"}
    assert set(repo.gt("escalate", "ack", raised["id"], "--json").json()[0]) == esc
    assert set(repo.gt("escalate", "close", raised["id"], "--json").json()[0]) == esc


def test_convoy_dogs_deacon_witness_fields(repo: Repo, tmp_path: Path) -> None:
    conv, tracked = tables("git gt-convoy")
    a = repo.create("a")
    made = repo.gt("convoy", "create", "--name", "c", a, "--json").json()
    assert set(made) == conv and set(made["beads"][0]) == tracked
    assert set(repo.gt("convoy", "status", "--json").json()[0]) == conv - {"beads"}
    assert set(repo.gt("convoy", "list", "--json").json()[0]) == conv - {"beads"}
    (dispatch,) = tables("git gt-convoy dispatch")
    assert dispatch == {"convoy", "max", "active", "started", "failed"}
    (dog_list,) = tables("git gt-dogs list")
    (dog_run,) = tables("git gt-dogs run")
    assert set(repo.gt("dogs", "list", "--json").json()[0]) == dog_list
    assert set(repo.gt("dogs", "run", "gc", "--json").json()[0]) == dog_run
    (patrol,) = tables("git gt-deacon")
    report = repo.gt("deacon", "patrol", "--json").json()[0]
    assert set(report) == patrol
    (witness,) = tables("git gt-witness")
    assert set(report["witness"]) == witness
    (cron,) = tables("git gt-deacon cron")
    assert cron == {"line", "changed", "removed", "installed"}
