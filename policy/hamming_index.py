"""Exact Hamming-radius search over 64-bit hashes: multi-index hashing (MIH) on numpy arrays.

Multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012) splits the 64 bits into m disjoint
substrings. If two hashes are within distance r, the pigeonhole principle puts at least one of their
substrings within distance floor(r / m) of each other. So each substring gets a table (every stored
hash, sorted by that substring), a query probes every substring value within floor(r / m) of its
own in each table, and only the hashes found there are checked with a full XOR + popcount. The
answer is exact: the same hits as comparing the query with every stored hash.

m is chosen per segment from its size and the largest radius it must serve (`_plan`): wider
substrings mean more probes per query (and bigger bucket tables, whose lookups miss the cache),
narrower ones more false candidates (n / 2**width per probe); the plan with the lowest estimated
cost wins, and a segment small enough to scan faster than that is just scanned.

Storage is log-structured so the index can change one hash at a time:
  * new hashes go to a small buffer that is scanned linearly;
  * a full buffer becomes an immutable segment, and segments are merged (rebuilt together) while
    the newer one is at least a quarter the size of the older, so there are O(log n) segments and
    each hash is rebuilt O(log n) times over its life;
  * removal marks a slot dead; dead slots are filtered from answers and dropped when their segment
    is next rebuilt, or all at once when they reach half the index.

Each added hash gets a slot, an integer the index never reuses; callers keep their payload by slot.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

BITS = 64
BUFFER_SIZE = 2048  # hashes scanned linearly before they become a segment
MERGE_RATIO = 4  # merge while the newer segment is at least 1/MERGE_RATIO the size of the older one
DIRECT_TABLE_BITS = 24  # the widest substring (a table of 2**24 bucket offsets)
TABLE_SLACK = 4  # at most this many buckets per stored hash
SCAN_BLOCK = 1 << 21  # distances a scan computes at once (16 MiB of int64)

# Rough costs in nanoseconds on one core, to compare plans (order of magnitude, from this machine).
_NS_MIH_FIXED = 40_000.0  # numpy call overhead of one MIH search
_NS_PER_PROBE_CACHED = 20.0  # a bucket lookup in a table that fits in cache (2**17 buckets or fewer)
_NS_PER_PROBE = 100.0  # a bucket lookup in a larger table: a cache miss
_CACHED_TABLE_BITS = 17
_NS_PER_CANDIDATE = 8.0  # candidates are contiguous: gather, XOR, popcount, compare
_NS_LINEAR_FIXED = 5_000.0
_NS_LINEAR_PER_HASH = 3.0

_U64 = np.uint64


def popcount_distance(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Hamming distance between uint64 arrays (or an array and one hash), as int64."""
    other = _U64(b) if isinstance(b, int) else b
    return np.bitwise_count(np.bitwise_xor(a, other)).astype(np.int64)


def _rotl(x: np.ndarray, k: int) -> np.ndarray:
    if k == 0:
        return x
    return np.left_shift(x, _U64(k)) | np.right_shift(x, _U64(BITS - k))


def _substrings(m: int) -> list[tuple[int, int]]:
    """(offset from the most significant bit, width) of m disjoint substrings covering 64 bits."""
    base, extra = divmod(BITS, m)
    out, offset = [], 0
    for j in range(m):
        width = base + (1 if j < extra else 0)
        out.append((offset, width))
        offset += width
    return out


def _ball(width: int, radius: int) -> int:
    """How many width-bit values lie within `radius` of a given one."""
    return sum(math.comb(width, k) for k in range(min(radius, width) + 1))


@functools.lru_cache(maxsize=64)
def _masks(width: int, radius: int) -> np.ndarray:
    """Every width-bit XOR mask with at most `radius` bits set (0 first)."""
    out = [0]
    for k in range(1, min(radius, width) + 1):
        out.extend(sum(1 << b for b in bits) for bits in itertools.combinations(range(width), k))
    return np.array(out, dtype=_U64)


def _plan(n: int, max_radius: int) -> int:
    """Number of substrings with the lowest estimated search cost for n hashes; 0 = scan linearly.

    A substring gets a bucket-offset table of 2**width entries, so widths are capped by
    DIRECT_TABLE_BITS and by the segment's size (at most TABLE_SLACK buckets per hash)."""
    best, best_cost = 0, _NS_LINEAR_FIXED + _NS_LINEAR_PER_HASH * n
    for m in range(math.ceil(BITS / DIRECT_TABLE_BITS), max(max_radius + 1, 8) + 1):
        subs = _substrings(m)
        if (1 << subs[0][1]) > TABLE_SLACK * n:
            continue
        s = max_radius // m
        probe_ns = sum(_ball(w, s) * (_NS_PER_PROBE_CACHED if w <= _CACHED_TABLE_BITS else _NS_PER_PROBE)
                       for _, w in subs)
        candidates = n * sum(_ball(w, s) / 2.0 ** w for _, w in subs)  # for uniformly random hashes
        cost = _NS_MIH_FIXED + probe_ns + candidates * _NS_PER_CANDIDATE
        if cost < best_cost:
            best, best_cost = m, cost
    return best


@dataclass(frozen=True)
class Hits:
    """Stored hashes within the radius of each query: parallel arrays, sorted by (query, distance, slot)."""

    query: np.ndarray  # index into the queries
    slot: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return len(self.slot)


def _empty_hits() -> Hits:
    z = np.zeros(0, dtype=np.int64)
    return Hits(z, z, z)


def _scan(hashes: np.ndarray, slots: np.ndarray, queries: np.ndarray, radius: int) -> Hits:
    """Compare every query with every hash (the buffer, small segments, and the tests' reference)."""
    if not len(hashes) or not len(queries):
        return _empty_hits()
    step = max(1, SCAN_BLOCK // len(hashes))  # queries per block of at most SCAN_BLOCK distances
    parts = []
    for start in range(0, len(queries), step):
        dist = popcount_distance(queries[start:start + step, None], hashes[None, :])
        qi, pos = np.nonzero(dist <= radius)
        parts.append(Hits(qi.astype(np.int64) + start, slots[pos], dist[qi, pos]))
    if len(parts) == 1:
        return parts[0]
    return Hits(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("query", "slot", "distance")))


class _Segment:
    """An immutable set of hashes with their slots, searched through MIH tables or by a scan.

    The m tables live in flat arrays: table t is values[t*n:(t+1)*n] (every hash rotated so substring
    t is on top, sorted) with order[...] (each value's position in the segment), and
    buckets[base[t] + k] is where the values whose substring t equals k start, so probing all
    tables for a batch of queries is a handful of numpy calls."""

    def __init__(self, hashes: np.ndarray, slots: np.ndarray, max_radius: int, substrings: int | None) -> None:
        self.n = len(hashes)
        self.slots = slots
        self.m = _plan(self.n, max_radius) if substrings is None else substrings
        if not self.m:
            self._hashes: np.ndarray | None = hashes
            return
        # A planned segment's first table (offset 0) holds the hashes themselves: no second copy.
        self._hashes = None
        subs = _substrings(self.m)
        self._rotations = np.array([off for off, _ in subs], dtype=_U64)
        self._shifts = np.array([BITS - w for _, w in subs], dtype=_U64)
        self._widths = [w for _, w in subs]
        self._base = np.cumsum([0] + [(1 << w) + 1 for w in self._widths[:-1]]).astype(np.int64)
        self.values = np.empty(self.m * self.n, dtype=_U64)
        self.order = np.empty(self.m * self.n, dtype=np.int32)
        self.buckets = np.empty(sum((1 << w) + 1 for w in self._widths), dtype=np.int64)
        for t, (off, w) in enumerate(subs):
            rotated = _rotl(hashes, off)
            order = np.argsort(rotated)
            table = slice(t * self.n, (t + 1) * self.n)
            self.values[table] = rotated[order]
            self.order[table] = order
            counts = np.bincount((self.values[table] >> _U64(BITS - w)).astype(np.int64), minlength=1 << w)
            start = int(self._base[t])
            self.buckets[start] = t * self.n
            np.cumsum(counts, out=self.buckets[start + 1:start + 2 + (1 << w) - 1])
            self.buckets[start + 1:start + 1 + (1 << w)] += t * self.n
        self._probe_plans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def hashes(self) -> np.ndarray:
        if self._hashes is not None:
            return self._hashes
        out = np.empty(self.n, dtype=_U64)
        out[self.order[:self.n]] = self.values[:self.n]
        return out

    @property
    def nbytes(self) -> int:
        if self._hashes is not None:
            return self.slots.nbytes + self._hashes.nbytes
        return self.slots.nbytes + self.values.nbytes + self.order.nbytes + self.buckets.nbytes

    def _probes(self, sub_radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(table, XOR mask, the table's first bucket) of every probe one query makes when
        substrings may differ by sub_radius."""
        plan = self._probe_plans.get(sub_radius)
        if plan is None:
            masks = [_masks(w, sub_radius) for w in self._widths]
            tables = np.concatenate([np.full(len(mk), t, dtype=np.int64) for t, mk in enumerate(masks)])
            plan = self._probe_plans[sub_radius] = (tables, np.concatenate(masks), self._base[tables])
        return plan

    def search(self, queries: np.ndarray, radius: int) -> Hits:
        if self._hashes is not None:
            return _scan(self._hashes, self.slots, queries, radius)
        tables, masks, bases = self._probes(radius // self.m)
        # Each query rotated for each table; (x >> (63 - k)) >> 1 is x >> (64 - k), defined for k = 0.
        q = queries[:, None]
        rotated = (q << self._rotations) | ((q >> (_U64(BITS - 1) - self._rotations)) >> _U64(1))
        keys = (rotated >> self._shifts)[:, tables] ^ masks  # (queries, probes)
        at = keys.astype(np.int64) + bases
        lo, hi = self.buckets[at].ravel(), self.buckets[at + 1].ravel()
        lengths = hi - lo
        total = int(lengths.sum())
        if total == 0:
            return _empty_hits()
        # Concatenate the ranges [lo, hi) without a Python loop.
        idx = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
        probe_query = np.repeat(np.arange(len(queries)), len(tables))
        qi = np.repeat(probe_query, lengths)
        ti = np.repeat(np.tile(tables, len(queries)), lengths)
        d = popcount_distance(self.values[idx], rotated[qi, ti])
        keep = np.nonzero(d <= radius)[0]
        qi, pos, d = qi[keep], self.order[idx[keep]].astype(np.int64), d[keep]
        # A hash close in several substrings is found by several tables: keep one.
        _, first = np.unique(qi * self.n + pos, return_index=True)
        return Hits(qi[first], self.slots[pos[first]], d[first])


class HammingIndex:
    """Exact search for stored 64-bit hashes within a Hamming radius of a query (not thread-safe)."""

    def __init__(self, max_radius: int, substrings: int | None = None, buffer_size: int = BUFFER_SIZE) -> None:
        """`substrings`: a fixed number of MIH tables for every segment (0 = always scan); by default
        each segment picks its own from its size (`_plan`). `buffer_size`: how many added hashes are
        scanned linearly before they become a segment (a batch at least this large becomes one at once)."""
        if not 0 <= max_radius < BITS:
            raise ValueError(f"max_radius must be in [0, {BITS}), got {max_radius}")
        min_tables = math.ceil(BITS / DIRECT_TABLE_BITS)
        if substrings is not None and substrings != 0 and not min_tables <= substrings <= BITS:
            raise ValueError(f"substrings must be 0 or in [{min_tables}, {BITS}], got {substrings}")
        self.max_radius = max_radius
        self.substrings = substrings
        self.buffer_size = buffer_size
        self._segments: list[_Segment] = []
        self._buffer_hashes = np.zeros(0, dtype=_U64)
        self._buffer_slots = np.zeros(0, dtype=np.int64)
        self._next_slot = 0
        self._dead: set[int] = set()
        self._dead_sorted: np.ndarray | None = None  # the dead slots as a sorted array, built on demand

    def __len__(self) -> int:
        """Live hashes (added and not removed)."""
        return self._stored() - len(self._dead)

    def _stored(self) -> int:
        return sum(s.n for s in self._segments) + len(self._buffer_hashes)

    @property
    def segments(self) -> int:
        return len(self._segments)

    @property
    def tables(self) -> list[int]:
        """MIH tables (substrings) of each segment, oldest first; 0 = a segment that is scanned."""
        return [s.m for s in self._segments]

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (tables, slots, buffer); the dead-slot set not counted."""
        return (sum(s.nbytes for s in self._segments) + self._buffer_hashes.nbytes
                + self._buffer_slots.nbytes)

    def add(self, hashes: np.ndarray | list[int]) -> np.ndarray:
        """Store hashes (unsigned 64-bit); returns their slots, in order."""
        values = np.asarray(hashes, dtype=_U64).ravel()
        slots = np.arange(self._next_slot, self._next_slot + len(values), dtype=np.int64)
        self._next_slot += len(values)
        if len(values) and len(values) >= self.buffer_size:
            self._push(_Segment(values, slots, self.max_radius, self.substrings))
        elif len(values):
            self._buffer_hashes = np.concatenate([self._buffer_hashes, values])
            self._buffer_slots = np.concatenate([self._buffer_slots, slots])
            if len(self._buffer_hashes) >= self.buffer_size:
                segment = _Segment(self._buffer_hashes, self._buffer_slots, self.max_radius, self.substrings)
                self._buffer_hashes = np.zeros(0, dtype=_U64)
                self._buffer_slots = np.zeros(0, dtype=np.int64)
                self._push(segment)
        return slots

    def remove(self, slots: np.ndarray | list[int]) -> None:
        """Forget these slots (unknown or already removed ones are ignored)."""
        fresh = {int(s) for s in np.asarray(slots, dtype=np.int64).ravel()
                 if 0 <= s < self._next_slot} - self._dead
        if not fresh:
            return
        self._dead |= fresh
        self._dead_sorted = None
        if 2 * len(self._dead) > self._stored():
            self.compact()

    def compact(self) -> None:
        """Rebuild everything into one segment without the removed hashes."""
        parts = [(s.hashes(), s.slots) for s in self._segments]
        parts.append((self._buffer_hashes, self._buffer_slots))
        self._segments = []
        self._buffer_hashes = np.zeros(0, dtype=_U64)
        self._buffer_slots = np.zeros(0, dtype=np.int64)
        merged = self._merge(parts)
        if merged is not None:
            self._segments.append(merged)

    def search(self, queries: np.ndarray | list[int], radius: int | None = None) -> Hits:
        """Every live stored hash within `radius` (default max_radius) of each query."""
        r = self.max_radius if radius is None else radius
        if not 0 <= r <= self.max_radius:
            raise ValueError(f"radius must be in [0, {self.max_radius}], got {r}")
        q = np.asarray(queries, dtype=_U64).ravel()
        parts = [s.search(q, r) for s in self._segments]
        if len(self._buffer_hashes):
            parts.append(_scan(self._buffer_hashes, self._buffer_slots, q, r))
        parts = [p for p in parts if len(p)]
        if not parts:
            return _empty_hits()
        if len(parts) == 1:
            qi, slot, d = parts[0].query, parts[0].slot, parts[0].distance
        else:
            qi = np.concatenate([p.query for p in parts])
            slot = np.concatenate([p.slot for p in parts])
            d = np.concatenate([p.distance for p in parts])
        if self._dead:
            live = ~np.isin(slot, self._dead_array())
            qi, slot, d = qi[live], slot[live], d[live]
        if len(slot) <= 1:
            return Hits(qi, slot, d)
        order = np.lexsort((slot, d, qi))
        return Hits(qi[order], slot[order], d[order])

    def _dead_array(self) -> np.ndarray:
        if self._dead_sorted is None:
            self._dead_sorted = np.fromiter(self._dead, dtype=np.int64, count=len(self._dead))
            self._dead_sorted.sort()
        return self._dead_sorted

    def _push(self, segment: _Segment) -> None:
        self._segments.append(segment)
        while len(self._segments) >= 2 and MERGE_RATIO * self._segments[-1].n >= self._segments[-2].n:
            newer, older = self._segments.pop(), self._segments.pop()
            merged = self._merge([(older.hashes(), older.slots), (newer.hashes(), newer.slots)])
            if merged is not None:
                self._segments.append(merged)

    def _merge(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> _Segment | None:
        """One segment of the parts' (hashes, slots) that are live, dropping dead slots for good."""
        hashes = np.concatenate([h for h, _ in parts])
        slots = np.concatenate([s for _, s in parts])
        if self._dead:
            dead = np.isin(slots, self._dead_array())
            if dead.any():
                self._dead -= set(slots[dead].tolist())
                self._dead_sorted = None
                hashes, slots = hashes[~dead], slots[~dead]
        return _Segment(hashes, slots, self.max_radius, self.substrings) if len(hashes) else None
