"""What every git gt-bead command shares: the actor, one commit per change, the error
contract (one line, exit codes, JSON errors) and the `git gt` dispatcher."""

from __future__ import annotations

import json

import pytest
from conftest import Repo


def last_commit(repo: Repo) -> tuple[str, str, str]:
    """Subject, body (the trailers) and author name of the tip of refs/gt/beads."""
    out = repo.git("log", "-1", "--format=%s%x00%b%x00%an", "refs/gt/beads")
    subject, body, author = out.split("\x00")
    return subject, body.strip(), author


def test_actor_option_env_and_git_user(repo: Repo) -> None:
    a = repo.create("by option", "--actor", "agent-7")
    _subject, body, author = last_commit(repo)
    assert body == f"Gt-Actor: agent-7\nGt-Op: create\nGt-Bead: {a}"
    assert author == "agent-7"
    assert repo.show(a)["created_by"] == "agent-7"
    assert {ch["actor"] for ch in repo.bead("history", a, "--json").json()} == {"agent-7"}

    env = dict(repo.env, GT_ACTOR="from-env")
    b = repo.run("git-gt-bead", "create", "by env", env=env).out.strip()
    assert repo.show(b)["created_by"] == "from-env"
    assert "Gt-Actor: from-env" in last_commit(repo)[1]
    repo.run("git-gt-bead", "update", b, "-p", "1", "--actor", "wins", env=env)
    assert "Gt-Actor: wins" in last_commit(repo)[1]  # --actor beats $GT_ACTOR

    env = {k: v for k, v in repo.env.items() if k != "GT_ACTOR"}
    c = repo.run("git-gt-bead", "create", "by git user", env=env).out.strip()
    assert repo.show(c)["created_by"] == "Test Author"
    assert "Gt-Actor: Test Author" in last_commit(repo)[1]


def test_bad_actor_refused(repo: Repo) -> None:
    for bad in ("two\nlines", "x" * 101):
        r = repo.bead("create", "x", "--actor", bad, check=False)
        assert r.code == 2 and "invalid actor" in r.err
    assert repo.bead("list", "--json").json() == []


def test_every_write_is_one_commit_naming_op_and_bead(repo: Repo) -> None:
    other = repo.create("other")
    bead_id = repo.create("Title")
    steps = [
        (("update", bead_id, "-p", "1"), "update"),
        (("label", "add", bead_id, "l"), "label"),
        (("label", "rm", bead_id, "l"), "label"),
        (("comment", bead_id, "c"), "comment"),
        (("dep", "add", bead_id, "blocks", other), "dep-add"),
        (("dep", "rm", bead_id, "blocks", other), "dep-rm"),
        (("update", bead_id, "--claim"), "claim"),
        (("close", bead_id), "close"),
        (("reopen", bead_id), "reopen"),
        (("delete", bead_id), "delete"),
    ]
    for args, op in steps:
        before = repo.git("rev-parse", "refs/gt/beads")
        repo.bead(*args)
        assert repo.git("rev-list", "--count", f"{before}..refs/gt/beads") == "1", args
        subject, body, _ = last_commit(repo)
        assert subject == f"{op} {bead_id}: Title"
        assert body == f"Gt-Actor: tester\nGt-Op: {op}\nGt-Bead: {bead_id}"
    assert repo.git("fsck", "--no-progress", "--strict") == ""


@pytest.mark.parametrize("args", [
    ("show",), ("create",), ("frobnicate",), ("list", "--bogus"), ("list", "-n", "x"),
    ("update",), ("dep", "add", "gt-aaaaa"), ("label", "add"), ("history",),
    ("import",), ("comment", "gt-aaaaa"),
])
def test_usage_errors_are_one_line_exit_2(repo: Repo, args: tuple[str, ...]) -> None:
    r = repo.bead(*args, check=False)
    assert r.code == 2 and r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("git gt-bead: error: ")
    assert lines[0].endswith("(see git gt-bead --help)")
    r = repo.bead(*args, "--json", check=False)
    assert r.code == 2 and r.out == ""
    err = json.loads(r.err)["error"]
    assert (err["code"], err["exit"]) == ("usage", 2) and err["message"]


def test_json_errors_carry_code_and_exit(repo: Repo) -> None:
    a = repo.create("a")
    b = repo.create("b", "--dep", f"blocks:{a}")
    cases = [
        (("show", "gt-zzzzz"), "not_found", 3),
        (("dep", "add", a, "blocks", b), "conflict", 4),
        (("create", "x", "-p", "9"), "usage", 2),
        (("update", a, "--field", "oops"), "usage", 2),
    ]
    for args, code, exit_code in cases:
        r = repo.bead(*args, "--json", check=False)
        assert r.code == exit_code and r.out == ""
        err = json.loads(r.err)
        assert set(err) == {"error"} and set(err["error"]) == {"code", "message", "hint",
                                                                "exit"}
        assert (err["error"]["code"], err["error"]["exit"]) == (code, exit_code)


def test_not_initialized_json_error(plain_repo: Repo) -> None:
    r = plain_repo.bead("list", "--json", check=False)
    assert r.code == 1 and r.out == ""
    assert json.loads(r.err)["error"] == {
        "code": "not_initialized", "exit": 1, "hint": "run git gt-init",
        "message": "git-gastown is not set up in this repository"}


def test_group_without_subcommand_prints_help(repo: Repo) -> None:
    for args in ((), ("dep",), ("label",)):
        r = repo.bead(*args, check=False)
        assert r.code == 2 and r.out == ""
        assert r.err.startswith("Usage: git gt-bead") and "Commands:" in r.err


def test_help_of_every_subcommand(repo: Repo) -> None:
    top = repo.bead("--help").out
    subs = ["create", "show", "list", "update", "close", "reopen", "delete", "dep", "ready",
            "blocked", "label", "comment", "search", "stats", "history", "export", "import"]
    for sub in subs:
        assert f"  {sub} " in top, sub
        r = repo.bead(sub, "-h")
        assert r.code == 0 and r.out.startswith(f"Usage: git gt-bead {sub}")


def test_git_gt_dispatcher(repo: Repo) -> None:
    bead_id = repo.run("git", "gt", "bead", "create", "via dispatcher").out.strip()
    assert repo.run("git", "gt", "bead", "show", bead_id).out.startswith(
        f"{bead_id}: via dispatcher")
    r = repo.run("git", "gt", "bead", "show", "gt-zzzzz", check=False)
    assert r.code == 3 and r.err.startswith("git gt bead: error: no bead gt-zzzzz")
    assert repo.run("git", "gt", "bead", "list", "--json").json()[0]["id"] == bead_id
    usage = repo.run("git-gt", "--help").out
    assert usage.startswith("usage: git gt <command>")
    for family in ("init", "bead"):
        assert f"  {family} " in usage
    assert repo.run("git", "gt", "-h").out == usage
    assert repo.run("git-gt").out == usage
    assert repo.run("git", "gt", "--version").out.startswith("git-gastown ")
    r = repo.run("git", "gt", "nope", check=False)
    assert r.code == 2 and r.out == ""
    assert r.err == "git gt: error: unknown command 'nope'; run git gt --help for the list\n"
    assert repo.run("git", "gt", "help", "bead").out.startswith("Usage: git gt bead")
    assert repo.run("git", "gt", "bead", "-h").out.startswith("Usage: git gt bead")
