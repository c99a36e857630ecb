"""git gt-init: enable gastown in a repository, or take it out again."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from git_gastown.cli.common import CONTEXT, actor_option, emit_json, json_option, run
from git_gastown.errors import Refused

# A push refspec would change what a bare `git push` does, so beads are pushed apart.
PUSH_NOTE = ("push: git gt-sync pushes refs/gt/*; or `git config gt.autosync true` "
             "to push them from the pre-push hook")

# Extra sections of git-gt-init(1) (rendered by git_gastown.manpage).
MAN_SECTIONS = (
    ("Examples", """\
Enable gastown with bead ids like web-a3f8k, then take it out again (the beads stay):

    git gt-init --prefix web
    git gt-init --uninstall
"""),
    ("Pushing", """\
`git fetch` brings every remote's refs/gt/* (init adds the fetch refspecs), but a plain
`git push` does not send them: a push refspec would change what a bare `git push` does.
Push beads with `git gt-sync`, or run `git config gt.autosync true` once so the pre-push
hook pushes refs/gt/* along with every `git push`.
"""),
    ("Files", """\
The hooks go to core.hooksPath if set, else .git/hooks. A hook that was already there is
kept and runs first; `git gt-init --uninstall` puts it back exactly as it was. Each hook
is a POSIX sh stub with the absolute path of the Python interpreter baked in, so GUI
clients with a bare PATH run it too. A hook that is a symlink is moved aside and chained
like any other. A hook written by pre-commit whose config lists the matching gastown-HOOK
id already runs gastown: it is left alone and reported as "managed by pre-commit".
If a hook was rewritten after git gt-init (by another tool, say),
--uninstall leaves it and the original alone, says so, and exits 1. Every linked
worktree of the repository runs the same hooks.

refs/gt/beads holds the beads; the runtime directory gt/ under the repository's common
git directory holds locks, logs and the query cache and is never shared.
"""),
)


@click.command(context_settings=CONTEXT)
@click.option("--prefix", metavar="PREFIX",
              help="Bead id prefix (default: from the repository name, e.g. gt).")
@click.option("--no-remote-refspecs", is_flag=True,
              help="Do not add fetch refspecs that carry refs/gt/* from each remote.")
@click.option("--no-hooks", is_flag=True,
              help="Do not install git hooks (e.g. when pre-commit runs gastown's hooks).")
@click.option("--no-adopt", is_flag=True,
              help="Start a new beads history even if the remote already has one.")
@click.option("--uninstall", is_flag=True,
              help="Restore the hooks exactly as they were and drop the refspecs; keep data.")
@actor_option
@json_option
def cli(prefix: str | None, no_remote_refspecs: bool, no_hooks: bool, no_adopt: bool,
        uninstall: bool, actor: str | None, as_json: bool) -> None:
    """Enable git-gastown in this repository (idempotent).

    Creates the orphan history refs/gt/beads, chooses the bead id prefix, installs the
    git hooks (an existing hook is kept and run first; core.hooksPath is honoured), and
    adds fetch refspecs so `git fetch` brings every remote's refs/gt/* into
    refs/gt/remotes/<remote>/*. No push refspec is added (it would change what a bare
    `git push` does): `git gt-sync` pushes refs/gt/*, or `git config gt.autosync true`
    makes the pre-push hook push them with every `git push`. Running it again updates
    the hooks and changes nothing else. A fresh clone whose remote (the branch's, else
    origin) already has refs/gt/beads adopts that history and its prefix instead of
    starting an unrelated one (--no-adopt starts a new one). If that remote cannot be
    reached, or its beads are malformed, init refuses and writes nothing: retry, or pass
    --no-adopt to start apart on purpose.
    """
    from git_gastown import init as setup
    from git_gastown.git import Repo
    from git_gastown.rig import resolve_actor

    repo = Repo.discover()
    if uninstall:
        result = setup.uninstall(repo)
        if as_json:
            emit_json(result)
        else:
            for name, what in sorted(result["hooks"].items()):
                click.echo(f"hook {name}: {what}")
            for name, what in sorted(result["kept"].items()):
                click.echo(f"hook {name}: {what}")
            if not result["installed"]:
                click.echo("nothing to undo: git gt-init has not installed anything here")
            elif not result["kept"]:
                click.echo("gastown hooks removed; refs/gt/* and your beads are kept")
        if result["kept"]:
            raise Refused(f"{len(result['kept'])} hook(s) changed after git gt-init were left "
                          "alone", hint="merge each with its .gt-orig by hand, then run "
                          "git gt-init --uninstall again")
        return
    report = setup.init(repo, prefix=prefix, actor=resolve_actor(repo, actor),
                        remote_refspecs=not no_remote_refspecs, hooks=not no_hooks,
                        adopt=not no_adopt)
    if as_json:
        emit_json(report.to_json())
        return
    verb = "created refs/gt/beads" if report.created else "refs/gt/beads already present"
    if report.adopted:
        verb = f"adopted refs/gt/beads from {report.adopted}"
    click.echo(f"{verb} (prefix {report.prefix})")
    for name, state in report.hooks.items():
        click.echo(f"hook {name}: {state}")
    for remote in report.remotes:
        click.echo(f"remote {remote}: fetch carries refs/gt/*")
    click.echo(PUSH_NOTE)
    if report.created:
        click.echo(f"next: git gt-bead create 'My first task'"
                   f"   (ids look like {report.prefix}-a3f8k)")


def main(argv: Sequence[str] | None = None, prog: str = "git gt-init") -> int:
    return run(cli, prog, argv)


if __name__ == "__main__":
    sys.exit(main())
