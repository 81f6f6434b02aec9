"""The proto mirrors the pydantic schemas one to one: every message has a pydantic model of the same
name with exactly the same fields, and a full request survives proto → dict → pydantic."""

from __future__ import annotations

import base64

from pydantic import BaseModel

import core.schemas as schemas
from serving.grpc_client import request_message
from serving.grpc_mapping import message_to_dict, model_to_message
from serving.proto import adrisk_pb2 as pb

# Proto-only helpers with no pydantic counterpart (an empty request message; HTTP's path parameter).
PROTO_ONLY = {"TaxonomyRequest", "DecisionRequest"}


def test_every_message_mirrors_its_pydantic_model_field_for_field():
    messages = pb.DESCRIPTOR.message_types_by_name
    checked = []
    for name, descriptor in messages.items():
        if name in PROTO_ONLY:
            continue
        model = getattr(schemas, name, None)
        assert isinstance(model, type) and issubclass(model, BaseModel), f"no pydantic model for message {name}"
        assert set(descriptor.fields_by_name) == set(model.model_fields), name
        checked.append(name)
    # ...and every request/response model the HTTP API uses has a message.
    for model in ("ReviewRequest", "ReviewResponse", "BatchReviewRequest", "BatchReviewResponse", "FeedbackRequest",
                  "FeedbackResponse", "TaxonomyResponse", "Decision", "Evidence", "Diagnosis", "Violation",
                  "UnsupportedViolation", "DecisionRecord", "FeedbackRecord"):
        assert model in checked
    service = pb.DESCRIPTOR.services_by_name["Adrisk"]
    assert {m.name for m in service.methods} == {"Review", "ReviewBatch", "Feedback", "GetTaxonomy", "GetDecision"}


def test_a_full_request_round_trips_with_media_as_bytes():
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0fake").decode()
    doc = {
        "request_id": "rt-1",
        "creative": {"images": [{"data": jpeg}], "video": {"url": "https://v.test/a.mp4"}, "text": "hi"},
        "landing_page": {"url": "https://x.test/", "html": "<p>x</p>", "screenshot": {"data": jpeg},
                         "domain": {"age_days": 3, "on_blocklist": False}},
        "advertiser": {"id": "a", "account_age_days": 2.5, "prior_violations": 3, "verified": False,
                       "spend_velocity": 4.0, "attributes": {"tier": "gold", "score": 1.5, "vip": True}},
        "conversion": {"clicks": 10, "chargeback_rate": 0.02},
        "user_feedback": {"impressions": 1000, "reports": 3},
        "signals": {"z": 1.25},
        "options": {"rescore": True, "record": False, "summary": "always"},
    }
    message = request_message(doc)
    assert message.creative.images[0].data == b"\xff\xd8\xff\xe0fake"  # raw bytes on the wire
    back = schemas.ReviewRequest.model_validate(message_to_dict(message))
    assert back == schemas.ReviewRequest.model_validate(doc)
    minimal = schemas.ReviewRequest.model_validate(message_to_dict(request_message(
        {"request_id": "m", "creative": {"text": "x"}})))
    assert minimal.advertiser is None and minimal.options == schemas.ReviewOptions()  # unset stays unset


def test_responses_map_back_without_losing_fields():
    response = schemas.ReviewResponse(
        request_id="r", scores={"scam_fraud": 0.9}, content_scores=None, fusion_rules=["x"],
        decision=schemas.Decision(action="reject", categories=["scam_fraud"], reasons=["why"], policy_version="p@1"),
        evidence=[], model_versions={"m": "1"}, timings_ms={"total": 1.0}, summary_status="ok",
        diagnosis=schemas.Diagnosis(
            violations=[schemas.Violation(category="scam_fraud", severity="high", evidence="e", rationale="r")],
            unsupported=[schemas.UnsupportedViolation(category="adult_sexual", severity="high", evidence="e",
                                                      rationale="r", model_score=0.04, review_threshold=0.5,
                                                      reason="below review")],
            summary="s", confidence=0.5, llm_confidence=1.0, confidence_capped=True,
            consistency="partly_unsupported"),
    )
    message = model_to_message(response, pb.ReviewResponse)
    assert schemas.ReviewResponse.model_validate(message_to_dict(message)) == response
    assert message.diagnosis.unsupported[0].review_threshold == 0.5 and message.diagnosis.confidence_capped
