"""GET /metrics: one exposition merged over every replica process (vLLM's own metrics renamed
`adrisk_llm_vllm_*`), clean under the real `promtool check metrics`, and every series the Grafana
dashboard queries exists in it."""

from __future__ import annotations

import re
import uuid

import pytest

from serving.grpc_client import AdriskClient
from tests.exposition import dashboard_series, promtool_complaints, sample_names, value
from tests.media import b64, encode, rifle_drawing


@pytest.fixture(scope="module")
def diagnosis(client) -> dict:
    """One review that waits for its LLM diagnosis (summary_status `disabled` when the LLM is off)."""
    return client.post("/v1/review", json={"request_id": f"m-llm-{uuid.uuid4().hex[:8]}", "options": {
        "summary": "always"}, "creative": {"text": "Double your bitcoin in 24 hours, guaranteed"}}).json()


def test_metrics_cover_routes_stages_batches_decisions_and_pass_promtool(client, service):
    rid = uuid.uuid4().hex[:8]
    before = client.get("/metrics").text
    client.post("/v1/review", json={"request_id": f"m-{rid}", "creative": {
        "text": "Double your bitcoin today", "images": [{"data": b64(encode(rifle_drawing()))}]}})
    client.post("/v1/review", json={"request_id": f"m-bad-{rid}"})  # 422
    with AdriskClient(service.grpc_target) as g:
        g.review({"request_id": f"m-grpc-{rid}", "creative": {"text": "Fresh bread"}})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text

    assert promtool_complaints(text) == ""
    ok_before = value(before, "adrisk_requests_total", protocol="http", route="/v1/review", status="200")
    assert value(text, "adrisk_requests_total", protocol="http", route="/v1/review", status="200") >= ok_before + 1
    assert value(text, "adrisk_requests_total", protocol="http", route="/v1/review", status="422") >= 1
    assert value(text, "adrisk_requests_total", protocol="grpc", route="Review", status="OK") >= 1
    assert value(text, "adrisk_request_duration_seconds_count", protocol="http", route="/v1/review") >= 2
    for stage in ("prepare", "image_models", "text_encoder", "scorer", "policy", "store"):
        assert value(text, "adrisk_stage_duration_seconds_count", stage=stage) >= 1, stage
    # Recorded in the model replicas' own processes, merged here: the multiprocess view works.
    assert value(text, "adrisk_batch_size_count", deployment="ImageRiskModel") >= 1
    assert value(text, "adrisk_batch_size_count", deployment="TextEncoder") >= 1
    assert value(text, "adrisk_decisions_total", policy_version="default@2") >= 2
    assert value(text, "adrisk_model_info", component="policy", version="default@2") == 1
    assert "adrisk_in_flight_requests" in sample_names(text)
    assert not re.search(r'route="/v1/decisions/[^{]', text)  # templates, never raw ids


def test_llm_metrics_come_from_the_llm_replica_and_pass_promtool(client, diagnosis):
    text = client.get("/metrics").text
    assert promtool_complaints(text) == ""  # vLLM's own metrics included, when the LLM is on
    assert not [name for name in sample_names(text) if ":" in name]
    if diagnosis["summary_status"] == "disabled":  # ADRISK_TEST_SKIP_LLM: quick local runs only
        return
    assert value(text, "adrisk_llm_tokens_total", kind="prompt") > 100
    assert value(text, "adrisk_llm_tokens_total", kind="generation") > 5
    assert value(text, "adrisk_llm_time_to_first_token_seconds_count") >= 1
    assert value(text, "adrisk_llm_summaries_total", status=diagnosis["summary_status"]) >= 1
    # vLLM's engine metrics, recorded in the LLM replica, under adrisk names
    assert value(text, "adrisk_llm_vllm_prompt_tokens_total") > 100
    assert value(text, "adrisk_llm_vllm_request_success_total") >= 1
    assert value(text, "adrisk_llm_vllm_time_to_first_token_seconds_count") >= 1


def test_every_series_the_grafana_dashboard_queries_is_exported(client, diagnosis):
    missing = dashboard_series() - sample_names(client.get("/metrics").text)
    recorded_on_events = {"adrisk_fusion_rules_fired_total"}  # only once a fusion rule has fired
    if diagnosis["summary_status"] == "disabled":
        recorded_on_events |= {name for name in missing if name.startswith("adrisk_llm_")}
    assert missing - recorded_on_events == set()
