"""Known-bad lookups at scale: the multi-index-hashing index vs. the full scan it replaced.

`python -m benchmarks.known_bad [--sizes 10000,100000,1000000,10000000] [--out docs/benchmarks.md]`

For each bank size: synthetic 64-bit pHashes (uniformly random, plus near-duplicates of stored
ones so lookups do match), built into a `HammingIndex` at the default radius (6); then the latency
of looking up one hash and one creative of five hashes (one call with five queries), for the index
and for the scan that compared every hash (XOR + popcount over the whole uint64 array, once per
hash, as policy/known_bad.py did). Half of the lookups are near-duplicates of stored hashes, half
new creatives. Memory: the arrays the index holds, and the process RSS growth across the build.
Every lookup's answer is checked against the scan's where both run.

Then the bank as an ingress keeps it (`KnownBadIndex` over a real SQLite store seeded with N
rejected sightings): the first load, what the old full reload cost on every store change, one
incremental refresh after a new rejection or an overturning appeal, and `match()` end to end
(store version check included).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psutil

from benchmarks.report import publish
from core.config import KnownBadRule
from core.store import Feedback, Sighting, SQLiteDecisionStore, StoredDecision
from policy.hamming_index import HammingIndex
from policy.known_bad import KnownBadIndex

RADIUS = 6  # KnownBadRule.max_distance's default
CREATIVE = 5  # hashes in a typical creative (images and sampled video frames)
NEAR_SHARE = 0.02  # stored hashes that are near-duplicates of other stored ones


@dataclass(frozen=True)
class Latency:
    p50_us: float
    p99_us: float
    calls: int


@dataclass(frozen=True)
class Row:
    size: int
    build_s: float
    index_mib: float
    rss_mib: float
    plan: str
    index_one: Latency
    index_creative: Latency
    scan_one: Latency | None
    scan_creative: Latency | None
    scan_mib: float
    hits_per_lookup: float


def synthetic_bank(n: int, rng: np.random.Generator) -> np.ndarray:
    """n random hashes, NEAR_SHARE of them replaced by 1–6-bit variants of others (re-uploads)."""
    bank = rng.integers(0, np.iinfo(np.uint64).max, n, dtype=np.uint64, endpoint=True)
    k = int(n * NEAR_SHARE)
    if k:
        bank[-k:] = flip_bits(bank[rng.integers(0, n - k, k)], rng, 1, RADIUS)
    return bank


def flip_bits(hashes: np.ndarray, rng: np.random.Generator, least: int, most: int) -> np.ndarray:
    """Each hash with between `least` and `most` distinct random bits flipped."""
    out = hashes.copy()
    flips = rng.integers(least, most + 1, len(hashes))
    for count in range(least, most + 1):
        rows = np.nonzero(flips == count)[0]
        for _ in range(count):  # may hit a bit twice: distance at most `count`
            out[rows] ^= np.uint64(1) << rng.integers(0, 64, len(rows)).astype(np.uint64)
    return out


def lookups(bank: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """count hashes: half near-duplicates (0–6 bits) of stored ones, half unrelated new creatives."""
    near = flip_bits(bank[rng.integers(0, len(bank), count // 2)], rng, 0, RADIUS)
    new = rng.integers(0, np.iinfo(np.uint64).max, count - count // 2, dtype=np.uint64, endpoint=True)
    out = np.concatenate([near, new])
    rng.shuffle(out)
    return out


def scan(bank: np.ndarray, queries: np.ndarray) -> list[np.ndarray]:
    """The replaced matcher: every stored hash compared with each query, one query at a time."""
    return [np.nonzero(np.bitwise_count(np.bitwise_xor(bank, q)) <= RADIUS)[0] for q in queries]


def timed(fn: Callable[[np.ndarray], object], batches: list[np.ndarray]) -> Latency:
    fn(batches[0])  # warm-up
    samples = []
    for batch in batches:
        t = time.perf_counter()
        fn(batch)
        samples.append(time.perf_counter() - t)
    us = np.array(samples) * 1e6
    return Latency(float(np.percentile(us, 50)), float(np.percentile(us, 99)), len(samples))


def rss_mib() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def measure(n: int, queries: int, scan_budget_s: float, seed: int = 0) -> Row:
    rng = np.random.default_rng(seed)
    bank = synthetic_bank(n, rng)
    before = rss_mib()
    t = time.perf_counter()
    index = HammingIndex(RADIUS)
    index.add(bank)
    build_s = time.perf_counter() - t
    rss = rss_mib() - before
    plan = ", ".join(str(m or "scan") for m in index.tables) or "buffer scan"

    singles = [q[None] for q in lookups(bank, queries, rng)]
    creatives = [lookups(bank, CREATIVE, rng) for _ in range(queries)]
    index_one = timed(index.search, singles)
    index_creative = timed(index.search, creatives)

    # The scan costs ~n × 3 ns per hash: run as many as fit the budget (at least 20).
    per_scan_s = max(n * 3e-9, 1e-6)
    scan_calls = max(20, min(queries, int(scan_budget_s / (per_scan_s * (1 + CREATIVE)))))
    scan_one = timed(lambda b: scan(bank, b), singles[:scan_calls])
    scan_creative = timed(lambda b: scan(bank, b), creatives[:scan_calls])

    hits = 0
    for q in singles[:scan_calls] + creatives[:scan_calls]:  # the index answers as the scan does
        got = index.search(q)
        expected = scan(bank, q)
        assert sorted(zip(got.query.tolist(), got.slot.tolist(), strict=True)) == \
            sorted((i, int(s)) for i, found in enumerate(expected) for s in found)
        hits += len(got)
    return Row(n, build_s, index.nbytes / 2**20, rss, plan, index_one, index_creative, scan_one, scan_creative,
               bank.nbytes / 2**20, hits / (2 * scan_calls))


@dataclass(frozen=True)
class SyncRow:
    size: int
    first_load_s: float
    held_mib: float  # allocated by the loaded KnownBadIndex (index + records), tracemalloc
    peak_mib: float  # allocated at the peak of the first load (the store's records list included)
    scan_held_mib: float  # what the matcher before the index kept: records list + uint64 array
    full_reload_s: float  # what the old matcher did on every version change
    new_rejection: Latency  # refresh after one rejected decision with CREATIVE cited sightings
    appeal: Latency  # refresh after one overturning appeal
    match: Latency  # KnownBadIndex.match of a creative, version check included


SEED_SIGHTINGS_PER_DECISION = 100  # few, large decisions: seeding N sightings in N/100 transactions


def measure_sync(n: int, rounds: int, matches: int, seed: int = 1) -> SyncRow:
    rng = np.random.default_rng(seed)
    bank = synthetic_bank(n, rng).tolist()
    rule = KnownBadRule()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteDecisionStore(f"{tmp}/decisions.sqlite3")
        for i in range(0, n, SEED_SIGHTINGS_PER_DECISION):
            chunk = bank[i:i + SEED_SIGHTINGS_PER_DECISION]
            store.put(StoredDecision(f"seed-{i}", "d", {}, "reject", "bench@1", 1.0, "adv", ("weapons",),
                                     tuple(Sighting(f"image[{j}]", h, cited=True) for j, h in enumerate(chunk))))
        index = KnownBadIndex(store, rule)
        t = time.perf_counter()
        index.refresh()
        first_load_s = time.perf_counter() - t
        assert len(index) == n

        t = time.perf_counter()
        records = store.hash_records(bank_only=True)
        old_bank = np.array([r.phash for r in records], dtype=np.uint64)
        full_reload_s = time.perf_counter() - t
        del records, old_bank
        held_mib, peak_mib = traced_mib(lambda: _loaded(index))
        scan_held_mib, _ = traced_mib(lambda: _scan_bank(store))

        def rejection(k: int) -> None:
            hashes = rng.integers(0, np.iinfo(np.uint64).max, CREATIVE, dtype=np.uint64, endpoint=True).tolist()
            store.put(StoredDecision(f"new-{k}", "d", {}, "reject", "bench@1", 2.0, "adv", ("weapons",),
                                     tuple(Sighting(f"image[{j}]", h, cited=True) for j, h in enumerate(hashes))))

        def appeal(k: int) -> None:
            store.add_feedback(Feedback(f"new-{k}", "appeal", "bench", {}, "approve", "", 3.0))

        new_rejection = _refresh_after(index, rejection, rounds)
        overturned = _refresh_after(index, appeal, rounds)
        assert len(index) == n
        creatives = [[Sighting(f"image[{j}]", h) for j, h in enumerate(lookups(np.array(bank, dtype=np.uint64),
                                                                                 CREATIVE, rng).tolist())]
                     for _ in range(matches)]
        match = timed(lambda c: index.match(c, "new"), creatives)
    return SyncRow(n, first_load_s, held_mib, peak_mib, scan_held_mib, full_reload_s, new_rejection, overturned,
                   match)


def traced_mib(build: Callable[[], object]) -> tuple[float, float]:
    """(MiB still allocated by what build() returns, peak MiB allocated while it ran), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = build()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return current / 2**20, peak / 2**20


def _loaded(index: KnownBadIndex) -> KnownBadIndex:
    index.reload()
    index.refresh()
    return index


def _scan_bank(store: SQLiteDecisionStore) -> tuple[list, np.ndarray]:
    """What the matcher before the index kept: every bank record and their hashes as one array."""
    records = store.hash_records(bank_only=True)
    return records, np.array([r.phash for r in records], dtype=np.uint64)


def _refresh_after(index: KnownBadIndex, change: Callable[[int], None], rounds: int) -> Latency:
    samples = []
    for k in range(rounds):
        change(k)
        t = time.perf_counter()
        index.refresh()
        samples.append(time.perf_counter() - t)
    us = np.array(samples) * 1e6
    return Latency(float(np.percentile(us, 50)), float(np.percentile(us, 99)), rounds)


def render_sync(rows: list[SyncRow]) -> str:
    lines = [
        "",
        "",
        f"**The bank as an ingress keeps it** (`KnownBadIndex` over a SQLite store seeded with N cited "
        f"sightings of rejected decisions, {SEED_SIGHTINGS_PER_DECISION} per decision). *Full reload*: "
        "reading the whole bank and rebuilding its array, what the matcher before the index did on every "
        "change of the store's version. *Refresh after…*: one `refresh()` after one new rejection "
        f"({CREATIVE} cited sightings) or one overturning appeal — only the changed decision is read. "
        f"*match*: `KnownBadIndex.match` of a {CREATIVE}-hash creative, the store-version check included. "
        "Memory by tracemalloc (Python and numpy allocations): *held* after the load, *peak* during it "
        "(the store's list of records exists only then), and what the matcher before the index held.",
        "",
        "| bank size | first load | held (index + records) | peak during the load | held before (records + array) "
        "| full reload (before) | refresh after a rejection p50 / p99 | refresh after an appeal p50 / p99 "
        "| match p50 / p99 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.size:,} | {r.first_load_s:.2f} s | {r.held_mib:,.0f} MiB | {r.peak_mib:,.0f} MiB | "
            f"{r.scan_held_mib:,.0f} MiB | {r.full_reload_s:.2f} s | "
            f"{_us(r.new_rejection.p50_us)} / {_us(r.new_rejection.p99_us)} | "
            f"{_us(r.appeal.p50_us)} / {_us(r.appeal.p99_us)} | {_us(r.match.p50_us)} / {_us(r.match.p99_us)} |")
    return "\n".join(lines)


def render(rows: list[Row], info: dict[str, str], command: str) -> str:
    lines = [
        f"- Date {info['date']}, commit {info['commit']}; `{command}`",
        f"- Machine: nproc {info['nproc']}, {info['cpu']}, {info['ram']} RAM; load average (1/5 min) "
        f"before the run {info['load']}",
        f"- Radius {RADIUS} (KnownBadRule.max_distance); banks of uniformly random 64-bit hashes with "
        f"{NEAR_SHARE:.0%} near-duplicates (1–{RADIUS} bits) of stored ones; lookups half near-duplicates "
        f"of stored hashes (0–{RADIUS} bits), half new; a creative = {CREATIVE} hashes in one call. "
        "Latency per call, one thread, warm; p99 over the calls shown.",
        "- Index: `policy/hamming_index.py` (multi-index hashing; `tables` = substrings chosen for that size). "
        "Scan: every stored hash XOR + popcount per looked-up hash (the matcher before the index).",
        "",
        "| bank size | index build | index arrays | RSS growth | tables | index: 1 hash p50 / p99 | "
        "index: creative (5) p50 / p99 | scan: 1 hash p50 / p99 | scan: creative (5) p50 / p99 | "
        "scan array | scan ÷ index (1 hash, p50) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def lat(x: Latency | None) -> str:
        return "—" if x is None else f"{_us(x.p50_us)} / {_us(x.p99_us)}"

    for r in rows:
        ratio = "—" if r.scan_one is None else _times(r.scan_one.p50_us / r.index_one.p50_us)
        lines.append(
            f"| {r.size:,} | {r.build_s:.2f} s | {r.index_mib:,.0f} MiB | {r.rss_mib:,.0f} MiB | {r.plan} | "
            f"{lat(r.index_one)} | {lat(r.index_creative)} | {lat(r.scan_one)} | {lat(r.scan_creative)} | "
            f"{r.scan_mib:,.0f} MiB | {ratio} |")
    hits = ", ".join(f"{r.size:,}: {r.hits_per_lookup:.2f}" for r in rows)
    calls = ", ".join(f"{r.size:,}: {r.scan_one.calls}" for r in rows if r.scan_one)
    lines += ["", f"Index latencies over {rows[0].index_one.calls} calls per size; the scan's over {calls} calls. "
              f"Stored hashes within the radius per looked-up hash (over the lookups the scan also ran, each "
              f"answer checked equal to the scan's): {hits}."]
    return "\n".join(lines)


def _times(ratio: float) -> str:
    return f"×{ratio:,.0f}" if ratio >= 10 else f"×{ratio:.2g}"


def _us(us: float) -> str:
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.0f} µs"


def main() -> None:
    from benchmarks.serving_vs_inprocess import machine_info

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--queries", type=int, default=2000, help="lookups per latency figure (index)")
    parser.add_argument("--scan-budget-s", type=float, default=20.0, help="time for the scan's lookups, per size")
    parser.add_argument("--store-sizes", default="10000,100000,1000000",
                        help="bank sizes for the store-backed KnownBadIndex table ('' to skip)")
    parser.add_argument("--out", help="write the table into this markdown file (docs/benchmarks.md)")
    args = parser.parse_args()
    info = machine_info()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(n, args.queries, args.scan_budget_s))
        print(f"{n:,}: built in {rows[-1].build_s:.2f} s, index 1 hash p50 {_us(rows[-1].index_one.p50_us)}",
              flush=True)
    sync_rows = []
    for n in (int(s) for s in args.store_sizes.split(",") if s):
        sync_rows.append(measure_sync(n, rounds=50, matches=500))
        print(f"{n:,} in a store: first load {sync_rows[-1].first_load_s:.2f} s", flush=True)
    command = "python -m benchmarks.known_bad" + "".join(
        f" --{name.replace('_', '-')} {value}" for name, value in vars(args).items()
        if name != "out" and value != parser.get_default(name))
    text = render(rows, info, command) + (render_sync(sync_rows) if sync_rows else "")
    publish(text, "Known-bad lookups: multi-index hashing vs. full scan", "known_bad", args.out)


if __name__ == "__main__":
    main()
