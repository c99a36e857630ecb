"""Bead ids: random (never derived from content), prefix-based, and their place in the tree."""

from __future__ import annotations

import re

from git_gastown.errors import UsageError

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LEN = 5
CHILD_LEN = 3  # the random child token of earlier versions (gt-a3f8k.x2q): still valid
TAG_LEN = 5  # a clone's child-id tag: <parent>.<tag><n>
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
# Accepts our ids and those of Beads users who import (bd-1, bd-a3f8.2, and prefixes Beads
# took from a directory name: hacker-news-a3f2dd, GPUPolynomials.jl-ab1). The prefix is
# everything before the LAST '-'; the child suffix (.n...) never holds one.
ID_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*-[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*$"
)
MAX_ID = 160


def token(length: int) -> str:
    import secrets  # lazily: it costs a read command a few milliseconds

    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise UsageError(
            f"invalid prefix {prefix!r}",
            hint="use 1-16 lowercase letters or digits, starting with a letter (e.g. --prefix gt)",
        )
    return prefix


def check_id(bead_id: str) -> str:
    if len(bead_id) > MAX_ID or not ID_RE.match(bead_id):
        raise UsageError(
            f"invalid bead id {bead_id!r}", hint="ids look like gt-a3f8k or gt-a3f8k.1x2"
        )
    return bead_id


def clone_tag(clone_id: str) -> str:
    """TAG_LEN base36 characters from a clone's random id (48 bits of hex)."""
    value = int(clone_id, 16)
    tag = ""
    for _ in range(TAG_LEN):
        value, digit = divmod(value, 36)
        tag += ALPHABET[digit]
    return tag


def split_id(bead_id: str) -> tuple[str, str]:
    """(prefix, rest): the prefix is everything before the last '-', rest the random part
    and any child suffix (hacker-news-a3f2dd.1 -> hacker-news, a3f2dd.1)."""
    prefix, _, rest = bead_id.rpartition("-")
    return prefix, rest


def prefix_from_name(name: str) -> str:
    """A short prefix from a repository's directory name: initials, or its first letters."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    words = [w for w in words if w[0].isalpha()] or ["gt"]
    prefix = "".join(w[0] for w in words)[:6] if len(words) > 1 else words[0][:6]
    return prefix if PREFIX_RE.match(prefix) else "gt"


def fanout(bead_id: str) -> str:
    """Path of a bead's file: two levels of 256 directories keyed by a hash of the id."""
    from hashlib import sha1

    h = sha1(bead_id.encode()).hexdigest()
    return f"beads/{h[:2]}/{h[2:4]}/{bead_id}.json"


def id_from_path(path: str) -> str | None:
    if not path.startswith("beads/") or not path.endswith(".json"):
        return None
    return path.rsplit("/", 1)[-1][: -len(".json")]
