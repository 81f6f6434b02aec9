"""Structured JSON logs carry the review's request_id through every stage it touched."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

LOGS = Path("/tmp/ray/session_latest/logs/serve")


def lines_with(request_id: str, pattern: str) -> list[dict]:
    found = []
    for path in LOGS.glob(pattern):
        for line in path.read_text(errors="replace").splitlines():
            if request_id in line and line.startswith("{"):
                found.append(json.loads(line))
    return found


def test_request_id_reaches_every_stage_log_as_json(client):
    request_id = f"log-{uuid.uuid4().hex[:10]}"
    body = client.post("/v1/review", json={"request_id": request_id, "creative": {"text": "Win a free cruise now"}})
    assert body.status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ingress = lines_with(request_id, "replica_adrisk_Ingress_*.log")
        encoder = lines_with(request_id, "replica_adrisk_TextEncoder_*.log")
        scorer = lines_with(request_id, "replica_adrisk_RiskScorer_*.log")
        if ingress and encoder and scorer:
            break
        time.sleep(0.5)
    decision = [r for r in ingress if r.get("review_request_id") == request_id]
    assert decision and decision[0]["request_id"] == request_id  # Serve's id is the review's id
    assert decision[0]["action"] == body.json()["decision"]["action"]
    assert {"text_encoder", "scorer", "policy"} <= set(decision[0]["stage_ms"])
    assert all(r["request_id"] == request_id for r in encoder + scorer)
    assert encoder and scorer, "the handle calls to the model replicas did not carry the request id"
