"""The queue belongs to one clone: its refs stay out of git gt-sync, its MRs carry the clone.

Merge request beads sync like any bead (so every clone can see what is queued where), but
refs/gt/mq/* and refs/gt/mq-ledger say what THIS clone's Refinery will land on ITS target
branch; pulling another clone's queue in would land the same work twice.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from git_gastown.git import Repo

if TYPE_CHECKING:
    from git_gastown.sync import RefJob, RefOutcome


def clone_id(repo: Repo) -> str:
    """A random id for this clone, made on first use (runtime state, never shared)."""
    path = repo.runtime_path("refinery", "clone-id")
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    if not text:
        text = secrets.token_hex(6)
        tmp = path.with_name(f".clone-id.{secrets.token_hex(4)}")
        tmp.write_text(text + "\n")
        try:
            # First writer wins: link fails if another process made it meanwhile.
            import os

            os.link(tmp, path)
        except FileExistsError:
            text = path.read_text().strip()
        finally:
            tmp.unlink()
    return text


def keep_local(job: RefJob) -> RefOutcome:
    """git gt-sync merge step for the queue's refs: never take, never push."""
    from git_gastown.sync import RefOutcome

    return RefOutcome(job.name, "local-only", job.local, job.local, push=False,
                      message="the merge queue stays with its clone")
