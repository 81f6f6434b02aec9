"""Batch writes of the decision store (`put_many`, `insert_many_if_absent`) on SQLite and on a real
PostgreSQL, and the record stage's group commit (serving/stages/record.py:GroupWriter) that uses
them: one transaction for many decisions, each with the answer `put` / `insert_if_absent` gives."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.store import DecisionStore, Sighting, StoredDecision
from serving.stages.record import GroupWriter


def record(rid: str, at: float, action: str = "reject", sightings=()) -> StoredDecision:
    return StoredDecision(rid, f"digest-{rid}-{at:g}", {"request_id": rid, "at": at}, action, "default@2", at,
                          "adv-1", ("scam_fraud",), tuple(sightings), inputs={"texts": [{"text": rid}]})


def test_insert_many_keeps_the_first_writer_of_each_id_and_answers_in_order(store):
    stored = record("b", 1.0, sightings=[Sighting("image[0]", 7)])
    store.insert_if_absent(stored)
    group = [record("a", 2.0, sightings=[Sighting("image[0]", 1), Sighting("image[1]", 2)]),
             record("b", 3.0, action="approve", sightings=[Sighting("image[0]", 9)]),
             record("c", 4.0), record("a", 5.0, action="approve")]
    got = store.insert_many_if_absent(group)
    assert got == [group[0], stored, group[2], group[0]]  # the earlier writer of b, and of a
    assert store.count() == 3
    assert sorted((h.request_id, h.phash) for h in store.hash_records()) == [("a", 1), ("a", 2), ("b", 7)]
    assert store.insert_many_if_absent([]) == []


def test_put_many_replaces_decisions_and_their_sightings(store):
    store.insert_many_if_absent([record("a", 1.0, sightings=[Sighting("image[0]", 1)]), record("b", 2.0)])
    group = [record("a", 3.0, action="approve", sightings=[Sighting("image[0]", 5)]),
             record("b", 4.0, sightings=[Sighting("video@1.0s", 6)])]
    assert store.put_many(group) == group
    assert [store.get("a"), store.get("b")] == group
    assert sorted((h.request_id, h.phash) for h in store.hash_records()) == [("a", 5), ("b", 6)]


def test_a_failed_group_stores_none_of_its_decisions(store):
    bad = StoredDecision("z", "digest-z", {"unserialisable": object()}, "reject", "default@2", 2.0)
    with pytest.raises(TypeError):
        store.insert_many_if_absent([record("y", 1.0, sightings=[Sighting("image[0]", 3)]), bad])
    assert store.get("y") is None and store.count() == 0 and store.hash_records() == []


def test_concurrent_groups_sharing_ids_agree_on_one_winner_per_id(store_config):
    """Two threads write groups over the same ids in opposite orders (PostgreSQL orders its row locks;
    SQLite has one writer): no deadlock, and both see the same stored decision for each id."""
    from core.store_factory import open_store

    stores = [open_store(store_config), open_store(store_config)]
    ids = [f"r{i:02d}" for i in range(20)]
    results: dict[int, list[StoredDecision]] = {}

    def write(k: int) -> None:
        order = ids if k == 0 else ids[::-1]
        got = stores[k].insert_many_if_absent([record(r, 10.0 + k, sightings=[Sighting("image[0]", k + 1)])
                                               for r in order])
        results[k] = sorted(got, key=lambda d: d.request_id)

    try:
        threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert results[0] == results[1] and len(results[0]) == len(ids)
        assert stores[0].count() == len(ids) and len(stores[0].hash_records()) == len(ids)
    finally:
        for opened in stores:
            opened.close()


class CountingStore:
    """A store stand-in that records the groups it was given (and can fail one)."""

    def __init__(self, inner: DecisionStore) -> None:
        self.inner, self.groups, self.fail_next = inner, [], False

    def insert_many_if_absent(self, records):
        return self._group("insert", records, self.inner.insert_many_if_absent)

    def put_many(self, records):
        return self._group("put", records, self.inner.put_many)

    def _group(self, kind, records, write):
        self.groups.append((kind, [r.request_id for r in records]))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("disk full")
        return write(records)


def test_the_group_writer_commits_concurrent_ads_together(tmp_path):
    from core.store import SQLiteDecisionStore

    store = CountingStore(SQLiteDecisionStore(tmp_path / "d.sqlite3"))
    writer = GroupWriter(store)  # type: ignore[arg-type]

    async def run():
        first = [writer.write(record(f"a{i}", 1.0), replace=False) for i in range(5)]
        again = writer.write(record("a0", 2.0), replace=False)  # a duplicate id in the same burst
        rescore = writer.write(record("a1", 3.0, action="approve"), replace=True)
        return await asyncio.gather(*first, again, rescore)

    out = asyncio.run(run())
    assert [d.created_at for d in out] == [1.0] * 5 + [1.0, 3.0]  # the duplicate gets the first; put replaces
    # Everything queued before the writer ran is one group per kind: one transaction of inserts, one of puts.
    assert store.groups == [("insert", ["a0", "a1", "a2", "a3", "a4", "a0"]), ("put", ["a1"])]
    assert writer.transactions == 2

    store.fail_next = True

    async def failing():
        return await asyncio.gather(*(writer.write(record(f"f{i}", 1.0), replace=False) for i in range(3)),
                                    return_exceptions=True)

    errors = asyncio.run(failing())
    assert all(isinstance(e, RuntimeError) for e in errors)  # their group failed: each ad sees the error
    assert store.inner.get("f0") is None

    async def after():
        return await writer.write(record("g0", 1.0), replace=False)

    assert asyncio.run(after()).request_id == "g0"  # the writer goes on after a failed group
