"""The Deacon's patrol: one pass over every rig it knows, with no process left behind.

A patrol runs the Witness (acting on its findings), lands finished convoys, raises
unacknowledged escalations, runs the Dogs that are due, re-kicks a merge queue that has
ready work but no Refinery run, then decides whether the rig still needs watching (the
`hooks-due` marker the git hooks look at) and when the next patrol may start. It is
started by the git hooks (rate-limited, detached), by `git gt-deacon patrol`, or by cron.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown import due, escalate, witness
from git_gastown.errors import GtError
from git_gastown.rig import Rig


@dataclass
class Patrol:
    rig: str
    witness: witness.Report | None = None
    landed: list[str] = field(default_factory=list)
    bumped: list[str] = field(default_factory=list)
    dogs: list[dict[str, Any]] = field(default_factory=list)
    refinery: str = ""
    radar: list[str] = field(default_factory=list)  # "Conflict ahead" messages sent
    watching: bool = False
    next_patrol: str = ""
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    skipped: bool = False  # another patrol of this rig was running

    def to_json(self) -> dict[str, Any]:
        return {"rig": self.rig,
                "witness": self.witness.to_json() if self.witness else None,
                "landed": self.landed, "bumped": self.bumped, "dogs": self.dogs,
                "refinery": self.refinery, "radar": self.radar, "watching": self.watching,
                "next_patrol": self.next_patrol, "errors": self.errors,
                "elapsed": round(self.elapsed, 3), "skipped": self.skipped}


def known_rigs(rig: Rig) -> list[Rig]:
    """The rigs this Deacon patrols: this one (a town's registry adds its rigs, once towns
    exist: gt.town.rigs in git config lists extra rig paths meanwhile)."""
    rigs = [rig]
    seen = {rig.repo.common_dir.resolve()}
    for path in rig.repo.config().get("gt.town.rigs", []):
        try:
            other = Rig.open(Path(path).expanduser())
        except GtError:
            continue
        key = other.repo.common_dir.resolve()
        if key not in seen:
            seen.add(key)
            rigs.append(other)
    return rigs


@contextlib.contextmanager
def _step(report: Patrol, what: str, rig: Rig) -> Iterator[None]:
    """Run one step; a failure is recorded (and logged), the patrol goes on."""
    try:
        yield
    except GtError as err:
        report.errors.append(f"{what}: {err.line()}")
        due.log(rig.repo, f"patrol {what}", err.line())
    except Exception as exc:  # a bug in one step must not stop the others
        text = f"{type(exc).__name__}: {exc}"
        report.errors.append(f"{what}: {text}")
        due.log(rig.repo, f"patrol {what}", traceback.format_exc())


def patrol(rig: Rig, actor: str = "deacon", *, act: bool = True,
           dogs_due_only: bool = True) -> Patrol:
    """One patrol of RIG; skipped (skipped=True) when another one is running there."""
    from git_gastown.store.refs import try_locked

    with try_locked(rig.repo, "patrol") as got:
        if not got:
            return Patrol(rig.name, skipped=True)
        return _patrol(rig, actor, act=act, dogs_due_only=dogs_due_only)


def _patrol(rig: Rig, actor: str, *, act: bool, dogs_due_only: bool) -> Patrol:
    start = time.monotonic()
    report = Patrol(rig.name)
    with _step(report, "witness", rig):
        report.witness = witness.check(rig, apply=act, actor=actor)
    if act:
        from git_gastown import convoy

        with _step(report, "convoys", rig):
            report.landed = [c.name for c in convoy.check_convoys(rig.store, actor)]
        with _step(report, "escalations", rig):
            report.bumped = [r.escalation.id for r in escalate.bump(rig, actor)]
        from git_gastown import dogs

        with _step(report, "dogs", rig):
            report.dogs = [r.to_json() for r in dogs.run(rig, only_due=dogs_due_only)]
        with _step(report, "refinery", rig):
            report.refinery = kick_refinery(rig)
        with _step(report, "radar", rig):
            report.radar = radar_notify(rig)
    with _step(report, "schedule", rig):
        # A failed Witness step leaves the rig watched: better a patrol too many.
        report.watching = report.witness is None or needs_watching(rig, report.witness)
        if act:
            if report.watching:
                due.mark_due(rig.repo)
            else:
                due.clear_due(rig.repo)
            interval = witness.patrol_interval(rig)
            _set_next(rig, time.time() + interval)
            report.next_patrol = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                               time.gmtime(time.time() + interval))
    report.elapsed = time.monotonic() - start
    return report


def _set_next(rig: Rig, when: float) -> None:
    path = rig.repo.runtime_path(due.NEXT)
    if not path.exists():
        path.write_text("the next patrol is not due before this file's mtime\n")
    os.utime(path, (when, when))


# Other features that need the git hooks to keep running while they have work add a
# "module:function" here, called as fn(rig) -> bool (e.g. a merge queue with ready work).
WATCHERS: list[str] = []


def needs_watching(rig: Rig, report: witness.Report | None) -> bool:
    """Whether git hooks should keep starting patrols: a polecat that is not finished, an
    escalation that may still be raised, a mountain convoy still under way, or whatever a
    registered watcher says."""
    if report is not None and any(f.cls not in ("done", "stopped", "nuked")
                                  for f in report.findings):
        return True
    if escalate.pending(rig):
        return True
    from git_gastown import convoy

    if any(c.mountain and c.status != "closed"
           and any(t.status not in ("closed", "blocked") for t in c.tracked)
           for c in convoy.list_convoys(rig.store)):
        return True  # a bead still to do (the blocked ones wait for a person)
    for path in WATCHERS:
        module, _, attr = path.partition(":")
        fn: Any = getattr(importlib.import_module(module), attr)
        if fn(rig):
            return True
    return False


def kick_refinery(rig: Rig) -> str:
    """Start a Refinery run if its queue has ready merge requests and none runs.

    The Refinery is an optional feature: without it this says "absent".
    """
    try:
        runner: Any = importlib.import_module("git_gastown.refinery.runner")
        queue: Any = importlib.import_module("git_gastown.refinery.queue")
        config: Any = importlib.import_module("git_gastown.refinery.config")
    except ImportError:
        return "absent"
    cfg = config.load(rig)
    if not queue.Queue(rig).ready(cfg.target):
        return "idle"
    paused = queue.is_paused(rig.repo)
    if paused is not None:
        return f"paused ({paused})"
    if not rig.repo.config_bool("gt.refinery.autostart", True):
        return "autostart off"
    pid = runner.kick(rig.repo)
    if pid:
        return f"kicked (pid {pid})"
    return "running" if runner.running(rig.repo) is not None else "idle"


def radar_notify(rig: Rig) -> list[str]:
    """The conflict radar: mail both owners of each overlap between live Hooks (or with the
    target) not seen before; returns the message ids."""
    try:
        radar: Any = importlib.import_module("git_gastown.refinery.radar")
        config: Any = importlib.import_module("git_gastown.refinery.config")
    except ImportError:
        return []
    cfg = config.load(rig)
    _branches, _overlaps, sent = radar.scan_and_notify(rig, cfg)
    return list(sent)


# -- cron -----------------------------------------------------------------------------------------

CRON_TAG = "# git-gastown deacon"


def _cron_marker(rig: Rig) -> str:
    return f"{CRON_TAG} {rig.repo.common_dir.resolve()}"


def cron_line(rig: Rig, every_minutes: int) -> str:
    root = due.rig_root(rig.repo)
    log = rig.repo.gt_dir / "logs" / "cron.log"
    cmd = (f"cd {shlex.quote(str(root))} && {shlex.quote(sys.executable)} -m "
           f"git_gastown.cli.deacon patrol --quiet >>{shlex.quote(str(log))} 2>&1")
    return f"*/{every_minutes} * * * * {cmd} {_cron_marker(rig)}"


def _crontab(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["crontab", *args], input=input, capture_output=True, text=True,
                              check=False)
    except FileNotFoundError as exc:
        raise GtError("crontab is not installed",
                      hint="install cron (e.g. apt-get install cron), or run "
                           "git gt-deacon patrol from your own scheduler") from exc


def read_crontab() -> list[str]:
    proc = _crontab("-l")
    if proc.returncode != 0:
        if "no crontab" in proc.stderr.lower():
            return []
        raise GtError(f"crontab -l failed: {proc.stderr.strip()}")
    return proc.stdout.splitlines()


def _write_crontab(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    proc = _crontab("-", input=text)
    if proc.returncode != 0:
        raise GtError(f"crontab refused the new table: {proc.stderr.strip()}",
                      hint="nothing was changed")


def cron_install(rig: Rig, every_minutes: int) -> tuple[str, bool]:
    """Add (or replace) this rig's patrol line; return it and whether anything changed."""
    from git_gastown.errors import UsageError

    if not 1 <= every_minutes <= 59:
        raise UsageError("--every must be 1-59 minutes")
    marker = _cron_marker(rig)
    lines = read_crontab()
    line = cron_line(rig, every_minutes)
    kept = [ln for ln in lines if not ln.endswith(marker)]
    if line in lines and len(kept) == len(lines) - 1:
        return line, False
    rig.repo.runtime_path("logs", "cron.log")
    _write_crontab([*kept, line])
    return line, True


def cron_uninstall(rig: Rig) -> bool:
    marker = _cron_marker(rig)
    lines = read_crontab()
    kept = [ln for ln in lines if not ln.endswith(marker)]
    if len(kept) == len(lines):
        return False
    _write_crontab(kept)
    return True


def cron_status(rig: Rig) -> str:
    marker = _cron_marker(rig)
    for ln in read_crontab():
        if ln.endswith(marker):
            return ln
    return ""
