"""Enabling and disabling gastown in a repository: beads ref, hooks, remote refspecs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown.beads import ids
from git_gastown.beads.store import BeadStore
from git_gastown.errors import GtError
from git_gastown.git import Repo

HOOKS = ("post-commit", "post-merge", "post-checkout", "pre-push")
# In the second line of every stub git gt-init writes. (Not just "git-gastown": that is
# also in the path of our own venv, which a pre-commit script names as its INSTALL_PYTHON.)
MARKER = "hook (installed by git gt-init"
ORIG_SUFFIX = ".gt-orig"
MANIFEST = "install.json"


def hooks_source() -> Path:
    """The stub templates: git-hooks/ of a checkout, or the copy inside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "git-hooks", here / "data" / "git-hooks"):
        if (candidate / "post-commit").exists():
            return candidate
    raise GtError("the git hook templates are missing from this installation",
                  hint="reinstall git-gastown (./install.sh)")


def fetch_refspecs(remote: str) -> list[str]:
    # The negative refspec keeps a remote's own remote-tracking copies out of ours.
    return [f"+refs/gt/*:refs/gt/remotes/{remote}/*", "^refs/gt/remotes/*"]


@dataclass
class InitReport:
    prefix: str
    created: bool
    hooks_dir: str
    # name -> installed|chained|updated|unchanged
    hooks: dict[str, str] = field(default_factory=dict)
    remotes: list[str] = field(default_factory=list)
    adopted: str | None = None  # the remote whose beads history this clone took

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "created": self.created, "hooks_dir": self.hooks_dir,
                "hooks": self.hooks, "remotes": self.remotes, "adopted": self.adopted}


def _manifest_path(repo: Repo) -> Path:
    return repo.runtime_path(MANIFEST)


def _read_manifest(repo: Repo) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(_manifest_path(repo).read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return {"hooks": {}, "refspecs": {}}


def _write_manifest(repo: Repo, manifest: dict[str, Any]) -> None:
    path = _manifest_path(repo)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, path)


def init(
    repo: Repo,
    *,
    prefix: str | None,
    actor: str,
    remote_refspecs: bool = True,
    hooks: bool = True,
    python: str | None = None,
    adopt: bool = True,
) -> InitReport:
    if prefix is not None:
        ids.check_prefix(prefix)
    store = BeadStore(repo)
    tip = store.tip()
    created = False
    adopted: str | None = None
    if tip is None and adopt:
        found = remote_beads(repo)
        if found is not None:
            from git_gastown import sync

            remote, remote_tip, fetched = found
            try:
                adopted, chosen = adopt_remote(repo, store, remote, remote_tip, prefix=prefix)
            finally:
                if fetched is not None:
                    # what was fetched becomes the remote-tracking copy only once adopted,
                    # so a refused remote leaves nothing behind and the next init fetches
                    # it again (repaired, perhaps)
                    if adopted is not None:
                        sync.update_tracking(repo, remote, fetched, prune=False)
                    sync.clear_staging(repo, remote)
    if adopted is None and tip is None:
        chosen = prefix if prefix is not None else ids.prefix_from_name(_repo_name(repo))
        store.create_root({"format": 1, "prefix": chosen}, actor)
        created = True
    elif tip is not None:
        meta = store.read_meta(tip)
        chosen = str(meta.get("prefix") or "gt")
        if prefix is not None and prefix != chosen:
            meta["prefix"] = prefix
            store.set_meta(meta, actor)
            chosen = prefix
    manifest = _read_manifest(repo)
    report = InitReport(chosen, created, str(repo.hooks_dir()), adopted=adopted)
    if hooks:
        report.hooks = install_hooks(repo, manifest, python or sys.executable)
    if remote_refspecs:
        report.remotes = add_refspecs(repo, manifest)
    _write_manifest(repo, manifest)
    return report


def remote_beads(repo: Repo) -> tuple[str, str, dict[str, str] | None] | None:
    """A remote that already has refs/gt/beads, its tip, and what was fetched now (its
    refs/gt/* in sync's staging refs, which init publishes or clears), else None: a
    remote-tracking copy a fetch brought, else the default remote (branch's, else origin)
    fetched now. None if none; GtError if the default remote cannot be reached (nothing is
    written)."""
    from git_gastown import sync
    from git_gastown.store import refs

    names = sync.remotes(repo)
    for name in names:
        tip = refs.read_ref(repo, f"refs/gt/remotes/{name}/beads")
        if tip:
            return name, tip, None
    name = sync.default_remote(repo)
    if name not in names:
        return None
    try:
        staged = sync.fetch_staged(repo, name)
    except GtError as exc:
        # Starting a new history now would diverge from the one the remote may hold (its
        # prefix and beads), and a later sync would refuse it: make the user choose.
        reason = exc.message.removeprefix(f"could not fetch from {name}: ")
        raise GtError(f"could not reach {name} to look for its beads history ({reason})",
                      hint="retry when it is reachable, or run git gt-init --no-adopt "
                           "[--prefix P] to start a separate history on purpose; "
                           "nothing was changed") from exc
    tip = staged.get("beads")
    if not tip:
        sync.clear_staging(repo, name)
        return None
    return name, tip, staged


def adopt_remote(repo: Repo, store: BeadStore, remote: str, tip: str, *,
                 prefix: str | None) -> tuple[str, str]:
    """Make refs/gt/beads the remote's history; return (remote, its prefix)."""
    from git_gastown import syncstate
    from git_gastown.beads import merge
    from git_gastown.errors import GitFailed, Refused, UsageError
    from git_gastown.store.objects import read_file_at

    where = f"{remote}'s refs/gt/beads"
    try:
        tree = store.objects.read_commit_tree(tip)
    except GitFailed as exc:
        raise Refused(f"{where} is not a commit", hint="repair the remote, or run git gt-init "
                      "--no-adopt to start a separate history") from exc
    meta = merge.check_meta(read_file_at(store.objects, tree, merge.META_PATH), where)
    theirs = str(meta["prefix"])
    if prefix is not None and prefix != theirs:
        raise UsageError(f"{where} already uses prefix {theirs!r}, not {prefix!r}",
                         hint="run git gt-init without --prefix to adopt it "
                              "(or --no-adopt to start a separate history)")
    try:
        # Every document is decoded and checked, as a sync's merge does: a remote whose
        # beads are malformed is refused here too, before anything local is written.
        merge.merge_trees(store.objects, None, tree, where=where)
    except Refused as exc:
        raise Refused(exc.message, hint="repair the remote, or run git gt-init --no-adopt "
                      "to start a separate history; nothing was changed") from exc
    store.advance(None, tip, f"init: adopt {remote}")
    syncstate.write_record(repo, remote, tip)
    return remote, theirs


def _repo_name(repo: Repo) -> str:
    """The repository's name, the same from every worktree: its main worktree's folder
    (webapp for webapp/.git), else the bare repository's (webapp for webapp.git)."""
    if repo.worktree is not None and repo.git_dir == repo.common_dir:
        return repo.worktree.name
    return repo.common_dir.name.removesuffix(".git") or repo.common_dir.parent.name


def _hook_dirs(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """manifest["hook_dirs"]: every directory we installed into -> hook name -> what was
    there before ({"had_original": bool, "link": the original symlink's text or None}).
    Older manifests ("hooks": name -> {"dir", "had_original"}) are read into it."""
    dirs: dict[str, dict[str, Any]] = manifest.setdefault("hook_dirs", {})
    for name, info in manifest.pop("hooks", {}).items():
        if isinstance(info, dict) and info.get("dir"):
            dirs.setdefault(str(info["dir"]), {}).setdefault(
                name, {"had_original": bool(info.get("had_original")), "link": None})
    return dirs


def stub_text(name: str, python: str) -> str:
    """The stub git gt-init installs now for the hook NAME, running PYTHON."""
    return (hooks_source() / name).read_text().replace("@PYTHON@", python)


def write_stub(target: Path, text: str) -> None:
    """Replace TARGET atomically, executable: a hook git runs mid-write must be whole."""
    tmp = target.with_name(f".{target.name}.gt-tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, target)


PRE_COMMIT_MARK = "# File generated by pre-commit"


def pre_commit_config(repo: Repo, text: str) -> tuple[str, str | None]:
    """The config file a pre-commit hook script TEXT reads, and its text (None if missing)."""
    m = re.search(r"--config=(\S+?)['\s)]", text)
    cfg_name = m.group(1) if m else ".pre-commit-config.yaml"
    try:
        return cfg_name, ((repo.worktree or repo.git_dir) / cfg_name).read_text(
            errors="replace")
    except OSError:
        return cfg_name, None


def pre_commit_lists(cfg_text: str, name: str) -> bool:
    """Whether a pre-commit config lists gastown's hook id for the git hook NAME."""
    return re.search(rf"\bid:\s*['\"]?gastown-{name}['\"]?\s*(#.*)?$", cfg_text,
                     re.M) is not None


def runs_gastown_via_pre_commit(repo: Repo, name: str, path: Path) -> bool:
    """Whether the hook file PATH is pre-commit's script and its config runs gastown-NAME:
    chaining it behind a stub would run every handler twice."""
    if path.is_symlink() or not path.is_file():
        return False
    text = path.read_text(errors="replace")
    if PRE_COMMIT_MARK not in text:
        return False
    _, cfg_text = pre_commit_config(repo, text)
    return cfg_text is not None and pre_commit_lists(cfg_text, name)


def install_hooks(repo: Repo, manifest: dict[str, Any], python: str) -> dict[str, str]:
    """Install the stubs; each hook's state: installed, chained, updated, unchanged or
    managed by pre-commit (pre-commit's script already runs gastown's hook: left alone)."""
    hooks_dir = repo.hooks_dir()
    hooks_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, str] = {}
    recorded = _hook_dirs(manifest).setdefault(str(hooks_dir), {})
    # Judge every hook before writing any: post-merge may be a symlink to post-commit,
    # which would read as ours once post-commit is our stub. A symlink is never ours
    # (we write files), so it is moved aside and chained like any foreign hook.
    before = {name: _state(hooks_dir / name) for name in HOOKS}
    for name, state in before.items():
        if state == "foreign" and runs_gastown_via_pre_commit(repo, name, hooks_dir / name):
            before[name] = "pre-commit"
        orig = hooks_dir / (name + ORIG_SUFFIX)
        if state == "foreign" and (orig.exists() or orig.is_symlink()):
            raise GtError(
                f"both {hooks_dir / name} and {orig} exist and neither is gastown's",
                hint=f"merge them by hand, or move {orig} away, then rerun git gt-init",
            )
    for name in HOOKS:
        text = stub_text(name, python)
        target = hooks_dir / name
        state = before[name]
        if state == "pre-commit":
            result[name] = "managed by pre-commit"
            continue
        if state == "foreign":
            link = os.readlink(target) if target.is_symlink() else None
            os.replace(target, hooks_dir / (name + ORIG_SUFFIX))
            if link is not None:
                _repoint(hooks_dir, name, link, before)
            recorded[name] = {"had_original": True, "link": link}
            result[name] = "chained"
        else:
            recorded.setdefault(name, {"had_original": False, "link": None})
            if state == "ours" and target.read_text(errors="replace") == text \
                    and os.access(target, os.X_OK):
                result[name] = "unchanged"
                continue
            result[name] = "updated" if state == "ours" else "installed"
        write_stub(target, text)
    return result


def _state(path: Path) -> str:
    if path.is_symlink():
        return "foreign"
    if not path.exists():
        return "absent"
    return "ours" if _is_ours(path) else "foreign"


def _repoint(hooks_dir: Path, name: str, link: str, before: dict[str, str]) -> None:
    """A chained symlink to another hook that is also chained now points at that hook's
    moved original, so it still runs the user's script and not our stub."""
    target = Path(link) if os.path.isabs(link) else hooks_dir / link
    other = target.name
    if (target.parent.resolve() == hooks_dir.resolve() and before.get(other) == "foreign"
            and other != name):
        moved = hooks_dir / (name + ORIG_SUFFIX)
        moved.unlink()
        os.symlink(other + ORIG_SUFFIX, moved)


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")[:400]
    except (OSError, IsADirectoryError):
        return False


def add_refspecs(repo: Repo, manifest: dict[str, Any]) -> list[str]:
    remotes = [r for r in repo.out("remote").splitlines() if r]
    added: dict[str, list[str]] = manifest.setdefault("refspecs", {})
    for remote in remotes:
        key = f"remote.{remote}.fetch"
        existing = repo.config().get(key.lower(), [])
        for spec in fetch_refspecs(remote):
            if spec not in existing:
                repo.config_set(key, spec, add=True)
                added.setdefault(remote, [])
                if spec not in added[remote]:
                    added[remote].append(spec)
    return remotes


def uninstall(repo: Repo) -> dict[str, Any]:
    """Put back the hooks exactly as they were and drop our refspecs; keep all data.

    A hook that is no longer our stub (something rewrote it after git gt-init) is left
    alone, with the original it replaced, and reported in "kept"; its manifest entry
    stays so a later uninstall can finish once it is sorted out.
    """
    manifest = _read_manifest(repo)
    installed = bool(manifest.get("hooks") or manifest.get("hook_dirs")
                     or manifest.get("refspecs"))
    restored: dict[str, str] = {}
    kept: dict[str, str] = {}
    dirs = _hook_dirs(manifest)
    for directory, hooks in list(dirs.items()):
        hooks_dir = Path(directory)
        for name, info in list(hooks.items()):
            key = name if len(dirs) == 1 else str(hooks_dir / name)
            what = _restore(hooks_dir, name, info)
            if what.startswith("kept"):
                kept[key] = what
                continue
            if what:
                restored[key] = what
            del hooks[name]
        if not hooks:
            del dirs[directory]
    removed = sorted(manifest.get("refspecs", {}))
    for remote, specs in manifest.get("refspecs", {}).items():
        for spec in specs:
            repo.config_unset(f"remote.{remote}.fetch", "^" + _regex_escape(spec) + "$")
    manifest["refspecs"] = {}
    if dirs:
        _write_manifest(repo, manifest)
    else:
        with contextlib.suppress(FileNotFoundError):
            _manifest_path(repo).unlink()
    return {"installed": installed, "hooks": restored, "kept": kept,
            "refspecs_removed": removed}


def _restore(hooks_dir: Path, name: str, info: dict[str, Any]) -> str:
    target = hooks_dir / name
    orig = hooks_dir / (name + ORIG_SUFFIX)
    has_orig = orig.exists() or orig.is_symlink()
    present = target.exists() or target.is_symlink()
    if present and (target.is_symlink() or not _is_ours(target)):
        if has_orig:
            return (f"kept: {target} was changed after git gt-init; your original is at "
                    f"{orig}: merge the two by hand, delete it, and run this again")
        # Nothing of ours is left to undo here (no original to put back): leave the hook.
        return "left as it is (no longer gastown's)"
    if present:
        target.unlink()
    if not has_orig:
        return "removed" if present else ""
    link = info.get("link")
    if isinstance(link, str):
        orig.unlink()
        os.symlink(link, target)
    else:
        os.replace(orig, target)
    return "restored original"


def _regex_escape(text: str) -> str:
    return "".join("\\" + ch if ch in r".^$*+?()[]{}|\/" else ch for ch in text)
