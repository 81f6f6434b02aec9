"""The records the decision store keeps, and their mapping to and from table rows.

Shared by both backends (core/store.py: the interface and SQLite; core/store_postgres.py): the
dataclasses the store's callers see, the column lists both backends select, and the functions that
turn one selected row back into a record. core/store.py re-exports every name here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

BANK_ACTIONS = ("reject", "suspend_account")


@dataclass(frozen=True)
class Sighting:
    """One still image or video frame of a decided creative, by its 64-bit perceptual hash."""

    source: str
    phash: int  # unsigned 64-bit
    cited: bool = False  # the decision's evidence names this image/frame for a category it acted on


@dataclass(frozen=True)
class StoredDecision:
    request_id: str
    input_digest: str
    response: dict[str, Any]
    action: str
    policy_version: str
    created_at: float
    advertiser_id: str | None = None
    categories: tuple[str, ...] = ()
    sightings: tuple[Sighting, ...] = field(default=(), compare=False)
    # What a replay needs: fusion facts, content scores before fusion, the texts the heads read.
    inputs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Feedback:
    request_id: str
    kind: str  # "review" or "appeal"
    reviewer: str
    labels: dict[str, bool]
    final_action: str
    note: str
    created_at: float
    id: int | None = None


@dataclass(frozen=True)
class HashRecord:
    """A sighting joined with its decision's effective action and categories (bank and trends)."""

    id: int
    request_id: str
    source: str
    phash: int
    action: str
    categories: tuple[str, ...]
    created_at: float


@dataclass(frozen=True)
class BankChanges:
    """What moved in the known-bad bank since a version: the decisions that gained a sighting or a
    verdict after it, and their bank records as they stand at `version` (none when out of the bank)."""

    version: tuple[int, int]
    request_ids: frozenset[str]
    records: tuple[HashRecord, ...]
    complete: bool = False  # records is the whole bank (a store without an incremental query)


DECISION_COLUMNS = ("request_id, input_digest, response_json, action, policy_version, created_at, "
                    "advertiser_id, categories_json, inputs_json")
FEEDBACK_COLUMNS = "request_id, kind, reviewer, labels_json, final_action, note, created_at, id"
# Columns of a bank/trend record: the sighting, its decision's effective action and categories, and
# the labels of the decision's latest verdict (which, when any is true, replace the categories).
HASH_RECORD_COLUMNS = ("s.id, s.request_id, s.source, s.phash, {effective}, d.categories_json, s.created_at, "
                       "(SELECT f.labels_json FROM feedback f WHERE f.request_id = d.request_id "
                       "ORDER BY f.id DESC LIMIT 1)")


def decision_from_row(row: Sequence[Any]) -> StoredDecision:
    """A DECISION_COLUMNS row, from either backend."""
    return StoredDecision(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6],
                          tuple(json.loads(row[7] or "[]")), inputs=json.loads(row[8] or "{}"))


def feedback_from_row(row: Sequence[Any]) -> Feedback:
    """A FEEDBACK_COLUMNS row, from either backend."""
    return Feedback(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], int(row[7]))


def hash_record_from_row(row: Sequence[Any]) -> HashRecord:
    """A HASH_RECORD_COLUMNS row, from either backend (phash stored signed)."""
    categories = json.loads(row[5] or "[]")
    if row[7]:
        labelled = [c for c, v in json.loads(row[7]).items() if v]
        categories = labelled or categories
    return HashRecord(int(row[0]), row[1], row[2], unsigned_phash(row[3]), row[4], tuple(categories), row[6])


def signed_phash(h: int) -> int:
    """An unsigned 64-bit pHash as the signed 64-bit integer SQLite and PostgreSQL store."""
    return h - (1 << 64) if h >= (1 << 63) else h


def unsigned_phash(h: int) -> int:
    return h + (1 << 64) if h < 0 else h
