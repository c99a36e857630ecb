"""The demo: a sample repository with a real test suite, worked on by gastown end to end."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown.errors import GtError, UsageError

# The sample project: a tiny calculator library with unittest tests (stdlib only, so the
# demo needs nothing but Python and git).
SAMPLE_FILES = {
    "README.md": "# calc\n\nA tiny calculator library, worked on by git-gastown polecats.\n",
    "calc/__init__.py": '"""calc: small arithmetic helpers."""\n',
    "calc/ops.py": '"""Arithmetic operations."""\n\n\ndef add(a, b):\n    return a + b\n',
    "tests/__init__.py": "",
    "tests/test_ops.py": (
        "import unittest\n\nfrom calc import ops\n\n\n"
        "class TestOps(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(ops.add(2, 3), 5)\n"
    ),
    "run_tests.sh": "#!/bin/sh\nexec python3 -m unittest discover -s tests -t . -q 2>&1\n",
}


def _op(name: str, body: str, test: str, imports: str = "", before: str = "") -> str:
    """A `run` command that writes one module and its test (a polecat's whole job).

    Each bead writes its own files, so polecats working in parallel never conflict.
    """
    code = f'"""{name}()."""\n{imports}\n\ndef {name}{body}\n'
    test_code = (f"import unittest\n\nfrom calc.{name} import {name}\n\n\n"
                 f"class Test{name.capitalize()}(unittest.TestCase):\n"
                 f"    def test_{name}(self):\n{test}\n")
    write = (f"printf %s {shlex.quote(code)} > calc/{name}.py && "
             f"printf %s {shlex.quote(test_code)} > tests/test_{name}.py")
    return f"{before} && {write}" if before else write


# The slow bead waits until the demo has killed its first polecat (at most a minute), so
# the kill never comes too late on a slow machine; @GO@ is replaced by the flag's path.
GO_FLAG = ".demo-power-go"
WAIT_FOR_GO = ("i=0; until [ -e @GO@ ] || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done")


@dataclass(frozen=True)
class DemoBead:
    key: str
    title: str
    run: str
    priority: int = 2
    after: tuple[str, ...] = ()


BEADS: tuple[DemoBead, ...] = (
    DemoBead("sub", "Add subtract()", _op("subtract", "(a, b):\n    return a - b",
             "        self.assertEqual(subtract(5, 3), 2)"), 1),
    DemoBead("mul", "Add multiply()", _op("multiply", "(a, b):\n    return a * b",
             "        self.assertEqual(multiply(4, 3), 12)"), 1),
    DemoBead("neg", "Add negate()", _op("negate", "(a):\n    return -a",
             "        self.assertEqual(negate(4), -4)")),
    DemoBead("mean", "Add mean()", _op(
        "mean", "(values):\n    return sum(values) / len(values)",
        "        self.assertEqual(mean([1, 2, 3]), 2)")),
    DemoBead("clamp", "Add clamp()", _op(
        "clamp", "(x, lo, hi):\n    return max(lo, min(x, hi))",
        "        self.assertEqual(clamp(12, 0, 10), 10)"), 3),
    # The slow one: the demo kills its polecat mid-work and a replacement finishes it.
    DemoBead("power", "Add power() (slow to write)", _op(
        "power", "(a, n):\n    return a ** n",
        "        self.assertEqual(power(2, 10), 1024)", before=WAIT_FOR_GO)),
    # The broken one: its own test fails, so the Refinery bisects it out of the batch.
    DemoBead("divide", "Add divide()", _op(
        "divide", "(a, b):\n    return a * b  # oops",
        "        self.assertEqual(divide(8, 2), 4)")),
    # The stuck one: it never finishes, so the Witness reports it stalled and escalates.
    DemoBead("bench", "Benchmark the calculator", "sleep 600", 3),
    DemoBead("square", "Add square() using multiply()", _op(
        "square", "(a):\n    return multiply(a, a)", "        self.assertEqual(square(7), 49)",
        "from calc.multiply import multiply\n"), 2, ("mul",)),
    DemoBead("absolute", "Add absolute() using negate()", _op(
        "absolute", "(a):\n    return negate(a) if a < 0 else a",
        "        self.assertEqual(absolute(-4), 4)", "from calc.negate import negate\n"),
        2, ("neg",)),
    DemoBead("cube", "Add cube() using square()", _op(
        "cube", "(a):\n    return multiply(square(a), a)", "        self.assertEqual(cube(3), 27)",
        "from calc.multiply import multiply\nfrom calc.square import square\n"), 3, ("square",)),
    DemoBead("hypot", "Add hypot() using square() and power()", _op(
        "hypot", "(a, b):\n    return power(square(a) + square(b), 0.5)",
        "        self.assertEqual(hypot(3, 4), 5)",
        "from calc.power import power\nfrom calc.square import square\n"), 3, ("square", "power")),
)


@dataclass
class Demo:
    """Runs the demo's steps, printing each command as a user would type it."""

    root: Path
    echo: Callable[[str], None]
    env: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    resumed: str = ""
    landed: int = 0
    from_clone: str = ""
    started: float = field(default_factory=time.monotonic)

    @property
    def rig(self) -> Path:
        return self.root / "calc"

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.echo(f"\n[{elapsed:5.1f}s] {text}")

    def sh(self, *args: str, cwd: Path | None = None, show: bool = True,
           env: dict[str, str] | None = None, check: bool = True) -> str:
        if show:
            self.echo("  $ " + " ".join(shlex.quote(a) for a in args))
        proc = subprocess.run(list(args), cwd=cwd or self.rig, env=env or self.env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            last = ((proc.stderr or proc.stdout).strip().splitlines() or [""])[-1]
            raise GtError(f"demo step failed: {' '.join(args)}: "
                          f"{last or f'exit status {proc.returncode}'}")
        return proc.stdout

    def show(self, *args: str, cwd: Path | None = None) -> None:
        out = self.sh(*args, cwd=cwd)
        for line in out.rstrip().splitlines():
            self.echo("    " + line)

    # -- steps --------------------------------------------------------------------------

    def make_sample(self) -> None:
        self.say(f"Creating a sample repository with a real test suite in {self.rig}")
        self.rig.mkdir(parents=True)
        for rel, text in SAMPLE_FILES.items():
            path = self.rig / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (self.rig / "run_tests.sh").chmod(0o755)
        (self.rig / ".gastown.toml").write_text(
            "# git-gastown settings for the demo rig\n\n"
            '[refinery]\ngates = ["./run_tests.sh"]   # must pass before anything lands\n'
            "timeout = 60\nmaxBatch = 8\n\n"
            "[convoy]\nstallAfter = \"5s\"   # the demo's patience; the default is 1h\n"
        )
        self.sh("git", "init", "-q", "-b", "main", show=False)
        self.sh("git", "add", "-A", show=False)
        self.sh("git", "commit", "-q", "-m", "calc: add() and its test", show=False)
        self.sh("./run_tests.sh")
        hub = self.root / "hub.git"
        self.sh("git", "init", "-q", "--bare", str(hub), show=False)
        self.sh("git", "remote", "add", "origin", str(hub), show=False)
        self.sh("git", "push", "-q", "origin", "main", show=False)
        self.echo(f"    (a bare remote for later: {hub})")

    def init(self) -> None:
        self.say("Enabling gastown: beads live in refs/gt/beads, hooks are installed")
        self.show("git", "gt-init", "--prefix", "calc")
        # The demo starts each Refinery run itself so you can watch it; normally
        # `git gt-done` starts one in the background.
        self.sh("git", "config", "gt.refinery.autostart", "false", show=False)
        # Keep the polecats' worktrees inside the demo directory, so removing it removes all.
        self.sh("git", "config", "gt.worktreeRoot", str(self.root / "worktrees"), show=False)

    def create_beads(self) -> None:
        self.say(f"Creating {len(BEADS)} beads with dependencies and a mountain convoy"
                 " (each bead has a `run` command for the built-in shell agent)")
        for b in BEADS:
            run = b.run.replace("@GO@", shlex.quote(str(self.root / GO_FLAG)))
            args = ["git", "gt-bead", "create", b.title, "-p", str(b.priority),
                    "--field", f"run={run}"]
            for dep in b.after:
                args += ["--dep", f"blocks:{self.ids[dep]}"]
            if b.key in ("sub", "square"):
                deps = "".join(f" --dep blocks:{self.ids[d]}" for d in b.after)
                self.echo(f"  $ git gt-bead create {shlex.quote(b.title)} -p {b.priority}"
                          f" --field run='<writes calc/... and tests/...>'{deps}")
            self.ids[b.key] = self.sh(*args, show=False).strip()
        self.echo(f"    ... {len(BEADS)} beads created")
        self.show("git", "gt-convoy", "create", "--name", "calc", "--mountain",
                  *self.ids.values())
        self.show("git", "gt-bead", "blocked")

    # -- helpers over the real commands --------------------------------------------------

    def polecats(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(
            self.sh("git", "gt-polecat", "list", "--json", show=False))
        return data

    def polecat_status(self, name: str) -> dict[str, Any]:
        data = json.loads(self.sh("git", "gt-polecat", "status", name, "--json", show=False))
        found: dict[str, Any] = data["polecats"][0]
        return found

    def polecat_of(self, key: str) -> dict[str, Any]:
        bead = self.ids[key]
        for p in self.polecats():
            if bead in p["beads"]:
                return p
        raise GtError(f"demo: no polecat took {bead}")

    def wait_for_polecats(self, limit: float = 60) -> None:
        """Until every polecat but the stuck one has finished its run."""
        stuck = self.ids["bench"]
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            busy = [p for p in self.polecats() if stuck not in p["beads"]
                    and p["live_status"] in ("spawning", "setup", "running")]
            if not busy:
                return
            time.sleep(0.3)
        raise GtError("demo: polecats did not finish within a minute")

    def ready_in_convoy(self) -> int:
        ready = json.loads(self.sh("git", "gt-bead", "ready", "--json", show=False))
        mine = set(self.ids.values())
        return sum(1 for b in ready if b["id"] in mine)

    def queued(self) -> int:
        mrs = json.loads(self.sh("git", "gt-refinery", "list", "--json", show=False))
        return sum(1 for m in mrs if m.get("state") in ("queued", "testing"))

    # -- the story ------------------------------------------------------------------------

    def dispatch(self, first: bool) -> None:
        if first:
            self.say("Dispatching shell polecats for every ready bead: each gets its own "
                     "worktree, branch and Hook")
        self.show("git", "gt-convoy", "dispatch", "calc", "--max", "8")

    def kill_and_resume(self) -> None:
        self.say("Killing one polecat mid-work (kill -9), as a crash would")
        deadline = time.monotonic() + 20
        while True:
            p = self.polecat_of("power")
            status = self.polecat_status(p["name"])
            if status["pid"] and status["agent_alive"]:
                break
            if time.monotonic() > deadline:
                raise GtError("demo: the slow polecat never started")
            time.sleep(0.2)
        name, pid = p["name"], int(status["pid"])
        self.echo(f"  $ kill -9 {pid}    # {name}'s agent, halfway through "
                  f"{self.ids['power']}")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        # The runner notices, records the exit and checkpoints; then the Hook is free.
        while (st := self.polecat_status(name))["agent_alive"] or st["runner_alive"]:
            time.sleep(0.1)
        (self.root / GO_FLAG).touch()  # the replacement need not wait
        self.resumed = name
        self.echo("    the work so far is safe in its Hook (branch + refs/gt/hooks/"
                  f"{name}); a replacement picks it up:")
        self.show("git", "gt-polecat", "spawn", "--resume", name)

    def refine(self, first: bool) -> None:
        if first:
            self.say("Landing: the Refinery stacks the finished branches on main, runs the "
                     "tests once for the batch, and bisects when the batch fails")
        out = self.sh("git", "gt-refinery", "run", "--foreground")
        for line in out.rstrip().splitlines():
            self.echo("    " + line)

    def rounds(self) -> None:
        self.dispatch(first=True)
        self.kill_and_resume()
        for n in range(6):
            self.wait_for_polecats()
            self.refine(first=n == 0)
            if not self.ready_in_convoy() and not self.queued():
                break
            if self.ready_in_convoy():
                self.say("Landed work unblocked more beads: the next round")
                self.dispatch(first=False)
        landed = json.loads(self.sh("git", "gt-refinery", "list", "--json", "--all",
                                    show=False, check=False) or "[]")
        self.landed = sum(1 for m in landed if m.get("state") == "landed")

    def stall(self) -> None:
        self.say("The patrol notices beads that stopped moving (the benchmark's command "
                 "never ends) and escalates them")
        deadline = time.monotonic() + 10
        while True:
            out = self.sh("git", "gt-deacon", "patrol")
            escalations = json.loads(self.sh("git", "gt-escalate", "list", "--json",
                                             show=False))
            if any(self.ids["bench"] in (e.get("bead") or "") + e["message"]
                   for e in escalations) or time.monotonic() > deadline:
                break
            time.sleep(1)
        for line in out.rstrip().splitlines()[:8]:
            self.echo("    " + line)
        self.show("git", "gt-escalate", "list")
        stuck = self.polecat_of("bench")["name"]
        self.show("git", "gt-polecat", "stop", stuck)

    def sync(self) -> None:
        self.say("Another machine: beads travel through any git remote")
        self.sh("git", "push", "-q", "origin", "main")
        self.show_sync()
        clone = self.root / "calc-clone"
        self.sh("git", "clone", "-q", str(self.root / "hub.git"), str(clone), cwd=self.root,
                show=False)
        self.echo("  $ git clone hub.git calc-clone && cd calc-clone")
        self.show("git", "gt-init", cwd=clone)
        self.show("git", "gt-bead", "stats", cwd=clone)
        self.say("A change made in the clone arrives in the rig through git gt-sync")
        self.echo("  (in calc-clone)")
        new_id = self.sh("git", "gt-bead", "create", "Add modulo()", "-p", "3",
                         "--label", "from-the-clone", cwd=clone).strip()
        self.echo(f"    {new_id}")
        self.show_sync(cwd=clone)
        self.echo(f"  (back in {self.rig.name})")
        self.show_sync()
        self.show("git", "gt-bead", "show", new_id)
        self.from_clone = new_id

    def show_sync(self, cwd: Path | None = None) -> None:
        """git gt-sync origin, with the per-Hook lines summed up in one."""
        out = self.sh("git", "gt-sync", "origin", cwd=cwd)
        states: dict[str, int] = {}
        for line in out.rstrip().splitlines():
            if line.startswith("hooks/"):
                state = line.split(": ", 1)[-1].split()[0]
                states[state] = states.get(state, 0) + 1
            elif line.startswith("pushed "):
                pushed = line[len("pushed "):].rsplit(" to ", 1)[0].split(", ")
                hooks = sum(1 for r in pushed if r.startswith("refs/gt/hooks/"))
                names = [r for r in pushed if not r.startswith("refs/gt/hooks/")]
                if hooks:
                    names.append(f"{hooks} Hook refs")
                self.echo(f"    pushed {', '.join(names)} to origin")
            else:
                self.echo("    " + line)
        if states:
            counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
            self.echo(f"    Hooks (state, transcripts, checkpoints): {counts}")

    def finish(self) -> None:
        self.say("Where things stand")
        self.show("git", "gt-status")
        log = self.sh("git", "log", "--oneline", "main", show=False).splitlines()
        self.echo(f"\n  main has {len(log) - 1} new commits since the sample's first one, "
                  "all landed by the Refinery after the tests passed:")
        for line in log[:4]:
            self.echo("    " + line)
        try:
            broken = self.polecat_of("divide")["name"]
        except (GtError, KeyError, TypeError):
            broken = "NAME"
        elapsed = time.monotonic() - self.started
        self.echo(
            f"\nDemo finished in {elapsed:.0f}s. Try next:\n"
            f"  cd {self.rig}\n"
            "  git gt-refinery log              # every batch: members, gate runs, the culprit\n"
            f"  git gt-polecat logs {self.resumed or 'NAME'}        "
            "# a polecat's event stream, kept in git\n"
            "  git gt-bead history <id>         # every change to one bead\n"
            "  git log refs/gt/beads            # beads are plain git history\n"
            "Use a real agent instead of the shell one (headless, with its own account),\n"
            "for example to fix the divide() change the Refinery rejected:\n"
            f"  git gt-polecat spawn --resume {broken} --agent claude"
            "   # or codex, gemini, aider, copilot\n"
            "  # every new polecat: printf '[polecat]\\nagent = \"codex\"\\n' >> .gastown.toml"
        )

    def cleanup(self) -> None:
        """Leave no process behind, whatever happened: stop every polecat still running."""
        (self.root / GO_FLAG).unlink(missing_ok=True)
        if not (self.rig / ".git").exists():
            return
        try:
            running = [p["name"] for p in self.polecats()
                       if p["live_status"] in ("spawning", "setup", "running")]
        except (GtError, ValueError):
            return
        for name in running:
            self.sh("git", "gt-polecat", "stop", name, show=False, check=False)


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env.setdefault("GIT_AUTHOR_NAME", "gastown demo")
    env.setdefault("GIT_AUTHOR_EMAIL", "demo@gastown.invalid")
    env.setdefault("GIT_COMMITTER_NAME", "gastown demo")
    env.setdefault("GIT_COMMITTER_EMAIL", "demo@gastown.invalid")
    env["GT_ACTOR"] = "demo"
    return env


def run_demo(directory: Path, echo: Callable[[str], None],
             steps: Sequence[str] | None = None) -> dict[str, Any]:
    if directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory} exists and is not empty",
                         hint="give a new directory: git gt-demo DIR")
    directory.mkdir(parents=True, exist_ok=True)
    demo = Demo(directory.resolve(), echo, demo_env())
    try:
        for step in steps or ("make_sample", "init", "create_beads", "rounds", "stall", "sync",
                              "finish"):
            getattr(demo, step)()
    finally:
        demo.cleanup()
    return {"dir": str(demo.rig), "beads": demo.ids, "resumed": demo.resumed,
            "landed": demo.landed, "from_clone": demo.from_clone,
            "seconds": round(time.monotonic() - demo.started, 1)}
