"""The demo: a sample repository with a real test suite, worked on by gastown end to end."""

from __future__ import annotations

import json
import os
import shlex
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


def _op(name: str, body: str, test: str) -> str:
    """A `run` command that appends a function and its test (a polecat's whole job)."""
    code = f"\n\ndef {name}{body}\n"
    test_code = f"\n    def test_{name}(self):\n{test}\n"
    return (f"printf %s {shlex.quote(code)} >> calc/ops.py && "
            f"printf %s {shlex.quote(test_code)} >> tests/test_ops.py")


@dataclass(frozen=True)
class DemoBead:
    key: str
    title: str
    run: str
    priority: int = 2
    after: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


BEADS: tuple[DemoBead, ...] = (
    DemoBead("sub", "Add subtract()", _op("subtract", "(a, b):\n    return a - b",
             "        self.assertEqual(ops.subtract(5, 3), 2)"), 1),
    DemoBead("mul", "Add multiply()", _op("multiply", "(a, b):\n    return a * b",
             "        self.assertEqual(ops.multiply(4, 3), 12)"), 1),
    DemoBead("neg", "Add negate()", _op("negate", "(a):\n    return -a",
             "        self.assertEqual(ops.negate(4), -4)"), 2),
    DemoBead("sq", "Add square() using multiply()", _op(
        "square", "(a):\n    return multiply(a, a)",
        "        self.assertEqual(ops.square(7), 49)"), 2, ("mul",)),
    DemoBead("cube", "Add cube() using square()", _op(
        "cube", "(a):\n    return multiply(square(a), a)",
        "        self.assertEqual(ops.cube(3), 27)"), 3, ("sq",)),
    DemoBead("abs", "Add absolute() using negate()", _op(
        "absolute", "(a):\n    return negate(a) if a < 0 else a",
        "        self.assertEqual(ops.absolute(-4), 4)"), 2, ("neg",)),
    DemoBead("avg", "Add mean()", _op(
        "mean", "(values):\n    return sum(values) / len(values)",
        "        self.assertEqual(ops.mean([1, 2, 3]), 2)"), 2),
    DemoBead("clamp", "Add clamp()", _op(
        "clamp", "(x, lo, hi):\n    return max(lo, min(x, hi))",
        "        self.assertEqual(ops.clamp(12, 0, 10), 10)"), 3),
    DemoBead("sign", "Add sign() using clamp()", _op(
        "sign", "(a):\n    return clamp(a, -1, 1) if a in (-1, 0, 1) else (1 if a > 0 else -1)",
        "        self.assertEqual(ops.sign(-9), -1)"), 3, ("clamp",)),
    DemoBead("pow", "Add power()", _op(
        "power", "(a, n):\n    return a ** n",
        "        self.assertEqual(ops.power(2, 10), 1024)"), 2),
    DemoBead("mod", "Add modulo()", _op(
        "modulo", "(a, n):\n    return a % n",
        "        self.assertEqual(ops.modulo(10, 3), 1)"), 3),
    DemoBead("hyp", "Add hypot() using square() and power()", _op(
        "hypot", "(a, b):\n    return power(square(a) + square(b), 0.5)",
        "        self.assertEqual(ops.hypot(3, 4), 5)"), 3, ("sq", "pow")),
)


@dataclass
class Demo:
    """Runs the demo's steps, printing each command as a user would type it."""

    root: Path
    echo: Callable[[str], None]
    env: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
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
            raise GtError(f"demo step failed: {' '.join(args)}: "
                          f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        return proc.stdout

    def show(self, *args: str) -> None:
        out = self.sh(*args)
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
            '# git-gastown settings for the demo rig\n\n[refinery]\ngates = ["./run_tests.sh"]\n'
            "timeout = 60\nmaxBatch = 8\n"
        )
        self.sh("git", "init", "-q", "-b", "main", show=False)
        self.sh("git", "add", "-A", show=False)
        self.sh("git", "commit", "-q", "-m", "calc: add() and its test", show=False)
        self.sh("./run_tests.sh")

    def init(self) -> None:
        self.say("Enabling gastown: beads live in refs/gt/beads, hooks are installed")
        self.show("git", "gt-init", "--prefix", "calc")

    def create_beads(self) -> None:
        self.say(f"Creating {len(BEADS)} beads with dependencies (each has a `run` command"
                 " for the built-in shell agent)")
        for b in BEADS:
            args = ["git", "gt-bead", "create", b.title, "-p", str(b.priority),
                    "--field", f"run={b.run}"]
            for dep in b.after:
                args += ["--dep", f"blocks:{self.ids[dep]}"]
            self.ids[b.key] = self.sh(*args, show=b.key in ("sub", "sq")).strip()
        self.echo(f"    ... {len(BEADS)} beads created")
        self.say("What can start now, and what waits")
        self.show("git", "gt-bead", "ready")
        self.show("git", "gt-bead", "blocked")

    def work_serially(self) -> None:
        """Agents claim ready beads atomically and do the work, in dependency order."""
        self.say("Four workers take ready beads with an atomic claim and do the work")
        workers = [f"worker-{n}" for n in range(1, 5)]
        done = 0
        turn = 0
        while True:
            actor = workers[turn % len(workers)]
            turn += 1
            env = dict(self.env, GT_ACTOR=actor)
            proc = subprocess.run(["git", "gt-bead", "ready", "--claim", "--json"],
                                  cwd=self.rig, env=env, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL)
            if proc.returncode == 3:
                break
            if proc.returncode != 0:
                raise GtError(f"claim failed: {proc.stderr.strip()}")
            bead = json.loads(proc.stdout)
            self.sh("sh", "-c", bead["fields"]["run"], show=False, env=env)
            self.sh("./run_tests.sh", show=False)
            self.sh("git", "add", "-A", show=False)
            self.sh("git", "commit", "-q", "-m", f"{bead['title']} ({bead['id']})",
                    show=False, env=env)
            self.sh("git", "gt-bead", "close", bead["id"], "--reason", "tests pass",
                    show=False, env=env)
            done += 1
            self.echo(f"    {actor} claimed {bead['id']} ({bead['title']}), tests pass, closed")
        self.echo(f"    {done} beads done; every claim was atomic, every change is a commit")

    def finish(self) -> None:
        self.say("Where things stand")
        self.show("git", "gt-bead", "stats")
        self.show("./run_tests.sh")
        self.echo("\n  The beads' own history (one commit per change):")
        log = self.sh("git", "log", "--oneline", "refs/gt/beads", show=False).splitlines()
        for line in log[:5]:
            self.echo("    " + line)
        self.echo(f"    ... {len(log)} commits on refs/gt/beads")
        elapsed = time.monotonic() - self.started
        self.echo(f"\nDemo finished in {elapsed:.1f}s. Try next:\n"
                  f"  cd {self.rig}\n"
                  "  git gt-bead list --all          # every bead, closed ones too\n"
                  "  git gt-bead history <id>        # every change to one bead\n"
                  "  git log --stat refs/gt/beads    # the beads are plain git history\n"
                  "  man git-gt-bead                 # the manual")


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
    for step in steps or ("make_sample", "init", "create_beads", "work_serially", "finish"):
        getattr(demo, step)()
    return {"dir": str(demo.rig), "beads": demo.ids,
            "seconds": round(time.monotonic() - demo.started, 1)}
