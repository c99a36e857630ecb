"""git gt-refinery: the merge queue (enqueue, run, status, list, log, retry, reject, radar)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from git_gastown.cli.common import CONTEXT, actor_option, emit_json, json_option, run, style


class Ctx:
    """The opened rig, made on first use so `--help` never touches git."""

    def __init__(self) -> None:
        from git_gastown.rig import Rig

        self.rig = Rig.open()

    def actor(self, given: str | None) -> str:
        from git_gastown.rig import resolve_actor

        return resolve_actor(self.rig.repo, given)


def ctx() -> Ctx:
    c = click.get_current_context()
    root = c.find_root()
    if root.obj is None:
        root.obj = Ctx()
    assert isinstance(root.obj, Ctx)
    return root.obj


def _config(target: str | None = None) -> Any:
    from git_gastown.refinery import config

    return config.load(ctx().rig, target)


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """The Refinery: a local merge queue that batches, verifies, bisects and lands work.

    Merge requests are refs/gt/mq/<id> (the branch tip) plus a merge-request bead; every
    batch is recorded in refs/gt/mq-ledger. Gates come from the [refinery] table of
    .gastown.toml as committed on the target branch (never from a candidate):

    \b
        [refinery]
        gates = ["make lint", "make test"]   # shell commands, run in order
        timeout = 1800                        # seconds per gate
        maxBatch = 8                          # largest batch
        target = "main"                       # default: the repo's default branch

    git config gt.refinery.<key> overrides a key locally; gt.refinery.push = true pushes
    each landing to the remote (gt.refinery.remote, default origin); gt.refinery.autostart
    = false stops enqueue, git gt-done, post-merge and the Deacon from starting runs (start
    them with git gt-refinery run). Exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found,
    4 refused by the current state.
    """


# -- enqueue ------------------------------------------------------------------------------


@cli.command()
@click.argument("branch", required=False)
@click.option("--priority", "-p", type=int, default=2, show_default=True,
              help="Lane 0-4; 0 lands first.")
@click.option("--hotfix", is_flag=True, help="Test alone at the head of the queue.")
@click.option("--bead", "beads", multiple=True, metavar="ID",
              help="A bead this work finishes (closed when it lands). Repeatable.")
@click.option("--target", metavar="BRANCH", help="Branch to land on (default: from settings).")
@click.option("--no-run", is_flag=True, help="Queue only; do not start the Refinery.")
@actor_option
@json_option
def enqueue(branch: str | None, priority: int, hotfix: bool, beads: tuple[str, ...],
            target: str | None, no_run: bool, actor: str | None, as_json: bool) -> None:
    """Queue BRANCH (default: the current branch) at its tip; idempotent per branch and commit.

    A branch already queued at an older commit moves to the new tip. The Refinery is
    started in the background unless --no-run is given, the queue is paused, or
    gt.refinery.autostart is false.
    """
    from git_gastown.errors import UsageError
    from git_gastown.refinery import hooks, runner
    from git_gastown.refinery.queue import Queue

    c = ctx()
    cfg = _config(target)
    if branch is None:
        branch = c.rig.repo.head_branch()
        if branch is None:
            raise UsageError("HEAD is detached and no BRANCH was given",
                             hint="name the branch: git gt-refinery enqueue BRANCH")
    hook = hooks.hook_for_branch(c.rig.repo, branch.removeprefix("refs/heads/")) or ""
    mr, what = Queue(c.rig).enqueue(branch, c.actor(actor), target=cfg.target,
                                    priority=priority, hotfix=hotfix, beads=beads,
                                    hook=hook, polecat=hook)
    pid = None if no_run else runner.kick(c.rig.repo)
    if as_json:
        emit_json({"mr": mr.to_json(), "enqueued": what, "refinery_pid": pid})
        return
    verb = {"queued": "queued", "updated": "moved to the new tip", "unchanged": "already queued"}
    click.echo(f"{mr.id}: {mr.branch} at {mr.commit[:12]} {verb[what]} for {mr.target}"
               + (" (hotfix)" if mr.hotfix else ""))
    if pid:
        click.echo(f"refinery started (pid {pid}); follow it with git gt-refinery status")


# -- run ----------------------------------------------------------------------------------


@cli.command("run")
@click.option("--foreground", is_flag=True, help="Run here and print progress (default: detach).")
@click.option("--target", metavar="BRANCH", help="Branch to land on (default: from settings).")
@json_option
def run_cmd(foreground: bool, target: str | None, as_json: bool) -> None:
    """Drain the queue once: batch, verify, bisect, land; then exit.

    One run per repository at a time: a second run exits at once saying one is running
    (that run re-checks the queue before it exits, so nothing is left behind). Without
    --foreground the run is started detached (log: $GIT_COMMON_DIR/gt/logs/refinery.log).
    """
    from git_gastown.refinery import runner

    c = ctx()
    if not foreground:
        _config(target)  # fail here, not in the log, on bad settings
        live = runner.running(c.rig.repo)
        pid = None if live else runner.kick(c.rig.repo, explicit=True)
        if as_json:
            emit_json({"started": pid is not None, "pid": pid or (live or {}).get("pid", 0),
                       "log": str(runner.log_path(c.rig.repo))})
            return
        if pid:
            click.echo(f"refinery started (pid {pid}); log: {runner.log_path(c.rig.repo)}")
        elif live:
            click.echo(f"the refinery is already running (pid {live.get('pid', '?')})")
        else:
            click.echo("the queue is paused: git gt-refinery resume")
        return

    def log(line: str) -> None:
        if not as_json:
            click.echo(f"{time.strftime('%H:%M:%S')} {line}", err=False)
            sys.stdout.flush()

    import signal

    def stop(signum: int, _frame: object) -> None:
        # Unwind like Ctrl-C: the gate's process group is killed, the batch is recorded as
        # aborted and the lock released; the next run requeues what was under test.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    report = runner.run(c.rig, log, target)
    if report is None:
        live = runner.running(c.rig.repo) or {}
        if as_json:
            emit_json({"ran": False, "running_pid": live.get("pid", 0)})
        else:
            click.echo(f"the refinery is already running (pid {live.get('pid', '?')}); "
                       "it will take this queue too")
        return
    if as_json:
        emit_json({"ran": True, **report.to_json()})
        return
    click.echo(f"done: {report.landed} landed, {report.rejected} rejected, "
               f"{report.conflicts} conflict, {report.runs} gate run(s) in "
               f"{len(report.batches)} batch(es)" + (f"; {report.stopped}" if report.stopped
                                                      else ""))


# -- reads --------------------------------------------------------------------------------


def _mr_line(m: Any) -> str:
    color = {"queued": "yellow", "testing": "cyan", "landed": "green", "rejected": "red",
             "conflict": "red"}.get(m.state)
    flags = " hotfix" if m.hotfix else ""
    shown = ("queued", "rejected", "conflict", "landed")  # queued: why it waits, if held
    extra = f"  {m.reason}" if m.reason and m.state in shown else ""
    return (f"{style(m.id, bold=True)}  P{m.priority}{flags}  {style(m.state, fg=color)}  "
            f"{m.branch} @ {m.commit[:10]}{extra}")


@cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include landed, rejected and conflict MRs.")
@click.option("--state", "states", multiple=True,
              type=click.Choice(["queued", "testing", "landed", "rejected", "conflict"]),
              help="Only MRs in this state (repeatable).")
@json_option
def list_cmd(show_all: bool, states: tuple[str, ...], as_json: bool) -> None:
    """The merge requests, in the order they would be taken (live ones by default)."""
    from git_gastown.refinery.queue import LIVE, MR, Queue

    mrs = Queue(ctx().rig).all()
    if states:
        mrs = [m for m in mrs if m.state in states]
    elif not show_all:
        mrs = [m for m in mrs if m.state in LIVE]
    mrs.sort(key=lambda m: (0 if m.state in LIVE else 1, *MR.sort_key(m)))
    if as_json:
        emit_json([m.to_json() for m in mrs])
        return
    if not mrs:
        click.echo("the queue is empty" + ("" if show_all else " (--all shows finished MRs)"))
    for m in mrs:
        click.echo(_mr_line(m))


@cli.command()
@click.argument("mr_id", metavar="MR")
@click.option("--limit", "-n", type=int, default=10, show_default=True,
              help="Batches to show it in.")
@json_option
def show(mr_id: str, limit: int, as_json: bool) -> None:
    """One merge request: its state, the batches it was in, and its last gate failure."""
    from git_gastown.refinery.ledger import Ledger
    from git_gastown.refinery.queue import Queue

    c = ctx()
    mr = Queue(c.rig).get(mr_id)
    batches = [b for b in Ledger(c.rig.repo).records(limit * 20)
               if any(m["id"] == mr.id for m in b["members"])][:limit]
    failure = None
    for b in batches:
        for r in reversed(b["runs"]):
            if mr.id in r["members"] and r["result"] == "fail":
                gate = next((g for g in r["gates"] if g["exit"] != 0), None)
                failure = {"batch": b["id"], "run": r["n"], "candidate": r["candidate"],
                           "members": r["members"], "gate": gate}
                break
        if failure:
            break
    if as_json:
        emit_json({"mr": mr.to_json(), "batches": [
            {"id": b["id"], "started_at": b["started_at"], "summary": b["summary"],
             "runs": sum(1 for r in b["runs"] if mr.id in r["members"])} for b in batches],
            "last_failure": failure})
        return
    click.echo(_mr_line(mr))
    click.echo(f"  {mr.branch} -> {mr.target}; queued {mr.enqueued_at} by {mr.enqueued_by}"
               + (f"; hook {mr.hook}" if mr.hook else "")
               + (f"; beads {', '.join(mr.beads)}" if mr.beads else ""))
    for b in batches:
        n = sum(1 for r in b["runs"] if mr.id in r["members"])
        click.echo(f"  batch {b['id']}: in {n} run(s); {b['summary']}")
    if failure and failure["gate"]:
        g = failure["gate"]
        click.echo(f"  last failure: run {failure['run']} of {failure['batch']} "
                   f"({len(failure['members'])} MR(s)): $ {g['command']} -> exit {g['exit']}")
        for line in g["log"].rstrip().splitlines()[-15:]:
            click.echo(f"    {line}")


@cli.command()
@json_option
def status(as_json: bool) -> None:
    """Whether a run is going, the queue, the batch size, the last batch, waiting worktrees."""
    from git_gastown.refinery import runner
    from git_gastown.refinery.books import read_sync_state
    from git_gastown.refinery.ledger import Ledger
    from git_gastown.refinery.queue import Queue, is_paused

    c = ctx()
    repo = c.rig.repo
    cfg = _config()
    queue = Queue(c.rig)
    mrs = queue.all()
    counts = {s: sum(1 for m in mrs if m.state == s)
              for s in ("queued", "testing", "landed", "rejected", "conflict")}
    ledger = Ledger(repo)
    state = ledger.state()
    last = ledger.records(1)
    live = runner.running(repo)
    current = runner.current(repo) if live else None
    waiting = [{"path": k, **v} for k, v in sorted(read_sync_state(c.rig).items())]
    data = {
        "target": cfg.target, "gates": list(cfg.gates), "gates_from": cfg.source,
        "timeout": cfg.timeout, "max_batch": cfg.max_batch, "push": cfg.push,
        "running": live is not None, "pid": (live or {}).get("pid", 0),
        "current": current,
        "paused": is_paused(repo), "counts": counts,
        "autostart": repo.config_bool("gt.refinery.autostart", True),
        "ready": [m.id for m in queue.ready(cfg.target)],
        "batch_size": state.size(cfg.max_batch), "tuning": state.to_json(),
        "last_batch": last[0] if last else None, "worktrees_waiting": waiting,
    }
    if as_json:
        emit_json(data)
        return
    run_text = f"running (pid {data['pid']})" if live else "idle"
    if data["paused"]:
        run_text += f", paused ({data['paused']})"
    click.echo(f"refinery: {run_text}; target {cfg.target}; batch size {data['batch_size']}"
               f" of {cfg.max_batch}" + ("; push mode" if cfg.push else ""))
    gates = "; ".join(cfg.gates) if cfg.gates else "(none: MRs land after the conflict check)"
    click.echo(f"gates from {cfg.source}: {gates}")
    if current:
        click.echo(f"now: batch {current['batch']} run {current['run']} (depth "
                   f"{current['depth']}) testing {', '.join(current['members'])} since "
                   f"{current['since']}")
    click.echo("queue: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if last:
        b = last[0]
        click.echo(f"last batch {b['id']} ({b['finished_at'] or 'running'}): {b['summary']}")
        if b.get("verdict") == "aborted" and not b.get("error"):
            click.echo("  (the run stopped mid-batch; its log: gt/logs/refinery.log)")
    for w in waiting:
        click.echo(f"worktree {w['path']} holds {', '.join(w.get('mrs', [])) or 'a landing'}"
                   f": {w.get('reason', '')}")


@cli.command()
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="Batches to show.")
@click.option("--runs", "show_runs", is_flag=True, help="Show every gate run.")
@click.option("--mr", "mr_id", metavar="MR", help="Only batches this MR was in.")
@json_option
def log(limit: int, show_runs: bool, mr_id: str | None, as_json: bool) -> None:
    """Past batches, newest first: members, gate runs, verdicts, bisection (refs/gt/mq-ledger)."""
    from git_gastown.refinery.ledger import Ledger

    ledger = Ledger(ctx().rig.repo)
    if mr_id:
        records = [b for b in ledger.records(limit * 20)
                   if any(m["id"] == mr_id for m in b["members"])][:limit]
    else:
        records = ledger.records(limit)
    if as_json:
        emit_json(records)
        return
    if not records:
        click.echo("no batches yet")
    for b in records:
        click.echo(f"{style(b['id'], bold=True)}  {b['started_at']}  {b.get('duration', 0):.1f}s"
                   f"  {b['summary']}")
        click.echo("  members: " + ", ".join(f"{m['id']} ({m['branch']})" for m in b["members"]))
        bis = b.get("bisection") or {}
        for cul in bis.get("culprits", []):
            click.echo(f"  culprit {cul['mr']} at depth {cul['depth']} ({cul['how']}, "
                       f"{cul['observations']} failures)")
        if show_runs:
            for r in b["runs"]:
                gates = ", ".join(f"{g['command']}={g['exit']}" for g in r["gates"])
                click.echo(f"    run {r['n']} depth {r['depth']} {r['result']} "
                           f"{r['duration']:.1f}s  [{' '.join(r['members'])}]  {gates}")
        for note in b.get("notes", []):
            click.echo(f"  {note}")


# -- changes ------------------------------------------------------------------------------


@cli.command()
@click.argument("mr_id", metavar="MR")
@click.option("--no-run", is_flag=True, help="Requeue only; do not start the Refinery.")
@actor_option
@json_option
def retry(mr_id: str, no_run: bool, actor: str | None, as_json: bool) -> None:
    """Put a rejected or conflicted MR back in the queue, at its branch's current tip."""
    from git_gastown.errors import Conflict
    from git_gastown.refinery import runner
    from git_gastown.refinery.queue import Queue

    c = ctx()
    queue = Queue(c.rig)
    mr = queue.get(mr_id)
    if mr.state in ("queued", "testing"):
        raise Conflict(f"{mr.id} is already {mr.state}", hint="nothing to retry")
    if mr.state == "landed":
        raise Conflict(f"{mr.id} already landed", hint="enqueue new work as a new MR")
    mr = queue.requeue(mr, c.actor(actor))
    pid = None if no_run else runner.kick(c.rig.repo)
    if as_json:
        emit_json({"mr": mr.to_json(), "refinery_pid": pid})
        return
    click.echo(f"{mr.id}: {mr.branch} at {mr.commit[:12]} queued again")


@cli.command()
@click.argument("mr_id", metavar="MR")
@click.option("--reason", default="rejected by hand", show_default=True, help="Why.")
@actor_option
@json_option
def reject(mr_id: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Take a queued MR out of the queue without landing it (its branch is kept)."""
    from git_gastown.errors import Conflict
    from git_gastown.refinery.queue import Queue

    c = ctx()
    queue = Queue(c.rig)
    mr = queue.get(mr_id)
    if mr.state == "landed":
        raise Conflict(f"{mr.id} already landed", hint="revert its commit instead")
    if mr.state == "rejected":
        raise Conflict(f"{mr.id} is already rejected", hint=f"git gt-refinery retry {mr.id}")
    mr = queue.set(mr, c.actor(actor), state="rejected", reason=reason)
    queue.drop_ref(mr)
    if as_json:
        emit_json({"mr": mr.to_json()})
        return
    click.echo(f"{mr.id}: {mr.branch} rejected ({reason})")


@cli.command()
@click.option("--reason", default="paused by hand", show_default=True,
              help="Why (status shows it).")
@json_option
def pause(reason: str, as_json: bool) -> None:
    """Stop taking new batches (a running batch finishes); enqueue still works."""
    from git_gastown.refinery.queue import set_paused

    set_paused(ctx().rig.repo, reason)
    if as_json:
        emit_json({"paused": reason})
        return
    click.echo(f"the queue is paused ({reason}); git gt-refinery resume starts it again")


@cli.command()
@click.option("--no-run", is_flag=True, help="Do not start the Refinery.")
@json_option
def resume(no_run: bool, as_json: bool) -> None:
    """Take batches again, and start a run when MRs are waiting."""
    from git_gastown.refinery import runner
    from git_gastown.refinery.queue import Queue, set_paused

    c = ctx()
    set_paused(c.rig.repo, None)
    pid = None
    if not no_run and Queue(c.rig).ready(_config().target):
        pid = runner.kick(c.rig.repo)
    if as_json:
        emit_json({"paused": None, "refinery_pid": pid})
        return
    click.echo("the queue is running again" + (f" (refinery pid {pid})" if pid else ""))


@cli.command()
@click.option("--notify", is_flag=True,
              help="Mail both owners of each overlap (branch pair and paths) not seen before.")
@json_option
def radar(notify: bool, as_json: bool) -> None:
    """Live branches (Hooks' gt/* and queued MRs) whose changes would conflict.

    Each pair is checked with git merge-tree (no worktree), and each branch against the
    target, before anyone is done. Commits in the rig (polecats' included) start
    `radar --notify` in the background at most once a minute, and each Deacon patrol
    scans too, so both polecats of a new overlap get a message. Landed Hooks and branches
    already in the target are not live.
    """
    from git_gastown.refinery import radar as radar_mod

    c = ctx()
    cfg = _config()
    if notify:
        branches, overlaps, sent = radar_mod.scan_and_notify(c.rig, cfg)
    else:
        (branches, overlaps), sent = radar_mod.scan(c.rig, cfg), []
    if as_json:
        emit_json({"target": cfg.target, "branches": [b.branch for b in branches],
                   "overlaps": [_radar_json(o, cfg.target) for o in overlaps],
                   "mailed": sent})
        return
    click.echo(f"{len(branches)} live branch(es), {len(overlaps)} overlap(s)")
    for o in overlaps:
        other = o.b.branch if o.b else f"{cfg.target} (target)"
        click.echo(f"{o.a.branch} <> {other}: {', '.join(o.paths[:8])}")
    if sent:
        click.echo(f"mailed {len(sent)} message(s)")


def _radar_json(o: Any, target: str) -> dict[str, Any]:
    data: dict[str, Any] = o.to_json()
    if o.b is None:
        data["b"]["branch"] = target
    return data


MAN_SECTIONS = (
    ("EXAMPLES", """Gates live on the target branch; commit them there:

    printf '[refinery]\\ngates = ["make test"]\\nmaxBatch = 8\\n' > .gastown.toml
    git add .gastown.toml && git commit -m "refinery gates"

Queue two branches, a hotfix first, and land them in the foreground:

    git gt-refinery enqueue feature/login --bead gt-a3f8k
    git gt-refinery enqueue fix/crash --hotfix
    git gt-refinery run --foreground
    git gt-refinery log --runs

See which live branches will conflict before they are done:

    git gt-refinery radar"""),
    ("HOW A BATCH IS DECIDED", (
        "The ready MRs are taken in order (a hotfix alone at the head, then by priority lane, "
        "then by age), up to the adaptive batch size. Each MR is merged onto the target tip "
        "with `git merge-tree --write-tree` and `git commit-tree`, in memory; an MR that "
        "conflicts with the target is taken out before any gate runs, marked conflict, and a "
        "conflict bead is assigned to its owner (an MR that only conflicts with a batch-mate "
        "waits for the next batch).\n\n"
        "The gates run in the refinery worktree, detached at the candidate, each with the "
        "timeout (the whole process group is killed when it expires). Green: the target moves "
        "from its old tip to the candidate and the MR refs are deleted in one "
        "`git update-ref --stdin` transaction, with the ledger entry; if the target moved "
        "meanwhile, the batch is rebuilt on the new tip and verified again, without "
        "bisecting.\n\n"
        "Red: the batch is split in halves. A failure observed once blames nobody: both halves "
        "are tested (the left first, landed at once when green, the right then on the new "
        "tip). Once a failure has repeated, a passing left half lets the right half inherit "
        "the failure without a run. A single MR is rejected only with two failure "
        "observations; with one it is run alone once more, so a flaky gate does not eject good "
        "work. The batch size grows by one after a green first run and halves after a red one, "
        "within [1, maxBatch].\n\n"
        "A rejected MR's beads are reopened with the gate output as a comment (field done: "
        "rejected), its owner gets "
        "a FIX_NEEDED message and its polecat is resumed (after fixLimit rejections, an "
        "escalation instead). A landed MR's beads are closed naming the landed commit, its "
        "conflict beads and FIX_NEEDED messages are closed, convoys are checked, the Hook "
        "is released, and its branch is deleted once reachable from the "
        "target (unless it is checked out in a worktree).\n\n"
        "A worktree that has the target checked out follows each landing the way git merge "
        "--ff-only would (a two-tree git read-tree -m -u, before the ref moves): uncommitted "
        "edits to other files are kept. When the landing would overwrite one, the target does "
        "not move: the MRs that touch those paths wait in the queue (before any gate runs), "
        "the others land, and status names the paths (untracked files apart: git stash "
        "alone leaves them). The next run after a commit or stash (git stash -u for an "
        "untracked file) there lands them; a commit in that checkout starts one.")),
    ("GATE ENVIRONMENT", (
        "Each gate is run by /bin/sh in the refinery worktree, detached at the candidate, in "
        "its own process group, with stdin from /dev/null and the repository variables "
        "(GIT_DIR, ...) removed. It sees GT_REFINERY=1, GT_CANDIDATE (the commit under test), "
        "GT_BASE (the target tip it was built on), GT_TARGET, GT_MRS and GT_BRANCHES (the "
        "members, space-separated) and GT_DEPTH (0 for a whole batch, more while bisecting). "
        "The worktree persists between runs and ignored files survive its reset, so build "
        "caches stay warm and `pytest --ff` runs the tests that failed last time first.")),
    ("FILES", (
        "`refs/gt/mq/<id>`: one per queued MR, at the commit to land; the MR's details are the "
        "merge-request bead <id> in refs/gt/beads.\n\n"
        "`refs/gt/mq-ledger`: one commit per batch record (batch.json: members, candidates, "
        "gate runs with exit codes, durations and log tails, verdicts, bisection events) and "
        "the tuning state (state.json: batch size, counters).\n\n"
        "Under the repository's common git directory: gt/refinery-worktree (where gates run), "
        "gt/logs/refinery.log (background runs), gt/logs/gates/ (full gate output), "
        "gt/locks/refinery.lock (one run at a time), gt/refinery/paused, and "
        "gt/refinery/worktrees.json (checkouts of the target that hold a landing, and why), "
        "gt/refinery/checkouts-moving.json (checkouts carried forward while the ref has not "
        "moved yet: a run killed then has them put back by the next), "
        "gt/refinery/radar-next (when the next radar scan from a commit is due).")),
)


def main(argv: Sequence[str] | None = None, prog: str = "git gt-refinery") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
