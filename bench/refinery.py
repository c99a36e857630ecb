#!/usr/bin/env python3
"""Benchmark of the Refinery: gate runs and wall time for 16 MRs with k bad ones.

Each scenario builds a fresh repository, queues 16 MR branches (k of them carrying the
word BAD), and runs `git gt-refinery run --foreground` as a user would. The gate fails
deterministically when BAD is in the tree and sleeps --gate-seconds to stand in for a
test suite. The serial baseline is the same queue with maxBatch = 1 (one MR at a time,
with the flake guard's one retry of a failing MR), measured in the same run.

Then, with a gate that also fails at random 5% of the time and k = 1, it counts good MRs
wrongly rejected over --reps repetitions.

    .venv/bin/python bench/refinery.py [--gate-seconds 0.2] [--reps 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
N = 16


def env_for(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "LANG", "TMPDIR") if k in os.environ}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GT_ACTOR": "bench", "NO_COLOR": "1",
        "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
    })
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    return env


def sh(args: list[str], cwd: Path, env: dict[str, str], input: str | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, input=input, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr}")
    return proc.stdout.strip()


def make_rig(root: Path, gate: str, max_batch: int, bad: set[int]) -> tuple[Path, dict[str, str]]:
    env = env_for(root / "home")
    rig = root / "rig"
    rig.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], rig, env)
    (rig / "README.md").write_text("bench\n")
    (rig / ".gastown.toml").write_text(
        f"[refinery]\ngates = [{json.dumps(gate)}]\nmaxBatch = {max_batch}\n")
    sh(["git", "add", "."], rig, env)
    sh(["git", "commit", "-qm", "init"], rig, env)
    sh(["git-gt-init", "--prefix", "bn"], rig, env)
    base = sh(["git", "rev-parse", "main"], rig, env)
    for i in range(N):
        # Each MR adds its own file, built with plumbing (no checkout needed).
        content = "BAD\n" if i in bad else f"good {i}\n"
        blob = sh(["git", "hash-object", "-w", "--stdin"], rig, env, input=content)
        idx_env = {**env, "GIT_INDEX_FILE": str(root / "idx")}
        sh(["git", "read-tree", base], rig, idx_env)
        sh(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},mr{i:02d}.txt"],
           rig, idx_env)
        tree = sh(["git", "write-tree"], rig, idx_env)
        commit = sh(["git", "commit-tree", tree, "-p", base, "-m", f"mr {i}"], rig, env)
        sh(["git", "update-ref", f"refs/heads/mr{i:02d}", commit], rig, env)
    for i in range(N):
        sh(["git-gt-refinery", "enqueue", f"mr{i:02d}", "--no-run"], rig, env)
    return rig, env


def run_queue(rig: Path, env: dict[str, str]) -> dict[str, Any]:
    t0 = time.monotonic()
    out = sh(["git-gt-refinery", "run", "--foreground", "--json"], rig, env)
    wall = time.monotonic() - t0
    report: dict[str, Any] = json.loads(out)
    report["wall"] = wall
    items = json.loads(sh(["git-gt-refinery", "list", "--all", "--json"], rig, env))
    report["states"] = {m["branch"]: m["state"] for m in items}
    return report


def deterministic_gate(seconds: float) -> str:
    return (f"sleep {seconds}; if grep -qs BAD mr*.txt; then echo BAD found; exit 1; fi")


def flaky_gate(root: Path, seconds: float, rate: float, seed: int) -> str:
    script = root / "flaky.py"
    script.write_text(
        "import os, random, sys, time\n"
        f"counter = {str(root / 'count')!r}\n"
        "n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1\n"
        "open(counter, 'w').write(str(n))\n"
        f"time.sleep({seconds})\n"
        "import glob\n"
        "if any('BAD' in open(p).read() for p in glob.glob('mr*.txt')): sys.exit(1)\n"
        f"rng = random.Random({seed} * 100003 + n)\n"
        f"sys.exit(1 if rng.random() < {rate} else 0)\n")
    return f"{sys.executable} {script}"


def scenario(k: int, seconds: float, seed: int, max_batch: int) -> dict[str, Any]:
    """One queue of N MRs with k bad ones at seeded random positions."""
    rng = random.Random(seed * 31 + k)
    bad = set(rng.sample(range(N), k))
    root = Path(tempfile.mkdtemp(prefix=f"gt-bench-k{k}-"))
    try:
        rig, env = make_rig(root, deterministic_gate(seconds), max_batch, bad)
        rep = run_queue(rig, env)
        rejected = {b for b, s in rep["states"].items() if s == "rejected"}
        expected = {f"mr{i:02d}" for i in bad}
        assert rejected == expected, (rejected, expected)
        assert rep["landed"] == N - k
        return rep
    finally:
        shutil.rmtree(root, ignore_errors=True)


def flaky_reps(reps: int, seconds: float, seed: int, rate: float) -> list[int]:
    wrong: list[int] = []
    for r in range(reps):
        rng = random.Random(seed * 7919 + r)
        bad = {rng.randrange(N)}
        root = Path(tempfile.mkdtemp(prefix="gt-bench-flaky-"))
        try:
            rig, env = make_rig(root, flaky_gate(root, seconds, rate, seed + r), N, bad)
            rep = run_queue(rig, env)
            rejected = {b for b, s in rep["states"].items() if s == "rejected"}
            wrong.append(len(rejected - {f"mr{i:02d}" for i in bad}))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return wrong


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gate-seconds", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--flake-rate", type=float, default=0.05)
    ap.add_argument("--positions", type=int, default=3,
                    help="placements of the bad MRs per k (mean and max are shown)")
    args = ap.parse_args()
    targets = {0: 1, 1: 9, 2: 14}
    print(f"Refinery: {N} MRs, k bad, deterministic gate sleeping {args.gate_seconds}s "
          f"(git {sh(['git', '--version'], Path.cwd(), dict(os.environ)).split()[-1]})")
    print(f"{'k':>2} | {'batched runs mean/max':>21} | {'target':>6} | {'wall':>6} | "
          f"{'serial runs':>11} | {'serial wall':>11} | {'speed-up':>8}")
    print("-" * 84)
    for k in (0, 1, 2, 4):
        batched = [scenario(k, args.gate_seconds, args.seed + p, N)
                   for p in range(args.positions)]
        serial = scenario(k, args.gate_seconds, args.seed, 1)
        runs = [b["runs"] for b in batched]
        wall = statistics.mean(b["wall"] for b in batched)
        target = f"<= {targets[k]}" if k in targets else "-"
        print(f"{k:>2} | {statistics.mean(runs):>15.1f} / {max(runs):>3} | {target:>6} | "
              f"{wall:>5.1f}s | {serial['runs']:>11} | {serial['wall']:>10.1f}s | "
              f"{serial['wall'] / wall:>7.1f}x")
    wrong = flaky_reps(args.reps, args.gate_seconds / 4, args.seed, args.flake_rate)
    mean = statistics.mean(wrong) if wrong else 0.0
    print(f"\nflaky gate ({args.flake_rate:.0%} random failures), k=1, {args.reps} repetitions: "
          f"good MRs wrongly rejected per {N}: mean {mean:.3f} (target <= 0.1), "
          f"max {max(wrong) if wrong else 0}, total {sum(wrong)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
