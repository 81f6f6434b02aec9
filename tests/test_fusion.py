"""Fusion rules: facts from the request, which rules fire, what they move, and what they may not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.config import load_config
from core.schemas import Action, ReviewRequest
from policy.decision import decide
from policy.fusion import fuse, request_facts

CONFIG = load_config("cpu")


def request(**parts) -> ReviewRequest:
    return ReviewRequest.model_validate({"request_id": "r", "creative": {"text": "Buy our supplement"}, **parts})


def test_facts_are_flattened_and_rates_derived():
    facts = request_facts(request(
        advertiser={"id": "a", "account_age_days": 3, "verified": False, "spend_velocity": 5},
        conversion={"clicks": 400, "conversion_rate": 0.3, "baseline_conversion_rate": 0.03, "chargeback_rate": 0.02},
        user_feedback={"impressions": 10000, "reports": 40, "negative_feedback": 500},
        landing_page={"url": "https://x.test/", "domain": {"age_days": 5, "on_blocklist": True}},
        signals={"velocity_z": 3.5},
    ), rejections=2)
    assert facts["advertiser.verified"] == 0.0 and facts["domain.on_blocklist"] == 1.0
    assert facts["conversion.conversion_lift"] == pytest.approx(10.0)
    assert facts["user_feedback.report_rate"] == pytest.approx(0.004)
    assert facts["user_feedback.negative_rate"] == pytest.approx(0.05)
    assert facts["history.rejections"] == 2 and facts["signals.velocity_z"] == 3.5
    assert "conversion.refund_rate" not in facts  # absent facts stay absent: no rule fires on them


def test_chargebacks_raise_corroborated_categories_and_floor_to_review():
    facts = request_facts(request(conversion={"clicks": 500, "chargeback_rate": 0.03}))
    content = {"scam_fraud": 0.3, "misleading_claims": 0.05, "weapons": 0.6}
    out = fuse(content, facts, CONFIG)
    assert out.scores["scam_fraud"] == pytest.approx(0.5)
    assert out.scores["misleading_claims"] == 0.05  # below min_content_score: behaviour alone does not move it
    assert out.scores["weapons"] == 0.6
    assert out.fired == ["chargeback_spike"]
    assert "conversion.chargeback_rate 0.03 ≥ 0.01" in out.reasons[0] and "scam_fraud 0.300→0.500" in out.reasons[0]
    decision = decide({"scam_fraud": 0.2}, None, CONFIG, fuse({"scam_fraud": 0.2}, facts, CONFIG))
    assert decision.action == Action.human_review
    assert decision.reasons[0].startswith("fusion chargeback_spike")


def test_rules_need_all_conditions_and_enough_volume():
    few_clicks = request_facts(request(conversion={"clicks": 50, "chargeback_rate": 0.5}))
    assert fuse({"scam_fraud": 0.4}, few_clicks, CONFIG).fired == []


def test_trusted_advertisers_get_less_overkill_but_never_on_egregious_categories():
    facts = request_facts(request(advertiser={"verified": True, "account_age_days": 2000, "prior_violations": 0}))
    out = fuse({"regulated_verticals": 0.7, "scam_fraud": 0.7}, facts, CONFIG)
    assert out.scores["regulated_verticals"] == pytest.approx(0.595) and out.scores["scam_fraud"] == 0.7
    bad = CONFIG.policy.model_dump()
    bad["fusion"]["rules"].append({"id": "lenient", "description": "x", "when": {"advertiser.verified": {"eq": 1}},
                                   "categories": ["child_safety"], "multiply": 0.5})
    with pytest.raises(ValidationError, match="lowers egregious"):
        load_config("cpu", {"policy_doc": bad})


@pytest.mark.parametrize("rule, message", [
    ({"when": {"advertiser.shoe_size": {"gte": 1}}, "categories": ["scam_fraud"], "add": 0.1}, "unknown facts"),
    ({"when": {"signals.x": {}}, "categories": ["scam_fraud"], "add": 0.1}, "at least one of"),
    ({"when": {"signals.x": {"gte": 1}}}, "no effect"),
    ({"when": {"signals.x": {"gte": 1}}, "categories": ["no_such"], "add": 0.1}, "unknown category"),
])
def test_bad_rules_are_refused_at_load(rule, message):
    policy = CONFIG.policy.model_dump()
    policy["fusion"]["rules"] = [{"id": "r1", "description": "d", **rule}]
    with pytest.raises(ValidationError, match=message):
        load_config("cpu", {"policy_doc": policy})
