"""git gt-escalate: severities, routing to mail and a notify command, bumping, ack, close."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import Repo


def _notifier(tmp_path: Path) -> Path:
    """A notify command that appends its argv, stdin and env to a JSONL file."""
    script = tmp_path / "notify.py"
    out = tmp_path / "notified.jsonl"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "data = json.load(sys.stdin)\n"
        f"with open({str(out)!r}, 'a') as fh:\n"
        "    fh.write(json.dumps({'argv': sys.argv[1:], 'stdin': data,\n"
        "        'env': os.environ.get('GT_ESCALATION_SEVERITY')}) + '\\n')\n"
        "sys.exit(3 if data['message'] == 'fail me' else 0)\n")
    script.chmod(0o755)
    return script


def _notified(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "notified.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _subjects(repo: Repo, box: str) -> list[str]:
    return sorted(m["subject"] for m in repo.gt("mail", "inbox", "-m", box, "--json").json())


def test_severity_sets_priority_and_default_routes(repo: Repo) -> None:
    task = repo.create("flaky deploy")
    out = repo.gt("escalate", "-s", "high", "deploys keep failing", "--bead", task,
                  "--json").json()
    assert (out["severity"], out["priority"], out["status"], out["bead"]) == \
        ("high", 1, "open", task)
    assert [r["route"] for r in out["routes"]] == ["mail:overseer", "mail:mayor"]
    assert all(r["ok"] for r in out["routes"])
    assert _subjects(repo, "overseer") == ["[HIGH P1] deploys keep failing"]
    bead = repo.show(out["id"])
    assert bead["type"] == "escalation" and bead["priority"] == 1
    assert {"type": "related", "id": task} in bead["dependencies"]
    assert "created: routed mail:overseer ok" in bead["comments"][0]["text"]
    medium = repo.gt("escalate", "-s", "medium", "minor", "--json").json()
    assert medium["priority"] == 2 and [r["route"] for r in medium["routes"]] == ["mail:mayor"]


def test_notify_gets_json_on_stdin_without_a_shell(repo: Repo, tmp_path: Path) -> None:
    script = _notifier(tmp_path)
    (repo.path / ".gastown.toml").write_text(
        f'[escalation]\nnotify = "{script} --channel \'ops room\'"\n'
        '[escalation.routes]\ncritical = ["notify", "mail:overseer"]\n')
    message = "prod is down; $(touch pwned) `touch pwned2`"
    out = repo.gt("escalate", "-s", "critical", message, "--json").json()
    assert [r["ok"] for r in out["routes"]] == [True, True]
    (call,) = _notified(tmp_path)
    assert call["argv"] == ["--channel", "ops room"]
    assert call["env"] == "critical"
    stdin = call["stdin"]
    assert isinstance(stdin, dict)
    assert (stdin["id"], stdin["message"], stdin["priority"], stdin["event"]) == \
        (out["id"], message, 0, "created")
    assert not (repo.path / "pwned").exists() and not (repo.path / "pwned2").exists()


def test_route_failure_is_reported_not_fatal(repo: Repo, tmp_path: Path) -> None:
    script = _notifier(tmp_path)
    repo.git("config", "gt.escalation.notify", str(script))
    res = repo.gt("escalate", "-s", "critical", "fail me")
    assert res.code == 0 and "notify: FAILED" in res.err and "exited 3" in res.err
    repo.git("config", "gt.escalation.notify", str(tmp_path / "missing-program"))
    res = repo.gt("escalate", "-s", "critical", "again", "--json").json()
    failed = [r for r in res["routes"] if not r["ok"]]
    assert failed[0]["detail"].startswith("command not found")
    assert len(repo.gt("escalate", "list", "--json").json()) == 2  # both recorded


def test_unacknowledged_escalations_are_raised_and_rerouted(repo: Repo, tmp_path: Path) -> None:
    script = _notifier(tmp_path)
    (repo.path / ".gastown.toml").write_text(
        f'[escalation]\nnotify = ["{script}"]\nbumpAfter = {{medium = "0s", high = "0s"}}\n'
        '[escalation.routes]\nmedium = ["mail:mayor"]\nhigh = ["mail:overseer"]\n'
        'critical = ["notify"]\n')
    eid = repo.gt("escalate", "-s", "medium", "slow tests").out.split(":")[0]
    acked = repo.gt("escalate", "-s", "medium", "handled").out.split(":")[0]
    repo.gt("escalate", "ack", acked)
    first = repo.gt("escalate", "bump", "--json").json()
    assert [(r["id"], r["severity"], r["bumps"]) for r in first] == [(eid, "high", 1)]
    assert _subjects(repo, "overseer") == ["[HIGH P1] slow tests (raised after 1 bump)"]
    # any escalate command bumps what is due before it answers
    listed = repo.gt("escalate", "list", "--json").json()
    top = listed[0]
    assert (top["id"], top["severity"], top["priority"], top["bumps"]) == (eid, "critical", 0, 2)
    (call,) = _notified(tmp_path)
    assert call["stdin"]["event"] == "bumped"  # type: ignore[index]
    assert repo.gt("escalate", "bump", "--json").json() == []  # critical is the top
    assert repo.show(acked)["priority"] == 2  # the acknowledged one never moved


def test_bump_waits_for_bump_after(repo: Repo) -> None:
    repo.gt("escalate", "-s", "medium", "later")
    assert repo.gt("escalate", "bump").out.strip() == "nothing to raise"  # default 30m
    repo.git("config", "gt.escalation.bumpAfter", "never")
    assert repo.gt("escalate", "bump", "--json").json() == []


def test_ack_close_and_errors(repo: Repo) -> None:
    eid = repo.gt("escalate", "-s", "high", "disk full").out.split(":")[0]
    acked = repo.gt("escalate", "ack", eid, "--actor", "alice", "--json").json()[0]
    assert acked["status"] == "acked" and acked["acked_by"] == "alice"
    assert "acked by alice" in repo.gt("escalate", "list").out
    repo.gt("escalate", "close", eid, "--reason", "cleaned")
    assert repo.gt("escalate", "list", "--json").json() == []
    closed = repo.gt("escalate", "list", "--all", "--json").json()[0]
    assert closed["status"] == "closed"
    again = repo.gt("escalate", "ack", eid, check=False)
    assert again.code == 4 and "already closed" in again.err
    tip = repo.git("rev-parse", "refs/gt/beads")
    assert repo.gt("escalate", "-s", "urgent", "x", check=False).code == 2
    assert repo.gt("escalate", "-s", "high", "  ", check=False).code == 2
    assert repo.gt("escalate", "-s", "high", "x", "--bead", "gt-zzzzz", check=False).code == 3
    assert repo.gt("escalate", "raise", "x", check=False).code == 2  # -s is required
    assert repo.git("rev-parse", "refs/gt/beads") == tip
    task = repo.create("t")
    assert repo.gt("escalate", "show", task, check=False).code == 3
    shown = repo.gt("escalate", "show", eid, "--json").json()
    assert shown["log"] and shown["status"] == "closed"


def test_bad_route_setting_is_a_clear_error(repo: Repo) -> None:
    (repo.path / ".gastown.toml").write_text('[escalation.routes]\nhigh = ["pager"]\n')
    tip = repo.git("rev-parse", "refs/gt/beads")
    res = repo.gt("escalate", "-s", "high", "x", check=False)
    assert res.code == 2 and "unknown escalation route 'pager'" in res.err
    assert repo.git("rev-parse", "refs/gt/beads") == tip
