"""Man pages: roff rendered from the click command tree of every family, so the pages and
`--help` can never disagree.

    python -m git_gastown.manpage [--outdir man]     (re)write man/git-gt*.1
    python -m git_gastown.manpage --check            exit 1 if any page is missing or stale

A family's module (FAMILIES in git_gastown/cli/main.py) may define MAN_SECTIONS, a tuple
of (title, text) pairs added after the commands (EXAMPLES, FILES, ...), and
MAN_EXIT_STATUS, (code, meaning) pairs replacing the shared EXIT STATUS list when a
command's codes mean something else. In plain text,
blank lines separate paragraphs, indented blocks are shown verbatim and `backticks` render
bold; a text that starts with a roff request (".TP", ".PP", ...) is used as it is.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from git_gastown import __version__
from git_gastown.errors import (
    EXIT_CONFLICT,
    EXIT_FAILURE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
)

MANUAL = "git-gastown manual"
EXIT_STATUS = (
    (EXIT_OK, "Success."),
    (EXIT_FAILURE, "Failure: git failed, the repository is not set up (run git gt-init), "
                   "or a step could not be completed. Nothing was changed."),
    (EXIT_USAGE, "Bad usage: an unknown option, a missing argument or an invalid value. "
                 "Nothing was changed."),
    (EXIT_NOT_FOUND, "Not found: an unknown bead or other object; the message names the "
                     "closest existing ids."),
    (EXIT_CONFLICT, "Refused by the current state: already claimed by someone else, or a "
                    "dependency that would make a cycle. Nothing was changed."),
)
ENVIRONMENT = (
    ("GT_ACTOR", "Who is acting, when --actor is not given (default: git user.name). "
                 "Recorded in every change as the Gt-Actor trailer."),
    ("NO_COLOR", "Set to any non-empty value to turn colour off. Colour is also off when "
                 "output is not a terminal, when TERM is dumb, and when git's color.ui is "
                 "never or false (git -c color.ui=never gt-status)."),
)


# -- roff ----------------------------------------------------------------------------------


def esc(text: str) -> str:
    """Text safe inside a roff line: backslashes and dashes; `|` may break a long line."""
    text = text.replace("\\", "\\e").replace("-", "\\-").replace("|", "|\\:")
    return re.sub(r"`([^`\n]+)`", r"\\fB\1\\fR", text)


def _line(text: str) -> str:
    out = esc(text)
    return "\\&" + out if out[:1] in (".", "'") else out


def paragraphs(text: str) -> list[str]:
    """Roff for help text: blank-line paragraphs, indented or \\b blocks kept verbatim."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        lines = block.splitlines()
        verbatim = lines[0].strip() == "\b"
        if verbatim:
            lines = lines[1:]
        if not lines:
            continue
        if verbatim or all(ln.startswith((" ", "\t")) for ln in lines):
            width = min(len(ln) - len(ln.lstrip()) for ln in lines if ln.strip())
            out += [".PP", ".RS 4", ".nf"]
            out += [_line(ln[width:]) for ln in lines]
            out += [".fi", ".RE"]
        else:
            out += [".PP", _line(" ".join(ln.strip() for ln in lines))]
    return out


def section_body(text: str) -> list[str]:
    """An extra section: plain text (see paragraphs), or roff kept as it is when the text
    starts with a request (a line beginning with '.'), e.g. for .TP definition lists."""
    if text.lstrip().startswith("."):
        # A text line that happens to start with a dot (.git/, .pre-commit-config.yaml)
        # would be read as an unknown request and vanish: only .XX requests pass as is.
        return [ln if re.match(r"\.[A-Za-z]{1,2}(\s|$)", ln) or ln[:1] not in (".", "'")
                else "\\&" + ln for ln in text.strip("\n").splitlines()]
    return paragraphs(text)


def _tp(term: str, body: str) -> list[str]:
    return [".TP", term, _line(body)]


# -- the command tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One command of a family with the context that names it like --help does."""

    path: tuple[str, ...]  # subcommand words after the family, e.g. ("dep", "add")
    command: click.Command
    ctx: click.Context

    @property
    def usage(self) -> str:
        pieces = self.command.collect_usage_pieces(self.ctx)
        return " ".join([self.ctx.command_path, *pieces])


def walk(command: click.Command, prog: str) -> Iterator[Node]:
    """Every command of the tree, depth first, subcommands in the order --help lists."""

    def visit(cmd: click.Command, ctx: click.Context, path: tuple[str, ...]) -> Iterator[Node]:
        yield Node(path, cmd, ctx)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is None or sub.hidden:
                    continue
                yield from visit(sub, _context(sub, name, ctx), (*path, name))

    yield from visit(command, _context(command, prog, None), ())


def _context(cmd: click.Command, name: str, parent: click.Context | None) -> click.Context:
    """The context --help would use (with the command's context_settings), unparsed."""
    return click.Context(cmd, info_name=name, parent=parent, **cmd.context_settings)


def _options(node: Node) -> list[str]:
    out: list[str] = []
    for param in node.command.get_params(node.ctx):
        # arguments are in the usage line; -h/--help is described once, in DESCRIPTION
        if not isinstance(param, click.Option) or param.hidden or "--help" in param.opts:
            continue
        record = param.get_help_record(node.ctx)
        if record is None:
            continue
        names, help_text = record
        out += _tp(f"\\fB{esc(names)}\\fR", help_text or "")
    return out


def _doc(command: click.Command) -> str:
    """A command's help as --help shows it: the docstring without its indentation."""
    return inspect.cleandoc(command.help or command.short_help or "")


def _has_option(command: click.Command, name: str) -> bool:
    return any(name in getattr(p, "opts", ()) for p in command.params) or (
        isinstance(command, click.Group)
        and any(_has_option(c, name) for c in command.commands.values())
    )


def _header(name: str, summary: str) -> list[str]:
    return [
        f'.TH "{esc(name.upper())}" "1" "" "git\\-gastown {esc(__version__)}" "{esc(MANUAL)}"',
        ".nh",
        ".ad l",
        ".SH NAME",
        f"{esc(name)} \\- {esc(summary)}",
    ]


def _exit_status(codes: Sequence[tuple[int, str]] = EXIT_STATUS) -> list[str]:
    out = [".SH EXIT STATUS"]
    for code, meaning in codes:
        out += _tp(f"\\fB{code}\\fR", meaning)
    return out


def _environment(command: click.Command | None) -> list[str]:
    out = [".SH ENVIRONMENT"]
    for var, meaning in ENVIRONMENT:
        if var == "GT_ACTOR" and command is not None and not _has_option(command, "--actor"):
            continue
        out += _tp(f"\\fB{var}\\fR", meaning)
    return out


def _see_also(name: str, families: Sequence[str]) -> list[str]:
    pages = ["git-gt"] + [f"git-gt-{f}" for f in families]
    refs = [f".BR {esc(p)} (1)," for p in pages if p != name]
    return [".SH SEE ALSO", *refs, ".BR git (1)"]


def render_family(family: str, module_name: str, summary: str,
                  families: Sequence[str]) -> str:
    """The page of one family, from its click command as `git gt-<family> --help` sees it."""
    module = importlib.import_module(module_name)
    command: click.Command = module.cli
    name = f"git-gt-{family}"
    nodes = list(walk(command, f"git gt-{family}"))
    root, subs = nodes[0], nodes[1:]
    leaves = [n for n in subs if not isinstance(n.command, click.Group)]
    out = _header(name, summary)

    out += [".SH SYNOPSIS", ".nf"]
    for node in leaves or [root]:
        cmd_words = node.ctx.command_path.split(" ", 2)
        rest = " ".join(node.command.collect_usage_pieces(node.ctx))
        tail = f" {cmd_words[2]}" if len(cmd_words) > 2 else ""
        out.append(f"\\fB{esc(' '.join(cmd_words[:2]) + tail)}\\fR {esc(rest)}".rstrip())
    out += [".fi"]

    out += [".SH DESCRIPTION", *paragraphs(_doc(root.command) or summary)]
    more = f" `git gt-{family} <command> -h` prints the options of one command." \
        if subs else ""
    out += [".PP", _line(f"`git gt {family}` is the same command. "
                         f"`git gt-{family} --help` opens this page.{more}")]
    own = _options(root)
    if own:
        out += [".SH OPTIONS", *own]
    if subs:
        out += [".SH COMMANDS"]
        for node in subs:
            out += [f'.SS "{esc(" ".join(node.path))}"', ".PP",
                    f"\\fB{esc(node.ctx.command_path)}\\fR "
                    f"{esc(' '.join(node.command.collect_usage_pieces(node.ctx)))}".rstrip()]
            out += paragraphs(_doc(node.command))
            opts = _options(node)
            if opts:
                out += [".PP", "Options:", ".RS 4", *opts, ".RE"]
    for title, text in getattr(module, "MAN_SECTIONS", ()):
        out += [f".SH {esc(title.upper())}", *section_body(text)]
    codes = getattr(module, "MAN_EXIT_STATUS", EXIT_STATUS)
    out += _exit_status(codes) + _environment(command) + _see_also(name, families)
    return "\n".join(out) + "\n"


def render_overview(families: dict[str, tuple[str, str]]) -> str:
    """git-gt(1): the dispatcher, and the list of every family."""
    from git_gastown.cli.main import OVERVIEW

    out = _header("git-gt", "run many coding agents on one repository, with git as the "
                            "database")
    out += [".SH SYNOPSIS", ".nf",
            "\\fBgit gt\\fR \\fIcommand\\fR [\\fIargs\\fR]",
            "\\fBgit gt\\-\\fR\\fIcommand\\fR [\\fIargs\\fR]",
            "\\fBgit gt\\fR \\-\\-version",
            "\\fBgit gt\\fR \\-\\-help", ".fi"]
    out += [".SH DESCRIPTION", *paragraphs(OVERVIEW)]
    out += [".PP", _line("`git gt <command> ...` and `git gt-<command> ...` are the same; "
                         "`git gt-<command> --help` opens that command's page.")]
    out += [".SH COMMANDS"]
    for family, (_module, summary) in families.items():
        out += _tp(f".BR git\\-gt\\-{esc(family)} (1)", summary)
    out += _exit_status() + _environment(None) + [
        ".SH FILES",
        *_tp("\\fBrefs/gt/beads\\fR", "The beads: one commit per change, one JSON file per "
                                      "bead. Pushed and fetched like any ref."),
        *_tp("\\fB$GIT_COMMON_DIR/gt/\\fR", "Runtime state that is never shared: locks, logs "
                                           "and the query cache (deleting it loses nothing)."),
        *_tp("\\fB.gastown.toml\\fR", "Shared settings at the repository root; git config "
                                      "gt.* overrides them."),
    ]
    out += _see_also("git-gt", list(families))
    return "\n".join(out) + "\n"


def render_all() -> dict[str, str]:
    """Every page this package ships: file name -> roff."""
    from git_gastown.cli.main import FAMILIES

    pages = {"git-gt.1": render_overview(FAMILIES)}
    for family, (module_name, summary) in FAMILIES.items():
        pages[f"git-gt-{family}.1"] = render_family(family, module_name, summary,
                                                    list(FAMILIES))
    return pages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m git_gastown.manpage",
        description="Write (or with --check, verify) the man pages of every command family.")
    parser.add_argument("--outdir", default="man", type=Path,
                        help="directory of the pages (default: man)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a page is missing or out of date")
    args = parser.parse_args(argv)
    pages = render_all()
    stale = []
    for name, text in pages.items():
        path = args.outdir / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    extra = sorted(p.name for p in args.outdir.glob("git-gt*.1") if p.name not in pages) \
        if args.outdir.is_dir() else []
    for name in extra:
        print(f"{args.outdir / name}: no command family has this page (remove it?)",
              file=sys.stderr)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python -m git_gastown.manpage",
              file=sys.stderr)
        return 1
    return 1 if args.check and extra else 0


if __name__ == "__main__":
    sys.exit(main())
