"""Fusion, known-bad matching, reviewer feedback and trends, end to end over HTTP."""

from __future__ import annotations

import uuid

from tests.media import b64, encode, random_blocks
from tests.test_decision_log import recompressed

# Borderline copy: the scam head sees something, not enough to act on alone.
BORDERLINE = "Limited offer: our members earn extra income from home, sign up today and start earning."
CHARGEBACKS = {"clicks": 800, "conversion_rate": 0.04, "chargeback_rate": 0.035}


def rid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def post(client, path: str, body: dict, status: int = 200) -> dict:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_conversion_signals_move_scores_and_send_the_ad_to_review(client):
    plain = post(client, "/v1/review", {"request_id": rid("fuse-plain"), "creative": {"text": BORDERLINE}})
    assert plain["decision"]["action"] == "approve" and plain["content_scores"] is None
    assert 0.1 <= plain["scores"]["scam_fraud"] < 0.5, plain["scores"]["scam_fraud"]
    fused = post(client, "/v1/review", {"request_id": rid("fuse-cb"), "creative": {"text": BORDERLINE},
                                        "conversion": CHARGEBACKS})
    assert fused["fusion_rules"] == ["chargeback_spike"]
    assert fused["content_scores"]["scam_fraud"] == plain["scores"]["scam_fraud"]
    assert fused["scores"]["scam_fraud"] > plain["scores"]["scam_fraud"] + 0.19
    assert fused["decision"]["action"] == "human_review"
    assert any("chargeback_rate 0.035 ≥ 0.01" in r for r in fused["decision"]["reasons"])


def test_the_decision_log_counts_an_advertisers_rejections(client):
    advertiser = {"id": rid("adv"), "account_age_days": 400, "verified": True}
    scam = "Double your bitcoin in 24 hours! Send 1 BTC to our wallet and get 2 BTC back, guaranteed."
    for _ in range(2):
        body = post(client, "/v1/review", {"request_id": rid("hist"), "creative": {"text": scam},
                                           "advertiser": advertiser})
        assert body["decision"]["action"] == "reject"
    third = post(client, "/v1/review", {"request_id": rid("hist"), "creative": {"text": scam},
                                        "advertiser": advertiser})
    # Two logged rejections make an egregious hit an account-level problem, though the request said nothing.
    assert third["decision"]["action"] == "suspend_account"
    assert "repeat_offender" in third["fusion_rules"]
    assert any("2 prior violations" in r for r in third["decision"]["reasons"])


def test_feedback_errors_are_clear(client):
    missing = post(client, "/v1/feedback", {"request_id": "never-seen", "reviewer": "alice",
                                            "final_action": "reject"}, status=404)
    assert missing["error"] == "not_found" and "never-seen" in missing["detail"]
    seen = rid("fb-err")
    post(client, "/v1/review", {"request_id": seen, "creative": {"text": "Fresh bread daily"}})
    bad_label = post(client, "/v1/feedback", {"request_id": seen, "reviewer": "alice", "final_action": "reject",
                                              "labels": {"not_a_category": True}}, status=422)
    assert "not_a_category" in bad_label["detail"]
    bad_action = client.post("/v1/feedback", json={"request_id": seen, "reviewer": "a", "final_action": "ban"})
    assert bad_action.status_code in (400, 422) and "final_action" in bad_action.text
    assert client.get("/v1/decisions/never-seen").status_code == 404


def test_a_confirmed_leak_enters_the_bank_and_catches_its_reuploads(client):
    creative = random_blocks(4242)
    first = rid("leak")
    body = post(client, "/v1/review", {"request_id": first, "creative": {"images": [{"data": b64(encode(creative))}],
                                                                        "text": "Summer collection"}})
    assert body["decision"]["action"] == "approve"
    verdict = post(client, "/v1/feedback", {"request_id": first, "reviewer": "alice", "final_action": "reject",
                                            "labels": {"counterfeit_ip": True}, "note": "fake brand goods"})
    assert verdict == {**verdict, "original_action": "approve", "effective_action": "reject",
                       "overturned": False, "agreed": False}

    reupload = post(client, "/v1/review", {"request_id": rid("reup"), "creative": {
        "images": [{"data": b64(encode(recompressed(creative), quality=70))}], "text": "Summer collection"}})
    assert "known_bad" in reupload["fusion_rules"]
    hit = next(e for e in reupload["evidence"] if "near-duplicate" in e["detail"])
    assert hit["category"] == "counterfeit_ip" and first in hit["detail"]
    assert reupload["scores"]["counterfeit_ip"] >= reupload["content_scores"]["counterfeit_ip"] + 0.34

    record = client.get(f"/v1/decisions/{first}").json()
    assert record["action"] == "approve" and record["effective_action"] == "reject"
    assert record["feedback"][0]["labels"] == {"counterfeit_ip": True}


def test_an_appeal_overturns_and_leaves_the_bank(client):
    creative = random_blocks(5151)
    first = rid("appeal")
    post(client, "/v1/review", {"request_id": first, "creative": {"images": [{"data": b64(encode(creative))}]}})
    post(client, "/v1/feedback", {"request_id": first, "reviewer": "bob", "final_action": "reject",
                                  "labels": {"adult_sexual": True}})
    appeal = post(client, "/v1/feedback", {"request_id": first, "kind": "appeal", "reviewer": "carol",
                                           "final_action": "approve", "labels": {"adult_sexual": False}})
    assert appeal["overturned"] is False and appeal["effective_action"] == "approve"  # original was approve
    again = post(client, "/v1/review", {"request_id": rid("appeal-re"),
                                        "creative": {"images": [{"data": b64(encode(creative))}]}})
    assert "known_bad" not in again["fusion_rules"]
    record = client.get(f"/v1/decisions/{first}").json()
    assert [f["kind"] for f in record["feedback"]] == ["review", "appeal"]
    assert record["effective_action"] == "approve"


def test_trends_show_a_flagged_creative_coming_back(client):
    creative = random_blocks(6161)
    ids = [rid("trend") for _ in range(3)]
    copies = [creative, recompressed(creative), recompressed(recompressed(creative))]
    for request_id, img in zip(ids, copies, strict=True):
        post(client, "/v1/review", {"request_id": request_id, "creative": {"images": [{"data": b64(encode(img))}]},
                                    "conversion": CHARGEBACKS, "user_feedback": {"impressions": 5000, "reports": 40}})
    trends = client.get("/v1/trends", params={"window_s": 3600, "min_count": 3}).json()
    ours = [c for c in trends["clusters"] if set(ids) <= set(c["request_ids"])]
    assert len(ours) == 1 and ours[0]["count"] >= 3 and ours[0]["actions"].get("human_review", 0) >= 3
    assert ours[0]["first_seen"] <= ours[0]["last_seen"] and ours[0]["example"]["request_id"] in ids
    assert client.get("/v1/trends", params={"window_s": -1}).status_code == 422
