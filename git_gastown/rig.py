"""A rig: a git repository with gastown enabled, its settings and who is acting."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from git_gastown.beads.store import BeadStore
from git_gastown.errors import NotInitialized, UsageError
from git_gastown.git import Repo

SETTINGS_FILE = ".gastown.toml"


@dataclass
class Rig:
    repo: Repo
    _settings: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, start: Path | str | None = None, *, require: bool = True) -> Rig:
        rig = cls(Repo.discover(start))
        if rig.store.tip() is None:
            if require:
                raise NotInitialized(
                    "git-gastown is not set up in this repository", hint="run git gt-init"
                )
            return rig
        rig.catch_up()
        return rig

    def catch_up(self) -> None:
        """Merge remote beads that a plain `git fetch` brought (cheap when nothing came),
        and show the warnings a background sync (gt.autosync) left for the next command."""
        from git_gastown import syncstate

        deferred = syncstate.take_deferred(self.repo)
        if deferred:
            from git_gastown import notices

            for code, message in deferred:
                notices.warn(code, message)
        if not syncstate.pending(self.repo):
            return
        from git_gastown import notices, sync
        from git_gastown.errors import GtError

        try:
            sync.catch_up(self.repo, resolve_actor(self.repo, None))
        except (GtError, OSError) as err:
            text = err.line() if isinstance(err, GtError) else str(err)
            notices.warn("sync_failed", f"could not merge fetched beads: {text}")

    @cached_property
    def store(self) -> BeadStore:
        return BeadStore(self.repo)

    @property
    def name(self) -> str:
        if self.repo.worktree is not None and self.repo.git_dir != self.repo.common_dir:
            # A linked worktree (a polecat's Hook): the rig is the repository it belongs to.
            common = self.repo.common_dir
            return (common.parent.name if common.name == ".git" else common.name) \
                .removesuffix(".git")
        base = self.repo.worktree or self.repo.common_dir.parent
        if self.repo.worktree is None and self.repo.common_dir.name != ".git":
            base = self.repo.common_dir
        return base.name.removesuffix(".git")

    def prefix(self) -> str:
        override = self.repo.config_get("gt.prefix")
        if override:
            return override
        meta = self.store.read_meta(self.store.require_tip())
        return str(meta.get("prefix") or "gt")

    # -- settings: .gastown.toml at the root, overridden by git config gt.* ----------

    def settings(self) -> dict[str, Any]:
        if self._settings is None:
            self._settings = {}
            if self.repo.worktree is not None:
                path = self.repo.worktree / SETTINGS_FILE
                if path.exists():
                    self._settings = load_toml(path.read_bytes(), str(path))
        return self._settings

    def setting(self, dotted: str, default: Any = None) -> Any:
        """A setting such as 'refinery.maxBatch': git config gt.<dotted> wins over the file."""
        from_config = self.repo.config_get(f"gt.{dotted}")
        if from_config is not None:
            return _coerce(from_config, default)
        node: Any = self.settings()
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def load_toml(data: bytes, where: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where} is not valid TOML: {exc}", hint="fix the file") from exc


def _coerce(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return value.lower() in ("true", "yes", "on", "1")
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            return default
    if isinstance(default, float):
        try:
            return float(value)
        except ValueError:
            return default
    return value


def resolve_actor(repo: Repo, given: str | None) -> str:
    """Who acts: --actor, else $GT_ACTOR, else the git user, else the login name."""
    actor = given or os.environ.get("GT_ACTOR") or repo.config_get("user.name") \
        or os.environ.get("USER") or "unknown"
    actor = actor.strip()
    if not actor or "\n" in actor or len(actor) > 100:
        raise UsageError(f"invalid actor {actor!r}", hint="use a short one-line name")
    return actor
