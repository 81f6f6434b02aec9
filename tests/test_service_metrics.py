"""GET /metrics: one exposition merged over every replica process, lint-clean, and the Grafana
dashboard queries exactly the metrics that exist."""

from __future__ import annotations

import json
import re
import uuid

from prometheus_client.parser import text_string_to_metric_families

from serving.config import PROJECT_ROOT
from serving.grpc_client import AdriskClient
from serving.metrics import METRIC_NAMES
from tests.media import b64, encode, rifle_drawing
from tests.promlint import lint


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    return sum(s.value for s in samples(text)
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_cover_routes_stages_batches_decisions_and_pass_lint(client, service):
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

    assert lint(text) == []
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
    assert any(s.name == "adrisk_in_flight_requests" for s in samples(text))
    assert not re.search(r'route="/v1/decisions/[^{]', text)  # templates, never raw ids


def test_llm_metrics_come_from_the_llm_replica(client):
    body = client.post("/v1/review", json={"request_id": f"m-llm-{uuid.uuid4().hex[:8]}", "options": {
        "summary": "always"}, "creative": {"text": "Double your bitcoin in 24 hours, guaranteed"}}).json()
    text = client.get("/metrics").text
    if body["summary_status"] == "disabled":  # ADRISK_TEST_SKIP_LLM: quick local runs only
        return
    assert value(text, "adrisk_llm_tokens_total", kind="prompt") > 100
    assert value(text, "adrisk_llm_tokens_total", kind="generation") > 5
    assert value(text, "adrisk_llm_time_to_first_token_seconds_count") >= 1
    assert value(text, "adrisk_llm_summaries_total", status=body["summary_status"]) >= 1


def test_grafana_dashboard_queries_exactly_the_exported_metrics(client):
    dashboard = json.loads((PROJECT_ROOT / "deployments" / "grafana" / "adrisk.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", name) for e in exprs for name in re.findall(r"adrisk_[a-z_]+", e)}
    declared = {re.sub(r"_(bucket|sum|count)$", "", n) for n in METRIC_NAMES}
    assert used <= declared, used - declared
    assert declared <= used, f"metrics with no panel: {declared - used}"
    exported = {re.sub(r"_(bucket|sum|count|created)$", "", s.name) for s in samples(client.get("/metrics").text)}
    assert declared - {"adrisk_llm_tokens_total", "adrisk_llm_time_to_first_token_seconds",
                       "adrisk_llm_summaries_total", "adrisk_fusion_rules_fired_total"} <= exported
