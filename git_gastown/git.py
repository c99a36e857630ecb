"""The one way this package runs git: repository discovery, commands and config."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from git_gastown.errors import GitFailed, GtError

if TYPE_CHECKING:
    import subprocess

# Variables a hook inherits that would point git at the wrong repository or index
# when we run git against another worktree.
_REPO_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
)


# Variables that change where git finds the repository: with any of them set, ask git.
_DISCOVERY_ENV = (*_REPO_ENV, "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
                  "GIT_CONFIG_PARAMETERS")


def scrubbed_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment minus the repository-selecting variables hooks inherit."""
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}
    if extra:
        env.update(extra)
    return env


def error_line(stderr: bytes | str, default: str = "git failed") -> str:
    """The line of git's stderr that says what went wrong: its first `fatal:` (or
    `error:`) line without that word, else its last line. (The last line alone can be a
    trailing note such as "and the repository exists.")"""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for word in ("fatal:", "error:"):
        for ln in lines:
            if ln.startswith(word):
                return ln[len(word):].strip()
    return lines[-1] if lines else default


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | str | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run git; raise GitFailed with git's own message when it fails and check is set."""
    import subprocess  # lazily: a read answered from the cache starts no process

    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            env=dict(env) if env is not None else None,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GtError("git is not installed", hint="install git 2.38 or newer") from exc
    if check and proc.returncode != 0:
        raise GitFailed(f"git {args[0]} failed: "
                        f"{error_line(proc.stderr, f'exit {proc.returncode}')}")
    return proc


@dataclass
class Repo:
    """A git repository seen from one working directory (or a bare repository)."""

    git_dir: Path
    common_dir: Path
    worktree: Path | None
    _config: dict[str, list[str]] | None = field(default=None, repr=False)

    @classmethod
    def discover(cls, start: Path | str | None = None) -> Repo:
        found = cls._find(start)
        if found is not None:
            return found
        cwd = Path(start) if start is not None else Path.cwd()
        proc = run_git(
            ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
             "--is-bare-repository", "--show-toplevel"],
            cwd=cwd,
            check=False,
        )
        lines = proc.stdout.decode().splitlines()
        if proc.returncode != 0 and len(lines) < 3:
            raise GtError(
                f"not a git repository: {cwd}",
                hint="run this inside a git repository (git init creates one)",
            )
        git_dir, common_dir, bare = lines[0], lines[1], lines[2]
        worktree = Path(lines[3]) if bare != "true" and len(lines) > 3 else None
        return cls(Path(git_dir), Path(common_dir), worktree)

    @classmethod
    def _find(cls, start: Path | str | None) -> Repo | None:
        """The common layouts found without starting git (a few ms per command), or None.

        Only a worktree whose `.git` is a directory or a `gitdir:` file, owned by us, with
        no variable that changes git's discovery; anything else asks `git rev-parse`.
        """
        if any(v in os.environ for v in _DISCOVERY_ENV):
            return None
        try:
            here = os.path.realpath(start if start is not None else os.getcwd())
        except OSError:
            return None
        while True:
            dotgit = os.path.join(here, ".git")
            if os.path.isdir(dotgit):
                git_dir = dotgit
                break
            if os.path.isfile(dotgit):
                try:
                    with open(dotgit) as fh:
                        text = fh.read().strip()
                except OSError:
                    return None
                if not text.startswith("gitdir: "):
                    return None
                git_dir = os.path.realpath(os.path.join(here, text[8:].strip()))
                break
            if os.path.isfile(os.path.join(here, "HEAD")):
                return None  # inside a git directory or a bare repository
            parent = os.path.dirname(here)
            if parent == here:
                return None
            here = parent
        try:
            if os.stat(here).st_uid != os.geteuid() or not os.path.isfile(
                os.path.join(git_dir, "HEAD")
            ):
                return None  # git's safe.directory rules, or not a repository: ask git
            common = git_dir
            commondir = os.path.join(git_dir, "commondir")
            if os.path.exists(commondir):
                with open(commondir) as fh:
                    common = os.path.realpath(os.path.join(git_dir, fh.read().strip()))
        except OSError:
            return None
        return cls(Path(git_dir), Path(common), Path(here))

    # -- running git -------------------------------------------------------------

    def git(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git against this repository, never against an inherited GIT_DIR."""
        base = scrubbed_env(env)
        if cwd is None:
            if self.worktree is not None:
                cwd = self.worktree
            else:
                base["GIT_DIR"] = str(self.git_dir)
                cwd = self.git_dir
        return run_git(args, cwd=cwd, input=input, env=base, check=check)

    def out(self, *args: str, check: bool = True) -> str:
        return self.git(*args, check=check).stdout.decode().strip()

    # -- config ------------------------------------------------------------------

    def config(self) -> dict[str, list[str]]:
        """All config values, read once per process (keys lowercased as git prints them)."""
        if self._config is None:
            proc = self.git("config", "-z", "--list", check=False)
            values: dict[str, list[str]] = {}
            for item in proc.stdout.decode(errors="replace").split("\0"):
                if not item:
                    continue
                key, _, value = item.partition("\n")
                values.setdefault(key.lower(), []).append(value)
            self._config = values
        return self._config

    def config_get(self, key: str, default: str | None = None) -> str | None:
        vals = self.config().get(key.lower())
        return vals[-1] if vals else default

    def config_bool(self, key: str, default: bool = False) -> bool:
        val = self.config_get(key)
        if val is None:
            return default
        return val.strip().lower() in ("true", "yes", "on", "1", "")

    def config_set(self, key: str, value: str, *, add: bool = False) -> None:
        args = ["config", "--add", key, value] if add else ["config", key, value]
        self.git(*args)
        self._config = None

    def config_unset(self, key: str, value_regex: str | None = None) -> None:
        args = ["config", "--unset-all", key]
        if value_regex is not None:
            args.append(value_regex)
        self.git(*args, check=False)
        self._config = None

    # -- paths -------------------------------------------------------------------

    @property
    def gt_dir(self) -> Path:
        """Runtime state never shared: locks, logs, pids, the query cache."""
        return self.common_dir / "gt"

    def runtime_path(self, *parts: str) -> Path:
        path = self.gt_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def hooks_dir(self) -> Path:
        """Where git runs hooks from, honouring core.hooksPath."""
        rel = self.out("rev-parse", "--git-path", "hooks")
        path = Path(rel)
        if not path.is_absolute():
            base = self.worktree if self.worktree is not None else self.git_dir
            path = base / path
        return path

    def identity(self) -> tuple[str, str]:
        name = self.config_get("user.name") or os.environ.get("USER") or "gastown"
        email = self.config_get("user.email") or f"{name.replace(' ', '.')}@gastown.invalid"
        return name, email

    def head_branch(self) -> str | None:
        proc = self.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return proc.stdout.decode().strip() or None
