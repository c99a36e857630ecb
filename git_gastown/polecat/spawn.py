"""Starting, resuming, stopping and removing polecats (agents bound to Hooks)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown import hook as hk
from git_gastown.beads import model
from git_gastown.beads.model import now_iso
from git_gastown.beads.store import Tx
from git_gastown.errors import Conflict, GtError, NotFound, UsageError
from git_gastown.git import Repo
from git_gastown.hook import Hook, HookState
from git_gastown.polecat import adapters
from git_gastown.polecat.adapters import Preset
from git_gastown.rig import Rig
from git_gastown.store import refs

NAMES = ("nux", "slit", "ace", "rictus", "capable", "toast", "cheedo", "dag", "angharad",
         "furiosa", "morsov", "keeper", "valkyrie", "scabrous", "coma", "max", "glory",
         "corpus", "organic", "ripper", "bullet", "prime", "wretch", "gastown", "vuvalini")
PORT_BASE = 41000
LIVE_STATUSES = ("spawning", "setup", "running")
MAX_PROMPT = 120_000  # one argv element may not exceed 128 KiB on Linux


@dataclass(frozen=True)
class SpawnRequest:
    beads: tuple[str, ...] = ()
    convoy: str = ""
    agent: str | None = None
    name: str | None = None
    base: str | None = None
    tmux: bool = False
    actor: str = ""


@dataclass
class Launch:
    """What the runner needs; written to launch.json in the Hook's runtime dir."""

    name: str
    run_id: str
    worktree: str
    argv: list[str]
    format: str
    resume: bool
    setup: str = ""
    shell: list[dict[str, str]] = field(default_factory=list)  # [{bead, title, run}]
    fold_interval: float = 300.0
    tmux: str = ""
    done: bool = True  # the shell agent ends with `git gt-done` (polecat.done)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- helpers ------------------------------------------------------------------------------


def _preset(rig: Rig, name: str) -> Preset:
    table = rig.setting("agents", {})
    return adapters.resolve(name, table if isinstance(table, dict) else {})


def _author(rig: Rig, name: str) -> tuple[str, str]:
    return f"{name} (polecat)", f"{name}.polecat@{rig.prefix()}.gastown.invalid"


def _check_beads(rig: Rig, ids: Sequence[str], name: str) -> list[dict[str, Any]]:
    from git_gastown.beads.cache import Cache

    cache = Cache(rig.store).fresh()
    beads = []
    for bead_id in ids:
        bead = cache.get(bead_id)
        if bead is None or bead.get("deleted"):
            raise rig.store.not_found(bead_id)
        if bead["status"] == "closed":
            raise Conflict(f"{bead_id} is closed", hint=f"reopen it: git gt-bead reopen {bead_id}")
        holder = bead.get("assignee") or ""
        if bead["status"] == "hooked" and holder and holder != name and \
                _hook_live(rig.repo, holder):
            raise Conflict(f"{bead_id} is hooked by polecat {holder}, which is still running",
                           hint=f"stop it first: git gt-polecat stop {holder}")
        if bead["status"] == "in_progress" and holder and holder != name:
            raise Conflict(f"{bead_id} is in progress by {holder}",
                           hint=f"unassign it first: git gt-bead update {bead_id} --assignee ''")
        beads.append(bead)
    return beads


def _hook_live(repo: Repo, name: str) -> bool:
    try:
        return hk.load_hook(repo, name).liveness() in LIVE_STATUSES
    except (NotFound, UsageError):
        return False


def convoy_beads(rig: Rig, convoy: str) -> tuple[str, list[str]]:
    """A convoy (its id, title or `name` field) and the open beads it tracks."""
    from git_gastown.beads.cache import Cache

    cache = Cache(rig.store).fresh()
    found = cache.get(convoy)
    if found is None or found.get("type") != "convoy":
        matches = [b for b in cache.query(types=["convoy"])
                   if convoy in (b["title"], (b.get("fields") or {}).get("name"))]
        found = matches[0] if matches else None
    if found is None:
        raise NotFound(f"no convoy {convoy}", hint="git gt-bead list --type convoy shows them")
    tracked = [d["id"] for d in found["dependencies"] if d["type"] == "tracks"]
    open_ids = []
    for bead_id in tracked:
        bead = cache.get(bead_id)
        if bead is not None and not bead.get("deleted") and bead["status"] in (
                "open", "in_progress", "hooked"):
            open_ids.append(bead_id)
    return found["id"], open_ids


def _pick_name(taken: set[str]) -> str:
    for word in NAMES:
        if word not in taken:
            return word
    n = 2
    while True:
        for word in NAMES:
            candidate = f"{word}-{n}"
            if candidate not in taken:
                return candidate
        n += 1


def _pick_port(rig: Rig, hooks: list[Hook], name: str) -> int:
    """A GT_PORT no other polecat on this machine holds (polecat/ports.py)."""
    from git_gastown.polecat import ports

    base = int(rig.setting("polecat.portBase", PORT_BASE))
    own = {h.state.port for h in hooks if h.state.status != "nuked"}
    try:
        return ports.allocate(rig.repo.common_dir, name, base, own)
    except OSError as exc:
        raise GtError(f"cannot allocate a GT_PORT: {exc}",
                      hint=f"check {ports.state_dir()}, or set polecat.portBase lower") from exc


def _mark_beads(rig: Rig, ids: Sequence[str], name: str, actor: str) -> None:
    """Mark the beads hooked, with the polecat as assignee (one commit)."""

    def apply(tx: Tx) -> None:
        for bead_id in ids:
            doc = tx.require(bead_id)
            bead = model.flatten(doc)
            if bead.status == "closed":
                continue
            w = tx.writer(doc)
            w.set("status", "hooked")
            w.set("assignee", name)
            if w.changed:
                tx.put(doc)

    rig.store.transact("hook", actor, apply,
                       subject=f"hook {', '.join(ids)} to polecat {name}"[:200])


def _shell_plan(beads: list[dict[str, Any]], finished: Sequence[str]) -> list[dict[str, str]]:
    plan = []
    for bead in beads:
        run = (bead.get("fields") or {}).get("run")
        if not isinstance(run, str) or not run.strip():
            raise UsageError(
                f"bead {bead['id']} has no run command for the shell agent",
                hint=f"git gt-bead update {bead['id']} --field run='make test', "
                "or choose an AI agent with --agent claude",
            )
        if bead["id"] not in finished:
            plan.append({"bead": bead["id"], "title": bead["title"], "run": run})
    return plan


def _agent_env(rig: Rig, state: HookState, worktree: Path, preset: Preset) -> dict[str, str]:
    author, email = state.author, state.email
    extra = {
        "GT_ROLE": "polecat",
        "GT_RIG": rig.name,
        "GT_HOOK": state.name,
        "GT_BEADS": ",".join(state.beads),
        "GT_PORT": str(state.port),
        "GT_ACTOR": state.name,
        "GT_WORKTREE": str(worktree),
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": author,
        "GIT_COMMITTER_EMAIL": email,
        **preset.env,
    }
    if state.convoy:
        extra["GT_CONVOY"] = state.convoy
    common = rig.repo.common_dir.resolve()
    if common.name == ".git" and common.is_dir():
        # The main checkout, where ignored files (.env) a setup command copies live.
        extra["GT_MAIN"] = str(common.parent)
    return adapters.agent_env(os.environ, extra)


def check_argv(preset: Preset) -> None:
    """Fill the preset's templates with stand-in values, so a bad placeholder is refused
    before anything is created."""
    if preset.format == "shell":
        return
    values = {key: key for key in adapters.PLACEHOLDERS}
    preset.argv(values)
    if preset.resumable:
        preset.argv(values, resume=True)


def check_tmux(tmux: bool) -> None:
    import shutil

    if tmux and shutil.which("tmux") is None:
        raise UsageError("--tmux needs tmux, which is not installed",
                         hint="install tmux, or leave out --tmux (the agent runs detached)")


def check_program(preset: Preset) -> None:
    """Refuse early, before anything is created, when the agent's program is missing."""
    if preset.format == "shell":
        return
    env = adapters.agent_env(os.environ, preset.env)
    missing = adapters.first_missing(list(preset.command), env)
    if missing:
        what = "is not an executable file" if os.sep in missing else "not found on PATH"
        raise UsageError(f"agent {preset.name}: program {missing!r} {what}",
                         hint=f"install it, or set [agents.{preset.name}] command = [...] "
                         "in .gastown.toml")


def check_agent(rig: Rig, agent: str | None) -> None:
    """check_program for an agent name (None: the rig's polecat.agent, else shell)."""
    check_program(_preset(rig, agent or str(rig.setting("polecat.agent", "shell"))))


def _write_private(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _start_runner(rig: Rig, hook: Hook, launch: Launch, env: dict[str, str]) -> None:
    """Start the runner detached (new session, stdin /dev/null), or inside tmux."""
    rdir = hook.runtime_dir()
    for stale in (hk.EVENTS_FILE, hk.LIVE_FILE, "stderr.log"):
        (rdir / stale).unlink(missing_ok=True)
    _write_private(rdir / "launch.json", json.dumps(launch.to_json(), indent=1))
    cmd = [sys.executable, "-m", "git_gastown.polecat.runner", str(rig.repo.common_dir),
           hook.name, launch.run_id]
    if launch.tmux:
        # tmux starts the pane from its server's environment: pass ours through a
        # private file the runner reads and deletes.
        _write_private(rdir / "env.json", json.dumps(env))
        # The session of an earlier run stays after it ended (remain-on-exit, so a person
        # can read the last output); no runner is alive in it by now, so end it.
        _kill_tmux(launch.tmux)
        for attempt in range(5):
            proc = subprocess.run(
                ["tmux", "new-session", "-d", "-s", launch.tmux, "-c", launch.worktree, "--",
                 *cmd, ";", "set-option", "-t", launch.tmux, "remain-on-exit", "on"],
                env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
            )
            # Killing the last session makes the tmux server exit; a client that connects
            # while it is going down gets "server exited unexpectedly". Start a new one.
            if proc.returncode == 0 or "server exited" not in proc.stderr:
                break
            time.sleep(0.1 * (attempt + 1))
        if proc.returncode != 0:
            raise GtError(f"tmux could not start session {launch.tmux}: "
                          f"{proc.stderr.strip() or proc.returncode}",
                          hint="is tmux installed? run without --tmux to start detached")
        return
    with open(rdir / "runner.log", "ab") as log:
        subprocess.Popen(cmd, cwd=launch.worktree, env=env, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True, close_fds=True)


def _kill_tmux(session: str) -> None:
    if session:
        subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True,
                       stdin=subprocess.DEVNULL, check=False)


def _tmux_name(rig: Rig, name: str) -> str:
    return f"gt-{rig.name}-{name}".replace(".", "-").replace(":", "-")


def _make_prompt(rig: Rig, hook: Hook, resume: bool) -> tuple[str, Path]:
    from git_gastown.polecat import prime

    text = prime.resume_text(rig, hook) if resume else prime.prime_text(rig, hook)
    if len(text.encode()) > MAX_PROMPT:
        raise UsageError(f"the prompt for {hook.name} is {len(text.encode())} bytes, over the "
                         f"{MAX_PROMPT} bytes one argument may hold",
                         hint="hook fewer beads at once, or shorten their descriptions")
    path = hook.runtime_dir() / "prompt.md"
    path.write_text(text)
    return text, path


def _launch(rig: Rig, hook: Hook, preset: Preset, *, resume_session: bool, new_worktree: bool,
            tmux: bool, beads: list[dict[str, Any]]) -> Launch:
    state = hook.state
    worktree = hook.worktree
    shell_plan = _shell_plan(beads, state.finished) if preset.format == "shell" else []
    prompt, prompt_file = _make_prompt(rig, hook, resume_session)
    values = {"prompt": prompt, "prompt_file": str(prompt_file), "session_id": state.session_id,
              "hook": hook.name, "worktree": str(worktree)}
    argv = [] if preset.format == "shell" else preset.argv(values, resume=resume_session)
    setup = rig.setting("hooks.setup", "") if new_worktree else ""
    launch = Launch(
        name=hook.name, run_id=state.run_id, worktree=str(worktree), argv=argv,
        format=preset.format, resume=resume_session, setup=str(setup or ""), shell=shell_plan,
        fold_interval=float(rig.setting("polecat.foldInterval", 300.0)),
        tmux=_tmux_name(rig, hook.name) if tmux else "",
        done=bool(rig.setting("polecat.done", True)),
    )
    env = _agent_env(rig, state, worktree, preset)
    if resume_session and preset.format == "claude" and state.session_id:
        adapters.place_claude_session(env, worktree, state.session_id,
                                      hook.session_file(state.session_id))
    _start_runner(rig, hook, launch, env)
    from git_gastown.due import mark_due

    mark_due(rig.repo)  # a running polecat keeps the rig's git hooks patrolling (W4)
    return launch


# -- spawn --------------------------------------------------------------------------------


def spawn(rig: Rig, req: SpawnRequest) -> Hook:
    """Create a Hook (worktree, branch, state ref), hook its beads and start the agent."""
    repo = rig.repo
    bead_ids = tuple(dict.fromkeys(req.beads))
    convoy = ""
    if req.convoy:
        convoy, tracked = convoy_beads(rig, req.convoy)
        bead_ids = tuple(dict.fromkeys((*bead_ids, *tracked)))
        if not bead_ids:
            raise Conflict(f"convoy {req.convoy} has no open beads to work on",
                           hint=f"add some: git gt-bead dep add ID tracks {convoy}")
    if not bead_ids:
        raise UsageError("nothing to work on", hint="give --bead ID (repeatable) or --convoy NAME")
    agent = req.agent or str(rig.setting("polecat.agent", "shell"))
    preset = _preset(rig, agent)
    check_program(preset)
    check_argv(preset)
    check_tmux(req.tmux)
    if req.name:
        hk.check_name(req.name)
    beads = _check_beads(rig, bead_ids, req.name or "")
    if preset.format == "shell":
        _shell_plan(beads, ())
    # The work always lands on the target; --base only chooses where the branch starts.
    target = landing_target(rig)
    base_commit = _start_commit(repo, req.base, target)
    prefix = rig.prefix()
    with refs.locked(repo, "polecat-spawn"):
        hooks = hk.list_hooks(repo, live=False)
        taken = {h.name for h in hooks}
        name = req.name or _pick_name(taken)
        if name in taken:
            if any(h.name == name and h.state.status == "nuked" for h in hooks):
                raise UsageError(f"a polecat named {name} was nuked; its history keeps the name",
                                 hint=f"choose another --name, or free it once its work is "
                                 f"merged: git gt-polecat nuke --purge {name}")
            raise UsageError(f"a polecat named {name} already exists",
                             hint=f"choose another --name, or git gt-polecat spawn --resume {name}")
        branch = f"gt/{prefix}/{name}"
        if repo.git("rev-parse", "-q", "--verify", f"refs/heads/{branch}",
                    check=False).returncode == 0:
            raise UsageError(f"branch {branch} already exists",
                             hint="choose another --name, or delete that branch")
        path = hk.worktree_root(repo) / name
        if path.exists():
            raise UsageError(f"{path} already exists",
                             hint="choose another --name, or remove that directory")
        author, email = _author(rig, name)
        state = HookState(
            name=name, branch=branch, base=target, base_commit=base_commit, beads=bead_ids,
            convoy=convoy, agent=agent, status="spawning",
            attempts={b: 1 for b in bead_ids}, worktree=str(path),
            port=_pick_port(rig, hooks, name),
            actor=req.actor, author=author, email=email, run_id=secrets.token_hex(6),
        )
        hook = hk.write_hook(repo, name, "spawn", lambda tx: None, create=state,
                             subject=", ".join(bead_ids)[:120])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        repo.git("worktree", "add", "-q", "-b", branch, str(path), base_commit)
        hk.mark_worktree(path, name)
    except GtError:
        _undo_spawn(repo, hook)
        raise
    with _failed_start_recorded(repo, name):
        _mark_beads(rig, bead_ids, name, req.actor or name)
        if req.tmux:
            hook = hk.update_state(repo, name, "tmux", tmux=_tmux_name(rig, name))
        _launch(rig, hook, preset, resume_session=False, new_worktree=True, tmux=req.tmux,
                beads=beads)
    return hook


def landing_target(rig: Rig) -> str:
    """The branch a polecat's work lands on: the Refinery's target (gt.refinery.target, the
    default branch's [refinery] target, else the default branch), never the branch the
    main checkout happens to have out."""
    from git_gastown.refinery import config as refinery_config

    try:
        return refinery_config.load(rig).target
    except GtError:
        return hk.target_branch(rig.repo, rig.setting("refinery.target"))


def _start_commit(repo: Repo, ref: str | None, target: str) -> str:
    """The commit a new branch starts from: --base REF (any commit-ish), else the target."""
    spec = ref if ref is not None else target
    sha = "" if spec.startswith("-") or not spec else repo.git(
        "rev-parse", "-q", "--verify", f"{spec}^{{commit}}", check=False).stdout.decode().strip()
    if len(sha) in (40, 64) and all(c in "0123456789abcdef" for c in sha):
        return sha  # one commit (a range such as A..B prints several lines)
    if ref is None:
        raise UsageError(f"the target branch {target} does not exist",
                         hint="create it, set gt.refinery.target, or give --base REF")
    raise UsageError(f"--base {ref!r} does not name a commit",
                     hint="give a branch, tag or commit, e.g. main, v1.2, HEAD~1 or a sha")


@contextlib.contextmanager
def _failed_start_recorded(repo: Repo, name: str) -> Iterator[None]:
    """If the agent cannot be started once the Hook exists, say so in the Hook (status
    exited, exit code -1) instead of leaving it 'spawning', and tell how to go on."""
    try:
        yield
    except GtError as exc:
        hk.update_state(repo, name, "failed-start", subject=exc.message[:120],
                        status="exited", exit_code=-1)
        raise type(exc)(f"{exc.message} (polecat {name} was created but not started)",
                        hint=f"{exc.hint + '; then ' if exc.hint else 'fix it, then '}"
                        f"git gt-polecat spawn --resume {name}") from exc


def _undo_spawn(repo: Repo, hook: Hook) -> None:
    from git_gastown.polecat import ports

    ports.release(repo.common_dir, hook.name)
    refs.delete_ref(repo, hook.ref)
    repo.git("worktree", "remove", "--force", str(hook.worktree), check=False)
    repo.git("branch", "-D", hook.branch, check=False)


# -- resume -------------------------------------------------------------------------------


def resume(rig: Rig, name: str, *, agent: str | None = None, tmux: bool = False,
           actor: str = "") -> Hook:
    """Start a replacement agent on an existing Hook; recreate its worktree if gone."""
    repo = rig.repo
    hook = hk.load_hook(repo, hk.check_name(name))
    if hook.agent_alive() or hook.runner_alive():
        st = hook.state
        if hk.process_alive(st.pid, st.pid_start):
            what = f"pid {st.pid}"
        elif hook.agent_alive():
            what = f"its agent is gone but process group {st.pgid} runs on"
        else:
            what = f"runner pid {st.runner_pid}"
        raise Conflict(f"polecat {name} is still running ({what})",
                       hint=f"stop it first: git gt-polecat stop {name}")
    if hook.state.status == "nuked":
        raise Conflict(f"polecat {name} was nuked",
                       hint="spawn a new polecat for its beads")
    beads = _check_open_beads(rig, hook)
    if not beads:
        raise Conflict(f"every bead of {name} is closed; nothing to resume",
                       hint=f"remove the Hook: git gt-polecat nuke {name}")
    preset = _preset(rig, agent or hook.state.agent)
    check_program(preset)
    check_argv(preset)
    check_tmux(tmux)
    if preset.format == "shell":
        _shell_plan(beads, ())
    # Save what the dead run left (its events, and uncommitted edits) before anything else.
    hook = hk.fold(repo, name, reason="resume: save the previous run")
    path = hook.worktree
    new_worktree = not (path.exists() and (path / ".git").exists())
    if new_worktree:
        conflicts = _recreate_worktree(repo, hook, path)
    else:  # an earlier restore's conflicts, as long as their markers are still there
        conflicts = [p for p in hook.state.conflicts
                     if hk.has_conflict_markers(path / p)]
    hk.mark_worktree(path, name)
    state = hook.state
    attempts = dict(state.attempts)
    for b in state.beads:
        attempts[b] = attempts.get(b, 0) + 1
    # Go on in the agent's own session when its preset can and the session is known (and
    # it is the same agent); otherwise start fresh with the full brief and the handoff.
    needs_session = "{session_id}" in " ".join(preset.resume)
    same_agent = agent is None or agent == state.agent
    use_session = needs_session and bool(state.session_id) and same_agent
    use_resume = preset.resumable and same_agent and (use_session or not needs_session)
    # A finished bead that is open again (its merge was rejected, someone reopened it)
    # is to be done again.
    reopened = {b["id"] for b in beads if b["status"] == "open"}
    changes: dict[str, Any] = dict(
        finished=tuple(b for b in state.finished if b not in reopened),
        status="spawning", attempts=attempts, agent=agent or state.agent,
        run_id=secrets.token_hex(6), folded=0, worktree=str(path), pid=0, pid_start=0,
        pgid=0, runner_pid=0, runner_start=0, exit_code=None, waiting="", denied=(),
        error="", done_error="",
        tmux=_tmux_name(rig, name) if tmux else "",
        session_id=state.session_id if use_session else "",
        conflicts=tuple(conflicts),
    )

    def apply(tx: hk.HookTx) -> None:
        tx.state = tx.state.replace(**changes)
        if conflicts and new_worktree:
            warning = {"type": "gt.warning", "at": now_iso(), "paths": conflicts,
                       "text": "restoring the last checkpoint left conflict markers"}
            hk.append_transcript(tx, (json.dumps(warning) + "\n").encode())

    hook = hk.write_hook(repo, name, "resume", apply,
                         subject=f"attempt {max(attempts.values())}")
    with _failed_start_recorded(repo, name):
        _mark_beads(rig, [b["id"] for b in beads], name, actor or name)
        _launch(rig, hook, preset, resume_session=use_resume, new_worktree=new_worktree,
                tmux=tmux, beads=beads)
    return hook


def _check_open_beads(rig: Rig, hook: Hook) -> list[dict[str, Any]]:
    from git_gastown.beads.cache import Cache

    cache = Cache(rig.store).fresh()
    out = []
    for bead_id in hook.state.beads:
        bead = cache.get(bead_id)
        if bead is not None and not bead.get("deleted") and bead["status"] != "closed":
            out.append(bead)
    return out


def _recreate_worktree(repo: Repo, hook: Hook, path: Path) -> list[str]:
    """Make the worktree again from the branch (or the checkpoint's head) and lay the last
    checkpoint's uncommitted changes over it; return the paths left with conflict markers
    (the branch moved since the checkpoint and both changed them)."""
    repo.git("worktree", "prune")
    st = hook.state
    ckpt = st.checkpoint
    branch_ref = f"refs/heads/{st.branch}"
    have_branch = repo.git("rev-parse", "-q", "--verify", branch_ref, check=False).returncode == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise GtError(f"{path} exists but is not a worktree of this repository",
                      hint="move it away, then resume again")
    if have_branch:
        repo.git("worktree", "add", "-q", str(path), st.branch)
    else:
        start = (ckpt.head if ckpt and ckpt.head else "") or st.base_commit
        if not start or repo.git("cat-file", "-e", f"{start}^{{commit}}",
                                 check=False).returncode != 0:
            raise GtError(f"cannot recreate the worktree of {hook.name}: its branch "
                          f"{st.branch} and its start commit are missing",
                          hint="fetch them (git gt-sync, or git fetch) and resume again")
        repo.git("worktree", "add", "-q", "-b", st.branch, str(path), start)
    if ckpt is None:
        return []
    return hk.restore_checkpoint(repo, path, ckpt)


def resume_convoy(rig: Rig, convoy: str, *, agent: str | None = None, tmux: bool = False,
                  actor: str = "") -> list[Hook]:
    convoy_id, _ = convoy_beads(rig, convoy)
    hooks = [h for h in hk.list_hooks(rig.repo)
             if h.state.convoy == convoy_id and h.liveness() in ("dead", "exited", "stopped",
                                                                   "done")
             and _check_open_beads(rig, h)]
    if not hooks:
        raise NotFound(f"no polecat of convoy {convoy} has open work to resume",
                       hint="git gt-polecat list shows them")
    return [resume(rig, h.name, agent=agent, tmux=tmux, actor=actor) for h in hooks]


# -- stop ----------------------------------------------------------------------------------


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _signal_agent(st: HookState, sig: int) -> None:
    """SIG to the agent (it leads its own group) and to what is left of its process group
    once it is gone itself (its children outlive it when the runner is killed)."""
    if hk.process_alive(st.pid, st.pid_start) and not _signal_group(st.pid, sig):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(st.pid, sig)
    if hk.group_members(st.pgid, st.sid, st.pid_start):
        _signal_group(st.pgid, sig)


def stop(rig: Rig, name: str, *, timeout: float = 10.0) -> Hook:
    """Stop the agent (TERM to its process group, KILL after TIMEOUT); keep all its work."""
    repo = rig.repo
    hook = hk.load_hook(repo, name)
    st = hook.state
    if hook.state.status in LIVE_STATUSES:
        with open(hook.runtime_dir() / "stop-requested", "w") as fh:
            fh.write(now_iso())
    runner_alive = hook.runner_alive()
    if runner_alive:
        _signal_group(st.runner_pid, signal.SIGTERM)
    elif hook.agent_alive():
        _signal_agent(st, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (hook.runner_alive() or hook.agent_alive()):
        time.sleep(0.05)
    if hook.runner_alive() or hook.agent_alive():
        if runner_alive:
            _signal_group(st.runner_pid, signal.SIGKILL)
        if hook.agent_alive():
            _signal_agent(st, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and (hook.runner_alive() or hook.agent_alive()):
            time.sleep(0.05)
    _kill_tmux(st.tmux)
    hook = hk.load_hook(repo, name, live=False)
    if hook.state.status in LIVE_STATUSES:
        # The runner was killed before it folded (or never ran): fold and mark it here.
        hook = hk.fold(repo, name, reason="stop", status="stopped")
    (hook.runtime_dir() / "stop-requested").unlink(missing_ok=True)
    return hk.load_hook(repo, name)


# -- nuke ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NukeReport:
    name: str
    checkpoint: str
    worktree_removed: bool
    branch_removed: bool
    purged: bool
    branch: str = ""
    recover: str = ""  # the commit holding the work: git worktree add DIR <recover>


def nuke(rig: Rig, name: str, *, force: bool = False, purge: bool = False) -> NukeReport:
    """Remove a Hook's worktree and branch, never losing work: refused while the branch tip
    or uncommitted edits are on no durable ref; FORCE checkpoints them into the hook ref first.
    PURGE also deletes the hook ref, only when its branch is merged into the target."""
    repo = rig.repo
    hook = hk.load_hook(repo, name)
    if hook.agent_alive() or hook.runner_alive():
        raise Conflict(f"polecat {name} is running",
                       hint=f"stop it first: git gt-polecat stop {name}")
    ckpt_commit = ""
    target = landing_target(rig)
    unsaved = hk.unsaved_work(hook, targets=[target])
    if not unsaved.safe and not force:
        raise Conflict(f"refusing to nuke {name}: {'; '.join(unsaved.reasons)}",
                       hint=f"land or checkpoint it first, or nuke --force to checkpoint "
                       f"it into {hook.ref} and then remove")
    path = hook.worktree
    if path.exists() and (path / ".git").exists():
        hook = hk.fold(repo, name, reason="nuke")
        ckpt_commit = hook.state.checkpoint.commit if hook.state.checkpoint else ""
        hook = hk.load_hook(repo, name)
        again = hk.unsaved_work(hook, targets=[target])
        if not again.safe:
            raise GtError(f"checkpointing {name} did not cover its work: "
                          f"{'; '.join(again.reasons)}",
                          hint="nothing was removed; inspect the worktree by hand")
    elif unsaved.branch_tip:
        # No worktree to checkpoint: keep the branch's commits in the hook ref instead.
        kept = unsaved.branch_tip
        hook = hk.write_hook(repo, name, "keep", lambda tx: tx.parents.append(kept),
                             subject=f"keep branch tip {kept[:12]}")
    if purge and not _merged(repo, hook, target):
        raise Conflict(f"refusing to purge {name}: branch {hook.branch} is not merged into "
                       f"{target}", hint="nuke without --purge keeps the work in the "
                       "hook ref")
    removed_wt = False
    if path.exists():
        repo.git("worktree", "remove", "--force", str(path))
        removed_wt = True
    repo.git("worktree", "prune")
    removed_branch = False
    branch_ref = f"refs/heads/{hook.branch}"
    tip = repo.git("rev-parse", "-q", "--verify", branch_ref, check=False).stdout.decode().strip()
    if tip and hk.reachable(repo, tip, [hk._target_ref(hook.state.base),
                                        hk._target_ref(target), hook.ref]):
        repo.git("update-ref", "-d", branch_ref, tip)
        removed_branch = True
    last = hook.state.checkpoint
    recover = "" if purge else ((last.commit if last and last.dirty else "") or tip)
    if purge:
        refs.delete_ref(repo, hook.ref, hook.tip)
    else:
        hk.update_state(repo, name, "nuke", status="nuked", pid=0, runner_pid=0)
    _release_beads(rig, hook)
    _kill_tmux(hook.state.tmux)
    _remove_runtime(hook)
    from git_gastown.polecat import ports

    ports.release(repo.common_dir, name)
    return NukeReport(name, ckpt_commit, removed_wt, removed_branch, purge,
                      branch=hook.branch if tip else "", recover=recover)


def _merged(repo: Repo, hook: Hook, target: str) -> bool:
    branch_ref = f"refs/heads/{hook.branch}"
    tip = repo.git("rev-parse", "-q", "--verify", branch_ref, check=False).stdout.decode().strip()
    tip = tip or (hook.state.checkpoint.head if hook.state.checkpoint else "")
    return hk.reachable(repo, tip, [hk._target_ref(target)])


def _release_beads(rig: Rig, hook: Hook) -> None:
    """Beads still hooked by this polecat go back to open and unassigned."""

    def apply(tx: Tx) -> None:
        for bead_id in hook.state.beads:
            doc = tx.get(bead_id)
            if doc is None:
                continue
            bead = model.flatten(doc)
            if bead.status in ("hooked", "in_progress") and bead.assignee == hook.name:
                w = tx.writer(doc)
                w.set("status", "open")
                w.set("assignee", None)
                tx.put(doc)

    rig.store.transact("unhook", hook.name, apply, subject=f"release beads of {hook.name}")


def _remove_runtime(hook: Hook) -> None:
    import shutil

    shutil.rmtree(hook.repo.gt_dir / "polecats" / hook.name, ignore_errors=True)
