"""Entry point of the git hook stubs: dispatch one hook event, never fail the git command."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from git_gastown.git import Repo

Handler = Callable[[Repo, Sequence[str]], None]

# Hook name -> handlers run in order. Features register here (heartbeats, Witness
# kicks, Refinery kicks, autosync); each handler must be quick or hand off to a
# detached process.
HANDLERS: dict[str, list[str]] = {
    "post-commit": ["git_gastown.due:on_git_event", "git_gastown.refinery.events:post_commit"],
    "post-merge": ["git_gastown.refinery.events:post_merge", "git_gastown.due:on_git_event"],
    "post-checkout": ["git_gastown.due:on_git_event"],
    "pre-push": ["git_gastown.sync:pre_push"],
}


def _load(path: str) -> Handler:
    module, _, attr = path.partition(":")
    mod = __import__(module, fromlist=[attr])
    handler: Handler = getattr(mod, attr)
    return handler


def log_error(repo: Repo | None, hook: str, text: str) -> None:
    try:
        if repo is None:
            return
        path = repo.runtime_path("logs", "hooks.log")
        with open(path, "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {hook}: {text}\n")
    except OSError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # GT_HOOKS=0 marks gastown's own git commands (Refinery merges, gates, syncs); the sh
    # stubs check it, and hooks run by the pre-commit framework reach us without them.
    if not args or os.environ.get("GT_HOOKS", "1") == "0":
        return 0
    hook, rest = args[0], args[1:]
    repo: Repo | None = None
    try:
        repo = Repo.discover()
        for path in HANDLERS.get(hook, []):
            _load(path)(repo, rest)
    except Exception:
        log_error(repo, hook, traceback.format_exc())
    return 0  # a hook of ours never fails the user's git command


if __name__ == "__main__":
    sys.exit(main())
