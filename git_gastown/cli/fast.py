"""The entry point of `git-gt-bead`: the hot reads (show, list, ready) answered without
importing click, everything else handed to the click command in cli/bead.py.

Importing click and building the command tree costs about as much as the whole rest of a
read. This path accepts only argument lists it understands completely (the long and short
spellings of each option, values that do not start with '-') and only when the answer is
a plain success; help, colour, a bad value, an unknown id or anything unusual goes to the
click command, which then does all the work and reports errors. A test runs every case
both ways and compares the bytes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

# option spelling -> (parameter, kind): "flag", "value" (last wins) or "multi".
_LIST_OPTS = {
    "-s": ("statuses", "multi"), "--status": ("statuses", "multi"),
    "-t": ("types", "multi"), "--type": ("types", "multi"),
    "-a": ("assignee", "value"), "--assignee": ("assignee", "value"),
    "-l": ("labels", "multi"), "--label": ("labels", "multi"),
    "-p": ("priorities", "multi"), "--priority": ("priorities", "multi"),
    "--parent": ("parent", "value"),
    "--sort": ("sort", "value"),
    "-n": ("limit", "value"), "--limit": ("limit", "value"),
    "--all": ("show_all", "flag"),
    "--json": ("as_json", "flag"),
}
_READY_OPTS = {
    "-a": ("assignee", "value"), "--assignee": ("assignee", "value"),
    "--unassigned": ("unassigned", "flag"),
    "-n": ("limit", "value"), "--limit": ("limit", "value"),
    "--json": ("as_json", "flag"),
}
_SHOW_OPTS = {"--json": ("as_json", "flag")}
_SPECS = {"show": _SHOW_OPTS, "list": _LIST_OPTS, "ready": _READY_OPTS}
_SORTS = ("priority", "created", "-created", "updated", "id", "title")
_LIVE = ("open", "in_progress", "hooked", "blocked", "deferred")


class _Unsure(Exception):
    """Not a case this path answers: let the click command handle it."""


def main(argv: Sequence[str] | None = None, prog: str = "git gt-bead") -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    code = answer(args)
    if code is not None:
        return code
    from git_gastown.cli import bead

    return bead.main(args, prog=prog)


def answer(args: list[str]) -> int | None:
    """Answer a hot read and return 0, or None to leave it to the click command."""
    if not args or args[0] not in _SPECS or os.environ.get("GT_NO_FAST_PATH"):
        return None
    if sys.stdout.isatty():
        from git_gastown.cli.render import use_color

        if use_color():
            return None  # colour comes from click.style
    from git_gastown.errors import EXIT_FAILURE, GtError

    try:
        opts, positional = _parse(args[1:], _SPECS[args[0]])
        _COMMANDS[args[0]](opts, positional)
    except (_Unsure, GtError):
        return None  # nothing was printed yet: output is the last step of each command
    except BrokenPipeError:  # the reader went away (| head): as the click path does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        sys.stderr.write("git gt-bead: interrupted\n")
        return 130
    return 0


def _parse(args: list[str], spec: dict[str, tuple[str, str]]
           ) -> tuple[dict[str, Any], list[str]]:
    opts: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            if arg not in spec:
                raise _Unsure  # --help, --opt=value, -n5, --, unknown: click knows
            name, kind = spec[arg]
            if kind == "flag":
                opts[name] = True
            else:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    raise _Unsure
                value = args[i + 1]
                i += 1
                if kind == "multi":
                    opts.setdefault(name, []).append(value)
                else:
                    opts[name] = value
        else:
            positional.append(arg)
        i += 1
    return opts, positional


def _limit(opts: dict[str, Any]) -> int | None:
    value = opts.get("limit")
    if value is None:
        return None
    if not value.isdigit() or not value.isascii() or int(value) < 1:
        raise _Unsure
    return int(value)


def _cache() -> Any:
    from git_gastown.beads.cache import Cache
    from git_gastown.rig import Rig

    rig = Rig.open()
    queued = sys.modules.get("git_gastown.notices")
    if queued is not None and queued._pending:
        # Opening merged what a fetch brought and has warnings to print: the click path
        # (same process, so the queue survives) prints them with the answer.
        raise _Unsure
    return Cache(rig.store).fresh()


def _show(opts: dict[str, Any], ids: list[str]) -> None:
    from git_gastown.cli import render

    if not ids:
        raise _Unsure
    cache = _cache()
    found = []
    for bid in ids:
        b = cache.get(bid)
        if b is None or b["deleted"]:
            raise _Unsure  # the click command reports it, with the closest ids
        b["blocked_by"] = cache.blockers(bid)
        found.append(b)
    if opts.get("as_json"):
        render.emit_json(found)
    else:
        render.emit_text("\n\n".join(render.show_text(b, b["blocked_by"]) for b in found))


def _list(opts: dict[str, Any], positional: list[str]) -> None:
    from git_gastown.beads import model
    from git_gastown.cli import render

    statuses = opts.get("statuses", [])
    types = opts.get("types", [])
    priorities = opts.get("priorities", [])
    sort = opts.get("sort", "priority")
    if (positional or any(s not in model.STATUSES for s in statuses)
            or any(t not in model.TYPES for t in types)
            or any(p not in ("0", "1", "2", "3", "4") for p in priorities)
            or sort not in _SORTS):
        raise _Unsure
    wanted = tuple(statuses) or (() if opts.get("show_all") else _LIVE)
    render.print_list(_cache(), bool(opts.get("as_json")), status=wanted, types=tuple(types),
                      assignee=opts.get("assignee"), labels=tuple(opts.get("labels", [])),
                      priority=tuple(int(p) for p in priorities), parent=opts.get("parent"),
                      sort=sort, limit=_limit(opts))


def _ready(opts: dict[str, Any], positional: list[str]) -> None:
    from git_gastown.cli import render

    if positional or ("assignee" in opts and opts.get("unassigned")):
        raise _Unsure  # the click command refuses --assignee with --unassigned
    render.print_list(_cache(), bool(opts.get("as_json")), ready=True,
                      assignee=opts.get("assignee"), unassigned=bool(opts.get("unassigned")),
                      limit=_limit(opts))


_COMMANDS = {"show": _show, "list": _list, "ready": _ready}


if __name__ == "__main__":
    sys.exit(main())
