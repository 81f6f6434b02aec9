"""The decision store's feedback, history and known-bad bank, and pHash matching and trends: on
SQLite and on a real PostgreSQL (the `store` fixture, tests/store_fixtures.py)."""

from __future__ import annotations

import io
import sqlite3

import pytest
from PIL import Image, ImageEnhance

from core.config import KnownBadRule
from core.store import Feedback, Sighting, SQLiteDecisionStore, StoredDecision
from multimodal.phash import phash
from policy.known_bad import KnownBadIndex, apply_matches, trends
from tests.media import encode, landscape_photo, random_blocks, rifle_drawing

RULE = KnownBadRule(max_distance=6, boost=0.35, trend_distance=8)


def record(rid: str, action: str, sightings=(), advertiser="adv-1", categories=("weapons",), at=100.0):
    return StoredDecision(rid, f"digest-{rid}", {"request_id": rid}, action, "default@2", at, advertiser,
                          tuple(categories), tuple(sightings))


def verdict(rid: str, action: str, kind: str = "review", labels=None, at=200.0) -> Feedback:
    return Feedback(rid, kind, "alice", labels or {}, action, "", at)


def recompressed(img: Image.Image) -> Image.Image:
    """The same creative re-uploaded: recompressed, slightly brighter, 2% cropped."""
    w, h = img.size
    out = ImageEnhance.Brightness(img.crop((w // 50, h // 50, w, h))).enhance(1.08)
    return Image.open(io.BytesIO(encode(out, quality=60))).convert("RGB")


def test_phash_sees_reuploads_as_near_and_different_creatives_as_far():
    rifle = rifle_drawing()
    assert bin(phash(rifle) ^ phash(recompressed(rifle))).count("1") <= RULE.max_distance
    assert bin(phash(rifle) ^ phash(landscape_photo(3))).count("1") > 16


def test_old_databases_are_migrated_in_place(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE decisions (request_id TEXT PRIMARY KEY, input_digest TEXT NOT NULL, action TEXT "
                 "NOT NULL, policy_version TEXT NOT NULL, response_json TEXT NOT NULL, created_at REAL NOT NULL)")
    conn.execute("INSERT INTO decisions VALUES ('old', 'd', 'approve', 'default@1', '{}', 1.0)")
    conn.commit()
    conn.close()
    store = SQLiteDecisionStore(path)
    old = store.get("old")
    assert old is not None and old.action == "approve" and old.advertiser_id is None and old.categories == ()
    store.put(record("new", "reject"))
    assert store.count() == 2


def test_history_counts_effective_rejections_and_appeals_overturn(store):
    for rid, action in (("a1", "reject"), ("a2", "suspend_account"), ("a3", "approve"), ("a4", "reject")):
        store.put(record(rid, action))
    store.put(record("b1", "reject", advertiser="adv-2"))
    assert store.rejections("adv-1") == 3
    assert store.rejections("adv-1", exclude_request_id="a4") == 2
    store.add_feedback(verdict("a4", "approve", kind="appeal"))  # overturned
    store.add_feedback(verdict("a3", "reject"))  # a reviewer caught a leak
    assert store.rejections("adv-1") == 3
    assert [f.final_action for f in store.feedback_for("a4")] == ["approve"]
    with pytest.raises(KeyError):
        store.add_feedback(verdict("nope", "reject"))


def test_bank_follows_effective_actions_and_boosts_near_duplicates(store):
    rifle, photo, stock = rifle_drawing(), landscape_photo(5), random_blocks(99)
    # A rejected ad: its rifle image was cited; the stock photo beside it was not, and stays out.
    store.put(record("bad", "reject", [Sighting("image[0]", phash(rifle), cited=True),
                                       Sighting("image[1]", phash(stock))]))
    store.put(record("fine", "approve", [Sighting("image[0]", phash(photo))], categories=()))
    index = KnownBadIndex(store, RULE)
    new = [Sighting("image[0]", phash(recompressed(rifle))), Sighting("image[1]", phash(recompressed(photo))),
           Sighting("image[2]", phash(stock))]
    (match,) = index.match(new, exclude_request_id="new")
    assert match.source == "image[0]" and match.request_id == "bad" and match.categories == ("weapons",)
    scores, evidence = apply_matches({"weapons": 0.3}, [match], RULE)
    assert scores["weapons"] == pytest.approx(0.65)
    assert "near-duplicate" in evidence[0]["detail"] and "bad" in evidence[0]["detail"]
    assert index.match(new, exclude_request_id="bad") == []  # a rescore never matches itself

    store.add_feedback(verdict("bad", "approve", kind="appeal"))  # overturned: out of the bank
    assert index.match(new, exclude_request_id="new") == []
    store.add_feedback(verdict("fine", "reject", labels={"adult_sexual": True}))  # confirmed leak: in
    (leak,) = index.match(new, exclude_request_id="new")
    assert leak.request_id == "fine" and leak.categories == ("adult_sexual",)


def test_trends_cluster_reuploads_across_requests(store):
    rifle = rifle_drawing()
    variants = [rifle, recompressed(rifle), recompressed(recompressed(rifle))]
    for i, img in enumerate(variants):
        store.put(record(f"w{i}", "human_review", [Sighting("image[0]", phash(img))], at=1000.0 + i))
    for i in range(3):
        store.put(record(f"p{i}", "reject", [Sighting("image[0]", phash(random_blocks(10 + i)))],
                         categories=("scam_fraud",), at=1000.0 + i))
    store.put(record("ok", "approve", [Sighting("image[0]", phash(rifle))], at=1001.0))
    clusters = trends(store.hash_records(since=0), RULE.trend_distance, min_count=2)
    assert len(clusters) == 1
    (c,) = clusters
    assert c["count"] == 3 and c["categories"] == {"weapons": 3} and c["actions"] == {"human_review": 3}
    assert c["first_seen"] == 1000.0 and c["last_seen"] == 1002.0 and "ok" not in c["request_ids"]
    assert trends(store.hash_records(since=1001.5), RULE.trend_distance, min_count=2) == []
