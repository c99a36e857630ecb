"""docs/json.md documents exactly the fields the commands print."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from conftest import Repo

from git_gastown.beads.history import Change
from git_gastown.beads.model import Bead

DOC = (Path(__file__).resolve().parents[1] / "docs" / "json.md").read_text()


def tables_after(heading: str) -> list[set[str]]:
    """The first-column names of each field table under HEADING (up to the next heading)."""
    m = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", DOC, re.M | re.S)
    assert m, f"docs/json.md has no section {heading!r}"
    tables: list[set[str]] = []
    current: set[str] | None = None
    for line in m.group(1).splitlines():
        if line.startswith("| field |"):
            current = set()
            tables.append(current)
        elif current is not None and line.startswith("| `"):
            current.add(line.split("|")[1].strip().strip("`"))
        elif not line.startswith("|"):
            current = None
    return tables


def test_bead_fields_are_documented() -> None:
    base, read_extra, show_extra = tables_after("The bead")
    assert base == set(Bead(id="gt-a3f8k", title="x").to_json())
    assert read_extra == {"blocked"} and show_extra == {"blocked_by"}


def test_history_change_fields_are_documented() -> None:
    change = Change("c", "s", "fields", "title", "v", 1, "a", "t", True)
    assert tables_after("history")[0] == set(change.to_json())


def test_real_outputs_match_the_documented_fields(repo: Repo) -> None:
    base = tables_after("The bead")[0]
    a = repo.create("a")
    b = repo.create("b", "--dep", f"blocks:{a}")
    assert set(repo.bead("create", "c", "--json").json()) == base
    assert set(repo.bead("list", "--json").json()[0]) == base | {"blocked"}
    assert set(repo.bead("show", b, "--json").json()[0]) == base | {"blocked", "blocked_by"}
    assert set(repo.bead("blocked", "--json").json()[0]) == base | {"blocked", "blocked_by"}
    assert set(json.loads(repo.bead("export").out.splitlines()[0])) == base | {"blocked"}
    assert set(repo.bead("stats", "--json").json()) == tables_after("stats")[0]
    assert set(repo.bead("history", a, "--json").json()[0]) == tables_after("history")[0]
    err = json.loads(repo.bead("show", "gt-zzzzz", "--json", check=False).err)["error"]
    assert set(err) == tables_after("Errors and exit codes")[0]
    init, uninstall = tables_after("git gt-init")
    assert set(repo.gt("init", "--json").json()) == init
    assert set(repo.gt("init", "--uninstall", "--json").json()) == uninstall


def test_every_json_command_of_bead_is_documented() -> None:
    from git_gastown.cli.bead import cli
    from git_gastown.manpage import walk

    m = re.search(r"^## git gt-bead\n(.*?)(?=^#+ )", DOC, re.M | re.S)
    assert m
    documented = set()
    for line in m.group(1).splitlines():
        cell = re.match(r"^\| `([a-z ]+)", line)
        if cell:
            documented.add(cell.group(1).strip())
    takes_json = {" ".join(node.path) for node in walk(cli, "git gt-bead")
                  if any("--json" in getattr(p, "opts", ()) for p in node.command.params)}
    assert takes_json <= documented


def test_every_family_with_json_has_a_section() -> None:
    from git_gastown.cli.main import FAMILIES
    from git_gastown.manpage import walk

    for family, (module, _) in FAMILIES.items():
        cli = importlib.import_module(module).cli
        if any(any("--json" in getattr(p, "opts", ()) for p in node.command.params)
               for node in walk(cli, f"git gt-{family}")):
            heading = re.compile(rf"^## .*git gt-{re.escape(family)}\b", re.M)
            assert heading.search(DOC), f"docs/json.md: add a section ## git gt-{family}"


def test_doctor_fields_are_documented(repo: Repo) -> None:
    r = repo.gt("doctor", "--json", check=False)
    findings = json.loads(r.out)
    assert findings and all(set(f) == tables_after("git gt-doctor")[0] for f in findings)
    documented = re.search(r"`check` \| string \| what was checked: (.*) \|", DOC)
    assert documented
    assert {f["check"] for f in findings} <= set(re.findall(r"`([a-z-]+)`",
                                                            documented.group(1)))
