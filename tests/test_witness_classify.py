"""The Witness's classification and action rules, as a table (the process-level behaviour
is in test_witness.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from git_gastown.polecat_view import Polecat
from git_gastown.witness import Thresholds, _action, classify

NOW = 1_000_000.0
TH = Thresholds(idle_after=600, hung_after=1800, max_resumes=3, start_grace=120,
                dead_grace=60, stall_after=3600, max_attempts=3)


def cat(**kw: Any) -> Polecat:
    base: dict[str, Any] = dict(
        name="nux", status="running", beads=("gt-a",), agent="claude", convoy="",
        branch="gt/gt/nux", worktree=Path("/nonexistent"), run_id="r1", pid=10, runner_pid=9,
        pgid=10,
        agent_alive=True, runner_alive=True, waiting="", exit_code=None, finished=(),
        attempts={"gt-a": 1}, started_at=NOW - 3000, last_event_at=NOW - 5,
        last_commit_at=None, heartbeat_at=NOW - 2)
    base.update(kw)
    return Polecat(**base)


@pytest.mark.parametrize("kw, open_beads, dirty, expected", [
    ({}, ["gt-a"], False, ("ok", "none")),
    ({"last_event_at": NOW - 700}, ["gt-a"], False, ("idle", "none")),
    ({"last_event_at": NOW - 2000}, ["gt-a"], False, ("hung", "resume")),
    ({"last_event_at": NOW - 2000, "last_commit_at": NOW - 10}, ["gt-a"], False, ("ok", "none")),
    ({"denied": ("Bash: git push",)}, ["gt-a"], False, ("permission_denied", "escalate")),
    ({"status": "exited", "agent_alive": False, "runner_alive": False, "exit_code": 0,
      "denied": ("Bash: git push",), "heartbeat_at": NOW - 100, "last_event_at": NOW - 100},
     ["gt-a"], False, ("permission_denied", "escalate")),  # a resume would be refused too
    ({"denied": ("Bash: git push",), "last_event_at": NOW - 2000}, ["gt-a"], False,
     ("hung", "resume")),
    ({"waiting": "input"}, ["gt-a"], False, ("waiting_input", "escalate")),
    ({"runner_alive": False, "heartbeat_at": NOW - 100, "last_event_at": NOW - 100},
     ["gt-a"], False, ("orphaned", "resume")),
    ({"agent_alive": False, "runner_alive": False, "heartbeat_at": NOW - 100,
      "last_event_at": NOW - 100}, ["gt-a"], False, ("dead", "resume")),
    ({"agent_alive": False, "runner_alive": False, "heartbeat_at": NOW - 10},
     ["gt-a"], False, ("dead", "none")),  # within deadGrace
    ({"agent_alive": False, "runner_alive": False, "heartbeat_at": NOW - 100,
      "last_event_at": NOW - 100}, ["gt-a"], True, ("dead_dirty", "checkpoint")),
    ({"agent_alive": False, "runner_alive": False, "heartbeat_at": NOW - 100,
      "last_event_at": NOW - 100, "attempts": {"gt-a": 4}}, ["gt-a"], False,
     ("dead", "escalate")),
    ({"agent_alive": False, "runner_alive": False, "heartbeat_at": NOW - 100,
      "last_event_at": NOW - 100}, [], False, ("dead", "none")),  # its beads are closed
    ({"status": "spawning", "runner_pid": 0, "agent_alive": False, "runner_alive": False,
      "started_at": NOW - 30, "last_event_at": None, "heartbeat_at": None}, ["gt-a"], False,
     ("starting", "none")),
    ({"status": "spawning", "runner_pid": 0, "agent_alive": False, "runner_alive": False,
      "started_at": NOW - 300, "last_event_at": None, "heartbeat_at": None}, ["gt-a"], False,
     ("dead", "resume")),
    ({"status": "exited", "agent_alive": False, "runner_alive": False, "exit_code": 2,
      "heartbeat_at": NOW - 100, "last_event_at": NOW - 100}, ["gt-a"], False,
     ("exited_unfinished", "resume")),
    ({"status": "exited", "agent_alive": False, "runner_alive": False, "exit_code": 0,
      "finished": ("gt-a",)}, ["gt-a"], False, ("done", "none")),
    ({"status": "stopped", "agent_alive": False, "runner_alive": False}, ["gt-a"], False,
     ("stopped", "none")),
    ({"status": "done", "agent_alive": False, "runner_alive": False}, [], False,
     ("done", "none")),
])
def test_class_and_action(kw: dict[str, Any], open_beads: list[str], dirty: bool,
                          expected: tuple[str, str]) -> None:
    p = cat(**kw)
    cls, _ = classify(p, open_beads, TH, NOW, dirty)
    assert (cls, _action(cls, p, open_beads, TH, set(), NOW)) == expected


def test_exited_with_unlanded_work_is_not_done() -> None:
    p = cat(status="exited", agent_alive=False, runner_alive=False, exit_code=0)
    assert classify(p, [], TH, NOW) == ("done", "every bead is closed or blocked")
    cls, detail = classify(p, [], TH, NOW, unlanded="2 commits on gt/gt/nux neither ...")
    assert (cls, _action(cls, p, [], TH, set(), NOW)) == ("exited_unlanded", "escalate")
    assert detail.startswith("exited without git gt-done: 2 commits")


def test_a_refused_gt_done_is_escalated_unless_the_beads_were_closed() -> None:
    p = cat(status="exited", agent_alive=False, runner_alive=False, exit_code=0,
            finished=("gt-a",))
    why = "conflict markers left in doc.md on gt/gt/nux; resolve them ..."
    cls, detail = classify(p, ["gt-a"], TH, NOW, refused=why)
    assert (cls, _action(cls, p, ["gt-a"], TH, set(), NOW)) == ("done_refused", "escalate")
    assert detail == f"git gt-done was refused: {why}"
    assert classify(p, [], TH, NOW, refused=why)[0] == "done"  # a person closed them


def test_mountain_bead_is_blocked_after_max_attempts() -> None:
    p = cat(status="exited", agent_alive=False, runner_alive=False, exit_code=1,
            heartbeat_at=NOW - 100, last_event_at=NOW - 100, attempts={"gt-a": 3})
    cls, _ = classify(p, ["gt-a"], TH, NOW)
    assert _action(cls, p, ["gt-a"], TH, {"gt-a"}, NOW) == "block"
    assert _action(cls, p, ["gt-a"], TH, set(), NOW) == "resume"  # not a mountain: 2 resumes so far
