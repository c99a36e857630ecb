"""The Hook: one unit of agent work kept in git (worktree, branch, refs/gt/hooks/<name>).

A Hook's state ref is a commit history whose tree holds:

    state.json          HookState (who, what, where, the agent's session, usage, status)
    transcript/NNNNNN.jsonl   the agent's structured events, one chunk per fold
    notes.jsonl         notes for a successor, one JSON object a line
    checkpoints.jsonl   every checkpoint taken (commit, head, time, why)

A checkpoint is a commit of the worktree's tracked and untracked-not-ignored files built
with a temporary index (the worktree and its real index are never touched); its parent is
the branch tip, and the state commit that records it takes it as a second parent, so both
the uncommitted work and the branch tip stay reachable from the hook ref (and sync with it).

Hot-path data the runner writes while an agent runs (heartbeat, live fields, the event
stream) lives under $GIT_COMMON_DIR/gt/polecats/<name>/ and is folded into the ref at
checkpoints and at exit; `load_hook` overlays it so readers see current values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown.beads.model import now_iso
from git_gastown.errors import ConcurrentUpdate, GtError, NotFound, UsageError
from git_gastown.git import Repo
from git_gastown.store import refs
from git_gastown.store.objects import ObjectStore, edit_tree, read_file_at

REF_PREFIX = "refs/gt/hooks/"
STATE_FILE = "state.json"
NOTES_FILE = "notes.jsonl"
CHECKPOINTS_FILE = "checkpoints.jsonl"
TRANSCRIPT_DIR = "transcript"
SESSIONS_DIR = "sessions"  # copies of an agent's own session files (Claude Code's JSONL)
MARKER = "gt-hook"  # file in a Hook worktree's git dir: the post-commit stub acts only there
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
STATUSES = ("spawning", "setup", "running", "exited", "done", "stopped", "nuked")
LIVE_FILE = "live.json"
EVENTS_FILE = "events.jsonl"
HEARTBEAT_FILE = "heartbeat"
FORMAT = 1


def check_name(name: str) -> str:
    """A polecat name: lowercase letters, digits and '-', so it is safe in refs and paths."""
    if not valid_name(name):
        raise UsageError(
            f"invalid polecat name {name!r}",
            hint="use 1-40 lowercase letters, digits or single '-', e.g. nux or fix-login",
        )
    return name


def valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name)) and not name.endswith("-") and "--" not in name


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": round(self.cost_usd, 6)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Usage:
        data = data or {}
        return cls(int(data.get("input_tokens") or 0), int(data.get("output_tokens") or 0),
                    float(data.get("cost_usd") or 0.0))

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens, self.cost_usd + other.cost_usd)


@dataclass(frozen=True)
class Checkpoint:
    commit: str
    head: str  # the branch tip it was taken on ("" on an unborn branch)
    tree: str
    dirty: bool  # whether it holds changes beyond head
    at: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Checkpoint | None:
        if not data:
            return None
        return cls(str(data["commit"]), str(data.get("head", "")), str(data.get("tree", "")),
                   bool(data.get("dirty")), str(data.get("at", "")),
                   str(data.get("reason", "")))


@dataclass(frozen=True)
class HookState:
    """state.json of a Hook (docs/json.md, "Hook state")."""

    name: str
    branch: str
    base: str = ""  # the target branch the work is for (e.g. main)
    base_commit: str = ""
    beads: tuple[str, ...] = ()
    convoy: str = ""
    agent: str = "shell"
    session_id: str = ""
    status: str = "spawning"
    attempts: Mapping[str, int] = field(default_factory=dict)  # per bead: spawns + resumes
    pid: int = 0
    pid_start: int = 0  # /proc/<pid>/stat starttime, so a reused pid is not mistaken
    pgid: int = 0  # the agent's process group: it lives while any member does
    sid: int = 0  # the session of runner and agent, so a reused group id is not mistaken
    runner_pid: int = 0
    runner_start: int = 0
    runner_pgid: int = 0
    heartbeat: str = ""
    last_event_at: str = ""
    last_event_type: str = ""
    waiting: str = ""  # "input" when the agent waits for an answer (Codex request_user_input)
    denied: tuple[str, ...] = ()  # tool uses the agent was refused in this run
    exit_code: int | None = None
    error: str = ""  # why the run failed: the agent's reported error, or a start failure
    done_error: str = ""  # why the shell agent's closing `git gt-done` was refused, if it was
    worktree: str = ""
    usage: Usage = field(default_factory=Usage)
    created_at: str = ""
    updated_at: str = ""
    port: int = 0
    tmux: str = ""
    actor: str = ""  # who spawned it
    author: str = ""  # the git author name the agent commits as
    email: str = ""
    run_id: str = ""  # one per runner start; the runtime event file belongs to it
    folded: int = 0  # bytes of the runtime event file already folded into the transcript
    chunks: int = 0  # transcript chunks in the ref
    checkpoint: Checkpoint | None = None
    finished: tuple[str, ...] = ()  # beads the agent reported finished (shell agent)
    conflicts: tuple[str, ...] = ()  # paths a checkpoint restore left with conflict markers
    format: int = FORMAT

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["beads"] = list(self.beads)
        data["finished"] = list(self.finished)
        data["denied"] = list(self.denied)
        data["conflicts"] = list(self.conflicts)
        data["attempts"] = dict(self.attempts)
        data["usage"] = self.usage.to_json()
        data["checkpoint"] = self.checkpoint.to_json() if self.checkpoint else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HookState:
        known = {f.name for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        kw["beads"] = tuple(data.get("beads") or ())
        kw["finished"] = tuple(data.get("finished") or ())
        kw["denied"] = tuple(str(d) for d in data.get("denied") or ())
        kw["conflicts"] = tuple(data.get("conflicts") or ())
        kw["attempts"] = {str(k): int(v) for k, v in (data.get("attempts") or {}).items()}
        kw["usage"] = Usage.from_json(data.get("usage"))
        kw["checkpoint"] = Checkpoint.from_json(data.get("checkpoint"))
        return cls(**kw)

    def replace(self, **changes: Any) -> HookState:
        return dataclasses.replace(self, **changes)

    def max_attempts(self) -> int:
        return max(self.attempts.values(), default=0)


@dataclass(frozen=True)
class Note:
    author: str
    text: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"author": self.author, "text": self.text, "at": self.at}


@dataclass
class Hook:
    """A Hook as read from its state ref, with the runner's live data laid over it."""

    repo: Repo
    name: str
    tip: str
    state: HookState

    @property
    def ref(self) -> str:
        return REF_PREFIX + self.name

    @property
    def branch(self) -> str:
        return self.state.branch

    @property
    def worktree(self) -> Path:
        return worktree_path(self.repo, self.name, self.state.worktree)

    def runtime_dir(self) -> Path:
        return runtime_dir(self.repo, self.name)

    def agent_alive(self) -> bool:
        """The agent, or anything it started in its process group, still runs."""
        st = self.state
        return process_alive(st.pid, st.pid_start) or \
            bool(group_members(st.pgid, st.sid, st.pid_start))

    def runner_alive(self) -> bool:
        return process_alive(self.state.runner_pid, self.state.runner_start)

    def open_conflicts(self) -> list[str]:
        """The paths a checkpoint restore left conflicted that still hold markers (an agent
        that resolved and committed them has nothing left to resolve)."""
        return [p for p in self.state.conflicts if has_conflict_markers(self.worktree / p)]

    def liveness(self) -> str:
        """The status a reader should show: a 'running' hook whose processes died is 'dead'."""
        status = self.state.status
        if status in ("spawning", "setup", "running"):
            if self.agent_alive() or self.runner_alive():
                return status
            if status == "spawning" and not self.state.runner_pid:
                # The runner has not reported yet; give it a minute before calling it dead.
                return status if age_seconds(self.state.updated_at) < 60 else "dead"
            return "dead"
        return status

    def notes(self) -> list[Note]:
        data = self._read(NOTES_FILE)
        return [Note(str(o.get("author", "")), str(o.get("text", "")), str(o.get("at", "")))
                for o in _jsonl(data)]

    def checkpoints(self) -> list[Checkpoint]:
        return [c for c in (Checkpoint.from_json(o) for o in _jsonl(self._read(CHECKPOINTS_FILE)))
                if c is not None]

    def transcript(self) -> list[dict[str, Any]]:
        """Every event: the folded chunks in order, then what the runner has not folded yet."""
        objects = ObjectStore(self.repo)
        try:
            tree = objects.read_commit_tree(self.tip)
            chunks = _tree_entries(objects, tree, TRANSCRIPT_DIR)
            events: list[dict[str, Any]] = []
            for _chunk, sha in sorted(chunks):
                events += _jsonl(objects.read(sha)[1])
        finally:
            objects.close()
        events += _jsonl(unfolded_events(self.repo, self.state))
        return events

    def session_file(self, session_id: str) -> bytes | None:
        """The Hook's copy of the agent's own session file, if one was kept."""
        if not session_id or "/" in session_id:
            return None
        return self._read(f"{SESSIONS_DIR}/{session_id}.jsonl")

    def _read(self, path: str) -> bytes | None:
        objects = ObjectStore(self.repo)
        try:
            return read_file_at(objects, objects.read_commit_tree(self.tip), path)
        finally:
            objects.close()


def age_seconds(iso: str) -> float:
    """Seconds since an RFC 3339 UTC time (e.g. 2026-11-24T03:05:17Z); inf when unknown."""
    import calendar

    try:
        return time.time() - calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))
    except (ValueError, TypeError):
        return float("inf")


# -- paths -------------------------------------------------------------------------------


def runtime_dir(repo: Repo, name: str) -> Path:
    path = repo.gt_dir / "polecats" / check_name(name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def worktree_root(repo: Repo) -> Path:
    """gt.worktreeRoot, else <user data dir>/worktrees/<repo name>-<hash of its git dir>."""
    override = repo.config_get("gt.worktreeroot")
    if override:
        return Path(os.path.expanduser(override)).resolve()
    import platformdirs

    common = repo.common_dir.resolve()
    base = common.parent.name if common.name == ".git" else common.name.removesuffix(".git")
    key = hashlib.sha1(str(common).encode()).hexdigest()[:8]
    return Path(platformdirs.user_data_dir("git-gastown")) / "worktrees" / f"{base}-{key}"


def worktree_path(repo: Repo, name: str, recorded: str = "") -> Path:
    """Where the Hook's worktree is: the recorded path if it is one of ours, else the default."""
    if recorded:
        path = Path(recorded)
        if (path / ".git").exists() and _worktree_gitdir(path) is not None:
            gitdir = _worktree_gitdir(path)
            if gitdir is not None and gitdir.resolve().parent.parent == repo.common_dir.resolve():
                return path
    return worktree_root(repo) / name


def _worktree_gitdir(path: Path) -> Path | None:
    try:
        text = (path / ".git").read_text().strip()
    except (OSError, IsADirectoryError):
        return None
    if not text.startswith("gitdir: "):
        return None
    gitdir = Path(text[8:])
    return gitdir if gitdir.is_absolute() else (path / gitdir).resolve()


def mark_worktree(path: Path, name: str) -> None:
    """Put the gt-hook marker in the worktree's git dir (the post-commit stub looks for it)."""
    gitdir = _worktree_gitdir(path)
    if gitdir is None:
        raise GtError(f"{path} is not a linked worktree")
    (gitdir / MARKER).write_text(name + "\n")


def hook_of_worktree(start: Path | None = None) -> str | None:
    """The Hook name of the worktree containing START (from its gt-hook marker), if any."""
    try:
        repo = Repo.discover(start)
    except GtError:
        return None
    try:
        return (repo.git_dir / MARKER).read_text().strip() or None
    except OSError:
        return None


# -- processes ---------------------------------------------------------------------------


def process_start(pid: int) -> int:
    """The start time of PID in clock ticks since boot (Linux /proc), or 0 if unknown."""
    if pid <= 0:
        return 0
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return 0
    fields = data[data.rindex(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of stat; fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return 0


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        return data[data.rindex(b")") + 2 :].split()[0] == b"Z"
    except (OSError, ValueError, IndexError):
        return False


def process_alive(pid: int, start: int = 0) -> bool:
    """Whether PID runs and is the process we recorded (same start time, not a zombie)."""
    if pid <= 0 or not refs.pid_alive(pid) or _zombie(pid):
        return False
    if start and Path("/proc").is_dir():
        return process_start(pid) == start
    return True


_MARKERS = (re.compile(rb"^<{7}(?: |$)", re.M), re.compile(rb"^>{7}(?: |$)", re.M))


def conflict_markers_in(data: bytes) -> bool:
    """DATA (a text file's bytes) holds a merge conflict's opening and closing markers."""
    return b"\0" not in data[:8000] and all(rx.search(data) for rx in _MARKERS)


def has_conflict_markers(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            data = fh.read(4 << 20)
    except OSError:
        return False
    return conflict_markers_in(data)


def group_members(pgid: int, sid: int = 0, since: int = 0) -> list[int]:
    """The live processes of process group PGID (of session SID, started at or after SINCE
    in clock ticks): an agent's children outlive it there when its runner is killed."""
    if pgid <= 0:
        return []
    try:
        os.killpg(pgid, 0)
    except OSError:
        return []  # no such group (or not ours)
    proc = Path("/proc")
    if not proc.is_dir():
        return [pgid]  # the group exists; nothing more can be told here
    out = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            data = (entry / "stat").read_bytes()
            fields = data[data.rindex(b")") + 2 :].split()
            state, pgrp, session = fields[0], int(fields[2]), int(fields[3])
            start = int(fields[19])
        except (OSError, ValueError, IndexError):
            continue
        if pgrp != pgid or state == b"Z":
            continue
        if (sid and session != sid) or (since and start < since):
            continue  # a later group that reuses the number, not the agent's
        out.append(int(entry.name))
    return out


# -- reading -----------------------------------------------------------------------------


def _jsonl(data: bytes | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not data:
        return out
    for line in data.decode(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = {"type": "gt.output", "text": line}
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _tree_entries(objects: ObjectStore, tree: str, path: str) -> list[tuple[str, str]]:
    entries = {e.name: e for e in objects.read_tree(tree)}
    sub = entries.get(path)
    if sub is None or not sub.is_tree:
        return []
    return [(e.name, e.sha) for e in objects.read_tree(sub.sha)]


def read_live(repo: Repo, name: str) -> dict[str, Any]:
    """The runner's live.json for NAME ({} when absent or torn)."""
    if not valid_name(name):
        return {}
    try:
        data: dict[str, Any] = json.loads((repo.gt_dir / "polecats" / name / LIVE_FILE)
                                          .read_text())
        return data
    except (OSError, json.JSONDecodeError):
        return {}


LIVE_FIELDS = ("pid", "pid_start", "pgid", "sid", "runner_pid", "runner_start", "runner_pgid",
               "session_id", "last_event_at", "last_event_type", "waiting", "usage", "status",
               "exit_code", "finished", "denied", "error", "done_error")


def overlay_live(repo: Repo, state: HookState) -> HookState:
    """STATE with the runner's live fields of the same run laid over it."""
    live = read_live(repo, state.name)
    changes: dict[str, Any] = {}
    if live and live.get("run_id") == state.run_id and state.run_id:
        for key in LIVE_FIELDS:
            if key not in live:
                continue
            if key == "usage":
                changes[key] = Usage.from_json(live[key])
            elif key in ("finished", "denied"):
                changes[key] = tuple(live[key])
            elif key == "status":
                # The ref's terminal statuses (done, stopped, nuked) win over "running".
                if state.status in ("spawning", "setup", "running"):
                    changes[key] = live[key]
            else:
                changes[key] = live[key]
    beat = repo.gt_dir / "polecats" / state.name / HEARTBEAT_FILE
    with contextlib.suppress(OSError):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(beat.stat().st_mtime))
        if stamp > state.heartbeat:
            changes["heartbeat"] = stamp
    return state.replace(**changes) if changes else state


def unfolded_events(repo: Repo, state: HookState) -> bytes:
    """The runtime event bytes of the current run not yet folded into the ref."""
    live = read_live(repo, state.name)
    if not state.run_id or live.get("run_id") != state.run_id:
        return b""
    try:
        with open(repo.gt_dir / "polecats" / state.name / EVENTS_FILE, "rb") as fh:
            fh.seek(state.folded)
            data = fh.read()
    except OSError:
        return b""
    cut = data.rfind(b"\n")
    return data[: cut + 1] if cut >= 0 else b""


def _state_at(objects: ObjectStore, tip: str) -> HookState:
    data = read_file_at(objects, objects.read_commit_tree(tip), STATE_FILE)
    if data is None:
        raise GtError(f"hook commit {tip[:12]} has no {STATE_FILE}",
                      hint="the hook ref is damaged; inspect it with git log")
    return HookState.from_json(json.loads(data))


def load_hook(repo: Repo, name: str, *, live: bool = True) -> Hook:
    tip = refs.read_ref(repo, REF_PREFIX + check_name(name))
    if tip is None:
        near = [h for h in hook_names(repo) if name in h or h in name][:3]
        hint = f"did you mean {', '.join(near)}?" if near else \
            "git gt-polecat list shows the polecats"
        raise NotFound(f"no polecat {name}", hint=hint)
    objects = ObjectStore(repo)
    try:
        state = _state_at(objects, tip)
    finally:
        objects.close()
    if state.name != name:  # the ref's (checked) name wins over what state.json claims
        state = state.replace(name=name)
    if live:
        state = overlay_live(repo, state)
    return Hook(repo, name, tip, state)


def hook_names(repo: Repo) -> list[str]:
    return sorted(ref[len(REF_PREFIX):] for ref in refs.list_refs(repo, REF_PREFIX))


def list_hooks(repo: Repo, *, live: bool = True) -> list[Hook]:
    """Every Hook of the repository, by name (one cat-file process for all)."""
    found = refs.list_refs(repo, REF_PREFIX)
    hooks: list[Hook] = []
    if not found:
        return hooks
    objects = ObjectStore(repo)
    try:
        for ref, tip in sorted(found.items()):
            name = ref[len(REF_PREFIX):]
            if not valid_name(name):
                continue  # not a Hook of ours (a path trick, or written by hand)
            state = _state_at(objects, tip)
            if state.name != name:
                state = state.replace(name=name)
            if live:
                state = overlay_live(repo, state)
            hooks.append(Hook(repo, name, tip, state))
    finally:
        objects.close()
    return hooks


# -- writing -----------------------------------------------------------------------------


@dataclass
class HookTx:
    """One write to a Hook's ref: the state to store and extra files and parents."""

    state: HookState
    files: dict[str, bytes | None] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    appends: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def append(self, path: str, obj: Mapping[str, Any]) -> None:
        self.appends.setdefault(path, []).append(dict(obj))


@contextlib.contextmanager
def hook_lock(repo: Repo, name: str) -> Iterator[None]:
    with refs.locked(repo, f"hook-{check_name(name)}"):
        yield


def _author(state: HookState, repo: Repo) -> tuple[str, str]:
    if state.author:
        return state.author, state.email or f"{state.name}@gastown.invalid"
    return repo.identity()


def write_hook(
    repo: Repo,
    name: str,
    op: str,
    fn: Callable[[HookTx], None],
    *,
    create: HookState | None = None,
    subject: str = "",
) -> Hook:
    """Apply FN to the Hook's current state and commit the result, under the hook lock.

    CREATE makes a new Hook (refused if the name is taken). FN may change tx.state, set
    files, append JSONL records and add parents (checkpoint commits).
    """
    with hook_lock(repo, check_name(name)):
        return _write_locked(repo, name, op, fn, create=create, subject=subject)


def _write_locked(repo: Repo, name: str, op: str, fn: Callable[[HookTx], None], *,
                  create: HookState | None, subject: str) -> Hook:
    ref = REF_PREFIX + name
    objects = ObjectStore(repo)
    try:
        tip = refs.read_ref(repo, ref)
        if create is not None:
            if tip is not None:
                raise UsageError(f"a polecat named {name} already exists",
                                 hint="choose another --name, or resume it with --resume")
            state, tree = create, None
        else:
            if tip is None:
                raise NotFound(f"no polecat {name}", hint="git gt-polecat list shows them")
            tree = objects.read_commit_tree(tip)
            state = _state_at(objects, tip)
            if state.name != name:
                state = state.replace(name=name)
        tx = HookTx(state)
        fn(tx)
        if tip is not None and tx.state == state and not (tx.files or tx.appends or tx.parents):
            return Hook(repo, name, tip, state)  # nothing to record
        now = now_iso()
        new_state = tx.state.replace(updated_at=now, created_at=tx.state.created_at or now)
        changes = dict(tx.files)
        for path, records in tx.appends.items():
            old = read_file_at(objects, tree, path) if tree else None
            extra = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
            changes[path] = (old or b"") + extra
        changes[STATE_FILE] = (json.dumps(new_state.to_json(), sort_keys=True, indent=1)
                               + "\n").encode()
        new_tree = edit_tree(objects, tree, changes)
        parents = ([tip] if tip else []) + [p for p in tx.parents if p]
        message = f"{op} {name}" + (f": {subject}" if subject else "")
        message += f"\n\nGt-Hook: {name}\nGt-Op: {op}\nGt-Status: {new_state.status}"
        commit = objects.write_commit(new_tree, parents, message[:2000],
                                      author=_author(new_state, repo), when=int(time.time()))
        try:
            refs.update_ref(repo, ref, commit, tip, f"gt hook {op}")
        except ConcurrentUpdate as exc:
            raise GtError(f"{ref} moved during the update",
                          hint="another clone's sync wrote it; try again") from exc
        return Hook(repo, name, commit, new_state)
    finally:
        objects.close()


def update_state(repo: Repo, name: str, op: str = "update", subject: str = "",
                 **changes: Any) -> Hook:
    """Set fields of state.json (one commit)."""

    def apply(tx: HookTx) -> None:
        tx.state = tx.state.replace(**changes)

    return write_hook(repo, name, op, apply, subject=subject)


def append_transcript(tx: HookTx, data: bytes) -> None:
    """Add DATA (JSONL bytes) as the next transcript chunk of this write."""
    if not data.strip():
        return
    seq = tx.state.chunks + 1
    tx.files[f"{TRANSCRIPT_DIR}/{seq:06d}.jsonl"] = data
    tx.state = tx.state.replace(chunks=seq)


def add_note(repo: Repo, name: str, text: str, author: str) -> Hook:
    if not text.strip():
        raise UsageError("the note is empty", hint="give the note text with --note")

    def apply(tx: HookTx) -> None:
        tx.append(NOTES_FILE, Note(author, text, now_iso()).to_json())

    return write_hook(repo, name, "note", apply, subject=text.splitlines()[0][:80])


# -- checkpoints -------------------------------------------------------------------------


def _git_in(repo: Repo, worktree: Path, *args: str, index: str | None = None,
            input: bytes | None = None, check: bool = True) -> str:
    env = {"GIT_INDEX_FILE": index} if index else None
    proc = repo.git(*args, cwd=worktree, env=env, input=input, check=check)
    return proc.stdout.decode().strip()


def head_of(repo: Repo, worktree: Path) -> str:
    return _git_in(repo, worktree, "rev-parse", "-q", "--verify", "HEAD", check=False)


def snapshot(repo: Repo, worktree: Path) -> tuple[str, str]:
    """(head, tree) of the worktree as it is now: tracked and untracked-not-ignored files.

    Built in a temporary index (a copy of the real one, so unchanged files are not
    re-hashed); neither the worktree nor its index is touched.
    """
    gitdir = _worktree_gitdir(worktree)
    if gitdir is None:
        gitdir = Path(_git_in(repo, worktree, "rev-parse", "--absolute-git-dir"))
    head = head_of(repo, worktree)
    fd, tmp = tempfile.mkstemp(prefix="gt-ckpt-index-", dir=gitdir)
    os.close(fd)
    try:
        real = gitdir / "index"
        if real.exists():
            shutil.copyfile(real, tmp)
        else:
            os.unlink(tmp)
            if head:
                _git_in(repo, worktree, "read-tree", head, index=tmp)
        _git_in(repo, worktree, "add", "-A", "--", ".", index=tmp)
        tree = _git_in(repo, worktree, "write-tree", index=tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return head, tree


def tree_of(repo: Repo, commit: str) -> str:
    return repo.out("rev-parse", f"{commit}^{{tree}}") if commit else ""


def make_checkpoint(repo: Repo, state: HookState, worktree: Path, reason: str) -> Checkpoint:
    """Write a checkpoint commit for WORKTREE (not yet recorded in the hook ref)."""
    head, tree = snapshot(repo, worktree)
    dirty = tree != tree_of(repo, head) if head else True
    objects = ObjectStore(repo)
    try:
        message = f"checkpoint {state.name}: {reason}\n\nGt-Hook: {state.name}\nGt-Op: checkpoint"
        commit = objects.write_commit(tree, [head] if head else [], message,
                                      author=_author(state, repo), when=int(time.time()))
    finally:
        objects.close()
    return Checkpoint(commit, head, tree, dirty, now_iso(), reason)


def record_checkpoint(tx: HookTx, ckpt: Checkpoint) -> None:
    tx.parents.append(ckpt.commit)
    tx.append(CHECKPOINTS_FILE, ckpt.to_json())
    tx.state = tx.state.replace(checkpoint=ckpt)


def checkpoint(repo: Repo, name: str, reason: str = "checkpoint",
               worktree: Path | None = None) -> str:
    """Checkpoint the Hook's worktree into its ref; return the checkpoint commit id.

    Nothing is written when the worktree matches the last checkpoint already.
    """
    hook = load_hook(repo, name, live=False)
    path = worktree or hook.worktree
    if not path.exists():
        raise GtError(f"the worktree of {name} is gone ({path})",
                      hint=f"git gt-polecat spawn --resume {name} recreates it")
    result: list[str] = []

    def apply(tx: HookTx) -> None:
        last = tx.state.checkpoint
        ckpt = make_checkpoint(repo, tx.state, path, reason)
        if last is not None and last.tree == ckpt.tree and last.head == ckpt.head:
            result.append(last.commit)
            return
        record_checkpoint(tx, ckpt)
        result.append(ckpt.commit)

    write_hook(repo, name, "checkpoint", apply, subject=reason)
    return result[0]


def restore_checkpoint(repo: Repo, worktree: Path, ckpt: Checkpoint) -> list[str]:
    """Lay CKPT's uncommitted changes over WORKTREE (a fresh checkout); index stays at HEAD.

    Returns the paths that conflicted (left with conflict markers), normally none.
    """
    if not ckpt.dirty:
        return []
    head = head_of(repo, worktree)
    if ckpt.head and head == ckpt.head:
        # Same base: a two-tree read-tree moves the files to the checkpoint exactly,
        # deletions included; then the index goes back to HEAD so they show as changes.
        _git_in(repo, worktree, "read-tree", "-m", "-u", head, ckpt.tree)
        _git_in(repo, worktree, "reset", "-q")
        return []
    # The branch moved on since the checkpoint: apply its diff with a 3-way merge.
    base = ckpt.head or tree_of(repo, "") or _empty_tree(repo)
    diff = repo.git("diff", "--binary", "--full-index", base, ckpt.commit).stdout
    proc = repo.git("apply", "--3way", "--index", "-", cwd=worktree, input=diff, check=False)
    # The paths left unmerged in the index are the ones with conflict markers.
    unmerged = repo.git("diff", "--name-only", "--diff-filter=U", "-z", cwd=worktree,
                        check=False).stdout.decode(errors="replace")
    conflicts = sorted({p for p in unmerged.split("\0") if p})
    if proc.returncode != 0 and not conflicts:
        raise GtError(f"could not lay checkpoint {ckpt.commit[:12]} over {worktree}: "
                      f"{proc.stderr.decode(errors='replace').strip()[:500]}",
                      hint=f"its changes are safe in {ckpt.commit[:12]}; apply them by hand "
                      f"(git diff {base[:12]} {ckpt.commit[:12]} | git apply --3way)")
    _git_in(repo, worktree, "reset", "-q")
    return conflicts


def _empty_tree(repo: Repo) -> str:
    return repo.out("hash-object", "-t", "tree", "/dev/null")


# -- is the work safe? -------------------------------------------------------------------


def reachable(repo: Repo, commit: str, from_refs: Sequence[str]) -> bool:
    """Whether COMMIT is reachable from any of FROM_REFS (those that exist)."""
    if not commit:
        return True
    existing = [r for r in from_refs if repo.git("rev-parse", "-q", "--verify", r + "^{commit}",
                                                 check=False).returncode == 0]
    if not existing:
        return False
    proc = repo.git("rev-list", "-n", "1", commit, "--not", *existing, check=False)
    return proc.returncode == 0 and not proc.stdout.strip()


@dataclass(frozen=True)
class Unsaved:
    """What of a Hook's work no durable ref holds (empty: safe to remove)."""

    branch_tip: str = ""  # the branch tip, when not reachable from target or hook ref
    dirty: bool = False  # uncommitted changes not in the last checkpoint
    reasons: tuple[str, ...] = ()

    @property
    def safe(self) -> bool:
        return not self.reasons


def unsaved_work(hook: Hook, targets: Sequence[str] = ()) -> Unsaved:
    """What of HOOK's work is on no durable ref: its target branch (the one recorded, and
    TARGETS, the Refinery's target now), its hook ref or a checkpoint."""
    repo = hook.repo
    durable = [r for r in (_target_ref(hook.state.base), *map(_target_ref, targets), hook.ref)
               if r]
    reasons: list[str] = []
    tip = repo.git("rev-parse", "-q", "--verify", f"refs/heads/{hook.branch}",
                   check=False).stdout.decode().strip()
    unsaved_tip = ""
    if tip and not reachable(repo, tip, durable):
        unsaved_tip = tip
        reasons.append(f"branch {hook.branch} has commits ({tip[:12]}) on no durable ref")
    dirty = False
    path = hook.worktree
    if path.exists() and _worktree_gitdir(path) is not None:
        head, tree = snapshot(repo, path)
        last = hook.state.checkpoint
        changed = bool(head) and tree != tree_of(repo, head)
        if changed and (last is None or last.tree != tree):
            dirty = True
            reasons.append(f"uncommitted changes in {path} are in no checkpoint")
    return Unsaved(unsaved_tip, dirty, tuple(reasons))


def _target_ref(base: str) -> str:
    if not base:
        return ""
    if base.startswith("refs/"):
        return base
    return f"refs/heads/{base}"


def target_branch(repo: Repo, setting: str | None = None) -> str:
    """The branch work lands on: SETTING (refinery.target), origin's HEAD, the main checkout's
    branch, else main."""
    if setting:
        return setting
    proc = repo.git("symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD", check=False)
    name = proc.stdout.decode().strip()
    if name.startswith("origin/"):
        return name[len("origin/"):]
    try:
        text = (repo.common_dir / "HEAD").read_text().strip()
    except OSError:
        text = ""
    if text.startswith("ref: refs/heads/"):
        return text[len("ref: refs/heads/"):]
    return "main"


# -- folding the runner's runtime data into the ref ---------------------------------------


def fold_into(repo: Repo, tx: HookTx, *, checkpoint: bool, reason: str) -> None:
    """Fold the current run's unfolded events and live fields into TX; checkpoint if asked
    and the worktree changed since the last checkpoint."""
    st = tx.state
    data = unfolded_events(repo, st)
    live = overlay_live(repo, st)
    tx.state = live.replace(status=st.status, folded=st.folded + len(data))
    append_transcript(tx, data)
    if checkpoint:
        path = worktree_path(repo, st.name, st.worktree)
        if path.exists() and _worktree_gitdir(path) is not None:
            ckpt = make_checkpoint(repo, tx.state, path, reason)
            last = tx.state.checkpoint
            if last is None or last.tree != ckpt.tree or last.head != ckpt.head:
                record_checkpoint(tx, ckpt)


def fold(repo: Repo, name: str, *, reason: str = "fold", checkpoint: bool = True,
         **changes: Any) -> Hook:
    """One commit: unfolded events, live fields, a checkpoint, then CHANGES to the state."""

    def apply(tx: HookTx) -> None:
        fold_into(repo, tx, checkpoint=checkpoint, reason=reason)
        if changes:
            tx.state = tx.state.replace(**changes)

    return write_hook(repo, name, "fold", apply, subject=reason)


# -- merging two clones' histories of one Hook (for git gt-sync) ---------------------------

SYNC_AUTHOR = ("gastown sync", "sync@gastown.invalid")


def _commit_time(repo: Repo, commit: str) -> int:
    return int(repo.out("show", "-s", "--format=%ct", commit) or 0)


def merge_tips(repo: Repo, name: str, local: str, remote: str) -> str | None:
    """A merge commit of two diverged histories of refs/gt/hooks/NAME, or None when they
    share no history (two different Hooks that happen to have one name).

    Deterministic, so two clones merging the same pair get the same commit: the state of
    the side written last wins (checkpoint: the latest of both); transcript chunks and
    notes and checkpoints records of both sides are kept, in a stable order. Both sides'
    checkpoint commits stay reachable through the parents.
    """
    # Checkpoints descend from the target branch, so any two hook refs share commits;
    # one Hook's histories share the first commit of the first-parent (state) chain.
    roots = {repo.out("rev-list", "--first-parent", "--max-parents=0", tip)
             for tip in (local, remote)}
    base = repo.git("merge-base", local, remote, check=False).stdout.decode().strip()
    if len(roots) != 1 or not base:
        return None
    objects = ObjectStore(repo)
    try:
        trees = {side: objects.read_commit_tree(side) for side in (base, local, remote)}

        def file_at(side: str, path: str) -> bytes:
            return read_file_at(objects, trees[side], path) or b""

        parsed: dict[str, dict[str, Any]] = {}
        for side in (local, remote):
            try:
                data = json.loads(file_at(side, STATE_FILE))
            except (json.JSONDecodeError, UnicodeDecodeError):
                data = None
            if not isinstance(data, dict) or data.get("name") != name:
                return None  # not a Hook history this code wrote: leave it to a person
            parsed[side] = data
        states = sorted(((file_at(s, STATE_FILE), s) for s in (local, remote)),
                        key=lambda p: (str(parsed[p[1]].get("updated_at", "")), p[0]))
        winner_bytes, _winner = states[-1]
        state = HookState.from_json(json.loads(winner_bytes))
        ckpts = [c for c in (HookState.from_json(json.loads(b)).checkpoint for b, _ in states)
                 if c is not None]
        checkpoint = max(ckpts, key=lambda c: (c.at, c.commit)) if ckpts else None
        base_chunks = dict(_tree_entries(objects, trees[base], TRANSCRIPT_DIR))
        kept = sorted(base_chunks.items())
        new: set[tuple[str, str]] = set()
        for side in (local, remote):
            for chunk, sha in _tree_entries(objects, trees[side], TRANSCRIPT_DIR):
                if base_chunks.get(chunk) != sha:
                    new.add((chunk, sha))
        changes: dict[str, bytes | None] = {}
        ordered = [sha for _, sha in kept] + [sha for _, sha in sorted(new)]
        for old_name in {c for c, _ in new} | set(base_chunks):
            changes[f"{TRANSCRIPT_DIR}/{old_name}"] = None
        root = edit_tree(objects, trees[base], changes)
        blob_changes: dict[str, bytes | None] = {}
        for seq, sha in enumerate(ordered, 1):
            blob_changes[f"{TRANSCRIPT_DIR}/{seq:06d}.jsonl"] = objects.read(sha)[1]
        for path in (NOTES_FILE, CHECKPOINTS_FILE):
            lines = {line for s in (local, remote) for line in
                     file_at(s, path).decode(errors="replace").splitlines() if line.strip()}
            if lines:
                blob_changes[path] = ("\n".join(sorted(lines, key=_record_key)) + "\n").encode()
        state = state.replace(chunks=len(ordered), checkpoint=checkpoint)
        blob_changes[STATE_FILE] = (json.dumps(state.to_json(), sort_keys=True, indent=1)
                                    + "\n").encode()
        tree = edit_tree(objects, root, blob_changes)
        parents = sorted((local, remote))
        when = max(_commit_time(repo, local), _commit_time(repo, remote))
        message = (f"merge {name}: two clones' histories\n\nGt-Hook: {name}\nGt-Op: merge\n"
                   f"Gt-Status: {state.status}")
        return objects.write_commit(tree, parents, message, author=SYNC_AUTHOR, when=when)
    finally:
        objects.close()


def _record_key(line: str) -> tuple[str, str]:
    try:
        at = str(json.loads(line).get("at", ""))
    except (json.JSONDecodeError, AttributeError):
        at = ""
    return at, line


def sync_merge(job: Any) -> Any:
    """The merge step of git gt-sync for refs/gt/hooks/* (register it in sync.MERGERS as
    "hooks/"): fast-forward when only one side wrote; when both did, the deterministic
    merge_tips; two different Hooks that share a name keep the local one and say so."""
    import importlib

    sync = importlib.import_module("git_gastown.sync")
    outcome = sync.fast_forward_only(job)
    if outcome.status != "diverged":
        return outcome
    name = str(job.name).removeprefix("hooks/")
    merged = merge_tips(job.repo, name, job.local, job.remote)
    if merged is None:
        outcome.message = (f"kept the local {job.ref}: {job.remote_name} has a different "
                           "Hook with the same name")
        return outcome
    if not job.dry_run:
        refs.update_ref(job.repo, job.ref, merged, job.local, "gt sync: merge hook histories")
    return sync.RefOutcome(job.name, "merged", job.local, merged, push=True,
                           message="merged both clones' histories of this Hook")
