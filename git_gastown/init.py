"""Enabling and disabling gastown in a repository: beads ref, hooks, remote refspecs."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_gastown.beads import ids
from git_gastown.beads.store import BeadStore
from git_gastown.errors import GtError
from git_gastown.git import Repo

HOOKS = ("post-commit", "post-merge", "post-checkout", "pre-push")
MARKER = "git-gastown"
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
    hooks: dict[str, str] = field(default_factory=dict)  # name -> installed|updated|chained
    remotes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "created": self.created, "hooks_dir": self.hooks_dir,
                "hooks": self.hooks, "remotes": self.remotes}


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
) -> InitReport:
    store = BeadStore(repo)
    tip = store.tip()
    created = False
    if tip is None:
        chosen = ids.check_prefix(prefix) if prefix else ids.prefix_from_name(_repo_name(repo))
        store.create_root({"format": 1, "prefix": chosen}, actor)
        created = True
    else:
        meta = store.read_meta(tip)
        chosen = str(meta.get("prefix") or "gt")
        if prefix and prefix != chosen:
            ids.check_prefix(prefix)
            meta["prefix"] = prefix
            store.set_meta(meta, actor)
            chosen = prefix
    manifest = _read_manifest(repo)
    report = InitReport(chosen, created, str(repo.hooks_dir()))
    if hooks:
        report.hooks = install_hooks(repo, manifest, python or sys.executable)
    if remote_refspecs:
        report.remotes = add_refspecs(repo, manifest)
    _write_manifest(repo, manifest)
    return report


def _repo_name(repo: Repo) -> str:
    if repo.worktree is not None:
        return repo.worktree.name
    return repo.common_dir.name.removesuffix(".git") or repo.common_dir.parent.name


def install_hooks(repo: Repo, manifest: dict[str, Any], python: str) -> dict[str, str]:
    hooks_dir = repo.hooks_dir()
    hooks_dir.mkdir(parents=True, exist_ok=True)
    source = hooks_source()
    result: dict[str, str] = {}
    recorded: dict[str, Any] = manifest.setdefault("hooks", {})
    for name in HOOKS:
        text = (source / name).read_text().replace("@PYTHON@", python)
        target = hooks_dir / name
        orig = hooks_dir / (name + ORIG_SUFFIX)
        state = "installed"
        if target.exists() or target.is_symlink():
            if _is_ours(target):
                state = "updated"
            else:
                if orig.exists() or orig.is_symlink():
                    raise GtError(
                        f"both {target} and {orig} exist and neither is gastown's",
                        hint=f"merge them by hand, or move {orig} away, then rerun git gt-init",
                    )
                os.replace(target, orig)
                state = "chained"
        recorded.setdefault(name, {"dir": str(hooks_dir), "had_original": state == "chained"})
        if state == "chained":
            recorded[name]["had_original"] = True
        tmp = target.with_name(f".{name}.gt-tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, target)
        result[name] = state
    return result


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
    """Put back the hooks exactly as they were and drop our refspecs; keep all data."""
    manifest = _read_manifest(repo)
    restored: dict[str, str] = {}
    for name, info in manifest.get("hooks", {}).items():
        hooks_dir = Path(info.get("dir") or repo.hooks_dir())
        target = hooks_dir / name
        orig = hooks_dir / (name + ORIG_SUFFIX)
        if _is_ours(target):
            target.unlink()
            restored[name] = "removed"
        if orig.exists() or orig.is_symlink():
            os.replace(orig, target)
            restored[name] = "restored original"
    for remote, specs in manifest.get("refspecs", {}).items():
        for spec in specs:
            repo.config_unset(f"remote.{remote}.fetch", "^" + _regex_escape(spec) + "$")
    with contextlib.suppress(FileNotFoundError):
        _manifest_path(repo).unlink()
    return {"hooks": restored, "refspecs_removed": sorted(manifest.get("refspecs", {}))}


def _regex_escape(text: str) -> str:
    return "".join("\\" + ch if ch in r".^$*+?()[]{}|\/" else ch for ch in text)
