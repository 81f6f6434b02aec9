"""The known-bad bank of an ingress follows the store incrementally and matches as a full scan would.

Every test runs on SQLite and on a real PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import random

import pytest

from core.config import KnownBadRule
from core.store import DecisionStore, Feedback, HashRecord, Sighting, SQLiteDecisionStore, StoredDecision
from policy.known_bad import KnownBadIndex, Match

RULE = KnownBadRule(max_distance=6, boost=0.35, trend_distance=8)
ACTIONS = ("reject", "suspend_account", "approve", "human_review", "deboost")
CATEGORIES = ("weapons", "scam_fraud", "adult_sexual")


def scan(records: list[HashRecord], sightings: list[Sighting], exclude: str, max_distance: int) -> list[Match]:
    """What matching was before the index: every bank record compared with every new sighting; the
    nearest within max_distance wins, ties to the earliest stored sighting."""
    out = []
    for s in sightings:
        near = [((r.phash ^ s.phash).bit_count(), r.id, r) for r in records
                if r.request_id != exclude and r.categories]
        near = [t for t in near if t[0] <= max_distance]
        if near:
            d, _, r = min(near, key=lambda t: (t[0], t[1]))
            out.append(Match(s.source, r.request_id, r.source, d, r.categories))
    return out


class Scenario:
    """Random decisions, rescores and verdicts over a few creatives and their near-duplicates."""

    def __init__(self, store: DecisionStore, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.creatives = [self.rng.getrandbits(64) for _ in range(6)]
        self.ids: list[str] = []

    def near(self) -> int:
        h = self.rng.choice(self.creatives)
        for b in self.rng.sample(range(64), self.rng.choice([0, 1, 3, 5, 6, 7, 9])):
            h ^= 1 << b
        return h if self.rng.random() < 0.9 else self.rng.getrandbits(64)

    def sightings(self, least: int = 0) -> tuple[Sighting, ...]:
        return tuple(Sighting(f"image[{i}]", self.near(), cited=self.rng.random() < 0.7)
                     for i in range(self.rng.randint(least, 3)))

    def step(self, t: float) -> None:
        rng = self.rng
        kind = rng.random()
        if not self.ids or kind < 0.5:
            rid = f"r{len(self.ids)}"
            self.ids.append(rid)
            self.store.insert_if_absent(StoredDecision(
                rid, f"d-{rid}", {}, rng.choice(ACTIONS), "default@2", t, "adv",
                tuple(rng.sample(CATEGORIES, rng.randint(0, 2))), self.sightings()))
        elif kind < 0.65:  # a rescore: new hashes, perhaps a new action
            rid = rng.choice(self.ids)
            self.store.put(StoredDecision(rid, f"d2-{rid}", {}, rng.choice(ACTIONS), "default@2", t, "adv",
                                          (rng.choice(CATEGORIES),), self.sightings(least=1)))
        else:  # a verdict: an appeal that overturns, a confirmed leak, a relabel
            labels = {c: rng.random() < 0.4 for c in rng.sample(CATEGORIES, rng.randint(0, 3))}
            self.store.add_feedback(Feedback(rng.choice(self.ids), rng.choice(["review", "appeal"]), "alice",
                                             labels, rng.choice(ACTIONS), "", t))

    def probe(self) -> tuple[list[Sighting], str]:
        exclude = self.rng.choice([*self.ids, "new"])
        return [Sighting(f"image[{i}]", self.near()) for i in range(5)], exclude


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_bank_matches_a_full_scan_after_every_change(store, seed):
    scenario = Scenario(store, seed)
    index = KnownBadIndex(store, RULE)
    matched = 0
    for step in range(60):
        scenario.step(100.0 + step)
        for _ in range(2):
            sightings, exclude = scenario.probe()
            expected = scan(store.hash_records(bank_only=True), sightings, exclude, RULE.max_distance)
            assert index.match(sightings, exclude) == expected
            matched += len(expected)
        assert len(index) == len(store.hash_records(bank_only=True))
    assert matched > 20  # the scenario does produce matches to compare


class CountingStore(SQLiteDecisionStore):
    """The real SQLite store, counting what the bank reads from it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.full_reads = 0
        self.changed_records: list[int] = []

    def hash_records(self, since: float = 0.0, bank_only: bool = False) -> list[HashRecord]:
        self.full_reads += bank_only
        return super().hash_records(since, bank_only)

    def bank_changes(self, after):
        changes = super().bank_changes(after)
        self.changed_records.append(len(changes.records))
        return changes


def test_after_the_first_load_only_changed_decisions_are_read(tmp_path):
    store = CountingStore(tmp_path / "d.sqlite3")
    scenario = Scenario(store, seed=3)
    for step in range(40):
        scenario.step(float(step))
    index = KnownBadIndex(store, RULE)
    probe = [Sighting("image[0]", c) for c in scenario.creatives]
    index.match(probe, "new")
    assert store.full_reads == 1 and store.changed_records == []
    bank = len(index)
    assert bank > 10
    index.match(probe, "new")  # nothing changed: not even the changes are read
    assert store.changed_records == []

    bad = 0x5A5A_0F0F_3C3C_9999  # a new creative, far from the scenario's
    assert index.match([Sighting("image[0]", bad)], "new") == []
    store.put(StoredDecision("fresh", "d", {}, "reject", "default@2", 500.0, "adv", ("weapons",),
                             (Sighting("image[0]", bad, cited=True),)))
    (match,) = index.match([Sighting("image[0]", bad)], "new")
    assert match.request_id == "fresh" and match.distance == 0
    assert store.changed_records == [1] and len(index) == bank + 1

    store.add_feedback(Feedback("fresh", "appeal", "bob", {}, "approve", "", 501.0))  # overturned
    assert index.match([Sighting("image[0]", bad)], "new") == []
    assert store.changed_records == [1, 0] and len(index) == bank
    assert store.full_reads == 1


class WholeBankStore(SQLiteDecisionStore):
    """A store that keeps DecisionStore's default bank_changes: the whole bank, marked complete."""

    bank_changes = DecisionStore.bank_changes


def test_a_store_without_an_incremental_query_still_keeps_the_bank_exact(tmp_path):
    store = WholeBankStore(tmp_path / "d.sqlite3")
    scenario = Scenario(store, seed=4)
    index = KnownBadIndex(store, RULE)
    for step in range(40):
        scenario.step(float(step))
        sightings, exclude = scenario.probe()
        expected = scan(store.hash_records(bank_only=True), sightings, exclude, RULE.max_distance)
        assert index.match(sightings, exclude) == expected
    assert store.bank_changes((0, 0)).complete


def test_reload_reads_the_bank_again(tmp_path):
    store = CountingStore(tmp_path / "d.sqlite3")
    store.put(StoredDecision("bad", "d", {}, "reject", "default@2", 1.0, "adv", ("weapons",),
                             (Sighting("image[0]", 12345, cited=True),)))
    index = KnownBadIndex(store, RULE)
    assert [m.request_id for m in index.match([Sighting("image[0]", 12345 ^ 0b111)], "new")] == ["bad"]
    index.reload()
    assert len(index) == 0
    assert [m.distance for m in index.match([Sighting("image[0]", 12345 ^ 0b111)], "new")] == [3]
    assert store.full_reads == 2
