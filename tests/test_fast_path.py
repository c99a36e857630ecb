"""The click-free read path prints byte for byte what the click commands print, and
leaves everything it does not fully understand to them."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from conftest import Repo, make_repo, scrubbed_env
from hypothesis import given, settings
from hypothesis import strategies as st

from git_gastown import jsonfmt
from git_gastown.beads import cache, model


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Repo, dict[str, str]]:
    base = tmp_path_factory.mktemp("fast")
    repo = make_repo(base / "rig", scrubbed_env(base / "home"))
    epic = repo.create("Épic: ünïcode \"quoted\" \\ back", "-t", "epic", "-p", "1",
                       "-l", "area/ui", "-l", "zeta")
    a = repo.create("first", "--parent", epic, "-a", "alice", "-d", "line one\nline two",
                    "--field", "run=make test")
    b = repo.create("second", "--dep", f"blocks:{a}", "-p", "0")
    c = repo.create("third", "-t", "bug", "-l", "area/ui")
    repo.bead("comment", c, "a comment\twith a tab")
    repo.bead("update", epic, "--status", "blocked")
    repo.bead("close", c, "--reason", "done")
    gone = repo.create("gone")
    repo.bead("delete", gone)
    return repo, {"epic": epic, "a": a, "b": b, "c": c, "gone": gone}


def _both(repo: Repo, *args: str) -> None:
    fast = repo.bead(*args, check=False)
    env = dict(repo.env, GT_NO_FAST_PATH="1")
    slow = repo.run("git-gt-bead", *args, check=False, env=env)
    assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err), args


CASES = [
    ("show", "{a}"), ("show", "{a}", "--json"), ("show", "{b}", "{c}", "{epic}"),
    ("show", "--json", "{b}", "{epic}"), ("show", "{gone}"), ("show", "gt-zzzzz"),
    ("show",), ("show", "--help"), ("show", "{a}", "--bogus"),
    ("list",), ("list", "--json"), ("list", "--all"), ("list", "--all", "--json"),
    ("list", "-s", "closed", "--json"), ("list", "--status", "open", "-s", "blocked"),
    ("list", "-t", "bug", "--all"), ("list", "--type", "epic", "--json"),
    ("list", "-a", "alice"), ("list", "--assignee", "nobody", "--json"),
    ("list", "-l", "area/ui", "--all", "--json"), ("list", "-l", "area/ui", "-l", "zeta"),
    ("list", "-p", "0", "-p", "1"), ("list", "--priority", "1", "--json"),
    ("list", "--parent", "{epic}", "--json"), ("list", "--sort", "id", "--all"),
    ("list", "--sort", "-created", "--json", "-n", "2"), ("list", "--limit", "1"),
    ("list", "-s", "bogus"), ("list", "-t", "nope"), ("list", "-p", "7"), ("list", "-n", "0"),
    ("list", "-n", "x"), ("list", "--sort", "weird"), ("list", "extra"), ("list", "--status"),
    ("list", "--status=open"), ("list", "-n1"), ("list", "--", "x"), ("list", "-h"),
    ("ready",), ("ready", "--json"), ("ready", "-n", "1", "--json"), ("ready", "-a", "alice"),
    ("ready", "--unassigned", "--json"), ("ready", "--assignee", "bob"), ("ready", "x"),
    ("ready", "--actor", "x"),
]


def test_fast_path_matches_click(made: tuple[Repo, dict[str, str]]) -> None:
    repo, ids = made
    for case in CASES:
        _both(repo, *[part.format(**ids) for part in case])


def test_ready_claim_is_left_to_click(made: tuple[Repo, dict[str, str]]) -> None:
    repo, _ = made
    fresh = repo.create("to take")
    r = repo.bead("ready", "--claim", "--json")
    assert (json.loads(r.out)["id"], json.loads(r.out)["assignee"]) == (fresh, "tester")


def test_fast_path_outside_a_rig(plain_repo: Repo) -> None:
    _both(plain_repo, "list")
    _both(plain_repo, "show", "gt-abcde", "--json")


# Strings with escapes, unicode, control characters and keys that sort oddly.
_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_renderer_is_json_dumps(value: Any) -> None:
    expected = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    assert jsonfmt.dumps(value) == expected
    assert jsonfmt.array([jsonfmt.element(value)]) == json.dumps(
        [value], indent=2, sort_keys=True, ensure_ascii=False)


@pytest.mark.parametrize("args", [["show", "{a}", "--json"], ["list", "--all"],
                                  ["ready", "--json", "-n", "1"]])
def test_hot_reads_never_import_click(made: tuple[Repo, dict[str, str]],
                                      args: list[str]) -> None:
    repo, ids = made
    probe = ("import sys\nfrom git_gastown.cli.fast import answer\n"
             f"code = answer({[a.format(**ids) for a in args]!r})\n"
             "print('\\nRESULT', code, 'click' in sys.modules)")
    r = repo.run(sys.executable, "-c", probe)
    assert r.out.rstrip().endswith("RESULT 0 False")


_bead_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
_finite_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.builds(
        model.Bead, id=_bead_text, title=_bead_text, type=_bead_text, status=_bead_text,
        priority=st.integers(0, 4), assignee=_bead_text, description=_bead_text,
        notes=_bead_text, labels=st.lists(_bead_text, max_size=3).map(tuple),
        deps=st.lists(st.builds(model.Dep, _bead_text, _bead_text), max_size=3).map(tuple),
        comments=st.lists(st.builds(model.Comment, _bead_text, _bead_text, _bead_text,
                                    _bead_text), max_size=2).map(tuple),
        deleted=st.booleans(), extra=st.dictionaries(_bead_text, _finite_json, max_size=3),
    ),
    st.booleans(),
)
def test_stored_bead_text_is_its_json(bead: model.Bead, blocked: bool) -> None:
    head, tail = cache.render(bead)
    data = bead.to_json()
    data["blocked"] = blocked
    assert head + ("true" if blocked else "false") + tail == jsonfmt.element(data)
    assert json.loads(head + "false" + tail) == dict(data, blocked=False)


def test_fast_path_from_a_linked_worktree_subdirectory(repo: Repo) -> None:
    bead_id = repo.create("seen from a worktree")
    repo.git("worktree", "add", "-q", str(repo.path.parent / "wt"), "-b", "side")
    sub = repo.path.parent / "wt" / "deep" / "er"
    sub.mkdir(parents=True)
    fast = repo.run("git-gt-bead", "show", bead_id, "--json", cwd=sub)
    slow = repo.run("git-gt-bead", "show", bead_id, "--json", cwd=sub,
                    env=dict(repo.env, GT_NO_FAST_PATH="1"))
    assert fast.out == slow.out
    assert json.loads(fast.out)[0]["title"] == "seen from a worktree"
    # A write from the worktree lands in the one store all worktrees share.
    other = repo.run("git-gt-bead", "create", "from the worktree", cwd=sub).out.strip()
    assert repo.show(other)["title"] == "from the worktree"
