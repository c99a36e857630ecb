"""Health checks of an installation and a rig, each with a safe fix where one exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from git_gastown.git import Repo, run_git

MIN_GIT = (2, 38)
AGENT_CLIS = ("claude", "codex", "gemini", "aider", "copilot", "tmux")


@dataclass
class Finding:
    check: str
    status: str  # ok | warn | fail | info
    message: str
    fix: Callable[[], str] | None = None
    fixed: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message,
                "fixable": self.fix is not None, "fixed": self.fixed}


def git_version() -> tuple[int, ...]:
    out = run_git(["--version"]).stdout.decode()
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(x) for x in m.groups() if x is not None) if m else (0,)


def check_git() -> Finding:
    ver = git_version()
    text = ".".join(map(str, ver))
    if ver[:2] < MIN_GIT:
        return Finding("git", "fail", f"git {text} is too old: the Refinery needs "
                       f"`git merge-tree --write-tree` (git {MIN_GIT[0]}.{MIN_GIT[1]}+)")
    return Finding("git", "ok", f"git {text}")


def check_python() -> Finding:
    return Finding("python", "ok", f"python {sys.version.split()[0]} at {sys.executable}")


def _reflog_hint(ref: str) -> str:
    return f"restore it from the reflog: git reflog {ref}, then git update-ref {ref} {ref}@{{1}}"


def check_initialized(repo: Repo) -> Finding:
    from git_gastown.store.refs import read_ref

    ref = "refs/gt/beads"
    tip = read_ref(repo, ref)
    if tip is None:
        return Finding("beads-ref", "fail", f"{ref} is missing: run git gt-init")
    kind = repo.git("cat-file", "-t", tip, check=False).stdout.decode().strip() or "missing"
    if kind != "commit":
        return Finding("beads-ref", "fail",
                       f"{ref} points at a {kind} object {tip[:12]}, not a commit: "
                       + _reflog_hint(ref))
    return Finding("beads-ref", "ok", f"{ref} is a commit")


def check_refs(repo: Repo) -> Finding:
    """Every refs/gt/* ref (beads, Hooks, merge queue, remote copies) points at a commit.

    A ref at a blob or tree breaks every reader of its kind; no fix is offered because
    only the user knows which earlier tip is right, and the reflog keeps them all.
    """
    out = repo.out("for-each-ref", "refs/gt", "--format=%(objecttype) %(objectname) %(refname)")
    bad = []
    total = 0
    for line in out.splitlines():
        kind, sha, ref = line.split(" ", 2)
        total += 1
        if kind != "commit":
            bad.append((ref, kind or "missing", sha))
    if not total:
        return Finding("refs", "info", "no refs/gt/* refs (not initialized: run git gt-init)")
    if not bad:
        return Finding("refs", "ok", f"{total} refs/gt/* refs point at commits")
    listed = "; ".join(f"{ref} points at a {kind} {sha[:12]}" for ref, kind, sha in bad[:3])
    more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
    if len(bad) == 1:
        return Finding("refs", "fail", f"{listed}: not a commit; " + _reflog_hint(bad[0][0]))
    routes = "; ".join(f"git update-ref {ref} {ref}@{{1}}" for ref, _, _ in bad)
    return Finding("refs", "fail", f"{listed}{more}: not commits; restore each from its "
                   f"reflog (git reflog REF shows the earlier tips): {routes}")


def _pre_commit_problem(repo: Repo, name: str, text: str) -> str:
    """Why a pre-commit-managed hook does not run gastown's handler ("" when it does)."""
    from git_gastown import init as setup

    cfg_name, cfg_text = setup.pre_commit_config(repo, text)
    if cfg_text is None:
        return f"{name} is run by pre-commit, but {cfg_name} is missing"
    if not setup.pre_commit_lists(cfg_text, name):
        return (f"{name} is run by pre-commit, but {cfg_name} does not list the "
                f"gastown-{name} hook (see .pre-commit-hooks.yaml)")
    legacy = repo.hooks_dir() / f"{name}.legacy"
    if legacy.exists() and setup.MARKER in legacy.read_text(errors="replace"):
        return (f"{name} runs gastown twice: through pre-commit and through {legacy.name} "
                f"(pre-commit's migration mode); remove {legacy}")
    return ""


def _imports_gastown(interp: str, checked: dict[str, bool]) -> bool:
    """Whether INTERP can import git_gastown: hooks run it silently, so a wrong one would
    make every hook a quiet no-op. Asked once per interpreter."""
    if interp not in checked:
        try:
            proc = subprocess.run([interp, "-c", "import git_gastown"], capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=20, check=False,
                                  cwd="/")  # not a checkout that shadows the package
            checked[interp] = proc.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            checked[interp] = False
    return checked[interp]


def check_hooks(repo: Repo) -> Finding:
    """Each hook is gastown's stub at a live interpreter, or pre-commit's running gastown's id.

    With pre-commit managing any hook, gastown's --fix (which wraps the existing hook as
    *.gt-orig) would run the handlers twice, so the fix is left to the user.
    """
    from git_gastown import init as setup

    hooks_dir = repo.hooks_dir()
    checked: dict[str, bool] = {}
    problems = []
    twice = []
    outdated: dict[str, str] = {}  # hook -> its stub's interpreter
    via_pre_commit = []
    missing = []
    for name in setup.HOOKS:
        path = hooks_dir / name
        if not path.exists():
            problems.append(f"{name} missing")
            missing.append(name)
            continue
        text = path.read_text(errors="replace")
        if setup.PRE_COMMIT_MARK in text:
            via_pre_commit.append(name)
            if problem := _pre_commit_problem(repo, name, text):
                problems.append(problem)
            continue
        if setup.MARKER not in text:
            problems.append(f"{name} is not gastown's")
            continue
        m = re.search(r"^GT_PYTHON='([^']*)'", text, re.M)
        interp = m.group(1) if m else ""
        if not interp or not os.access(interp, os.X_OK):
            problems.append(f"{name} points at a missing interpreter {interp or '(none)'}")
        elif not _imports_gastown(interp, checked):
            problems.append(f"{name} points at an interpreter without git_gastown: {interp}")
        elif not os.access(path, os.X_OK):
            problems.append(f"{name} is not executable")
        elif text != setup.stub_text(name, interp):
            outdated[name] = interp  # an upgrade changed the stub; the old one may lack a fix
        orig = hooks_dir / (name + setup.ORIG_SUFFIX)
        if setup.runs_gastown_via_pre_commit(repo, name, orig):
            twice.append(f"{name} runs gastown twice: gastown's stub chains to pre-commit's "
                         f"script {orig.name}, which runs gastown-{name} too: "
                         f"mv {orig} {path}")
    if not problems and outdated:
        def refresh() -> str:
            # Only the stub is rewritten, with its own interpreter: a chained *.gt-orig
            # stays where it is and still runs first.
            for name, interp in outdated.items():
                setup.write_stub(hooks_dir / name, setup.stub_text(name, interp))
            return f"reinstalled {', '.join(outdated)}"

        return Finding("hooks", "warn", f"outdated gastown stub(s): {', '.join(outdated)} "
                       "differ from what git gt-init installs now (after an upgrade?)"
                       + "".join(f"; {t}" for t in twice), refresh)
    if not problems and twice:
        return Finding("hooks", "warn", "; ".join(twice))
    problems += twice
    if not problems:
        how = f" ({', '.join(via_pre_commit)} through pre-commit)" if via_pre_commit else ""
        return Finding("hooks", "ok", f"{len(setup.HOOKS)} hooks installed in {hooks_dir}{how}")
    if via_pre_commit:
        if missing:
            problems.append("pre-commit manages this repository's hooks: "
                            "pre-commit install " + " ".join(f"--hook-type {n}" for n in missing))
        return Finding("hooks", "fail", "; ".join(problems))

    def fix() -> str:
        manifest = setup._read_manifest(repo)
        setup.install_hooks(repo, manifest, sys.executable)
        setup._write_manifest(repo, manifest)
        return "hooks reinstalled with this interpreter"

    return Finding("hooks", "fail", "; ".join(problems), fix)


def check_beads(repo: Repo) -> Finding:
    """Every bead file parses and holds valid values: a bad one is reported, never skipped."""
    from git_gastown.beads import ids, model
    from git_gastown.beads.store import BeadStore

    store = BeadStore(repo)
    tip = store.tip()
    if tip is None:
        return Finding("beads", "info", "no beads yet")
    proc = repo.git("ls-tree", "-r", "-z", tip)
    entries = []
    for item in proc.stdout.decode().split("\0"):
        if item:
            info, _, path = item.partition("\t")
            if ids.id_from_path(path):
                entries.append((path, info.split()[2]))
    bad = []
    for (path, _), (_, data) in zip(entries, store.objects.read_many([s for _, s in entries]),
                                    strict=True):
        try:
            doc = model.validate(model.decode(data, path=path), path=path)
            if ids.fanout(doc["id"]) != path:
                bad.append(f"{path}: id {doc['id']} stored at the wrong path")
        except ValueError as exc:
            bad.append(str(exc))
    if bad:
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        return Finding("beads", "fail", "; ".join(bad[:3]) + more)
    return Finding("beads", "ok", f"{len(entries)} bead files parse")


def check_cycles(repo: Repo) -> Finding:
    """blocks/parent-child cycles among live beads: a merge of two clones can make one, and
    its beads are then never ready; the sync reports it once, this check until it is gone."""
    from git_gastown.beads.store import BeadStore
    from git_gastown.sync import current_cycles

    cycles = current_cycles(BeadStore(repo))
    if not cycles:
        return Finding("cycles", "ok", "no dependency cycles")
    shown = "; ".join(" -> ".join(c) for c in cycles[:3])
    more = f" (+{len(cycles) - 3} more)" if len(cycles) > 3 else ""
    return Finding("cycles", "warn", f"dependency cycle: {shown}{more}; its beads are never "
                   "ready: break one edge with git gt-bead dep rm ID TYPE ID")


def check_cache(repo: Repo) -> Finding:
    from git_gastown.beads.cache import Cache
    from git_gastown.beads.store import BeadStore

    store = BeadStore(repo)
    if store.tip() is None:
        return Finding("cache", "info", "no cache (no beads ref)")
    cache = Cache(store)

    def fix() -> str:
        return f"cache rebuilt ({cache.rebuild()} beads)"

    try:
        cache.fresh()
        cached = int(cache.db.execute("SELECT count(*) FROM beads").fetchone()[0])
    except Exception as exc:  # a corrupt cache is exactly what this check is for
        return Finding("cache", "fail", f"query cache unreadable: {exc}", fix)
    files = sum(1 for line in repo.out("ls-tree", "-r", "--name-only", store.require_tip(),
                                       "beads").splitlines() if line.endswith(".json"))
    if files != cached:
        return Finding("cache", "fail", f"cache has {cached} beads, the ref {files}", fix)
    return Finding("cache", "ok", f"cache matches refs/gt/beads ({cached} beads)")


def check_refspecs(repo: Repo) -> Finding:
    from git_gastown import init as setup

    missing = []
    for remote in (r for r in repo.out("remote").splitlines() if r):
        have = repo.config().get(f"remote.{remote}.fetch".lower(), [])
        if setup.fetch_refspecs(remote)[0] not in have:
            missing.append(remote)
    if not missing:
        return Finding("refspecs", "ok", "every remote's fetch carries refs/gt/*")

    def fix() -> str:
        manifest = setup._read_manifest(repo)
        setup.add_refspecs(repo, manifest)
        setup._write_manifest(repo, manifest)
        return f"refspecs added for {', '.join(missing)}"

    return Finding("refspecs", "warn",
                   f"fetch from {', '.join(missing)} does not carry refs/gt/*", fix)


def check_objects(repo: Repo) -> Finding:
    counts = dict(line.split(": ", 1) for line in repo.out("count-objects", "-v").splitlines()
                  if ": " in line)
    loose = int(counts.get("count", "0"))
    packs = int(counts.get("packs", "0"))
    if loose > 6700 or packs > 50:
        def fix() -> str:
            repo.git("gc", "--quiet")
            return "git gc packed the loose objects"

        return Finding("objects", "warn", f"{loose} loose objects, {packs} packs", fix)
    return Finding("objects", "ok", f"{loose} loose objects, {packs} packs")


def _worktree_entries(repo: Repo) -> list[dict[str, str]]:
    """`git worktree list --porcelain` as one dict per entry (attribute -> value)."""
    entries: list[dict[str, str]] = []
    for block in repo.out("worktree", "list", "--porcelain").split("\n\n"):
        entry: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            entry[key] = value
        if "worktree" in entry:
            entries.append(entry)
    return entries


def check_worktrees(repo: Repo) -> Finding:
    """Worktree entries git can prune, locked ones whose directory is gone, and polecat
    worktrees out of step with their Hooks (a Hook without its worktree, a gt/* worktree
    whose Hook is gone or nuked). Only pruning is safe to do unasked: a worktree may hold
    uncommitted work, and a lock is someone's decision."""
    from git_gastown import hook as hk
    from git_gastown.rig import Rig

    entries = _worktree_entries(repo)
    prunable = [e["worktree"] for e in entries if "prunable" in e]
    problems = []
    if prunable:
        problems.append(f"{len(prunable)} worktree entr{'y' if len(prunable) == 1 else 'ies'} "
                        "git can prune (directory gone; the branches are kept)")
    locked = [e["worktree"] for e in entries
              if "locked" in e and not Path(e["worktree"]).exists()]
    for path in locked[:3]:
        problems.append(f"{path} is gone but its entry is locked: git worktree unlock {path} "
                        "&& git worktree prune")
    from git_gastown.errors import GitFailed

    try:
        hooks = {h.name: h for h in hk.list_hooks(repo, live=False)}
    except GitFailed:
        # A Hook ref at a non-commit: the refs check names it and its recovery.
        hooks = None
        problems.append("Hooks unreadable (see refs): polecat worktrees not cross-checked")
    prefix = f"refs/heads/gt/{Rig(repo).prefix()}/"
    by_branch = {e.get("branch", ""): e["worktree"] for e in entries}
    for name, h in sorted((hooks or {}).items()):
        if h.state.status in ("nuked", "done"):
            continue  # the prune dog removes landed polecats' worktrees on purpose
        if not (h.worktree / ".git").exists():
            problems.append(f"polecat {name} ({h.state.status}) has no worktree: "
                            f"git gt-polecat spawn --resume {name} recreates it, "
                            f"git gt-polecat nuke {name} retires it")
    for branch, path in sorted(by_branch.items()):
        if hooks is None or not branch.startswith(prefix) or not Path(path).exists():
            continue
        name = branch[len(prefix):]
        owner = hooks.get(name)
        if owner is None or owner.state.status == "nuked":
            why = "nuked" if owner is not None else "gone"
            problems.append(f"worktree {path} (branch {branch[len('refs/heads/'):]}) belongs "
                            f"to a polecat whose Hook is {why}: check it for work, then "
                            f"git worktree remove {path}")
    if not problems:
        return Finding("worktrees", "ok", f"{len(entries)} worktree(s), none orphaned")
    if not prunable:
        return Finding("worktrees", "warn", "; ".join(problems))

    def fix() -> str:
        repo.git("worktree", "prune")
        left = {e["worktree"] for e in _worktree_entries(repo)}
        pruned = [p for p in prunable if p not in left]
        return f"pruned {len(pruned)} worktree entr{'y' if len(pruned) == 1 else 'ies'}"

    return Finding("worktrees", "warn", "; ".join(problems), fix)


def check_locks(repo: Repo) -> Finding:
    from git_gastown import dogs
    from git_gastown.rig import Rig

    rig = Rig(repo)
    stale, kept = dogs.stale_locks(rig)
    if not stale:
        held = f"; {len(kept)} old lock(s) still held by running processes" if kept else ""
        return Finding("locks", "ok", "no stale git lock files" + held)
    names = ", ".join(str(p.relative_to(repo.common_dir)) for p, _ in stale[:3])

    def fix() -> str:
        result = dogs.DogResult("locks", True)
        dogs.locks(rig, result)
        return "; ".join(result.did) or "nothing to remove"

    return Finding("locks", "warn", f"{len(stale)} stale git lock file(s) left by a killed "
                   f"git: {names}", fix)


def check_agents(repo: Repo | None = None) -> Finding:
    """Which agent CLIs are installed; a warning when the rig's own agent is missing."""
    found = {name: shutil.which(name) for name in AGENT_CLIS}
    have = [n for n, p in found.items() if p]
    missing = [n for n, p in found.items() if not p]
    msg = f"found: {', '.join(have) or 'none'}"
    if missing:
        msg += f"; not found: {', '.join(missing)} (the built-in shell agent needs none)"
    if repo is not None:
        from git_gastown.errors import GtError
        from git_gastown.polecat.spawn import check_agent
        from git_gastown.rig import Rig

        try:
            rig = Rig(repo)
            agent = str(rig.setting("polecat.agent", "shell"))
            check_agent(rig, agent)
        except GtError as exc:
            return Finding("agents", "warn", f"this rig's polecat.agent: {exc.line()}; {msg}")
    return Finding("agents", "info", msg)


# Checks that need a repository; features add theirs here (name, function).
RIG_CHECKS: list[tuple[str, Callable[[Repo], Finding]]] = [
    ("beads-ref", check_initialized),
    ("refs", check_refs),
    ("hooks", check_hooks),
    ("beads", check_beads),
    ("cache", check_cache),
    ("cycles", check_cycles),
    ("refspecs", check_refspecs),
    ("objects", check_objects),
    ("worktrees", check_worktrees),
    ("locks", check_locks),
]


def run_checks(repo: Repo | None, *, fix: bool) -> list[Finding]:
    findings = [check_git(), check_python(), _safe(check_agents, repo, "agents")
                if repo is not None else check_agents()]
    if repo is not None:
        initialized = check_initialized(repo)
        for name, check in RIG_CHECKS:
            # A missing or broken beads ref makes the checks that read it meaningless, and
            # their fixes (a cache rebuild) cannot mend it: report the ref and the refs only.
            if name not in ("beads-ref", "refs") and initialized.status == "fail":
                continue
            findings.append(initialized if name == "beads-ref" else _safe(check, repo, name))
    if not fix:
        return findings
    notes = {}
    for f in findings:
        if f.fix is not None and f.status in ("fail", "warn"):
            try:
                notes[f.check] = f.fix()
            except Exception as exc:
                notes[f.check] = f"fix failed: {exc}"
    if not notes:
        return findings
    again = run_checks(repo, fix=False)  # report the state after mending, not before
    for f in again:
        f.fixed = notes.get(f.check, "")
    return again


def _safe(check: Callable[[Repo], Finding], repo: Repo, name: str) -> Finding:
    try:
        return check(repo)
    except Exception as exc:
        return Finding(name, "fail", f"check crashed: {exc}")
