"""Known-bad matching and trends over creatives' 64-bit perceptual hashes (pHash, via imagehash).

The bank is every sighting (still image or video frame) of a decision whose effective action is
reject or suspend_account: appeals that overturn drop out, reviewer-confirmed leaks come in. Each
ingress keeps the bank in memory as a uint64 array and reloads it when the store's version moves,
so replicas sharing one database see each other's rejections. Matching is a vectorised Hamming
distance (XOR + popcount) over the whole bank: ~1 ms per 100k hashes.

Trends cluster near-duplicate flagged creatives in a time window (single-link within a distance),
so an analyst sees the same creative coming back from many requests or accounts.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from serving.config import KnownBadRule
from serving.store import DecisionStore, HashRecord, Sighting

MAX_TREND_RECORDS = 20_000


def phash(image: Image.Image) -> int:
    import imagehash

    return int(str(imagehash.phash(image)), 16)


def hamming(bank: np.ndarray, h: int) -> np.ndarray:
    return np.bitwise_count(np.bitwise_xor(bank, np.uint64(h))).astype(np.int32)


@dataclass(frozen=True)
class Match:
    source: str  # the new creative's image or frame
    request_id: str  # the known-bad decision it matches
    matched_source: str
    distance: int
    categories: tuple[str, ...]


class KnownBadIndex:
    def __init__(self, store: DecisionStore, rule: KnownBadRule) -> None:
        self.store = store
        self.rule = rule
        self._lock = threading.Lock()
        self._version: tuple[int, int] | None = None
        self._records: list[HashRecord] = []
        self._hashes = np.zeros(0, dtype=np.uint64)

    def refresh(self) -> None:
        version = self.store.version()
        if version == self._version:
            return
        records = self.store.hash_records(bank_only=True)
        with self._lock:
            self._records = records
            self._hashes = np.array([r.phash for r in records], dtype=np.uint64)
            self._version = version

    def __len__(self) -> int:
        return len(self._records)

    def match(self, sightings: list[Sighting], exclude_request_id: str) -> list[Match]:
        """The nearest known-bad sighting within max_distance, per new image or frame."""
        if not self.rule.enabled or not sightings:
            return []
        self.refresh()
        with self._lock:
            records, hashes = self._records, self._hashes
        out = []
        for s in sightings:
            if not len(hashes):
                break
            dist = hamming(hashes, s.phash)
            for i in np.argsort(dist, kind="stable"):
                if dist[i] > self.rule.max_distance:
                    break
                if records[i].request_id != exclude_request_id and records[i].categories:
                    r = records[i]
                    out.append(Match(s.source, r.request_id, r.source, int(dist[i]), r.categories))
                    break
        return out


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


def trends(records: list[HashRecord], distance: int, min_count: int = 2, limit: int = 50) -> list[dict[str, Any]]:
    """Single-link clusters of flagged sightings within `distance`, largest first."""
    records = [r for r in records if r.action != "approve"][-MAX_TREND_RECORDS:]
    n = len(records)
    if n == 0:
        return []
    hashes = np.array([r.phash for r in records], dtype=np.uint64)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n - 1):
        near = np.nonzero(hamming(hashes[i + 1:], int(hashes[i])) <= distance)[0]
        for j in near + i + 1:
            a, b = find(i), find(int(j))
            if a != b:
                parent[b] = a
    groups: dict[int, list[HashRecord]] = {}
    for i, r in enumerate(records):
        groups.setdefault(find(i), []).append(r)
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
