"""The multi-index-hashing index (policy/hamming_index.py) answers exactly what a full scan answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy.hamming_index import BUFFER_SIZE, HammingIndex

U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


def flip(h: int, bits: list[int]) -> int:
    for b in bits:
        h ^= 1 << b
    return h


def brute_force(stored: dict[int, int], queries: list[int], radius: int) -> list[tuple[int, int, int]]:
    """(query index, slot, distance) of every stored hash within radius, in Python integers, in the
    index's order: by query, then distance, then slot."""
    out = [(qi, slot, (q ^ h).bit_count()) for qi, q in enumerate(queries) for slot, h in stored.items()]
    return sorted(((qi, slot, d) for qi, slot, d in out if d <= radius), key=lambda t: (t[0], t[2], t[1]))


def answer(index: HammingIndex, queries: list[int], radius: int) -> list[tuple[int, int, int]]:
    hits = index.search(queries, radius)
    return list(zip(hits.query.tolist(), hits.slot.tolist(), hits.distance.tolist(), strict=True))


@st.composite
def flips(draw: st.DrawFn) -> list[int]:
    """Bit positions to flip: anywhere, or spread evenly over the 64 bits — the hardest case for
    multi-index hashing, where every substring differs a little and none matches exactly."""
    if draw(st.booleans()):
        return draw(st.lists(st.integers(0, 63), max_size=12))
    k, start = draw(st.integers(1, 20)), draw(st.integers(0, 63))
    return [(start + i * 64 // k) % 64 for i in range(k)]


@st.composite
def banks(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Random hashes plus near-duplicates of a few of them, and queries near and far from them."""
    seeds = draw(st.lists(U64, min_size=1, max_size=40))
    stored = list(seeds)
    for h in seeds[:8]:
        for _ in range(draw(st.integers(0, 6))):
            stored.append(flip(h, draw(flips())))
    queries = [flip(draw(st.sampled_from(stored)), draw(flips()))
               for _ in range(draw(st.integers(1, 6)))] + draw(st.lists(U64, max_size=3))
    return stored, queries


@pytest.mark.slow  # a fuzzer (150 examples)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bank=banks(), max_radius=st.integers(0, 20), substrings=st.sampled_from([None, 0, 3, 4, 5, 7, 9]),
       buffer_size=st.sampled_from([1, 8, BUFFER_SIZE]), data=st.data())
def test_search_equals_brute_force(bank, max_radius, substrings, buffer_size, data):
    stored, queries = bank
    radius = data.draw(st.integers(0, max_radius))
    index = HammingIndex(max_radius, substrings=substrings, buffer_size=buffer_size)
    slots = index.add(stored)
    assert slots.tolist() == list(range(len(stored)))
    assert answer(index, queries, radius) == brute_force(dict(enumerate(stored)), queries, radius)


@pytest.mark.slow  # a fuzzer
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), substrings=st.sampled_from([None, 3, 4]), radius=st.integers(0, 8),
       buffer_size=st.sampled_from([1, 16, BUFFER_SIZE]))
def test_adds_and_removes_in_any_order_stay_exact(seed, substrings, radius, buffer_size):
    """Batches below and above the buffer size, merges of segments, removals and compaction: after
    every step the index answers as a scan of what is live."""
    rng = np.random.default_rng(seed)
    index = HammingIndex(8, substrings=substrings, buffer_size=buffer_size)
    live: dict[int, int] = {}
    centres = rng.integers(0, 2**63, size=20, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    for _ in range(12):
        if live and rng.random() < 0.35:
            gone = rng.choice(list(live), size=int(rng.integers(1, len(live) + 1)), replace=False).tolist()
            index.remove(gone)
            for slot in gone:
                del live[slot]
        else:
            size = int(rng.choice([1, 7, BUFFER_SIZE - 1, BUFFER_SIZE + 3]))
            bits = np.uint64(1) << rng.integers(0, 64, size).astype(np.uint64)
            near = centres[rng.integers(0, len(centres), size)] ^ bits
            hashes = np.where(rng.random(size) < 0.5, near, rng.integers(0, 2**64 - 1, size, dtype=np.uint64))
            for slot, h in zip(index.add(hashes).tolist(), hashes.tolist(), strict=True):
                live[slot] = h
        assert len(index) == len(live)
        queries = [int(c) ^ (1 << int(b)) for c, b in zip(centres[:5], rng.integers(0, 64, 5), strict=True)]
        queries += [int(live[s]) for s in list(live)[:3]]
        stored = np.array(list(live.values()), dtype=np.uint64)
        expected = [(qi, slot, d) for qi, q in enumerate(queries)
                    for slot, d in zip(live, np.bitwise_count(stored ^ np.uint64(q)).tolist(), strict=True)
                    if d <= radius]
        assert answer(index, queries, radius) == sorted(expected, key=lambda t: (t[0], t[2], t[1]))


@pytest.mark.parametrize("substrings", [3, 4, 5, 6, 7, 8, 9])
def test_differences_spread_over_every_substring_are_found(substrings):
    """At distance r, some substring differs by at most r // substrings bits, but possibly none by
    less: hundreds of random r-bit differences per radius include those balanced worst cases."""
    rng = np.random.default_rng(substrings)
    stored = rng.integers(0, 2**64 - 1, 500, dtype=np.uint64).tolist()
    index = HammingIndex(12, substrings=substrings, buffer_size=1)
    index.add(stored)
    assert index.segments == 1
    for radius in range(13):
        queries = [flip(stored[7], rng.choice(64, radius, replace=False).tolist()) for _ in range(300)]
        found = {(q, slot) for q, slot, d in answer(index, queries, radius) if d == radius}
        assert found >= {(q, 7) for q in range(len(queries))}


def test_segments_stay_few_and_removal_compacts():
    index = HammingIndex(6)
    rng = np.random.default_rng(7)
    batches = [rng.integers(0, 2**64 - 1, BUFFER_SIZE, dtype=np.uint64) for _ in range(40)]
    slots = [index.add(b) for b in batches]
    assert len(index) == 40 * BUFFER_SIZE
    assert index.segments <= 4  # merged while the newer is at least a quarter of the older
    nbytes = index.nbytes
    index.remove(np.concatenate(slots[:30]))  # three quarters gone: rebuilt without them
    assert len(index) == 10 * BUFFER_SIZE and index.segments == 1 and index.nbytes < nbytes / 2
    gone, kept = int(batches[0][0]), int(batches[35][0])
    assert answer(index, [gone, kept], 0) == [(1, int(slots[35][0]), 0)]
    index.remove(slots[35][:3])
    index.remove(slots[35][:3])  # twice is harmless
    assert len(index) == 10 * BUFFER_SIZE - 3
    assert answer(index, [kept], 0) == []


def test_arguments_are_checked():
    with pytest.raises(ValueError):
        HammingIndex(64)
    with pytest.raises(ValueError):
        HammingIndex(6, substrings=2)  # substrings of 32 bits would need 2**32 buckets
    index = HammingIndex(6)
    index.add([1, 2, 3])
    with pytest.raises(ValueError):
        index.search([1], radius=7)
    assert answer(index, [0], 1) == [(0, 0, 1), (0, 1, 1)]
    assert answer(HammingIndex(3), [5], 3) == []  # an empty index
