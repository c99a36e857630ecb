"""The ledger refs/gt/mq-ledger: one commit per batch record, plus the queue's tuning state.

Each commit's tree holds `batch.json` (the record it adds or updates) and `state.json`
(adaptive batch size, counters). History is the log; a batch recorded several times (at
each landing, then when it ends) is read as its newest record.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from git_gastown.git import Repo
from git_gastown.store import refs
from git_gastown.store.objects import ObjectStore, TreeEntry

LEDGER_REF = "refs/gt/mq-ledger"


@dataclass
class TuningState:
    """What the queue learned: batch size (AIMD) and counters."""

    batch_size: int = 0  # 0: not yet set, start at maxBatch
    batches: int = 0
    batch_failures: int = 0
    runs: int = 0
    landed: int = 0
    rejected: int = 0
    flakes: int = 0
    failure_rate: float = 0.0  # moving average of first-run failures

    def size(self, max_batch: int) -> int:
        return max(1, min(max_batch, self.batch_size or max_batch))

    def record(self, first_run_passed: bool, max_batch: int) -> None:
        """AIMD: grow by one on success, halve on failure, within [1, max_batch]."""
        current = self.size(max_batch)
        self.batch_size = min(max_batch, current + 1) if first_run_passed \
            else max(1, current // 2)
        self.batches += 1
        if not first_run_passed:
            self.batch_failures += 1
        self.failure_rate = round(0.8 * self.failure_rate + 0.2 * (0 if first_run_passed else 1),
                                  4)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TuningState:
        known = {k: data[k] for k in cls().__dict__ if k in data}
        return cls(**known)


@dataclass
class Ledger:
    repo: Repo
    objects: ObjectStore = field(init=False)

    def __post_init__(self) -> None:
        self.objects = ObjectStore(self.repo)

    def tip(self) -> str | None:
        return refs.read_ref(self.repo, LEDGER_REF)

    def state(self) -> TuningState:
        tip = self.tip()
        if tip is None:
            return TuningState()
        proc = self.repo.git("cat-file", "blob", f"{tip}:state.json", check=False)
        if proc.returncode != 0:
            return TuningState()
        return TuningState.from_json(json.loads(proc.stdout))

    def prepare(self, record: dict[str, Any], state: TuningState) -> tuple[str, str | None]:
        """Write the commit that appends RECORD; return (new, old) for a ref update."""
        old = self.tip()
        blob_batch = self.objects.write_blob(_encode(record))
        blob_state = self.objects.write_blob(_encode(state.to_json()))
        tree = self.objects.write_tree([TreeEntry("100644", "batch.json", blob_batch),
                                        TreeEntry("100644", "state.json", blob_state)])
        summary = record.get("summary") or record.get("verdict") or "batch"
        message = f"batch {record.get('id', '?')}: {summary}\n\nGt-Op: mq-batch"
        _, email = self.repo.identity()
        commit = self.objects.write_commit(tree, [old] if old else [], message,
                                           author=("refinery", email), when=int(time.time()))
        return commit, old

    def append(self, record: dict[str, Any], state: TuningState) -> None:
        new, old = self.prepare(record, state)
        refs.update_ref(self.repo, LEDGER_REF, new, old, "gt mq: ledger")

    def records(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, one per batch (its latest record)."""
        tip = self.tip()
        if tip is None:
            return []
        shas = self.repo.out("rev-list", f"--max-count={limit * 4}", tip).split()
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        specs = [f"{sha}:batch.json" for sha in shas]
        for _spec, data in self.objects.read_many(specs):
            try:
                rec = json.loads(data)
            except json.JSONDecodeError:
                continue
            key = str(rec.get("id"))
            if key in seen:
                continue
            seen.add(key)
            out.append(rec)
            if len(out) >= limit:
                break
        return out


def _encode(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=1) + "\n").encode()
