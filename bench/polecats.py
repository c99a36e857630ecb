#!/usr/bin/env python3
"""Benchmark polecats: spawn latency on a 2,000-file repository, and 30 shell polecats
at once (all finish, nothing lost, peak memory of the runners and agents). Each shell
run ends with `git gt-done`, so a bead counts as finished when the Refinery closed it
with its work on main (or, when it was not landed, when it is still hooked by its
polecat with the work on its branch).

Run: python bench/polecats.py [--files 2000] [--spawns 7] [--polecats 30]
Prints a table. Everything happens in a temporary directory with its own HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def env_for(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TMPDIR", "TERM") if k in os.environ}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1", "GT_ACTOR": "bench", "NO_COLOR": "1",
    })
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    return env


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def make_repo(path: Path, env: dict[str, str], files: int) -> None:
    path.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], path, env)
    for i in range(files):
        d = path / f"src/d{i % 40:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.py").write_text(f"# file {i}\nVALUE = {i}\n" + "x = 1\n" * 20)
    sh(["git", "add", "-A"], path, env)
    sh(["git", "commit", "-qm", "2,000 files"], path, env)
    sh(["git-gt-init", "--prefix", "bn"], path, env)


def hook_state(repo: Path, env: dict[str, str], name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(sh(["git", "show", f"refs/gt/hooks/{name}:state.json"],
                                            repo, env))
    return data


def wait_all(repo: Path, env: dict[str, str], names: list[str], timeout: float) -> float:
    start = time.monotonic()
    pending = set(names)
    while pending and time.monotonic() - start < timeout:
        for name in list(pending):
            if hook_state(repo, env, name)["status"] in ("exited", "done", "stopped"):
                pending.discard(name)
        time.sleep(0.2)
    if pending:
        raise SystemExit(f"not finished after {timeout}s: {sorted(pending)}")
    return time.monotonic() - start


def _pids() -> list[str]:
    return [p for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cwd(pid: str) -> bytes:
    try:
        return os.readlink(f"/proc/{pid}/cwd").encode()
    except OSError:
        return b""


def gastown_rss_kib(home: Path) -> tuple[int, int]:
    """(total RSS in KiB, process count) of every runner, agent and Refinery process of
    this benchmark (HOME=HOME in its environment; other work on the machine is not ours)."""
    mark = b"HOME=" + str(home).encode() + b"\0"
    total = count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if mark not in environ:
            continue
        if b"git_gastown.polecat.runner" in cmd or b"git_gastown.cli.refinery" in cmd \
                or b"GT_ROLE=polecat" in environ:
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    count += 1
    return total, count


def bench_spawn(root: Path, files: int, spawns: int) -> dict[str, float]:
    env = env_for(root / "home")
    repo = root / "repo"
    t0 = time.monotonic()
    make_repo(repo, env, files)
    build = time.monotonic() - t0
    times = []
    names = []
    for i in range(spawns):
        bead = sh(["git-gt-bead", "create", f"task {i}", "--field", f"run=echo {i} > out.txt"],
                  repo, env)
        name = f"sp{i}"
        t = time.monotonic()
        sh(["git-gt-polecat", "spawn", "--bead", bead, "--name", name], repo, env)
        times.append(time.monotonic() - t)
        names.append(name)
        wait_all(repo, env, [name], 60)  # one at a time: measure spawn, not contention
    return {"build_s": build, "median_s": statistics.median(times), "max_s": max(times),
            "min_s": min(times)}


def bench_swarm(root: Path, count: int) -> dict[str, float]:
    env = env_for(root / "home")
    repo = root / "repo"
    make_repo(repo, env, 50)
    beads = []
    for i in range(count):
        run = ("i=0; while [ $i -lt 20 ]; do echo line $i; i=$((i+1)); done; sleep 1; "
               "echo $GT_HOOK > out-$GT_HOOK.txt")
        beads.append(sh(["git-gt-bead", "create", f"swarm {i}", "--field", f"run={run}"],
                        repo, env))
    names = [f"sw{i}" for i in range(count)]
    t0 = time.monotonic()
    procs = [subprocess.Popen(["git-gt-polecat", "spawn", "--bead", b, "--name", n], cwd=repo,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL) for b, n in zip(beads, names, strict=True)]
    peak_kib = peak_procs = 0
    failed = []
    while any(p.poll() is None for p in procs):
        kib, n = gastown_rss_kib(root / "home")
        peak_kib, peak_procs = max(peak_kib, kib), max(peak_procs, n)
        time.sleep(0.05)
    for p, n in zip(procs, names, strict=True):
        if p.returncode != 0:
            failed.append((n, p.stderr.read().decode() if p.stderr else ""))
    spawned_all = time.monotonic() - t0
    pending = set(names) - {n for n, _ in failed}
    while pending and time.monotonic() - t0 < 180:
        kib, n = gastown_rss_kib(root / "home")
        peak_kib, peak_procs = max(peak_kib, kib), max(peak_procs, n)
        for name in list(pending):
            if hook_state(repo, env, name)["status"] in ("exited", "done", "stopped"):
                pending.discard(name)
        time.sleep(0.1)
    wall = time.monotonic() - t0
    # Each successful shell run ends with `git gt-done`: the Refinery lands the branch on
    # main and closes the bead. Wait for it to settle (no bead left hooked, no Refinery).
    def settled() -> bool:
        shown = json.loads(sh(["git-gt-bead", "show", *beads, "--json"], repo, env))
        refining = any(b"git_gastown.cli.refinery" in _cmdline(p) and
                       str(root).encode() in _cmdline(p) + _cwd(p) for p in _pids())
        return not refining and all(b["status"] == "closed" for b in shown)

    while not settled() and time.monotonic() - t0 < 300:
        kib, n = gastown_rss_kib(root / "home")
        peak_kib, peak_procs = max(peak_kib, kib), max(peak_procs, n)
        time.sleep(0.2)
    landed_s = time.monotonic() - t0
    lost = ok = landed = 0
    for name, bead in zip(names, beads, strict=True):
        st = hook_state(repo, env, name)
        events = json.loads(sh(["git-gt-polecat", "logs", name, "--json"], repo, env))
        lines_kept = sum(1 for e in events if e.get("type") == "gt.output"
                         and str(e.get("text", "")).startswith("line "))
        bead_state = json.loads(sh(["git-gt-bead", "show", bead, "--json"], repo, env))[0]
        fields = bead_state.get("fields") or {}
        landed_commit = str(bead_state.get("landed_commit") or fields.get("landed_commit") or "")
        if bead_state["status"] == "closed" and landed_commit:
            # Finished by git gt-done: the work is on main (the branch may be gone).
            on_main = subprocess.run(["git", "merge-base", "--is-ancestor", landed_commit,
                                      "main"], cwd=repo, env=env).returncode == 0
            where = "main"
            landed += on_main
        else:
            # Not landed (polecat.done false, or a rejection): it must be on the branch.
            on_main = bead_state["status"] == "hooked" and bead_state["assignee"] == name
            where = f"gt/bn/{name}"
        content = subprocess.run(["git", "show", f"{where}:out-{name}.txt"], cwd=repo,
                                 env=env, capture_output=True, text=True).stdout.strip()
        good = st["exit_code"] == 0 and content == name and lines_kept == 20 and on_main
        ok += good
        lost += not good
    list_times = []
    for _ in range(5):
        t = time.monotonic()
        sh(["git-gt-polecat", "list", "--json"], repo, env)
        list_times.append(time.monotonic() - t)
    fsck = subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, env=env,
                          capture_output=True, text=True)
    leftover = gastown_rss_kib(root / "home")[1]
    for name, err in failed:
        print(f"spawn {name} failed: {err.strip()}", file=sys.stderr)
    return {"polecats": count, "spawn_failures": len(failed), "finished_ok": ok, "lost": lost,
            "all_spawned_s": spawned_all, "wall_s": wall, "landed": landed,
            "landed_s": landed_s, "peak_rss_mib": peak_kib / 1024,
            "peak_processes": peak_procs, "fsck_ok": fsck.returncode == 0,
            "processes_left": leftover, "list_s": statistics.median(list_times)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--spawns", type=int, default=7)
    ap.add_argument("--polecats", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
        root = Path(tmp)
        sp = bench_spawn(root / "spawn", args.files, args.spawns)
        sw = bench_swarm(root / "swarm", args.polecats)
    print(f"{'measure':<44} {'value':>12}  target")
    print(f"{'spawn latency, ' + str(args.files) + ' files, median (s)':<44} "
          f"{sp['median_s']:>12.3f}  <= 1.0")
    print(f"{'spawn latency, max of ' + str(args.spawns) + ' (s)':<44} {sp['max_s']:>12.3f}")
    print(f"{str(args.polecats) + ' shell polecats at once: finished ok':<44} "
          f"{sw['finished_ok']:>12}  {args.polecats}")
    print(f"{'  work lost':<44} {sw['lost']:>12}  0")
    print(f"{'  spawn failures':<44} {sw['spawn_failures']:>12}  0")
    print(f"{'  all spawned after (s)':<44} {sw['all_spawned_s']:>12.2f}")
    print(f"{'  all finished after (s)':<44} {sw['wall_s']:>12.2f}")
    print(f"{'  landed on main by git gt-done':<44} {sw['landed']:>12}  {args.polecats}")
    print(f"{'  all landed after (s)':<44} {sw['landed_s']:>12.2f}")
    print(f"{'  peak RSS of runners, agents, Refinery (MiB)':<44} {sw['peak_rss_mib']:>12.1f}")
    print(f"{'  peak runner + agent processes':<44} {sw['peak_processes']:>12}")
    print(f"{'  processes left after the run':<44} {sw['processes_left']:>12}  0")
    print(f"{'  git gt-polecat list --json, median (s)':<44} {sw['list_s']:>12.3f}")
    print(f"{'  git fsck clean':<44} {sw['fsck_ok']!s:>12}  True")
    ok = sp["median_s"] <= 1.0 and sw["lost"] == 0 and sw["spawn_failures"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
