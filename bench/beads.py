"""Benchmark W1: bead commands as a user runs them, on a store of N beads.

    python bench/beads.py [--beads 100000] [--runs 15] [--writers 30] [--keep DIR]

Builds a store of N beads (generated JSONL with a realistic mix of types, statuses,
priorities, labels, dependencies, parents and comments, imported in one commit, then
packed as a long-lived repository would be), and measures, each in a new process through
the installed `git-gt-bead` next to this interpreter:

- the median wall time of create, update, show, list --status open --json, ready --json;
- the cache's cold rebuild (cache.sqlite deleted, one read) and its refresh after one
  change made by another process;
- 30 concurrent writers: commits/s, p99 latency, writes lost, double claims, both for
  writers that keep a process open (the store's own capacity) and for writers that start
  `git-gt-bead` for every write (what an agent's shell does);
- `python -c pass` and `git rev-parse HEAD` in the same run, as floors.

It prints one table with the targets of issue W1 and PASS/MISS. The machine is shared:
run it once or twice, not in a loop.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
GT_BEAD = str(BIN / "git-gt-bead")
LABELS = [f"area/{x}" for x in ("ui", "db", "api", "cli", "docs", "ci", "infra", "auth")] + [
    "bug", "perf", "security", "good-first", "regression", "flaky", "incident", "tech-debt"]
PEOPLE = [f"agent-{i}" for i in range(30)] + ["alice", "bob", "carol"]
WORDS = ["fix", "add", "remove", "refactor", "speed up", "document", "test"]
THINGS = ["login", "cache", "parser", "scheduler", "api", "merge queue"]


# -- the store ---------------------------------------------------------------------------


def generate(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """N beads in our JSONL format: 45% closed, 40% open, the rest in progress, blocked,
    deferred or hooked; 20% depend on 1-2 earlier beads; a quarter are children of epics."""
    rnd = random.Random(seed)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    ids: set[str] = set()
    while len(ids) < n:
        ids.add("bn-" + "".join(rnd.choice(alphabet) for _ in range(5)))
    order = sorted(ids)
    rnd.shuffle(order)
    out: list[dict[str, Any]] = []
    epics: list[str] = []
    for i, bid in enumerate(order):
        r = rnd.random()
        status = ("closed" if r < .45 else "open" if r < .85 else "in_progress" if r < .90
                  else "blocked" if r < .93 else "deferred" if r < .97 else "hooked")
        kind = rnd.choices(["task", "bug", "feature", "epic", "chore", "message"],
                           [50, 20, 15, 3, 10, 2])[0]
        created = f"2026-{1 + i * 10 // n:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
        rec: dict[str, Any] = {
            "id": bid,
            "title": f"{kind} {i}: {rnd.choice(WORDS)} the {rnd.choice(THINGS)}",
            "type": kind, "status": status,
            "priority": rnd.choices([0, 1, 2, 3, 4], [5, 15, 50, 20, 10])[0],
            "description": "As a user I want this to work. " * rnd.randint(1, 4),
            "created_at": created, "created_by": rnd.choice(PEOPLE),
            "labels": rnd.sample(LABELS, rnd.choices([0, 1, 2, 3], [30, 40, 20, 10])[0]),
            "dependencies": [],
        }
        if status in ("in_progress", "hooked") or rnd.random() < .2:
            rec["assignee"] = rnd.choice(PEOPLE)
        if status == "closed":
            rec["closed_at"] = created
            rec["close_reason"] = rnd.choice(["done", "duplicate", "wontfix", ""])
        if i > 10 and rnd.random() < .2:
            for target in rnd.sample(order[:i], rnd.randint(1, 2)):
                rec["dependencies"].append({"type": "blocks", "id": target})
        if epics and rnd.random() < .25:
            rec["dependencies"].append({"type": "parent-child", "id": rnd.choice(epics[-50:])})
        if rnd.random() < .3:
            rec["comments"] = [
                {"id": f"c-{i}x{k}", "author": rnd.choice(PEOPLE),
                 "text": "Looked into it; " * rnd.randint(1, 3), "created_at": created}
                for k in range(rnd.randint(1, 2))]
        if kind == "epic":
            epics.append(bid)
        out.append(rec)
    return out


def bench_env(home: Path) -> dict[str, str]:
    """A clean environment as a user has it (bytecode caches allowed, no system config)."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TERM")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
                "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GT_ACTOR": "bench",
                "NO_COLOR": "1"})
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
    return env


def sh(args: list[str], cwd: Path, env: dict[str, str], **kw: Any) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def build(rig: Path, env: dict[str, str], n: int) -> dict[str, float]:
    rig.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], rig, env)
    sh(["git", "commit", "-q", "--allow-empty", "-m", "init"], rig, env)
    sh([str(BIN / "git-gt-init"), "--prefix", "bn"], rig, env)
    data = rig.parent / "beads.jsonl"
    with open(data, "w") as fh:
        for rec in generate(n):
            fh.write(json.dumps(rec) + "\n")
    t0 = time.perf_counter()
    sh([GT_BEAD, "import", str(data)], rig, env)
    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    drop_cache(rig)
    sh([GT_BEAD, "list", "-n", "1"], rig, env)
    cold_loose = time.perf_counter() - t0
    # A long-lived store is packed (git gc --auto, or the gc Dog).
    sh(["git", "repack", "-a", "-d", "-q"], rig, env)
    sh(["git", "prune-packed"], rig, env)
    return {"import": imported, "cold_loose": cold_loose}


def drop_cache(rig: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = rig / ".git" / "gt" / f"cache.sqlite{suffix}"
        if path.exists():
            path.unlink()


# -- timing -----------------------------------------------------------------------------


CPU: list[float] = []  # CPU seconds (user + system, the command and its git children)


def children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    c0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True)  # bytes: no decoding
    took = time.perf_counter() - t0
    CPU.append(children_cpu() - c0)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.decode().strip()}")
    return took, proc.stdout.decode()


def median_of(make_args: Any, runs: int, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Median wall time of RUNS runs (their CPU times are left in CPU)."""
    times, out = [], ""
    del CPU[:]
    for i in range(runs):
        took, out = timed(make_args(i), cwd, env)
        times.append(took)
    return statistics.median(times), out


def last_cpu() -> str:
    return f"{statistics.median(CPU) * 1000:.0f} ms" if CPU else ""


def refresh_after_one_change(rig: Path, env: dict[str, str], ids: list[str],
                             runs: int) -> float:
    """Another process changes one bead; time the next read, which must catch up.

    The writer's own cache update is undone (the cache's tip set back), so the read does
    exactly what it does after a write it did not see: diff the trees, re-read the bead.
    """
    times, cpu = [], []
    cache = rig / ".git" / "gt" / "cache.sqlite"
    for i in range(runs):
        before = sh(["git", "rev-parse", "refs/gt/beads"], rig, env).strip()
        sh([GT_BEAD, "update", ids[i], "--notes", f"changed elsewhere {i}"], rig, env)
        db = sqlite3.connect(cache)
        db.execute("UPDATE meta SET v=? WHERE k='tip'", (before,))
        db.commit()
        db.close()
        took, out = timed([GT_BEAD, "show", ids[i], "--json"], rig, env)
        cpu.append(CPU[-1])
        if f"changed elsewhere {i}" not in out:
            raise SystemExit("the cache did not catch up with the change")
        times.append(took)
    CPU[:] = cpu
    return statistics.median(times)


# -- concurrent writers -----------------------------------------------------------------


def worker_main(rig: str, actor: str, writes: int, start_at: float) -> None:
    """One long-lived writer: creates, updates and claims through the store's API."""
    os.chdir(rig)
    from git_gastown.beads.ops import Beads, NewBead
    from git_gastown.errors import GtError
    from git_gastown.rig import Rig

    beads = Beads(Rig.open().store)
    mine: list[str] = []
    log = []
    while time.time() < start_at:
        time.sleep(0.001)
    for k in range(writes):
        t0 = time.time()
        try:
            if k % 5 in (0, 1, 2) or not mine:
                title = f"{actor} write {k}"
                b = beads.create(NewBead(title=title, labels=["bench"]), actor)
                mine.append(b.id)
                rec = ["create", b.id, title]
            elif k % 5 == 3:
                notes = f"{actor} note {k}"
                beads.update(mine[-1], actor, {"notes": notes})
                rec = ["update", mine[-1], notes]
            else:
                got = beads.claim_ready(actor)
                rec = ["claim", got.id if got else None, actor]
        except GtError as exc:
            rec = ["error", str(exc), ""]
        log.append([*rec, t0, time.time()])
    print(json.dumps(log))


def run_writers(rig: Path, env: dict[str, str], n: int, writes: int) -> dict[str, Any]:
    before = int(sh(["git", "rev-list", "--count", "refs/gt/beads"], rig, env))
    start_at = time.time() + 1.0 + n * 0.05
    procs = [subprocess.Popen(
        [sys.executable, __file__, "--worker", str(rig), f"writer-{i}", str(writes),
         repr(start_at)], cwd=rig, env=env, stdout=subprocess.PIPE, text=True)
        for i in range(n)]
    logs = [json.loads(p.communicate()[0]) for p in procs]
    return check_writes(rig, env, before, [row for log in logs for row in log])


def run_cli_writers(rig: Path, env: dict[str, str], n: int, writes: int) -> dict[str, Any]:
    """N agents, each starting `git-gt-bead create` WRITES times in a row."""
    import threading

    before = int(sh(["git", "rev-list", "--count", "refs/gt/beads"], rig, env))
    rows: list[list[Any]] = []
    barrier = threading.Barrier(n)

    def agent(i: int) -> None:
        barrier.wait()
        for k in range(writes):
            title = f"cli-{i} write {k}"
            t0 = time.time()
            proc = subprocess.run([GT_BEAD, "create", title, "--actor", f"cli-{i}"],
                                  cwd=rig, env=env, capture_output=True, text=True)
            t1 = time.time()
            if proc.returncode == 0:
                rows.append(["create", proc.stdout.strip(), title, t0, t1])
            else:
                rows.append(["error", proc.stderr.strip(), "", t0, t1])

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return check_writes(rig, env, before, rows)


def check_writes(rig: Path, env: dict[str, str], before: int,
                 rows: list[list[Any]]) -> dict[str, Any]:
    """Throughput and latency, and whether every acknowledged write is in the store."""
    after = int(sh(["git", "rev-list", "--count", "refs/gt/beads"], rig, env))
    acked = [r for r in rows if r[0] in ("create", "update") or (r[0] == "claim" and r[1])]
    errors = [r for r in rows if r[0] == "error"]
    lat = sorted(r[4] - r[3] for r in rows)
    span = max(r[4] for r in rows) - min(r[3] for r in rows)
    final = {b["id"]: b for b in json.loads(
        sh([GT_BEAD, "list", "--all", "--json"], rig, env))}
    lost = 0
    last_note: dict[str, tuple[float, str]] = {}
    claimers: dict[str, list[str]] = {}
    for kind, bid, value, _t0, t1 in rows:
        if kind == "create" and (bid not in final or final[bid]["title"] != value):
            lost += 1
        elif kind == "update" and t1 > last_note.get(bid, (0.0, ""))[0]:
            last_note[bid] = (t1, value)
        elif kind == "claim" and bid:
            claimers.setdefault(bid, []).append(value)
    lost += sum(1 for bid, (_, note) in last_note.items() if final[bid]["notes"] != note)
    doubles = sum(1 for who in claimers.values() if len(who) > 1)
    doubles += sum(1 for bid, who in claimers.items() if final[bid]["assignee"] != who[-1])
    expected = after - before  # one commit per acknowledged write, none extra
    return {
        "writes": len(acked), "errors": len(errors), "commits": after - before,
        "lost": lost + max(0, len(acked) - expected), "double_claims": doubles,
        "rate": (after - before) / span if span else 0.0,
        "p50": lat[len(lat) // 2], "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "span": span,
    }


def concurrent_floor(n: int, per: int, env: dict[str, str], cwd: Path) -> float:
    """Processes/s when N agents start `python -c pass` PER times each: the CPU ceiling."""
    import threading

    barrier = threading.Barrier(n)

    def agent() -> None:
        barrier.wait()
        for _ in range(per):
            subprocess.run([sys.executable, "-c", "pass"], cwd=cwd, env=env)

    threads = [threading.Thread(target=agent) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n * per / (time.perf_counter() - t0)


# -- the report -------------------------------------------------------------------------


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--beads", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=15, help="runs per command (median)")
    ap.add_argument("--writers", type=int, default=30)
    ap.add_argument("--writes", type=int, default=20, help="writes per long-lived writer")
    ap.add_argument("--keep", metavar="DIR", help="build in DIR and keep it")
    args = ap.parse_args()

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gt-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    env = bench_env(base / "home")
    rig = base / "rig"
    rows: list[tuple[str, str, str, str, bool | None]] = []

    def row(name: str, figure: str, target: str = "", ok: bool | None = None,
            cpu: str = "") -> None:
        rows.append((name, figure, cpu, target, ok))
        mark = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"  {name:<44} {figure:>16} {cpu:>12}  {target:<16} {mark}", file=sys.stderr,
              flush=True)

    try:
        print(f"building a store of {args.beads} beads in {base} ...", file=sys.stderr)
        # Warm the bytecode caches and the page cache once, as any installed tool is.
        subprocess.run([GT_BEAD, "--help"], env=env, capture_output=True)
        built = build(rig, env, args.beads)
        row(f"import {args.beads} beads (one commit)", f"{built['import']:.1f} s")
        row("cold rebuild, loose objects (just imported)", f"{built['cold_loose']:.1f} s")

        t, _ = median_of(lambda i: [sys.executable, "-c", "pass"], args.runs, rig, env)
        row("floor: python -c pass", ms(t), cpu=last_cpu())
        t, _ = median_of(lambda i: ["git", "rev-parse", "HEAD"], args.runs, rig, env)
        row("floor: git rev-parse HEAD", ms(t), cpu=last_cpu())

        drop_cache(rig)
        del CPU[:]
        cold, _ = timed([GT_BEAD, "list", "-n", "1"], rig, env)
        row("cold rebuild (cache deleted, one read)", f"{cold:.1f} s", "<= 20 s", cold <= 20,
            f"{CPU[-1]:.1f} s")

        everything = json.loads(sh([GT_BEAD, "list", "--all", "--json"], rig, env))
        open_ids = [b["id"] for b in everything if b["status"] == "open"]
        random.Random(1).shuffle(open_ids)
        all_ids = [b["id"] for b in everything]
        random.Random(2).shuffle(all_ids)
        del everything

        t, _ = median_of(lambda i: [GT_BEAD, "show", all_ids[i]], args.runs, rig, env)
        row("show ID", ms(t), "<= 60 ms", t <= 0.060, last_cpu())
        t, out = median_of(lambda i: [GT_BEAD, "list", "--status", "open", "--json"],
                           args.runs, rig, env)
        count = len(json.loads(out))
        row(f"list --status open --json ({count} beads, {len(out) / 1e6:.0f} MB)", ms(t),
            "<= 60 ms", t <= 0.060, last_cpu())
        t, out = median_of(lambda i: [GT_BEAD, "ready", "--json"], args.runs, rig, env)
        count = len(json.loads(out))
        row(f"ready --json ({count} beads, {len(out) / 1e6:.0f} MB)", ms(t), "<= 60 ms",
            t <= 0.060, last_cpu())
        t, out = median_of(lambda i: [GT_BEAD, "list", "--status", "open", "-n", "50"],
                           args.runs, rig, env)
        row("list --status open -n 50", ms(t), "<= 60 ms", t <= 0.060, last_cpu())
        t, _ = median_of(lambda i: [GT_BEAD, "create", f"bench create {i}", "-l", "bench"],
                         args.runs, rig, env)
        row("create", ms(t), "<= 120 ms", t <= 0.120, last_cpu())
        t, _ = median_of(lambda i: [GT_BEAD, "update", open_ids[i], "--notes", f"n{i}"],
                         args.runs, rig, env)
        row("update", ms(t), "<= 120 ms", t <= 0.120, last_cpu())
        t = refresh_after_one_change(rig, env, open_ids[args.runs:], args.runs)
        row("read after another process's change (refresh)", ms(t), "<= 60 ms", t <= 0.060,
            last_cpu())

        n = args.writers
        w = run_writers(rig, env, n, args.writes)
        row(f"{n} writers (long-lived): commits/s", f"{w['rate']:.0f}/s", ">= 100/s",
            w["rate"] >= 100)
        row(f"{n} writers (long-lived): p99 latency", ms(w["p99"]), "< 1 s", w["p99"] < 1)
        row(f"{n} writers (long-lived): writes lost", f"{w['lost']} of {w['writes']}", "0",
            w["lost"] == 0 and w["errors"] == 0)
        row(f"{n} writers (long-lived): double claims", str(w["double_claims"]), "0",
            w["double_claims"] == 0)
        c = run_cli_writers(rig, env, n, 3)
        row(f"{n} agents, a process per write: commits/s", f"{c['rate']:.0f}/s")
        row(f"{n} agents, a process per write: p99", ms(c["p99"]))
        row(f"{n} agents, a process per write: lost", f"{c['lost']} of {c['writes']}", "0",
            c["lost"] == 0 and c["errors"] == 0)
        floor = concurrent_floor(n, 3, env, rig)
        row(f"floor: {n} agents starting python -c pass", f"{floor:.0f}/s")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"| measure ({args.beads} beads, {os.cpu_count()} cores) | wall (median) | CPU"
          " (median) | target | |")
    print("| --- | ---: | ---: | --- | --- |")
    for name, figure, cpu, target, ok in rows:
        mark = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"| {name} | {figure} | {cpu} | {target} | {mark} |")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        sys.exit(0)
    sys.exit(main())
