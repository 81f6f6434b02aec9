"""Known-bad matching and trends over creatives' 64-bit perceptual hashes (pHash, via imagehash).

The bank is every sighting (still image or video frame) of a decision whose effective action is
reject or suspend_account: appeals that overturn drop out, reviewer-confirmed leaks come in. Each
ingress keeps the bank in memory in a multi-index-hashing index (policy/hamming_index.py) and, when
the store's version moves, re-reads only the decisions that changed, so replicas sharing one
database see each other's rejections and verdicts. A lookup probes the index instead of comparing
with every stored hash: well under a millisecond at millions of hashes (docs/benchmarks.md).

Trends cluster near-duplicate flagged creatives in a time window (single-link within a distance,
neighbours found through a HammingIndex of the window rather than by comparing every pair), so an
analyst sees the same creative coming back from many requests or accounts.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.config import KnownBadRule
from core.store import DecisionStore, HashRecord, Sighting
from policy.hamming_index import HammingIndex

MAX_TREND_RECORDS = 20_000


@dataclass(frozen=True)
class Match:
    source: str  # the new creative's image or frame
    request_id: str  # the known-bad decision it matches
    matched_source: str
    distance: int
    categories: tuple[str, ...]


class _Bank:
    """The bank's records by index slot, in columns: per slot the sighting id, the decision and the
    source as small integers; per decision its id, categories and slots. About 16 bytes per
    sighting instead of a Python object each."""

    def __init__(self) -> None:
        self.sighting = np.zeros(0, dtype=np.int64)  # by slot
        self.decision = np.zeros(0, dtype=np.int32)  # by slot
        self.source = np.zeros(0, dtype=np.int32)  # by slot
        self.request_ids: list[str] = []  # by decision number
        self.categories: list[tuple[str, ...]] = []  # by decision number
        self.slots: list[list[int]] = []  # by decision number: its live slots
        self._numbers: dict[str, int] = {}
        self.sources: list[str] = []
        self._source_numbers: dict[str, int] = {}
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.size = 0  # live slots

    def number(self, request_id: str) -> int:
        n = self._numbers.get(request_id)
        if n is None:
            n = self._numbers[request_id] = len(self.request_ids)
            self.request_ids.append(request_id)
            self.categories.append(())
            self.slots.append([])
        return n

    def lookup(self, request_id: str) -> int | None:
        return self._numbers.get(request_id)

    def drop(self, decision: int) -> list[int]:
        """Forget a decision's slots (returned)."""
        old, self.slots[decision] = self.slots[decision], []
        self.size -= len(old)
        return old

    def put(self, slots: np.ndarray, records: Sequence[HashRecord]) -> None:
        if not len(records):
            return
        end = int(slots.max()) + 1
        if end > len(self.sighting):
            grow = max(end, 2 * len(self.sighting))
            self.sighting = np.resize(self.sighting, grow)
            self.decision = np.resize(self.decision, grow)
            self.source = np.resize(self.source, grow)
        decisions = []
        for slot, r in zip(slots.tolist(), records, strict=True):
            d = self.number(r.request_id)
            self.categories[d] = self._interned.setdefault(r.categories, r.categories)
            self.slots[d].append(slot)
            decisions.append(d)
        self.sighting[slots] = [r.id for r in records]
        self.decision[slots] = decisions
        self.source[slots] = [self._source_number(r.source) for r in records]
        self.size += len(records)

    def _source_number(self, source: str) -> int:
        n = self._source_numbers.get(source)
        if n is None:
            n = self._source_numbers[source] = len(self.sources)
            self.sources.append(source)
        return n


class KnownBadIndex:
    """The bank of one ingress: a HammingIndex over the bank's hashes, the records by slot, and the
    store version it reflects.

    The first refresh loads the whole bank. After that, when the store's version moves, only the
    decisions that gained a sighting or a verdict since the version this index reflects are read
    (`DecisionStore.bank_changes`): each one's hashes are removed and its current bank records
    added, so a rejection comes in, an overturning appeal takes a decision out and a verdict that
    relabels one replaces its categories, without reading the rest of the bank.

    Not seen: a rescore that replaces a decision that had sightings with one that has none leaves
    no new id, so its old hashes stay until `reload()` or a restart."""

    def __init__(self, store: DecisionStore, rule: KnownBadRule) -> None:
        self.store = store
        self.rule = rule
        self._refresh_lock = threading.Lock()  # one reader of the store at a time
        self._lock = threading.Lock()  # the index and records: searched and changed under it
        self._version: tuple[int, int] | None = None
        self._index = HammingIndex(rule.max_distance)
        self._bank = _Bank()

    def refresh(self) -> None:
        with self._refresh_lock:
            version = self.store.version()
            if version == self._version:
                return
            if self._version is None:
                records = self.store.hash_records(bank_only=True)  # read after `version`: never older
                with self._lock:
                    self._replace((), records)
            else:
                changes = self.store.bank_changes(self._version)
                version = changes.version
                with self._lock:
                    if changes.complete:
                        self._clear()
                    self._replace(changes.request_ids, changes.records)
            self._version = version

    def reload(self) -> None:
        """Forget everything and load the whole bank again at the next match."""
        with self._refresh_lock, self._lock:
            self._version = None
            self._clear()

    def _clear(self) -> None:
        self._index = HammingIndex(self.rule.max_distance)
        self._bank = _Bank()

    def _replace(self, request_ids: Collection[str], records: Sequence[HashRecord]) -> None:
        """Drop what the index holds for `request_ids` and for the records' decisions, then add the records."""
        for rid in set(request_ids) | {r.request_id for r in records}:
            decision = self._bank.lookup(rid)
            if decision is not None:
                self._index.remove(self._bank.drop(decision))
        self._bank.put(self._index.add([r.phash for r in records]), records)

    def __len__(self) -> int:
        return self._bank.size

    def match(self, sightings: list[Sighting], exclude_request_id: str) -> list[Match]:
        """The nearest known-bad sighting within max_distance, per new image or frame (ties: the
        earliest stored sighting); never one of `exclude_request_id` or one without categories."""
        if not self.rule.enabled or not sightings:
            return []
        self.refresh()
        with self._lock:
            bank = self._bank
            hits = self._index.search([s.phash for s in sightings])
            if not len(hits):
                return []
            excluded = bank.lookup(exclude_request_id)
            best: dict[int, tuple[int, int, int, int]] = {}  # query → (distance, sighting id, slot, decision)
            for q, slot, d in zip(hits.query.tolist(), hits.slot.tolist(), hits.distance.tolist(), strict=True):
                decision = int(bank.decision[slot])
                if decision == excluded or not bank.categories[decision]:
                    continue
                key = (d, int(bank.sighting[slot]), slot, decision)
                if q not in best or key < best[q]:
                    best[q] = key
            return [Match(s.source, bank.request_ids[decision], bank.sources[bank.source[slot]], d,
                          bank.categories[decision])
                    for q, s in enumerate(sightings) if q in best for d, _, slot, decision in [best[q]]]


def apply_matches(
    scores: dict[str, float], matches: list[Match], rule: KnownBadRule
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Boost the matched categories; one evidence item per (new image, category)."""
    out = dict(scores)
    evidence = []
    for m in matches:
        for category in m.categories:
            boosted = min(1.0, out.get(category, 0.0) + rule.boost)
            out[category] = max(out.get(category, 0.0), boosted)
            evidence.append({
                "source": m.source, "category": category, "score": round(out[category], 4),
                "detail": (f"near-duplicate (pHash distance {m.distance}) of {m.matched_source} in known-bad "
                           f"decision {m.request_id}; +{rule.boost:g}"),
            })
    return out, evidence


def _components(hashes: np.ndarray, distance: int, chunk: int = 4096) -> np.ndarray:
    """Single-link cluster label of each hash: connected components of "within `distance`"."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(hashes)
    index = HammingIndex(distance)
    index.add(hashes)  # slots 0..n-1 are the positions
    rows, cols = [], []
    for start in range(0, n, chunk):
        hits = index.search(hashes[start:start + chunk])
        rows.append(hits.query + start)
        cols.append(hits.slot)
    i, j = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def trends(records: list[HashRecord], distance: int, min_count: int = 2, limit: int = 50) -> list[dict[str, Any]]:
    """Single-link clusters of flagged sightings within `distance`, largest first."""
    records = [r for r in records if r.action != "approve"][-MAX_TREND_RECORDS:]
    n = len(records)
    if n == 0:
        return []
    labels = _components(np.array([r.phash for r in records], dtype=np.uint64), distance)
    groups: dict[int, list[HashRecord]] = {}
    for label, r in zip(labels.tolist(), records, strict=True):
        groups.setdefault(label, []).append(r)
    clusters = []
    for members in groups.values():
        requests = list(dict.fromkeys(m.request_id for m in members))
        if len(requests) < min_count:
            continue
        per_request_cats = {m.request_id: m.categories for m in members}
        per_request_action = {m.request_id: m.action for m in members}
        first, last = min(m.created_at for m in members), max(m.created_at for m in members)
        clusters.append({
            "cluster_id": f"{members[0].phash:016x}",
            "count": len(requests),
            "sightings": len(members),
            "first_seen": first,
            "last_seen": last,
            "categories": dict(Counter(c for cats in per_request_cats.values() for c in cats).most_common()),
            "actions": dict(Counter(per_request_action.values()).most_common()),
            "example": {"request_id": members[-1].request_id, "source": members[-1].source},
            "request_ids": requests[-20:],
        })
    clusters.sort(key=lambda c: (-c["count"], -c["last_seen"]))
    return clusters[:limit]
