"""Enforcement never waits on the LLM: `summary: auto` answers with the stored decision and
`summary_status: pending`, the diagnosis is written onto that decision when it is ready (read over
HTTP and gRPC), and every call is bounded by the ingress budget with a JSON 504 / DEADLINE_EXCEEDED."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest

from core.schemas import Diagnosis
from serving.grpc_client import AdriskClient
from tests.conftest import profile_section
from tests.media import b64, encode, landscape_photo

SCAMS = [
    "Double your Bitcoin in 24 hours! Send 0.1 BTC and get 0.2 BTC back, guaranteed.",
    "Congratulations, you won a $1000 gift card! Enter your bank login to claim your prize now.",
    "Guaranteed 500% returns: invest today, withdraw tomorrow. Limited slots, send crypto now.",
]
BENIGN = [
    "Fresh sourdough bread delivered every morning.",
    "Waterproof hiking boots with a full-grain leather upper, sizes 36 to 47.",
]
SETTLED = {"ok", "invalid", "timeout", "unavailable"}


def _review(rid: str, text: str, summary: str | None = "auto") -> dict:
    body: dict = {"request_id": rid, "creative": {"text": text}}
    if summary:
        body["options"] = {"summary": summary}
    return body


def _settled(client: httpx.Client, rid: str, timeout_s: float = 240.0) -> dict:
    """Poll the stored decision until its diagnosis is no longer pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = client.get(f"/v1/decisions/{rid}")
        assert record.status_code == 200, record.text
        body = record.json()
        if body["response"]["summary_status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(1.0)


def test_auto_answers_with_the_decision_and_writes_the_diagnosis_back(client, service):
    resp = client.post("/v1/review", json=_review("sum-auto-1", SCAMS[0]))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    if body["summary_status"] == "disabled":
        pytest.skip("the LLM is off (ADRISK_TEST_SKIP_LLM=1, local runs only)")
    assert body["decision"]["action"] in {"reject", "human_review", "suspend_account"}
    # Answered before the LLM ran: a waited-for summary would be ok / invalid / timeout here.
    assert body["summary_status"] == "pending" and body["diagnosis"] is None
    assert "llm" not in body["timings_ms"]

    record = _settled(client, "sum-auto-1")
    response = record["response"]
    assert response["summary_status"] in SETTLED - {"unavailable"}, response["summary_status"]
    assert record["action"] == body["decision"]["action"] == response["decision"]["action"]  # never changed
    if response["summary_status"] == "ok":
        Diagnosis.model_validate(response["diagnosis"])
        assert response["model_versions"]["llm_prompt"] == "prompt-1"
    else:
        assert response["diagnosis"] is None

    # The replay and the gRPC read see the written-back diagnosis too.
    replay = client.post("/v1/review", json=_review("sum-auto-1", SCAMS[0])).json()
    assert replay["cached"] and replay["summary_status"] == response["summary_status"]
    assert replay["diagnosis"] == response["diagnosis"]
    with AdriskClient(service.grpc_target, timeout_s=60) as grpc_client:
        over_grpc = grpc_client.decision("sum-auto-1")
        assert over_grpc.response["summary_status"] == response["summary_status"]
        assert over_grpc.action.value == record["action"]
        with pytest.raises(grpc.RpcError) as err:
            grpc_client.decision("no-such-decision")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_batch_answers_at_scoring_speed_and_stores_every_decision(client):
    items = [_review(f"sum-batch-{i}", text) for i, text in enumerate(SCAMS + BENIGN + SCAMS[:1])]
    items[-1]["creative"]["text"] += " Act now."  # distinct content, same category
    resp = client.post("/v1/review:batch", json={"items": items})
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["ok"] for r in results] == [True] * len(items), results
    if any(r["result"]["summary_status"] == "disabled" for r in results):
        pytest.skip("the LLM is off (ADRISK_TEST_SKIP_LLM=1, local runs only)")
    # No item of the batch waited on the LLM: approvals skip it, the rest are pending.
    approved = [r for r in results if r["result"]["decision"]["action"] in {"approve", "deboost"}]
    flagged = [r for r in results if r not in approved]
    assert len(flagged) >= 3 and all(r["result"]["summary_status"] == "pending" for r in flagged), results
    assert all(r["result"]["summary_status"] == "skipped" for r in approved), results
    # Every decision the batch acknowledged is stored, at once.
    for r in results:
        stored = client.get(f"/v1/decisions/{r['request_id']}")
        assert stored.status_code == 200, stored.text
        assert stored.json()["action"] == r["result"]["decision"]["action"]
    for r in flagged:
        assert _settled(client, r["request_id"])["response"]["summary_status"] in SETTLED - {"unavailable"}


def test_a_call_past_its_budget_is_a_json_504_and_deadline_exceeded(service, tmp_path):
    from commands.launcher import run_extra_ingress

    app = "adrisk-budget"
    run_extra_ingress(
        app, "/budget",
        overrides={"request_timeout_s": 0.005, "stage_timeout_s": 0.004,
                   "llm": {**profile_section("llm"), "deadline_s": 0.003},
                   "store": {"path": str(tmp_path / "budget.sqlite3")}},
        ingress_options={"ray_actor_options": {"num_cpus": 0.05}},
    )
    photo = b64(encode(landscape_photo(3)))
    items = [{"request_id": f"budget-{i}", "creative": {"images": [{"data": photo}], "text": SCAMS[i % 3]}}
             for i in range(8)]
    with httpx.Client(base_url=service.url, timeout=60) as c:
        resp = c.post("/budget/v1/review:batch", json={"items": items})
    assert resp.status_code == 504, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["error"] == "deadline_exceeded" and "same request_id" in body["detail"]
    with AdriskClient(service.grpc_target, application=app, timeout_s=60) as grpc_client:
        with pytest.raises(grpc.RpcError) as err:
            grpc_client.review_batch(items)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "deadline_exceeded" in err.value.details()
