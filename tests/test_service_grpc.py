"""The gRPC API (adrisk.v1) on Ray Serve's gRPC proxy: same deployments, same answers as HTTP."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from serving.grpc_client import AdriskClient
from serving.proto import adrisk_pb2 as pb
from serving.proto import adrisk_pb2_grpc
from tests.media import b64, encode, rifle_drawing

SCAM = "Double your bitcoin in 24 hours! Send 1 BTC to our wallet and get 2 BTC back, guaranteed."


@pytest.fixture(scope="module")
def grpc_client(service):
    with AdriskClient(service.grpc_target, timeout_s=60) as client:
        yield client


def rid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_grpc_review_equals_the_http_review(client, grpc_client):
    body = {"creative": {"text": SCAM, "images": [{"data": b64(encode(rifle_drawing()))}]},
            "advertiser": {"id": "g1", "account_age_days": 3, "verified": False}}
    over_http = client.post("/v1/review", json={"request_id": rid("http"), **body}).json()
    over_grpc = grpc_client.review({"request_id": rid("grpc"), **body})
    assert over_grpc.decision.model_dump() == over_http["decision"]
    assert over_grpc.scores.keys() == over_http["scores"].keys()
    for category, score in over_http["scores"].items():
        assert over_grpc.scores[category] == pytest.approx(score, abs=1e-3)
    assert [e.source for e in over_grpc.evidence] == [e["source"] for e in over_http["evidence"]]
    assert over_grpc.model_versions == over_http["model_versions"]


def test_grpc_replays_the_stored_decision_like_http(client, grpc_client):
    request_id = rid("replay")
    first = client.post("/v1/review", json={"request_id": request_id, "creative": {"text": SCAM}}).json()
    again = grpc_client.review({"request_id": request_id, "creative": {"text": SCAM}})
    assert again.cached and again.scores == first["scores"]


def test_grpc_batch_answers_each_item_and_fails_bad_ones_alone(grpc_client):
    out = grpc_client.review_batch([
        {"request_id": rid("b-ok"), "creative": {"text": "Fresh bread daily"}},
        {"request_id": rid("b-bad"), "creative": {"images": [{"data": b64(b"not an image")}]}},
        {"request_id": "bad id with spaces", "creative": {"text": "x"}},
    ])
    ok, bad_image, bad_id = out.results
    assert ok.ok and ok.result.decision.action == "approve"
    assert not bad_image.ok and bad_image.error.status == 400 and "image" in bad_image.error.detail
    assert not bad_id.ok and bad_id.error.status == 422 and "request_id" in bad_id.error.detail


@pytest.mark.parametrize("request_body, fragment", [
    ({"request_id": "g-empty"}, "at least one content part"),
    ({"request_id": "g-img", "creative": {"images": [{"data": b64(b"GIF89a-truncated")}]}}, "image"),
    ({"request_id": "g-opt", "creative": {"text": "x"}, "options": {"summary": "sometimes"}}, "summary"),
])
def test_bad_input_is_invalid_argument_with_a_reason(grpc_client, request_body, fragment):
    with pytest.raises(grpc.RpcError) as err:
        grpc_client.review(request_body)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in err.value.details()


def test_feedback_and_taxonomy_over_grpc(client, grpc_client):
    with pytest.raises(grpc.RpcError) as err:
        grpc_client.feedback({"request_id": "never-seen-grpc", "reviewer": "a", "final_action": "reject"})
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    request_id = rid("g-fb")
    grpc_client.review({"request_id": request_id, "creative": {"text": SCAM}})
    verdict = grpc_client.feedback({"request_id": request_id, "reviewer": "a", "final_action": "reject",
                                    "labels": {"scam_fraud": True}})
    assert verdict.agreed and verdict.effective_action == "reject"
    assert grpc_client.taxonomy().model_dump() == client.get("/v1/taxonomy").json()


def test_health_reflection_and_deadlines(service, grpc_client):
    with grpc.insecure_channel(service.grpc_target) as channel:
        metadata = [("application", "adrisk")]
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), metadata=metadata,
                                                           timeout=30)
        assert health.status == health_pb2.HealthCheckResponse.SERVING

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                  timeout=30)
        services = {s.name for answer in answers for s in answer.list_services_response.service}
        assert "adrisk.v1.Adrisk" in services and "grpc.health.v1.Health" in services

        stub = adrisk_pb2_grpc.AdriskStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Review(pb.ReviewRequest(request_id=rid("late"), creative=pb.Creative(text=SCAM)),
                        metadata=metadata, timeout=0.001)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert grpc_client.review({"request_id": rid("after"), "creative": {"text": "ok"}}).decision.action
