"""Refinery settings: gates and limits read from the TARGET branch's .gastown.toml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from git_gastown.errors import GtError, UsageError
from git_gastown.git import Repo
from git_gastown.rig import SETTINGS_FILE, Rig, load_toml

DEFAULT_TIMEOUT = 1800.0
DEFAULT_MAX_BATCH = 8
DEFAULT_FIX_LIMIT = 3


@dataclass(frozen=True)
class Config:
    target: str  # short branch name, e.g. "main"
    gates: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    max_batch: int = DEFAULT_MAX_BATCH
    push: bool = False
    remote: str = "origin"
    fix_limit: int = DEFAULT_FIX_LIMIT
    source: str = ""  # where the gates came from, e.g. "main:.gastown.toml"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target_ref(self) -> str:
        return f"refs/heads/{self.target}"


def default_branch(repo: Repo) -> str:
    """origin/HEAD, else init.defaultBranch if it exists, else main or master."""
    proc = repo.git("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False)
    head = proc.stdout.decode().strip()
    if head.startswith("refs/remotes/origin/"):
        name = head.removeprefix("refs/remotes/origin/")
        if _branch_exists(repo, name):
            return name
    candidates = [repo.config_get("init.defaultBranch") or "", "main", "master"]
    for name in candidates:
        if name and _branch_exists(repo, name):
            return name
    raise GtError("cannot tell which branch the Refinery lands on",
                  hint="set it: git config gt.refinery.target main")


def _branch_exists(repo: Repo, name: str) -> bool:
    return repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}^{{commit}}",
                    check=False).returncode == 0


def target_settings(repo: Repo, target: str) -> dict[str, Any]:
    """The [refinery] table of .gastown.toml as committed on TARGET (never a candidate's)."""
    proc = repo.git("show", f"refs/heads/{target}:{SETTINGS_FILE}", check=False)
    if proc.returncode != 0:
        return {}
    data = load_toml(proc.stdout, f"{target}:{SETTINGS_FILE}")
    table = data.get("refinery", {})
    if not isinstance(table, dict):
        raise UsageError(f"{target}:{SETTINGS_FILE} has a [refinery] that is not a table",
                         hint="write it as a [refinery] table")
    return table


def load(rig: Rig, target: str | None = None) -> Config:
    repo = rig.repo
    chosen = target or repo.config_get("gt.refinery.target")
    if not chosen:
        # The target named in the default branch's own file, then the default branch.
        base = default_branch(repo)
        named = target_settings(repo, base).get("target")
        chosen = str(named) if isinstance(named, str) and named else base
    chosen = chosen.removeprefix("refs/heads/")
    if not _branch_exists(repo, chosen):
        raise UsageError(f"the Refinery's target branch {chosen} does not exist",
                         hint="create it, or set gt.refinery.target to an existing branch")
    table = target_settings(repo, chosen)

    def pick(key: str, default: Any) -> Any:
        from_config = repo.config_get(f"gt.refinery.{key}")
        if from_config is not None:
            return _coerce(key, from_config, default)
        return table.get(key, default)

    gates = table.get("gates", [])
    if isinstance(gates, str):
        gates = [gates]
    if not isinstance(gates, list) or not all(isinstance(g, str) for g in gates):
        raise UsageError(f"{chosen}:{SETTINGS_FILE} [refinery] gates must be a list of strings",
                         hint='e.g. gates = ["make test"]')
    timeout = _positive(pick("timeout", DEFAULT_TIMEOUT), "timeout", float)
    max_batch = int(_positive(pick("maxBatch", DEFAULT_MAX_BATCH), "maxBatch", int))
    fix_limit = int(_positive(pick("fixLimit", DEFAULT_FIX_LIMIT), "fixLimit", int))
    return Config(
        target=chosen,
        gates=tuple(gates),
        timeout=float(timeout),
        max_batch=max_batch,
        push=repo.config_bool("gt.refinery.push", bool(table.get("push", False))),
        remote=str(pick("remote", "origin")),
        fix_limit=fix_limit,
        source=f"{chosen}:{SETTINGS_FILE}",
    )


def _coerce(key: str, value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return value.lower() in ("true", "yes", "on", "1")
    if isinstance(default, (int, float)):
        try:
            return type(default)(value)
        except ValueError as exc:
            raise UsageError(f"git config gt.refinery.{key} must be a number, not {value!r}",
                             hint=f"git config gt.refinery.{key} {default}") from exc
    return value


def _positive(value: Any, key: str, kind: type) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0 or (kind is int and number != int(number)):
        raise UsageError(f"refinery {key} must be a positive {kind.__name__}, not {value!r}",
                         hint=f"fix [refinery] {key} in .gastown.toml or gt.refinery.{key}")
    return number
