"""What every command shares: error reporting, --json, --actor, colour, the rig."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from git_gastown.cli.render import emit_json as emit_json
from git_gastown.cli.render import emit_text as emit_text
from git_gastown.cli.render import style as style

if TYPE_CHECKING:
    from git_gastown.rig import Rig
from git_gastown.cli.render import use_color as use_color
from git_gastown.errors import EXIT_FAILURE, EXIT_USAGE, GtError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON (stable field names; see docs/json.md).")(fn)


def actor_option(fn: F) -> F:
    return click.option("--actor", metavar="NAME",
                        help="Who is acting (default: $GT_ACTOR, else git user.name).")(fn)


def _wants_json(argv: Sequence[str]) -> bool:
    return "--json" in argv


def report_error(prog: str, err: GtError, as_json: bool) -> None:
    if as_json:
        payload = {"error": {"code": err.code, "message": err.message, "hint": err.hint,
                             "exit": err.exit_code}}
        click.echo(json.dumps(payload, sort_keys=True), err=True)
    else:
        click.echo(f"{prog}: error: {err.line()}", err=True)


def print_notices(prog: str, as_json: bool) -> None:
    """Print the warnings the domain queued (git_gastown.notices), one line each, on stderr."""
    from git_gastown import notices

    for code, message in notices.drain():
        if as_json:
            click.echo(json.dumps({"warning": {"code": code, "message": message}},
                                  sort_keys=True), err=True)
        else:
            click.echo(f"{prog}: warning: {message}", err=True)


def run(cli: click.Command, prog: str, argv: Sequence[str] | None = None) -> int:
    """Run a click command with our error contract: one line, a documented exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        code = cli.main(args=args, prog_name=prog, standalone_mode=False)
        if isinstance(code, int) and code:
            return code
    except GtError as err:
        report_error(prog, err, as_json)
        return err.exit_code
    except click.exceptions.Abort:
        click.echo(f"{prog}: aborted", err=True)
        return EXIT_FAILURE
    except click.exceptions.NoArgsIsHelpError as exc:
        # A group run without a subcommand: the help is the most useful answer.
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message(), err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        if as_json:
            payload = {"error": {"code": "usage", "message": exc.format_message(), "hint":
                                 f"see {prog} --help", "exit": EXIT_USAGE}}
            click.echo(json.dumps(payload, sort_keys=True), err=True)
        else:
            click.echo(f"{prog}: error: {exc.format_message()} (see {prog} --help)", err=True)
        return exc.exit_code if exc.exit_code != 1 else EXIT_USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        click.echo(f"{prog}: interrupted", err=True)
        return 130
    finally:
        print_notices(prog, as_json)
    return 0


def parse_kv(items: Sequence[str], what: str = "--field") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} takes KEY=VALUE, not {item!r}",
                             hint="e.g. --field run='make'")
        out[key.strip()] = value if value != "" else None
    return out


def open_rig() -> Rig:
    """The rig of the current directory (imported lazily so --help never touches git)."""
    from git_gastown.rig import Rig

    return Rig.open()


def actor_for(rig: Rig, given: str | None) -> str:
    """Who acts: --actor, else $GT_ACTOR, else the git user."""
    from git_gastown.rig import resolve_actor

    return resolve_actor(rig.repo, given)
