"""git gt-polecat: spawn agents on Hooks, watch them, stop them, remove them safely."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from git_gastown.cli.common import (
    CONTEXT,
    actor_option,
    emit_json,
    json_option,
    open_rig,
    run,
    style,
)
from git_gastown.errors import UsageError

if TYPE_CHECKING:
    from git_gastown.hook import Hook
    from git_gastown.rig import Rig


MAN_SECTIONS = (
    ("Examples", """\
Run a script as a polecat (the built-in shell agent), then an AI agent:

    git gt-bead create "Regenerate fixtures" --field run='make fixtures'
    git gt-polecat spawn --bead gt-a3f8k
    git gt-polecat spawn --bead gt-x1y2z --agent claude --tmux
    git gt-polecat list
    git gt-polecat logs nux --follow

After a crash (agent killed, runner killed, worktree deleted, another clone):

    git gt-polecat spawn --resume nux

Remove a finished polecat; refused while its work is on no durable ref:

    git gt-polecat nuke nux          # or --force: checkpoint first, then remove
"""),
    ("Agents", """\
An agent is a preset: the argv of a fresh run, the argv of a resume, and the format
of its output. Built in: `shell` (runs each bead's run field with sh -c in the
worktree and commits the result; the default), `claude` (-p PROMPT --output-format
stream-json --verbose; --resume ID), `codex` (exec --json PROMPT; exec --json resume
ID PROMPT), `gemini` (-p PROMPT --output-format stream-json), `aider` (--yes-always
--message-file FILE), `copilot` (-p PROMPT --allow-all-tools) and `command` (declare
its command). Override or add presets under [agents.NAME] in .gastown.toml or in the
user config file (~/.config/git-gastown/config.toml): command, resume, args
(appended), format (claude, codex, gemini, text), env. Argv elements may contain
{prompt}, {prompt_file}, {session_id}, {hook} and {worktree}; no shell is involved.
"""),
    ("Settings", """\
In .gastown.toml, or git config gt.<section>.<key> (which wins):

    [polecat] agent        the default agent (shell)
    [polecat] portBase     first GT_PORT (41000); ports are allocated machine-wide
                           (ports.json in the user state dir), skipping ports in use
    [polecat] foldInterval seconds between checkpoints of a running agent (300)
    [polecat] done         the shell agent ends with git gt-done when its command
                           exits 0 (true); false leaves finishing to a person
    [hooks] setup          command run in each new worktree before the agent, e.g.
                           'npm ci && cp "$GT_MAIN/.env" .env' (GT_MAIN is the main
                           checkout; the worktree is not inside it)
    gt.worktreeRoot        where worktrees go (default: the user data dir)
"""),
    ("Environment of an agent", """\
GT_ROLE=polecat, GT_RIG, GT_HOOK (its name), GT_BEADS (comma-separated ids),
GT_MAIN (the main checkout), GT_PORT (unique among the machine's polecats),
GT_CONVOY, GT_ACTOR, GT_WORKTREE, and GIT_AUTHOR_*/GIT_COMMITTER_* set to
`<name> (polecat)`. Standard input is /dev/null.
"""),
    ("Files", """\
refs/gt/hooks/NAME: state.json, transcript/*.jsonl, notes.jsonl, checkpoints.jsonl.
$GIT_COMMON_DIR/gt/polecats/NAME/: launch.json, prompt.md, events.jsonl, live.json,
heartbeat, stderr.log, runner.log (runtime only, never shared).
"""),
)


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """Polecats: agents working in Hooks (a worktree, a branch and refs/gt/hooks/<name>).

    A polecat runs headless under a small runner process that records its session id,
    events (the transcript), usage and exit status into the Hook's state ref, and
    checkpoints uncommitted work, so a replacement (spawn --resume) goes on where it
    stopped. Exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found, 4 refused by the
    current state (still running, unsaved work).
    """


# -- views -------------------------------------------------------------------------------


def _age(iso: str) -> str:
    from git_gastown.hook import age_seconds

    secs = age_seconds(iso)
    if secs == float("inf"):
        return "-"
    secs = max(0, int(secs))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def hook_json(h: Hook) -> dict[str, Any]:
    """The documented JSON of one polecat (docs/json.md, "Polecats")."""
    data = h.state.to_json()
    data.update({
        "ref": h.ref,
        "live_status": h.liveness(),
        "agent_alive": h.agent_alive(),
        "runner_alive": h.runner_alive(),
        "worktree": str(h.worktree),
        "worktree_exists": (h.worktree / ".git").exists(),
        "tip": h.tip,
        "conflicts": h.open_conflicts(),
    })
    return data


def _color(status: str) -> str | None:
    return {"running": "green", "setup": "green", "spawning": "yellow", "dead": "red",
            "exited": "bright_black", "done": "blue", "stopped": "bright_black",
            "nuked": "bright_black"}.get(status)


def _usage_text(u: dict[str, Any]) -> str:
    return (f"{u['input_tokens']:,} in / {u['output_tokens']:,} out tokens, "
            f"${u['cost_usd']:.4f}")


# -- spawn -------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.option("--bead", "-b", "beads", multiple=True, metavar="ID",
              help="A bead to work on (repeatable).")
@click.option("--convoy", metavar="NAME",
              help="Work on the open beads a convoy tracks (with --resume: resume its polecats).")
@click.option("--agent", "-a", metavar="NAME",
              help="claude, codex, gemini, aider, copilot, command, shell, or one declared in "
              "[agents.NAME] (default: polecat.agent, else shell).")
@click.option("--name", "-n", metavar="NAME", help="The polecat's name (default: a free one).")
@click.option("--base", metavar="REF",
              help="Start the branch from REF, any commit (branch, tag, sha, HEAD~1, "
              "origin/main; default: the target). The work still lands on the target.")
@click.option("--tmux", is_flag=True, help="Run inside a tmux session a person can attach to.")
@click.option("--resume", "resume_name", metavar="NAME", is_flag=False, flag_value="",
              default=None, help="Resume polecat NAME on its Hook (with --convoy: no NAME).")
@actor_option
@json_option
def spawn(beads: tuple[str, ...], convoy: str | None, agent: str | None, name: str | None,
          base: str | None, tmux: bool, resume_name: str | None, actor: str | None,
          as_json: bool) -> None:
    """Start an agent on new work, or resume one on its Hook.

    spawn --bead ID... | --convoy NAME creates the Hook (worktree on branch
    gt/<prefix>/<name>, state ref refs/gt/hooks/<name>), marks the beads hooked with the
    polecat as assignee, and starts the agent detached with the output of git gt-prime as
    its prompt. The built-in shell agent runs each bead's `run` field
    (git gt-bead create ... --field run='make test') and commits the result.

    spawn --resume NAME starts a replacement on the same Hook: it reuses the worktree, or
    recreates it from the branch and the last checkpoint, and resumes the agent's own
    session when the agent supports it.
    """
    from git_gastown.polecat import spawn as sp
    from git_gastown.rig import resolve_actor

    rig = open_rig()
    who = resolve_actor(rig.repo, actor)
    hooks: list[Hook]
    if resume_name is not None:
        if beads:
            raise UsageError("--resume takes no --bead", hint="the Hook knows its beads")
        for option, value in (("--name", name), ("--base", base)):
            if value is not None:
                raise UsageError(f"--resume takes no {option}",
                                 hint="the Hook keeps its name, branch and start point")
        if resume_name and convoy:
            raise UsageError("give --resume NAME or --convoy NAME --resume, not both")
        if resume_name:
            hooks = [sp.resume(rig, resume_name, agent=agent, tmux=tmux, actor=who)]
        elif convoy:
            hooks = sp.resume_convoy(rig, convoy, agent=agent, tmux=tmux, actor=who)
        else:
            raise UsageError("--resume needs a polecat name", hint="git gt-polecat list")
    else:
        if name is not None and not name:
            raise UsageError("--name is empty")
        req = sp.SpawnRequest(beads=beads, convoy=convoy or "", agent=agent, name=name,
                              base=base, tmux=tmux, actor=who)
        hooks = [sp.spawn(rig, req)]
    if as_json:
        from git_gastown import hook as hk

        emit_json([hook_json(hk.load_hook(rig.repo, h.name)) for h in hooks])
        return
    for h in hooks:
        verb = "resumed" if resume_name is not None else "spawned"
        click.echo(f"{verb} {style(h.name, bold=True)} ({h.state.agent}) on "
                   f"{', '.join(h.state.beads)}")
        click.echo(f"  worktree {h.worktree}  branch {h.branch}")
        if h.state.conflicts:
            click.echo(style(f"  warning: restoring the last checkpoint left conflict markers "
                             f"in {', '.join(h.state.conflicts)}; the agent is told to "
                             "resolve them", fg="yellow"), err=False)
        if h.state.tmux:
            click.echo(f"  attach: tmux attach -t {h.state.tmux}")
        click.echo(f"  follow: git gt-polecat logs {h.name} --follow")


# -- list / status -----------------------------------------------------------------------


@cli.command("list", context_settings=CONTEXT)
@click.option("--all", "show_all", is_flag=True, help="Include nuked polecats.")
@click.option("--status", "-s", "statuses", multiple=True, metavar="STATUS",
              help="Only these (live) statuses: spawning, setup, running, dead, exited, done, "
              "stopped, nuked (repeatable).")
@json_option
def list_(show_all: bool, statuses: tuple[str, ...], as_json: bool) -> None:
    """List the polecats of this rig, one line each."""
    from git_gastown import hook as hk

    rig = open_rig()
    items = [hook_json(h) for h in hk.list_hooks(rig.repo)]
    if statuses:
        items = [i for i in items if i["live_status"] in statuses]
    elif not show_all:
        items = [i for i in items if i["live_status"] != "nuked"]
    if as_json:
        emit_json(items)
        return
    if not items:
        click.echo("no polecats (start one: git gt-polecat spawn --bead ID)")
        return
    width = max(len(i["name"]) for i in items)
    agent_width = max(len(i["agent"]) for i in items)
    for i in items:
        status = i["live_status"]
        waiting = f"  waiting:{i['waiting']}" if i["waiting"] else ""
        runs = max(i["attempts"].values(), default=1)
        extra = (f"  run {runs}" if runs > 1 else "") + \
            (f"  ${i['usage']['cost_usd']:.4f}" if i["usage"]["cost_usd"] else "")
        click.echo(f"{style(i['name'].ljust(width), bold=True)}  "
                   f"{style(status.ljust(8), fg=_color(status))}  {i['agent'].ljust(agent_width)}  "
                   f"{','.join(i['beads'])}{extra}  last event {_age(i['last_event_at'])}"
                   f"{waiting}")


@cli.command(context_settings=CONTEXT)
@click.argument("names", metavar="[NAME]...", nargs=-1)
@json_option
def status(names: tuple[str, ...], as_json: bool) -> None:
    """Details of polecats (every one not nuked by default), with tokens and cost, and the
    total."""
    from git_gastown import hook as hk

    rig = open_rig()
    if names:
        hooks = [hk.load_hook(rig.repo, hk.check_name(n)) for n in names]
    else:
        hooks = [h for h in hk.list_hooks(rig.repo) if h.state.status != "nuked"]
    items = [hook_json(h) for h in hooks]
    total = hk.Usage()
    for h in hooks:
        total = total + h.state.usage
    if as_json:
        emit_json({"polecats": items, "total": total.to_json()})
        return
    for i in items:
        st = i["live_status"]
        click.echo(f"{style(i['name'], bold=True)}: {style(st, fg=_color(st))}"
                   + (f" (exit {i['exit_code']})" if i["exit_code"] is not None else "")
                   + (f", waiting for {i['waiting']}" if i["waiting"] else "")
                   + (f", refused {len(i['denied'])} tool use(s)" if i["denied"] else ""))
        if i["error"]:
            click.echo(style(f"  error: {i['error']}", fg="red"))
        click.echo(f"  agent {i['agent']}"
                   + (f", session {i['session_id']}" if i["session_id"] else "")
                   + f", attempts {max(i['attempts'].values(), default=0)}")
        click.echo(f"  beads {', '.join(i['beads'])}" +
                   (f" (convoy {i['convoy']})" if i["convoy"] else ""))
        click.echo(f"  branch {i['branch']} from {i['base_commit'][:12]}, lands on {i['base']}; "
                   f"worktree {i['worktree']}"
                   + ("" if i["worktree_exists"] else " (missing)"))
        if i["pid"]:
            agent = "gone"
            if i["agent_alive"]:
                # agent_alive also counts what the agent left running in its process group
                agent = ("alive" if hk.process_alive(i["pid"], i["pid_start"])
                         else f"gone; its process group {i['pgid']} runs on")
            click.echo(f"  pid {i['pid']} ({agent}), runner "
                       f"{i['runner_pid']} ({'alive' if i['runner_alive'] else 'gone'}), "
                       f"port {i['port']}")
        click.echo(f"  last event {i['last_event_type'] or '-'} {_age(i['last_event_at'])} "
                   f"ago; heartbeat {_age(i['heartbeat'])} ago")
        if i["conflicts"]:
            click.echo(style(f"  conflicts from the checkpoint restore: "
                             f"{', '.join(i['conflicts'])}", fg="yellow"))
        ck = i["checkpoint"]
        if ck:
            click.echo(f"  checkpoint {ck['commit'][:12]} {ck['at']} ({ck['reason']}"
                       + (", with uncommitted changes" if ck["dirty"] else "") + ")")
        click.echo(f"  usage {_usage_text(i['usage'])}")
    if len(items) != 1:
        click.echo(f"total: {len(items)} polecats, {_usage_text(total.to_json())}")


# -- logs --------------------------------------------------------------------------------


def _event_line(e: dict[str, Any]) -> str:
    kind = str(e.get("type", ""))
    sub = e.get("subtype")
    label = f"{kind}/{sub}" if sub else kind
    text: Any = ""
    if kind == "assistant":
        parts = []
        for c in (e.get("message") or {}).get("content") or []:
            if isinstance(c, dict):
                if c.get("type") == "text":
                    parts.append(str(c.get("text", "")))
                elif c.get("type") == "tool_use":
                    parts.append(f"<{c.get('name')}> {json.dumps(c.get('input'))[:200]}")
        text = " ".join(parts)
    elif kind == "user":
        parts = []
        for c in (e.get("message") or {}).get("content") or []:
            if isinstance(c, dict) and c.get("type") == "tool_result":
                parts.append(str(c.get("content", ""))[:200])
        text = " ".join(parts)
    elif kind.startswith("item."):
        item = e.get("item") or {}
        text = f"{item.get('type')}: {item.get('text') or item.get('command') or ''}"
    elif kind == "result":
        text = f"{e.get('subtype', '')} cost ${e.get('total_cost_usd', 0)}"
    elif kind == "gt.output":
        text = str(e.get("text", ""))
    elif kind.startswith("gt."):
        text = " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}"
                        for k, v in e.items() if k not in ("type", "at") and v not in ("", None))
    else:
        for key in ("text", "message", "session_id", "thread_id", "usage"):
            if key in e:
                text = e[key]
                break
    return f"{label}  {text if isinstance(text, str) else json.dumps(text)}".rstrip()


@cli.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-n", "--lines", "limit", type=int, metavar="N", help="Only the last N events.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events until it exits.")
@click.option("--stderr", "show_stderr", is_flag=True,
              help="Show the agent's stderr log of the current run instead.")
@json_option
def logs(name: str, limit: int | None, follow: bool, show_stderr: bool, as_json: bool) -> None:
    """The polecat's transcript: its structured events, from the Hook and the live run."""
    from git_gastown import hook as hk

    rig = open_rig()
    h = hk.load_hook(rig.repo, hk.check_name(name))
    if show_stderr:
        path = h.runtime_dir() / "stderr.log"
        click.echo(path.read_text(errors="replace") if path.exists() else "", nl=False)
        return
    events = h.transcript()
    seen = len(events)
    if limit is not None:
        events = events[-limit:] if limit > 0 else []
    if as_json:
        if follow:
            raise UsageError("--follow does not combine with --json",
                             hint="read the JSONL with --json, or follow as text")
        emit_json(events)
        return
    for e in events:
        click.echo(_event_line(e))
    if follow:
        _follow(rig, name, seen)


def _follow(rig: Rig, name: str, seen: int) -> None:
    from git_gastown import hook as hk

    while True:
        h = hk.load_hook(rig.repo, name)
        events = h.transcript()
        for e in events[seen:]:
            click.echo(_event_line(e))
        seen = len(events)
        if h.liveness() not in ("spawning", "setup", "running"):
            return
        time.sleep(0.5)


# -- stop / nuke -------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option("--timeout", default=10.0, show_default=True, metavar="SECONDS",
              help="How long to wait after TERM before KILL.")
@json_option
def stop(names: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Stop polecats (TERM their process group, KILL after --timeout); keep all the work.

    The runner folds the transcript and a checkpoint into the Hook before it exits;
    git gt-polecat spawn --resume NAME goes on later.
    """
    from git_gastown import hook as hk
    from git_gastown.polecat import spawn as sp

    rig = open_rig()
    for n in names:
        hk.load_hook(rig.repo, hk.check_name(n))  # every name known before stopping any
    before = {n: hk.load_hook(rig.repo, n).liveness() for n in names}
    stopped = [sp.stop(rig, n, timeout=timeout) for n in names]
    if as_json:
        emit_json([hook_json(h) for h in stopped])
        return
    for h in stopped:
        if before[h.name] in ("spawning", "setup", "running"):
            click.echo(f"stopped {h.name}; resume with git gt-polecat spawn --resume {h.name}")
        elif before[h.name] == "dead":
            click.echo(f"{h.name} had died; its work is saved and it is marked stopped")
        else:
            click.echo(f"{h.name} was not running ({before[h.name]})")


@cli.command(context_settings=CONTEXT)
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option("--force", is_flag=True,
              help="Checkpoint unsaved work into the hook ref first, then remove.")
@click.option("--purge", is_flag=True,
              help="Also delete refs/gt/hooks/NAME (only when the branch is merged).")
@json_option
def nuke(names: tuple[str, ...], force: bool, purge: bool, as_json: bool) -> None:
    """Remove polecats' worktrees and branches, never their unsaved work.

    Refused while the branch tip or uncommitted changes are reachable from no durable ref
    (the target branch, the hook ref or a checkpoint). --force checkpoints them into the
    hook ref first. The hook ref is kept (status nuked) unless --purge.
    """
    from git_gastown import hook as hk
    from git_gastown.polecat import spawn as sp

    rig = open_rig()
    reports = [sp.nuke(rig, hk.check_name(n), force=force, purge=purge) for n in names]
    if as_json:
        emit_json([r.__dict__ for r in reports])
        return
    for r in reports:
        kept = "" if r.purged else f"; its history stays in refs/gt/hooks/{r.name}"
        ck = f" (checkpoint {r.checkpoint[:12]})" if r.checkpoint else ""
        click.echo(f"nuked {r.name}{ck}{kept}")
        if not r.branch_removed and r.branch:
            click.echo(f"  branch {r.branch} kept (its tip is on no other ref)")
        if r.recover:
            click.echo(f"  recover: git worktree add DIR {r.recover[:12]}")


def main(argv: Sequence[str] | None = None, prog: str = "git gt-polecat") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
