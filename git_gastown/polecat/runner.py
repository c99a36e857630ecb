"""The runner: a small process that lives as long as one agent run and records it.

Started detached by `git gt-polecat spawn` (new session, stdin /dev/null), or as the
command of a tmux session. It runs the worktree setup command, starts the agent with
stdin from /dev/null, reads its structured events, and keeps:

- events.jsonl: every event, appended as it arrives (folded into the hook ref later);
- live.json: pid and start time, session id, last event, waiting, usage (cheap rewrites);
- heartbeat: a file touched on every event and every few seconds while the agent runs.

It commits to the hook ref only when it learns the agent's session id, every
polecat.foldInterval seconds (with a checkpoint), and at exit (transcript, usage, exit
status and a checkpoint). TERM or HUP stops the agent and records status `stopped`.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from git_gastown import hook as hk
from git_gastown.beads.model import now_iso
from git_gastown.git import Repo, scrubbed_env
from git_gastown.hook import Usage
from git_gastown.polecat.adapters import find_claude_session, parse_event

BEAT_EVERY = 5.0
LIVE_EVERY = 1.0
MAX_DENIED = 20  # denied tool uses kept per run


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function asking Linux to TERM the agent if the runner dies (no orphans)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the runner died before prctl took effect
            os._exit(1)

    return preexec


class Runner:
    def __init__(self, repo: Repo, name: str, launch: dict[str, Any], env: dict[str, str]):
        self.repo = repo
        self.name = name
        self.launch = launch
        self.env = env
        self.rdir = hk.runtime_dir(repo, name)
        self.worktree = Path(launch["worktree"])
        self.fmt = str(launch["format"])
        state = hk.load_hook(repo, name, live=False).state
        self.base_usage = state.usage
        self.run_usage = Usage()
        self.run_total: Usage | None = None  # the last totals event of this run (a result)
        self.run_steps = Usage()  # increments since (Codex turns, events without an id)
        self.messages: dict[str, Usage] = {}  # per API message id since the totals
        self.session_id = state.session_id
        self.folded_session = state.session_id
        self.finished = list(state.finished)
        self.live: dict[str, Any] = {
            "run_id": launch["run_id"], "runner_pid": os.getpid(),
            "runner_start": hk.process_start(os.getpid()), "runner_pgid": os.getpgid(0),
            "sid": os.getsid(0), "pid": 0, "pid_start": 0, "pgid": 0,
            "status": "setup" if launch.get("setup") else "running",
            "session_id": self.session_id, "last_event_at": "", "last_event_type": "",
            "waiting": "", "usage": state.usage.to_json(), "exit_code": None,
            "finished": self.finished, "denied": [], "error": "", "done_error": "",
        }
        self.denied: list[str] = []
        # Open for the whole run; closed in finish().
        self.events: IO[bytes] = open(self.rdir / hk.EVENTS_FILE, "ab")  # noqa: SIM115
        self.stopping = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_live = 0.0
        self.last_beat = 0.0
        self.last_fold = time.monotonic()
        self.tty = sys.stdout.isatty()

    # -- recording ------------------------------------------------------------------------

    def write_live(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_live < LIVE_EVERY:
            return
        self.last_live = now
        path = self.rdir / hk.LIVE_FILE
        tmp = path.with_name(f"{hk.LIVE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.live, sort_keys=True))
        os.replace(tmp, path)

    def beat(self) -> None:
        path = self.rdir / hk.HEARTBEAT_FILE
        try:
            os.utime(path)
        except FileNotFoundError:
            path.touch()
        self.last_beat = time.monotonic()

    def record(self, obj: dict[str, Any], kind: str) -> None:
        self.events.write((json.dumps(obj, ensure_ascii=False) + "\n").encode())
        self.events.flush()
        self.live["last_event_at"] = now_iso()
        self.live["last_event_type"] = kind
        self.beat()
        if self.tty:
            _show(obj)

    def note(self, kind: str, **fields: Any) -> None:
        """An event of the runner itself (types start with gt.)."""
        self.record({"type": kind, "at": now_iso(), **fields}, kind)
        self.write_live(force=True)

    def on_line(self, line: str) -> None:
        obj, info = parse_event(self.fmt, line)
        self.record(obj, info.type)
        important = False
        if info.session_id and info.session_id != self.session_id:
            self.session_id = info.session_id
            self.live["session_id"] = info.session_id
            important = True
        if info.error and info.error != self.live["error"]:
            self.live["error"] = info.error[:1000]
            important = True
        if info.waiting is not None and info.waiting != self.live["waiting"]:
            self.live["waiting"] = info.waiting
            important = True
        if info.denials:
            # A tool use the agent was not allowed: the Witness escalates it.
            self.denied = (self.denied + info.denials)[-MAX_DENIED:]
            self.live["denied"] = self.denied
            important = True
        if info.input_tokens or info.output_tokens or info.cost_usd:
            got = Usage(info.input_tokens, info.output_tokens, info.cost_usd)
            # A run's result carries its totals and replaces what was summed before it;
            # per-message usage counts once per message id (its last figures); other
            # increments (Codex turns) are summed.
            if info.usage_total:
                self.run_total, self.run_steps, self.messages = got, Usage(), {}
            elif info.message_id:
                self.messages[info.message_id] = got
            else:
                self.run_steps = self.run_steps + got
            self.run_usage = sum(self.messages.values(), self.run_total or Usage()) \
                + self.run_steps
            self.live["usage"] = (self.base_usage + self.run_usage).to_json()
            important = True
        self.write_live(force=important)
        if self.session_id and self.session_id != self.folded_session:
            # Persist the session id at once: a replacement needs it to resume.
            self.folded_session = self.session_id
            self.fold("session " + self.session_id, checkpoint=False)

    def fold(self, reason: str, checkpoint: bool, **changes: Any) -> None:
        self.write_live(force=True)
        try:
            hk.fold(self.repo, self.name, reason=reason, checkpoint=checkpoint, **changes)
        except Exception as exc:  # the run goes on; the next fold retries
            print(f"{now_iso()} fold failed: {exc}", file=sys.stderr)
        self.last_fold = time.monotonic()

    # -- running --------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: Any) -> None:
        self.stopping = True
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def reap_group(self, pgid: int) -> None:
        """End what the agent left running in its process group (a dev server started in
        the background, a stuck child): TERM, then KILL after a second."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                try:
                    os.killpg(pgid, 0)
                except (ProcessLookupError, PermissionError):
                    return
                time.sleep(0.05)

    def start(self, argv: Sequence[str], merge_stderr: bool) -> subprocess.Popen[bytes]:
        err: Any = subprocess.STDOUT if merge_stderr else \
            open(self.rdir / "stderr.log", "ab")  # noqa: SIM115 (closed once the child has it)
        # The agent gets its own process group, so whatever it leaves behind can be ended
        # with it; and a parent-death signal, so it does not outlive a killed runner.
        try:
            proc = subprocess.Popen(
                list(argv), cwd=self.worktree, env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err, preexec_fn=_die_with_parent(),
                process_group=0,
            )
        finally:
            if not merge_stderr:
                err.close()
        self.proc = proc
        # The group id is recorded apart from the pid: when the runner is killed the agent
        # gets its parent-death signal, but its own children live on in this group.
        self.live.update(pid=proc.pid, pid_start=hk.process_start(proc.pid),
                         pgid=os.getpgid(proc.pid), waiting="")
        self.write_live(force=True)
        return proc

    def pump(self, proc: subprocess.Popen[bytes]) -> int:
        """Read the agent's stdout line by line until it exits; return its exit code."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        buf = b""
        interval = float(self.launch.get("fold_interval") or 300.0)
        drain_until = 0.0
        while True:
            # Once the agent has exited, a child it left in the background may still hold
            # the pipe open: read what is there for a moment, then stop waiting for EOF.
            if not drain_until and proc.poll() is not None:
                drain_until = time.monotonic() + 1.0
            if drain_until and time.monotonic() > drain_until:
                break
            ready = sel.select(timeout=0.2 if drain_until else min(BEAT_EVERY, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self.on_line(line.decode(errors="replace"))
            if time.monotonic() - self.last_beat >= BEAT_EVERY:
                self.beat()
                self.write_live(force=True)
            if time.monotonic() - self.last_fold >= interval:
                self.fold("periodic checkpoint", checkpoint=True)
        if buf.strip():
            self.on_line(buf.decode(errors="replace"))
        sel.close()
        proc.stdout.close()
        code = proc.wait()
        self.reap_group(proc.pid)
        return code

    def cannot_start(self, program: str, exc: OSError, **fields: Any) -> int:
        """Record why PROGRAM could not be started; the exit code a shell would give
        (127: not found, 126: found but not executable)."""
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        reason = f"cannot start {program}: {exc.strerror or exc}"
        self.live["error"] = reason
        self.note("gt.error", text=reason, **fields)
        self.note("gt.exit", code=code, signal=0, **fields)
        return code

    def run_setup(self) -> int:
        setup = str(self.launch.get("setup") or "")
        if not setup:
            return 0
        self.note("gt.setup", command=setup)
        try:
            proc = self.start(["sh", "-c", setup], merge_stderr=True)
        except OSError as exc:
            return self.cannot_start("sh", exc)
        code = self.pump(proc)
        self.note("gt.setup.exit", code=code)
        self.live["status"] = "running"
        return code

    def run_agent(self) -> int:
        argv = list(self.launch["argv"])
        shown = ["<prompt>" if len(a) > 200 or "\n" in a else a for a in argv]
        self.note("gt.start", argv=shown, resume=bool(self.launch.get("resume")))
        try:
            proc = self.start(argv, merge_stderr=self.fmt == "text")
        except OSError as exc:
            return self.cannot_start(argv[0], exc)
        code = self.pump(proc)
        self.note("gt.exit", code=code, signal=-code if code < 0 else 0)
        return code

    def run_shell(self) -> int:
        """The built-in shell agent: each bead's run command, then a commit of the result."""
        for step in self.launch.get("shell") or []:
            self.note("gt.start", bead=step["bead"], command=step["run"])
            try:
                proc = self.start(["sh", "-c", step["run"]], merge_stderr=True)
            except OSError as exc:
                return self.cannot_start("sh", exc, bead=step["bead"])
            code = self.pump(proc)
            self.note("gt.exit", bead=step["bead"], code=code, signal=-code if code < 0 else 0)
            if code != 0 or self.stopping:
                return code if code != 0 else 143
            commit = self.commit_result(step["bead"], step["title"])
            self.finished.append(step["bead"])
            self.live["finished"] = self.finished
            self.note("gt.commit", bead=step["bead"], commit=commit)
        self.run_done()
        return 0

    def commit_result(self, bead: str, title: str) -> str:
        """Commit everything the command changed (as the polecat); '' when nothing changed."""
        env = scrubbed_env(self.env)

        def run(*args: str) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(["git", *args], cwd=self.worktree, env=env,
                                  capture_output=True, stdin=subprocess.DEVNULL, check=False)

        run("add", "-A")
        if run("diff", "--cached", "--quiet").returncode == 0:
            return ""
        msg = f"{bead}: {title}\n\nGt-Bead: {bead}\nGt-Hook: {self.name}"
        proc = run("commit", "-q", "--no-verify", "-m", msg)
        if proc.returncode != 0:
            self.note("gt.error", text=proc.stderr.decode(errors="replace").strip())
            return ""
        return run("rev-parse", "HEAD").stdout.decode().strip()

    def run_done(self) -> None:
        """The single place where a finished shell run hands over to `git gt-done` (W5).

        Until the Refinery's `git-gt-done` is installed this does nothing, nor when
        polecat.done is false (a person reviews first); the Hook then ends `exited`, code 0.
        """
        if not self.launch.get("done", True):
            return
        exe = shutil.which("git-gt-done", path=self.env.get("PATH")) or \
            str(Path(sys.executable).parent / "git-gt-done")
        if not os.access(exe, os.X_OK):
            return
        proc = subprocess.run([exe], cwd=self.worktree, env=scrubbed_env(self.env),
                              capture_output=True, stdin=subprocess.DEVNULL, check=False)
        text = (proc.stdout + proc.stderr).decode(errors="replace").strip()[-2000:]
        # A refusal (a rejected commit handed in unchanged, conflict markers) leaves the
        # work stranded: the Witness reads it from here and escalates.
        self.live["done_error"] = (text or f"exit {proc.returncode}") \
            if proc.returncode != 0 else ""
        self.note("gt.done", code=proc.returncode, text=text)

    def main(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        self.beat()
        self.write_live(force=True)
        try:
            code = self.run_setup()
            if code == 0 and not self.stopping:
                code = self.run_shell() if self.fmt == "shell" else self.run_agent()
        except Exception as exc:  # never leave the Hook 'running' with the reason in a log
            import traceback

            traceback.print_exc()
            self.live["error"] = f"the runner failed: {exc!r}"[:1000]
            with contextlib.suppress(Exception):
                self.note("gt.error", text=self.live["error"])
            code = -1
        stopped = self.stopping or (self.rdir / "stop-requested").exists()
        self.live.update(exit_code=code, status="stopped" if stopped else "exited",
                         pid=0, pid_start=0, pgid=0, waiting="")
        self.finish(code, stopped)
        return 0

    def finish(self, code: int, stopped: bool) -> None:
        """The last fold: transcript, usage, exit status and a checkpoint, in one commit."""

        session_copy = self.session_copy()

        def apply(tx: hk.HookTx) -> None:
            current = tx.state.status
            hk.fold_into(self.repo, tx, checkpoint=True, reason="exit")
            if session_copy is not None:
                tx.files[f"{hk.SESSIONS_DIR}/{self.session_id}.jsonl"] = session_copy
            status = current if current in ("done", "stopped", "nuked") else \
                ("stopped" if stopped else "exited")
            tx.state = tx.state.replace(status=status, exit_code=code, pid=0, pid_start=0, pgid=0,
                                        waiting="", finished=tuple(self.finished),
                                        denied=tuple(self.denied))

        self.write_live(force=True)
        self.events.close()
        for attempt in range(3):
            try:
                hk.write_hook(self.repo, self.name, "exit", apply,
                              subject=f"{'stopped' if stopped else 'exited'} (code {code})")
                return
            except Exception as exc:
                print(f"{now_iso()} final fold failed ({attempt + 1}/3): {exc}", file=sys.stderr)
                time.sleep(0.5)


    def session_copy(self) -> bytes | None:
        """Claude Code's own session file of this run, to keep in the Hook (it prunes them)."""
        if self.fmt != "claude" or not self.session_id:
            return None
        path = find_claude_session(self.env, self.session_id)
        try:
            return path.read_bytes() if path is not None else None
        except OSError:
            return None


def _show(obj: dict[str, Any]) -> None:
    """A one-line human view of an event, for a person watching in tmux."""
    kind = obj.get("type", "")
    text = obj.get("text") or obj.get("result") or obj.get("command") or ""
    if kind == "assistant":
        content = (obj.get("message") or {}).get("content") or []
        text = " ".join(str(c.get("text") or c.get("name") or "") for c in content
                        if isinstance(c, dict))
    print(f"[{kind}] {str(text)[:300]}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print("usage: python -m git_gastown.polecat.runner COMMON_DIR NAME RUN_ID",
              file=sys.stderr)
        return 2
    common_dir, name, run_id = args
    if not hk.valid_name(name):
        print(f"invalid polecat name {name!r}", file=sys.stderr)
        return 2
    rdir = Path(common_dir) / "gt" / "polecats" / name
    launch: dict[str, Any] = json.loads((rdir / "launch.json").read_text())
    if launch.get("run_id") != run_id:
        print(f"stale launch for {name} (run {run_id})", file=sys.stderr)
        return 1
    env = dict(os.environ)
    env_file = rdir / "env.json"
    if env_file.exists():
        env = json.loads(env_file.read_text())
        env_file.unlink()
    repo = Repo.discover(launch["worktree"])
    try:
        runner = Runner(repo, name, launch, env)
    except Exception as exc:
        # Never leave a Hook that looks as if it were starting forever.
        print(f"{now_iso()} runner could not start: {exc!r}", file=sys.stderr)
        hk.fold(repo, name, reason=f"runner failed: {exc}"[:200], checkpoint=False,
                status="exited", exit_code=-1, error=f"the runner could not start: {exc!r}"[:1000])
        return 1
    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
