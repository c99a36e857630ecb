"""What gastown's git hooks add to `git commit`, and how long a Witness check takes.

    python bench/hooks.py [--commits 40] [--polecats 30]

Prints, side by side in one run, the median (and p90) wall time of `git commit` in
  - a plain repository with no hooks,
  - a rig with gastown's hooks and nothing watched (the common case),
  - a rig that is watched (hooks-due) between two patrols,
  - a polecat's worktree (every commit is a heartbeat; Python runs),
then the time of a Witness check over N live polecats (in-process and as a command).
Targets: <= 10 ms added in the rig, <= 25 ms in a polecat worktree, Witness <= 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def scrubbed_env(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
                "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GT_ACTOR": "bench",
                "XDG_DATA_HOME": str(home / "data"), "NO_COLOR": "1"})
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    return env


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path: Path, env: dict[str, str], gastown: bool) -> Path:
    path.mkdir(parents=True)
    git(path, env, "init", "-q", "-b", "main")
    (path / "README").write_text("x\n")
    git(path, env, "add", "README")
    git(path, env, "commit", "-q", "-m", "init")
    if gastown:
        subprocess.run(["git-gt-init"], cwd=path, env=env, check=True, capture_output=True)
    return path


def future(path: Path, seconds: float = 3600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    when = time.time() + seconds
    os.utime(path, (when, when))


def commit_once(cwd: Path, env: dict[str, str], n: int) -> float:
    (cwd / "f.txt").write_text(f"{n}\n")
    subprocess.run(["git", "add", "f.txt"], cwd=cwd, env=env, check=True)
    start = time.perf_counter()
    subprocess.run(["git", "commit", "-q", "-m", f"c{n}"], cwd=cwd, env=env, check=True)
    return time.perf_counter() - start


def bench_commits(root: Path, env: dict[str, str], commits: int) -> None:
    plain = make_repo(root / "plain", env, gastown=False)
    rig = make_repo(root / "rig", env, gastown=True)
    watched = make_repo(root / "watched", env, gastown=True)
    (watched / ".git" / "gt" / "hooks-due").write_text("")
    future(watched / ".git" / "gt" / "patrol-next")
    host = make_repo(root / "host", env, gastown=True)
    wt = root / "polecat-wt"
    git(host, env, "worktree", "add", "-q", "-b", "gt/x/nux", str(wt))
    gitdir = Path(git(wt, env, "rev-parse", "--absolute-git-dir"))
    (gitdir / "gt-hook").write_text("nux\n")
    (host / ".git" / "gt" / "polecats" / "nux").mkdir(parents=True)  # as spawn makes it
    future(host / ".git" / "gt" / "patrol-next")
    setups = [("plain repository, no hooks", plain), ("rig, gastown hooks, nothing watched", rig),
              ("rig, watched, between patrols", watched), ("polecat worktree", wt)]
    times: dict[str, list[float]] = {name: [] for name, _ in setups}
    for n in range(commits + 3):
        for name, path in setups:  # round-robin, so load on the machine hits all alike
            t = commit_once(path, env, n)
            if n >= 3:
                times[name].append(t)
    base = statistics.median(times[setups[0][0]])
    print(f"git commit, {commits} commits each (median / p90, ms; added = median - plain)")
    for name, _ in setups:
        ts = sorted(times[name])
        med = statistics.median(ts)
        p90 = ts[int(0.9 * (len(ts) - 1))]
        added = "" if name == setups[0][0] else f"  added {1000 * (med - base):+6.1f}"
        print(f"  {name:<40} {1000 * med:7.1f} / {1000 * p90:7.1f}{added}")
    beat = host / ".git" / "gt" / "polecats" / "nux" / "committed"
    print(f"  (polecat heartbeat recorded: {beat.exists()})")


def bench_witness(root: Path, env: dict[str, str], polecats: int) -> None:
    try:
        import git_gastown.hook  # noqa: F401
    except ImportError:
        print("witness: skipped (the Hook layer is not installed)")
        return
    rig = make_repo(root / "witness-rig", env, gastown=True)
    env = dict(env, GT_HOOKS="0")
    names = []
    for i in range(polecats):
        bead = subprocess.run(["git-gt-bead", "create", f"job {i}", "--field", "run=sleep 300"],
                              cwd=rig, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()
        subprocess.run(["git-gt-polecat", "spawn", "--bead", bead, "--name", f"p{i}"],
                       cwd=rig, env=env, check=True, capture_output=True)
        names.append(f"p{i}")
    try:
        time.sleep(2)
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        os.chdir(rig)
        os.environ.update(env)
        from git_gastown import witness
        from git_gastown.rig import Rig

        runs = []
        for _ in range(5):
            start = time.perf_counter()
            report = witness.check(Rig.open(rig))
            runs.append(time.perf_counter() - start)
        classes: dict[str, int] = {}
        for f in report.findings:
            classes[f.cls] = classes.get(f.cls, 0) + 1
        cmd = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(["git-gt-witness", "check", "--json"], cwd=rig, env=env, check=True,
                           capture_output=True)
            cmd.append(time.perf_counter() - start)
        print(f"witness check over {polecats} polecats {classes}:"
              f" in-process median {1000 * statistics.median(runs):.0f} ms,"
              f" `git gt-witness check --json` median {1000 * statistics.median(cmd):.0f} ms")
    finally:
        import json

        # End every runner and every agent's process group (the agent leads its own
        # group, apart from its runner's: killing the runner alone leaves the agent's
        # children running).
        for live in (rig / ".git" / "gt" / "polecats").glob("*/live.json"):
            try:
                data = json.loads(live.read_text())
            except (OSError, ValueError):
                continue
            for key in ("runner_pgid", "pgid"):
                with contextlib.suppress(OSError, ValueError, TypeError):
                    group = int(data.get(key) or 0)
                    if group > 1:
                        os.killpg(group, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=40)
    parser.add_argument("--polecats", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gt-bench-hooks-"))
    try:
        env = scrubbed_env(root / "home")
        bench_commits(root, env, args.commits)
        bench_witness(root, env, args.polecats)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
