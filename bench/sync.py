"""Benchmark: merging two clones of a big beads store that diverged, and git gt-sync end to end.

Two clones of a store of --beads beads (default 100,000) each make --changes divergent
changes (default 5,000): clone A retitles beads [0, N); clone B retitles beads [N/2, N)
(the same field: conflicts), writes notes on [N, 3N/2) and creates N/10 new beads (B's
changes add up to N as well). A pushes; B then merges. Prints a table:

  tree merge             merge_trees alone (walk, decode, join, write objects), median of 3
  merge into the ref     sync.merge_beads: tree merge, merge commit, cycle check, ref CAS,
                         cache update
  git gt-sync            the command as a user runs it: fetch, merge, push (new process)

Target: the merge at most 5 s on a 2-core machine. Plain script: python bench/sync.py
(--changes-per-commit 1: each side's changes as one commit per change, so merge-base
and the fetch walk a 5,000-commit divergence).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from git_gastown.beads import ids, merge, model

WHEN = "2026-01-01T00:00:00Z"


def git(*args: str, cwd: Path, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True,
                          check=True)
    return proc.stdout.decode().strip()


def gt(cwd: Path, family: str, *args: str) -> float:
    exe = Path(sys.executable).parent / f"git-gt-{family}"
    start = time.perf_counter()
    subprocess.run([str(exe), *args], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def doc(bead_id: str, n: int) -> model.Doc:
    d = model.new_doc(bead_id)
    d["nonce"] = secrets.token_hex(8)
    w = model.Writer(d, "seed", WHEN)
    w.set("title", f"bead number {n}")
    w.set("type", "task")
    w.set("status", "open")
    w.set("priority", n % 5)
    w.set("created_at", WHEN)
    w.set("created_by", "seed")
    return d


def fast_import(repo: Path, docs: list[model.Doc], message: str, parent: str | None,
                meta: bool = False, per_commit: int = 0) -> str:
    """Commits on refs/gt/beads holding DOCS (and meta.json), via one git fast-import:
    one commit, or a chain of commits of PER_COMMIT documents each."""
    out = bytearray()
    size = per_commit or max(len(docs), 1)
    chunks = [docs[k:k + size] for k in range(0, len(docs), size)] or [[]]
    for k, chunk in enumerate(chunks):
        msg = (message if len(chunks) == 1 else f"{message} ({k + 1}/{len(chunks)})").encode()
        out += (b"commit refs/gt/beads\ncommitter bench <bench@gastown.invalid> %d +0000\n"
                % (1767225600 + k))
        out += b"data %d\n%s\n" % (len(msg), msg)
        if parent and k == 0:
            out += b"from %s\n" % parent.encode()
        if meta and k == 0:
            data = merge.meta_bytes({"format": 1, "prefix": "gt"})
            out += b"M 100644 inline meta.json\ndata %d\n%s\n" % (len(data), data)
        for d in chunk:
            data = model.encode(d)
            out += b"M 100644 inline %s\ndata %d\n%s\n" % (ids.fanout(d["id"]).encode(),
                                                          len(data), data)
    git("fast-import", "--quiet", cwd=repo, input=bytes(out))
    return git("rev-parse", "refs/gt/beads", cwd=repo)


def build(root: Path, beads: int) -> tuple[Path, list[model.Doc]]:
    hub = root / "hub.git"
    git("init", "-q", "--bare", str(hub), cwd=root)
    seen: set[str] = set()
    docs = []
    for n in range(beads):
        bid = f"gt-{ids.token(5)}"
        while bid in seen:
            bid = f"gt-{ids.token(5)}"
        seen.add(bid)
        docs.append(doc(bid, n))
    fast_import(hub, docs, "seed", None, meta=True)
    # A branch so that clones have a HEAD; it does not matter for the beads.
    empty = git("hash-object", "-t", "tree", "-w", "--stdin", cwd=hub, input=b"")
    head = git("commit-tree", empty, "-m", "root", cwd=hub)
    git("update-ref", "refs/heads/main", head, cwd=hub)
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=hub)
    return hub, docs


def clone(hub: Path, path: Path) -> Path:
    git("clone", "-q", str(hub), str(path), cwd=hub.parent)
    git("fetch", "-q", "origin", "refs/gt/beads:refs/gt/beads", cwd=path)
    subprocess.run([str(Path(sys.executable).parent / "git-gt-init"), "--json"], cwd=path,
                   check=True, capture_output=True)
    return path


def changed(base: model.Doc, actor: str, **fields: str) -> model.Doc:
    d = model.decode(model.encode(base))
    w = model.Writer(d, actor, "2026-01-02T00:00:00Z")
    for k, v in fields.items():
        w.set(k, v)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--beads", type=int, default=100_000)
    ap.add_argument("--changes", type=int, default=5_000)
    ap.add_argument("--changes-per-commit", type=int, default=0, metavar="K",
                    help="make each side's changes as commits of K beads (1: one commit "
                         "per change, a realistic history for merge-base and the walk); "
                         "default 0: one commit per side")
    args = ap.parse_args()
    per = args.changes_per_commit
    n, size = args.changes, args.beads
    os.environ.setdefault("GT_ACTOR", "bench")
    with tempfile.TemporaryDirectory(prefix="gt-bench-sync-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        hub, docs = build(root, size)
        a, b = clone(hub, root / "a"), clone(hub, root / "b")
        base = git("rev-parse", "refs/gt/beads", cwd=a)
        fast_import(a, [changed(d, "alice", title=f"{d['id']} by alice") for d in docs[:n]],
                    "alice's changes", base, per_commit=per)
        b_docs = [changed(d, "bob", title=f"{d['id']} by bob") for d in docs[n // 2:n]]
        b_docs += [changed(d, "bob", notes="bob's notes") for d in docs[n:n + n // 2]]
        b_docs += [doc(f"gt-new{k:05d}", k) for k in range(n - len(b_docs))]
        b_tip = fast_import(b, b_docs, "bob's changes", base, per_commit=per)
        git("push", "-q", "origin", "refs/gt/beads", cwd=a)
        gt(b, "bead", "list", "--limit", "1")  # warm B's query cache (cold rebuild not timed)
        setup = time.perf_counter() - t0

        from git_gastown import sync, syncstate
        from git_gastown.beads.store import BeadStore
        from git_gastown.git import Repo

        repo = Repo.discover(b)
        store = BeadStore(repo)
        git("fetch", "-q", "origin", cwd=b)
        remote = git("rev-parse", "refs/gt/remotes/origin/beads", cwd=b)
        l_tree, r_tree = (store.objects.read_commit_tree(x) for x in (b_tip, remote))
        b_tree = store.objects.read_commit_tree(base)
        tree_times = []
        for _ in range(3):
            start = time.perf_counter()
            result = merge.merge_trees(store.objects, l_tree, r_tree, b_tree)
            tree_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        full = sync.merge_beads(repo, remote, remote_name="origin", actor="bench", store=store)
        merge_time = time.perf_counter() - start
        merged_tree = store.objects.read_commit_tree(full.after)
        assert merged_tree == result.tree

        # End to end: put B back where it was, warm the cache again, then run the command.
        git("update-ref", "refs/gt/beads", b_tip, full.after, cwd=b)
        git("update-ref", "-d", "refs/gt/remotes/origin/beads", cwd=b)
        (repo.gt_dir / syncstate.RECORD).unlink(missing_ok=True)
        gt(b, "bead", "list", "--limit", "1")
        e2e = gt(b, "sync")
        assert git("rev-parse", "refs/gt/beads^{tree}", cwd=b) == merged_tree
        floor = min(timeit(["git", "rev-parse", "HEAD"], b) for _ in range(5))

        print(f"store {size:,} beads; A changed {n:,}, B changed {len(b_docs):,} "
              f"({n // 2:,} same beads and field), "
              f"{'one commit' if not per else f'{per} per commit'} per side; "
              f"setup {setup:.1f} s")
        print(f"merge result: {len(result.added):,} added, {len(result.changed):,} changed, "
              f"{result.conflicts:,} conflicts resolved, {result.checked:,} remote docs checked")
        print()
        print(f"{'step':<26}{'seconds':>10}")
        print(f"{'tree merge (median of 3)':<26}{statistics.median(tree_times):>10.2f}")
        print(f"{'merge into the ref':<26}{merge_time:>10.2f}")
        print(f"{'git gt-sync end to end':<26}{e2e:>10.2f}")
        print(f"{'git rev-parse HEAD':<26}{floor:>10.3f}")
        print()
        verdict = "ok" if merge_time <= 5 else "OVER"
        print(f"target: merge <= 5 s: {verdict}")


def timeit(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
