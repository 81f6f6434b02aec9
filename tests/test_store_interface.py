"""Every `DecisionStore` method, on SQLite and on a real PostgreSQL (the `store` fixture): the two
backends must answer the same calls the same way."""

from __future__ import annotations

import json

import pytest

from core.store import Feedback, HashRecord, Sighting, StoredDecision


def record(rid: str, at: float, action: str = "reject", sightings=(), advertiser: str = "adv-1",
           response: dict | None = None) -> StoredDecision:
    return StoredDecision(rid, f"digest-{rid}", response or {"request_id": rid, "score": 0.5}, action, "default@2",
                          at, advertiser, ("scam_fraud",), tuple(sightings),
                          inputs={"facts": {"conversion.clicks": 800.0}, "texts": [{"text": "buy now"}]})


def test_a_decision_reads_back_as_written(store):
    big = (1 << 64) - 3  # an unsigned pHash above the signed range
    written = record("r1", 1700000000.123456, sightings=[Sighting("image[0]", big, cited=True)],
                     response={"request_id": "r1", "nested": {"a": [1, 2.5, None, "ü"]}, "nan": float("nan")})
    store.put(written)
    got = store.get("r1")
    assert json.dumps(got.response) == json.dumps(written.response)  # NaN included (NaN != NaN)
    assert (got.request_id, got.input_digest, got.action, got.policy_version, got.advertiser_id, got.categories) == (
        "r1", "digest-r1", "reject", "default@2", "adv-1", ("scam_fraud",))
    assert got.inputs == written.inputs and got.created_at == 1700000000.123456
    (h,) = store.hash_records()
    assert (h.request_id, h.source, h.phash, h.action, h.categories) == ("r1", "image[0]", big, "reject",
                                                                        ("scam_fraud",))
    assert store.get("absent") is None and store.count() == 1


def test_the_first_writer_of_an_id_wins_and_a_rescore_replaces_it(store):
    first = record("r1", 10.0, sightings=[Sighting("image[0]", 1), Sighting("image[1]", 2)])
    assert store.insert_if_absent(first) == first
    duplicate = record("r1", 20.0, action="approve", sightings=[Sighting("image[0]", 3)])
    assert store.insert_if_absent(duplicate) == first  # the stored one, not the duplicate
    assert [h.phash for h in store.hash_records()] == [1, 2]
    store.add_feedback(Feedback("r1", "review", "alice", {"scam_fraud": True}, "reject", "", 15.0))
    store.put(duplicate)  # a rescore: the decision and its hashes are replaced, its verdicts stay
    assert store.get("r1") == duplicate and [h.phash for h in store.hash_records()] == [3]
    assert [f.final_action for f in store.feedback_for("r1")] == ["reject"]
    assert store.count() == 1


def test_a_decision_without_created_at_gets_the_store_clock(store_config):
    from core.store_factory import open_store

    opened = open_store(store_config, clock=lambda: 4242.5)
    try:
        opened.put(record("r1", 0.0, sightings=[Sighting("image[0]", 7)]))
        assert opened.hash_records()[0].created_at == 4242.5
        fb = opened.add_feedback(Feedback("r1", "review", "bob", {}, "approve", "", 0.0))
        assert fb.created_at == 4242.5 and opened.set_rollout("policy", {"stable": "2"}, "bob") >= 1
        assert opened.rollout_history("policy")[0]["created_at"] == 4242.5
    finally:
        opened.close()


def test_decisions_in_a_window_in_time_order(store):
    for rid, at in (("c", 30.0), ("a", 10.0), ("b", 20.0), ("d", 40.0)):
        store.put(record(rid, at))
    assert [d.request_id for d in store.decisions()] == ["a", "b", "c", "d"]
    assert [d.request_id for d in store.decisions(since=20.0, until=30.0)] == ["b", "c"]
    assert [d.request_id for d in store.decisions(since=25.0)] == ["c", "d"]
    assert store.decisions(since=50.0) == []


def test_verdicts_are_kept_in_order_with_ids_and_the_version_follows_them(store):
    assert store.version() == (0, 0)
    store.put(record("r1", 1.0, sightings=[Sighting("image[0]", 5), Sighting("image[1]", 6)]))
    store.put(record("r2", 2.0))
    after_decisions = store.version()
    assert after_decisions[0] >= 2 and after_decisions[1] == 0
    a = store.add_feedback(Feedback("r2", "review", "alice", {"scam_fraud": True}, "reject", "first", 3.0))
    b = store.add_feedback(Feedback("r1", "appeal", "bob", {}, "approve", "second", 4.0))
    c = store.add_feedback(Feedback("r2", "appeal", "carol", {"scam_fraud": False}, "approve", "third", 5.0))
    assert a.id < b.id < c.id and store.version() == (after_decisions[0], c.id)
    assert store.all_feedback() == [a, b, c]
    assert store.feedback_for("r2") == [a, c] and store.feedback_for("r3") == []
    assert c.labels == {"scam_fraud": False} and c.note == "third"
    with pytest.raises(KeyError):
        store.add_feedback(Feedback("missing", "review", "alice", {}, "reject", "", 6.0))
    assert store.version() == (after_decisions[0], c.id)  # the refused verdict left nothing


def test_rejections_follow_the_effective_action_and_bank_records_the_reviewers_labels(store):
    store.put(record("r1", 1.0, sightings=[Sighting("image[0]", 9)]))  # not cited: out of the bank
    store.put(record("r2", 2.0, action="approve", sightings=[Sighting("image[0]", 10)]))
    assert store.hash_records(bank_only=True) == [] and store.rejections("adv-1") == 1
    store.add_feedback(Feedback("r2", "review", "alice", {"weapons": True, "scam_fraud": False}, "reject", "", 3.0))
    (leak,) = store.hash_records(bank_only=True)  # a verdict vouches for the whole creative
    assert isinstance(leak, HashRecord) and (leak.request_id, leak.categories) == ("r2", ("weapons",))
    assert store.rejections("adv-1") == 2 and store.rejections("adv-1", exclude_request_id="r2") == 1
    assert store.rejections("adv-2") == 0


def test_rollout_states_append_and_the_latest_per_component_is_current(store):
    assert store.rollouts() == (0, {})
    first = store.set_rollout("text_heads", {"stable": "1", "candidate": "2"}, "alice", "canary")
    second = store.set_rollout("policy", {"stable": "2"}, "bob")
    third = store.set_rollout("text_heads", {"stable": "2"}, "alice", "promote")
    assert first < second < third
    assert store.rollouts() == (third, {"text_heads": {"stable": "2"}, "policy": {"stable": "2"}})
    history = store.rollout_history("text_heads")
    assert [(h["id"], h["state"], h["actor"], h["note"]) for h in history] == [
        (first, {"stable": "1", "candidate": "2"}, "alice", "canary"), (third, {"stable": "2"}, "alice", "promote")]
    assert store.rollout_history("llm") == []


def test_a_late_diagnosis_for_a_missing_decision_is_dropped(store):
    assert not store.attach_summary("nobody", 1.0, "ok", None, {})
    store.put(record("r1", 1.5))
    assert not store.attach_summary("r1", 1.25, "ok", None, {})  # another created_at: another decision
    assert store.attach_summary("r1", 1.5, "failed", None, {"llm": "m@2"})
    assert store.get("r1").response["summary_status"] == "failed"
