"""git gt-bead export and import: our JSONL round trip, and the issues.jsonl of Beads (bd)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, make_repo

DATA = Path(__file__).parent / "data"
BEADS_SAMPLE = DATA / "beads_issues.jsonl"


def tip(repo: Repo) -> str:
    return repo.git("rev-parse", "refs/gt/beads")


def exported(repo: Repo) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in map(json.loads, repo.bead("export").out.splitlines())}


def build_rich_rig(repo: Repo) -> None:
    """Every kind of content a rig can hold."""
    epic = repo.create("Epic", "-t", "epic", "-p", "1", "-l", "big", "-d", "multi\nline")
    child = repo.create("Child", "--parent", epic, "--field", "run=make test",
                        "--field", "size=S")
    blocker = repo.create("Blocker", "-t", "bug", "-a", "alice")
    repo.bead("dep", "add", child, "blocks", blocker)
    repo.bead("dep", "add", child, "related", epic)
    repo.bead("update", blocker, "--design", "d", "--acceptance", "a", "--notes", "n")
    repo.bead("comment", child, "first")
    repo.bead("comment", child, "second", "--actor", "bob")
    repo.bead("update", child, "--claim", "--actor", "bob")
    done = repo.create("Done")
    repo.bead("close", done, "-r", "shipped")
    repo.bead("delete", repo.create("Gone", "-l", "x"))
    repo.bead("label", "rm", epic, "big")
    repo.bead("update", child, "--field", "size=")
    repo.create("Note", "-t", "message", "-p", "4")


def test_export_import_round_trip(repo: Repo, tmp_path: Path, env: dict[str, str]) -> None:
    build_rich_rig(repo)
    first = repo.bead("export").out
    lines = first.splitlines()
    assert len(lines) == 6
    assert [json.loads(x)["id"] for x in lines] == sorted(json.loads(x)["id"] for x in lines)
    assert sum(json.loads(x)["deleted"] for x in lines) == 1  # the tombstone is exported

    fresh = make_repo(tmp_path / "fresh", env, prefix="zz")
    (tmp_path / "beads.jsonl").write_text(first)
    before = tip(fresh)
    r = fresh.bead("import", str(tmp_path / "beads.jsonl"))
    assert r.out == "imported: 6 created, 0 updated, 0 unchanged\n"
    assert fresh.git("rev-list", "--count", f"{before}..refs/gt/beads") == "1"
    assert fresh.bead("export").out == first  # identical, byte for byte

    r = fresh.bead("import", str(tmp_path / "beads.jsonl"), "--json")
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 6}
    assert fresh.git("rev-list", "--count", f"{before}..refs/gt/beads") == "1"  # idempotent


def test_export_to_file_and_import_from_stdin(repo: Repo, tmp_path: Path) -> None:
    a = repo.create("a")
    out = tmp_path / "out.jsonl"
    assert repo.bead("export", "-o", str(out)).out == ""
    assert out.read_text() == repo.bead("export").out
    record = json.loads(out.read_text())
    record["title"] = "renamed"
    record["labels"] = ["new"]
    r = repo.gt("bead", "import", "-", input=json.dumps(record) + "\n")
    assert r.out == "imported: 0 created, 1 updated, 0 unchanged\n"
    b = repo.show(a)
    assert (b["title"], b["labels"]) == ("renamed", ["new"])
    assert repo.git("log", "-1", "--format=%s", "refs/gt/beads") == "import 1 beads"
    r = repo.bead("export", "-o", str(tmp_path / "no" / "such" / "dir"), check=False)
    assert r.code == 2 and "cannot write" in r.err and "No such file" in r.err


def test_import_never_undeletes_or_removes(repo: Repo) -> None:
    a = repo.create("a", "-l", "keep")
    repo.bead("delete", a)
    record = {"id": a, "title": "a", "labels": [], "deleted": False}
    r = repo.gt("bead", "import", "-", input=json.dumps(record) + "\n")
    assert "0 created" in r.out
    assert exported(repo)[a]["deleted"] is True
    assert exported(repo)[a]["labels"] == ["keep"]


def test_import_missing_file(repo: Repo, tmp_path: Path) -> None:
    r = repo.bead("import", str(tmp_path / "nope.jsonl"), check=False)
    assert r.code == 2 and "cannot read" in r.err and "No such file" in r.err


# -- Beads (bd) issues.jsonl --------------------------------------------------------------


@pytest.fixture
def imported(repo: Repo) -> Repo:
    before = tip(repo)
    r = repo.bead("import", str(BEADS_SAMPLE), "--actor", "migrator")
    assert r.out == "imported: 19 created, 0 updated, 0 unchanged\n"
    assert repo.git("rev-list", "--count", f"{before}..refs/gt/beads") == "1"
    subject, body = repo.git("log", "-1", "--format=%s%x00%b", "refs/gt/beads").split("\x00")
    assert subject == "import 19 beads"
    assert "Gt-Actor: migrator\nGt-Op: import\n" in body
    assert body.count("Gt-Bead: ") == 19
    return repo


def test_beads_sample_is_the_documented_format() -> None:
    """The sample uses every documented field, status, and dependency shape."""
    records = [json.loads(line) for line in BEADS_SAMPLE.read_text().splitlines()]
    keys = set().union(*records)
    assert {"id", "title", "description", "design", "acceptance_criteria", "notes", "status",
            "priority", "issue_type", "assignee", "estimated_minutes", "created_at",
            "updated_at", "closed_at", "close_reason", "external_ref", "labels",
            "dependencies", "comments"} <= keys
    assert {r["status"] for r in records} >= {"open", "in_progress", "blocked", "closed",
                                              "deferred", "pinned", "hooked", "tombstone"}
    assert {r["issue_type"] for r in records} >= {"bug", "feature", "task", "epic", "chore",
                                                  "message", "molecule", "gate", "role"}
    deps = [d for r in records for d in r.get("dependencies") or []]
    assert all(set(d) == {"issue_id", "depends_on_id", "type", "created_at", "created_by"}
               for d in deps)
    assert {d["type"] for d in deps} >= {"blocks", "related", "parent-child",
                                         "discovered-from", "conditional-blocks", "waits-for"}
    comments = [c for r in records for c in r.get("comments") or []]
    assert comments and all(set(c) - {"id"} == {"issue_id", "author", "text", "created_at"}
                            for c in comments)
    assert any("id" not in c for c in comments)  # some exports carry none
    assert any("-" in r["id"].rpartition("-")[0] for r in records)  # hacker-news-a3f2dd
    assert any("." in r["id"].rpartition("-")[0] for r in records)  # GPUPolynomials.jl-ab1
    assert all((r["status"] == "closed") == bool(r.get("closed_at")) for r in records)


def test_beads_fields_are_mapped(imported: Repo) -> None:
    beads = exported(imported)
    assert len(beads) == 19
    epic = beads["bd-a1b2"]
    assert (epic["title"], epic["type"], epic["status"], epic["priority"],
            epic["assignee"]) == ("Auth overhaul", "epic", "open", 1, "alice")
    assert epic["description"] == "Replace the session layer.\nKeep the old cookies working."
    assert epic["design"] == "Token store in Redis; rotate keys daily."
    assert epic["acceptance"] == "All login paths use tokens; old sessions migrate."
    assert epic["notes"] == "Talked to ops on Monday."
    assert epic["labels"] == ["auth", "q4"]
    # RFC 3339 with nanoseconds and offsets become UTC seconds
    assert epic["created_at"] == "2025-10-01T16:00:00Z"
    assert epic["updated_at"] == "2025-10-03T10:15:00Z"
    assert epic["fields"] == {"estimated_minutes": 2400, "external_ref": "gh-412",
                              "content_hash": "9f2c0e4b7d1a", "source_repo": "."}
    assert [(c["id"], c["author"], c["text"], c["created_at"]) for c in epic["comments"]] == [
        ("c-11", "alice", "Kicking this off.", "2025-10-01T16:05:00Z"),
        ("c-12", "bob", "I can take the migration.", "2025-10-02T06:00:00Z")]

    assert beads["bd-a1b2.1"]["parent"] == "bd-a1b2"
    assert beads["bd-a1b2.1"]["status"] == "in_progress"
    assert beads["bd-a1b2.2"]["dependencies"] == [{"id": "bd-a1b2.1", "type": "blocks"},
                                                  {"id": "bd-a1b2", "type": "parent-child"}]
    bug = beads["bd-c3d4"]
    assert (bug["status"], bug["closed_at"], bug["close_reason"]) == (
        "closed", "2025-09-21T17:30:00Z", "Fixed in 4c1d2e0")
    assert bug["dependencies"] == [{"id": "bd-a1b2", "type": "related"}]


def test_beads_statuses_types_and_dep_types_we_lack_are_kept(imported: Repo) -> None:
    beads = exported(imported)
    pinned = beads["bd-i9j0"]
    assert (pinned["status"], pinned["type"]) == ("open", "message")
    assert pinned["fields"] == {"beads_status": "pinned", "pinned": True, "sender": "mayor"}
    tomb = beads["bd-k1l2"]
    assert tomb["deleted"] is True and tomb["status"] == "closed"
    assert tomb["fields"]["beads_status"] == "tombstone"
    assert tomb["fields"]["delete_reason"] == "duplicate"
    assert tomb["fields"]["beads_dependencies"] == ["duplicates:bd-c3d4"]
    assert tomb["dependencies"] == [{"id": "bd-c3d4", "type": "related"}]
    gate = beads["bd-m3n4"]
    assert (gate["type"], gate["fields"]["beads_type"]) == ("task", "gate")
    assert gate["fields"]["await_type"] == "gh:run" and gate["fields"]["waiters"] == ["bob"]
    assert gate["dependencies"] == [{"id": "bd-a1b2.1", "type": "blocks"}]
    assert gate["fields"]["beads_dependencies"] == ["waits-for:bd-a1b2.1"]
    role = beads["bd-o5p6"]
    assert (role["type"], role["status"], role["fields"]["beads_type"]) == ("agent", "hooked",
                                                                            "role")
    assert role["fields"]["metadata"] == {"rig": "auth", "model": "sonnet"}
    rate = beads["bd-e5f6"]
    assert rate["status"] == "blocked"
    assert rate["dependencies"] == [{"id": "bd-a1b2.1", "type": "blocks"},
                                    {"id": "bd-c3d4", "type": "discovered-from"}]
    assert rate["fields"] == {"beads_dependencies": ["conditional-blocks:bd-a1b2.1"]}
    chore = beads["bd-q7r8"]
    assert chore["created_by"] == "bob"
    assert chore["fields"] == {"beads_dependencies": ["supersedes:bd-g7h8"],
                               "compaction_level": 0, "ephemeral": False}
    assert beads["bd-s9t0"]["dependencies"] == [{"id": "bd-a1b2.1", "type": "tracks"},
                                                {"id": "bd-a1b2.2", "type": "tracks"}]
    assert beads["bd-g7h8"]["status"] == "deferred"
    assert beads["bd-g7h8"]["fields"] == {"defer_until": "2026-01-01T00:00:00Z"}
    for bid, kind in (("bd-u1v2", "molecule"), ("bd-w3x4", "merge-request"),
                      ("bd-y5z6", "agent"), ("bd-s9t0", "convoy")):
        assert beads[bid]["type"] == kind
    nulls = beads["bd-z7a8"]
    assert (nulls["assignee"], nulls["design"], nulls["labels"], nulls["fields"]) == (
        "", "", [], {})
    assert nulls["created_at"] == "2025-10-03T13:00:00Z"


def test_imported_beads_work_like_ours(imported: Repo) -> None:
    ready = [b["id"] for b in imported.bead("ready", "--json").json()]
    # not: in progress, blocked, deferred, hooked, closed, deleted, or a non-work type
    assert ready == ["bd-a1b2", "hacker-news-a3f2dd", "bd-z7a8", "hacker-news-a3f2dd.1",
                     "bd-q7r8"]
    blocked = {b["id"]: [r["id"] for r in b["blocked_by"]]
               for b in imported.bead("blocked", "--json").json()}
    assert blocked == {"bd-a1b2.2": ["bd-a1b2.1"], "bd-e5f6": ["bd-e5f6", "bd-a1b2.1"],
                       "bd-m3n4": ["bd-a1b2.1"],
                       "GPUPolynomials.jl-ab1": ["hacker-news-a3f2dd.1"]}
    imported.bead("close", "bd-a1b2.1")
    assert "bd-a1b2.2" in [b["id"] for b in imported.bead("ready", "--json").json()]
    child = imported.create("More auth work", "--parent", "bd-a1b2")
    assert child.startswith("bd-a1b2.")
    assert imported.bead("dep", "cycles").out == "no cycles\n"
    r = imported.bead("show", "bd-k1l2", check=False)
    assert r.code == 3 and "was deleted" in r.err
    shown = imported.bead("show", "bd-o5p6").out
    assert '  metadata: {"model": "sonnet", "rig": "auth"}' in shown  # JSON, not Python
    assert "  beads_type: role" in shown


def test_beads_reimport_is_idempotent(imported: Repo) -> None:
    before = tip(imported)
    r = imported.bead("import", str(BEADS_SAMPLE), "--json")
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 19}
    assert tip(imported) == before
    # a comment without an id gets one from its content: the same in every import
    comments = imported.show("hacker-news-a3f2dd")["comments"]
    assert [c["text"] for c in comments] == ["A comment exported without an id."]
    assert comments[0]["id"].startswith("c-") and len(comments[0]["id"]) == 14


def test_hyphenated_and_dotted_beads_prefixes_work_everywhere(imported: Repo) -> None:
    """Beads takes its prefix from the directory name (hacker-news-a3f2dd): such ids
    import and then work in every command; ours keep the prefix this rig chose."""
    epic, child, port = "hacker-news-a3f2dd", "hacker-news-a3f2dd.1", "GPUPolynomials.jl-ab1"
    assert imported.show(child)["parent"] == epic
    shown = imported.bead("show", port).out
    assert shown.startswith(f"{port}: Port the kernels\n")
    assert "  created 2025-10-04T09:00:00Z; updated" in shown  # no creator: no "by"
    imported.bead("update", port, "-p", "0")
    imported.bead("label", "add", port, "gpu")
    assert imported.show(port)["priority"] == 0
    imported.bead("dep", "add", epic, "related", port)
    imported.bead("dep", "rm", port, "blocks", child)
    assert imported.bead("ready", "--json").json()[0]["id"] == port
    r = imported.bead("dep", "add", child, "blocks", child.upper(), check=False)
    assert r.code == 3 and "HACKER-NEWS-A3F2DD.1" in r.err
    assert f"did you mean {child}" in r.err  # closest ids match without case
    grandchild = imported.create("Deeper", "--parent", child)
    assert grandchild.startswith(child + ".")
    prefix = json.loads(imported.git("show", "refs/gt/beads:meta.json"))["prefix"]
    ours = imported.create("ours")
    assert ours.startswith(prefix + "-") and len(ours) == len(prefix) + 6
    r = imported.bead("show", "news-a3f2de", check=False)
    assert r.code == 3 and epic in r.err


BAD_LINES = [
    ("{not json", "is not JSON"),
    ("[1, 2]", "is not a JSON object"),
    ('"text"', "is not a JSON object"),
    ('{"title": "no id"}', "record has no string id"),
    ('{"id": 42}', "record has no string id"),
    ('{"id": "not an id"}', "invalid bead id"),
    ('{"id": "bd-bad1", "priority": 9}', "priority must be 0-4"),
    ('{"id": "bd-bad1", "priority": true}', "priority must be 0-4"),
    ('{"id": "bd-bad1", "created_at": "yesterday"}', "created_at 'yesterday' is not an RFC"),
    ('{"id": "bd-bad1", "updated_at": "2025-13-01T00:00:00Z"}', "updated_at"),
    ('{"id": "bd-bad1", "labels": "auth"}', "labels must be an array"),
    ('{"id": "bd-bad1", "labels": [1]}', "labels must be strings"),
    ('{"id": "bd-bad1", "labels": ["a,b"]}', "invalid label"),
    ('{"id": "bd-bad1", "issue_type": "task", "dependencies": [{"type": "blocks"}]}',
     "dependency 1 has no target id"),
    ('{"id": "bd-bad1", "dependencies": ["bd-x"]}', "dependency 1 is not an object"),
    ('{"id": "bd-bad1", "dependencies": [{"type": "needs", "id": "bd-a1b2"}]}',
     "unknown dependency type 'needs'"),
    ('{"id": "bd-bad1", "comments": [{"author": "a"}]}', "comment 1 has no text"),
    ('{"id": "bd-bad1", "comments": [{"text": "t", "created_at": "noon"}]}',
     "comment 1 created_at"),
    ('{"id": "bd-bad1", "assignee": 7}', "assignee must be text, not int"),
    ('{"id": "bd-bad1", "issue_type": "bug", "acceptance_criteria": ["x"]}',
     "acceptance_criteria must be text"),
]


@pytest.mark.parametrize("bad, message", BAD_LINES)
def test_a_malformed_line_is_refused_with_its_number(repo: Repo, tmp_path: Path, bad: str,
                                                     message: str) -> None:
    lines = BEADS_SAMPLE.read_text().splitlines()
    lines.insert(6, bad)  # becomes line 7
    lines.insert(3, "")  # blank lines are skipped but still counted: now line 8
    path = tmp_path / "issues.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = tip(repo)
    r = repo.bead("import", str(path), check=False)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("git gt-bead: error: line 8")
    assert message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert tip(repo) == before
    assert repo.bead("list", "--all", "--json").json() == []
    r = repo.bead("import", str(path), "--json", check=False)
    err = json.loads(r.err)["error"]
    assert (err["code"], err["exit"]) == ("usage", 2) and err["message"].startswith("line 8")


def test_unusual_text_survives_the_round_trip(repo: Repo, tmp_path: Path,
                                              env: dict[str, str]) -> None:
    text = "line\u2028sep\x85nel\ttab \u00e9\U0001f600 \"quoted\" \\ back"
    bead_id = repo.create("unicode \u00e9\U0001f600", "-d", text, "--field", f"k={text}")
    repo.bead("comment", bead_id, text)
    out = repo.bead("export").out
    fresh = make_repo(tmp_path / "fresh", env)
    (tmp_path / "x.jsonl").write_bytes(b"\xef\xbb\xbf" + out.replace("\n", "\r\n").encode())
    fresh.bead("import", str(tmp_path / "x.jsonl"))  # with a BOM and CRLF line ends
    assert fresh.bead("export").out == out
    b = fresh.show(bead_id)
    assert b["description"] == text and b["fields"] == {"k": text}
    assert b["comments"][0]["text"] == text


def test_import_refuses_binary(repo: Repo, tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b'{"id": "gt-aaaaa"}\n\xff\xfe\n')
    r = repo.bead("import", str(tmp_path / "bin"), check=False)
    assert r.code == 2 and "is not UTF-8 text" in r.err


def test_import_warns_about_cycles_missing_targets_and_duplicates(repo: Repo) -> None:
    lines = [
        {"id": "bd-5", "title": "five", "issue_type": "task", "dependencies": [
            {"issue_id": "bd-5", "depends_on_id": "bd-6", "type": "blocks"}]},
        {"id": "bd-6", "title": "six", "issue_type": "task", "dependencies": [
            {"issue_id": "bd-6", "depends_on_id": "bd-5", "type": "blocks"}]},
        {"id": "bd-2", "title": "two", "issue_type": "task", "dependencies": [
            {"issue_id": "bd-2", "depends_on_id": "bd-99", "type": "blocks"}]},
        {"id": "bd-8", "title": "a", "issue_type": "task"},
        {"id": "bd-8", "title": "b", "issue_type": "task"},
    ]
    text = "".join(json.dumps(x) + "\n" for x in lines)
    r = repo.gt("bead", "import", "-", input=text)
    assert r.out == "imported: 4 created, 0 updated, 0 unchanged\n"
    assert r.err.splitlines() == [
        "git gt-bead: warning: bd-8 is on 2 lines; the later lines' fields won and their "
        "labels, dependencies and comments were added",
        "git gt-bead: warning: bd-2 depends on bd-99, which this rig does not have; such a "
        "dependency blocks nothing",
        "git gt-bead: warning: the import made a dependency cycle: bd-5 -> bd-6 -> bd-5 "
        "(git gt-bead dep rm to break it)"]
    r = repo.gt("bead", "import", "-", "--json", input=text)
    codes = [json.loads(x)["warning"]["code"] for x in r.err.splitlines()]
    assert codes == ["duplicate_id", "missing_target", "dependency_cycle"]
    assert repo.show("bd-8")["title"] == "b"
    # importing the same file again changes nothing, duplicate lines included
    tip = repo.git("rev-parse", "refs/gt/beads")
    again = repo.gt("bead", "import", "-", input=text)
    assert again.out == "imported: 0 created, 0 updated, 4 unchanged\n"
    assert repo.git("rev-parse", "refs/gt/beads") == tip


def test_a_beads_prefix_may_start_with_a_digit(repo: Repo) -> None:
    """Beads names its prefix after the directory, and 2048-game is a directory name."""
    line = json.dumps({"id": "2048-game-ab1", "title": "tiles", "issue_type": "task"})
    repo.gt("bead", "import", "-", input=line + "\n")
    repo.bead("update", "2048-game-ab1", "-p", "1")
    shown = repo.bead("show", "2048-game-ab1").out
    assert "tiles" in shown and "P1" in shown
    assert "created (time unknown)" in shown  # the line gave no created_at
