"""Batch = singles, idempotent request ids, and decisions that follow the policy config."""

from __future__ import annotations

import sqlite3

import pytest

from core.config import CONFIG_DIR
from tests.media import b64, encode, landscape_photo, rifle_drawing

ADS = [
    {"creative": {"text": "Congratulations! You won a free iPhone. Click to claim your prize now!"}},
    {"creative": {"images": [{"data": b64(encode(rifle_drawing()))}], "text": "Hunting season gear"}},
    {"creative": {"images": [{"data": b64(encode(landscape_photo(seed=7)))}]},
     "landing_page": {"url": "https://www.example-travel.com/deals", "text": "Book mountain cabins."}},
    {"landing_page": {"html": "<title>Account locked</title><p>Verify your password now</p>"}},
]


def test_batch_equals_single_calls(client):
    singles = []
    for i, ad in enumerate(ADS):
        resp = client.post("/v1/review", json={"request_id": f"eq-single-{i}", **ad})
        assert resp.status_code == 200
        singles.append(resp.json())
    batch = client.post(
        "/v1/review:batch", json={"items": [{"request_id": f"eq-batch-{i}", **ad} for i, ad in enumerate(ADS)]}
    )
    assert batch.status_code == 200
    for single, item in zip(singles, batch.json()["results"], strict=True):
        assert item["ok"]
        got = item["result"]
        assert got["scores"].keys() == single["scores"].keys()
        for category, score in single["scores"].items():
            assert got["scores"][category] == pytest.approx(score, abs=1e-3), category
        assert got["decision"]["action"] == single["decision"]["action"]


def test_same_request_id_returns_stored_decision(client, service):
    body = {"request_id": "idem-1", **ADS[0]}
    first = client.post("/v1/review", json=body).json()
    second = client.post("/v1/review", json=body).json()
    assert first["cached"] is False and second["cached"] is True
    assert second["scores"] == first["scores"] and second["decision"] == first["decision"]
    with sqlite3.connect(service.store_path) as db:
        rows = db.execute("SELECT action FROM decisions WHERE request_id = 'idem-1'").fetchall()
    assert rows == [(first["decision"]["action"],)]


def test_reused_request_id_with_other_content_conflicts(client):
    client.post("/v1/review", json={"request_id": "idem-2", **ADS[0]})
    resp = client.post("/v1/review", json={"request_id": "idem-2", **ADS[2]})
    assert resp.status_code == 409
    assert resp.json()["error"] == "conflict"


def test_rescore_replaces_the_stored_decision(client):
    client.post("/v1/review", json={"request_id": "idem-3", **ADS[0]})
    resp = client.post(
        "/v1/review", json={"request_id": "idem-3", **ADS[2], "options": {"rescore": True}}
    )
    assert resp.status_code == 200 and resp.json()["cached"] is False
    again = client.post("/v1/review", json={"request_id": "idem-3", **ADS[2]}).json()
    assert again["cached"] is True and again["scores"] == resp.json()["scores"]


def test_decision_follows_policy_config(service, tmp_path):
    """A second ingress with a stricter weapons threshold, sharing the same model replicas."""
    import httpx
    import yaml

    from commands.launcher import run_extra_ingress

    ad = {"creative": {"text": "Camping knives and outdoor gear for your next trip."}}
    with httpx.Client(base_url=service.url, timeout=60) as c:
        default = c.post("/v1/review", json={"request_id": "pol-1", **ad}).json()
    weapons = default["scores"]["weapons"]
    assert 0.05 < weapons < 0.8  # between the strict and the default reject thresholds
    assert default["decision"]["action"] != "reject"

    policy = yaml.safe_load((CONFIG_DIR / "policy" / "v1.yaml").read_text())
    policy["version"] = "test-strict"
    policy["thresholds"] = {"weapons": {"review": weapons / 2, "reject": weapons * 0.9}}
    run_extra_ingress(
        "adrisk-policy-test", "/strict",
        overrides={"policy_doc": policy, "store": {"path": str(tmp_path / "strict.sqlite3")}},
        ingress_options={"ray_actor_options": {"num_cpus": 0.05}},
    )
    with httpx.Client(base_url=service.url, timeout=60) as c:
        strict = c.post("/strict/v1/review", json={"request_id": "pol-1", **ad}).json()
    assert strict["scores"]["weapons"] == pytest.approx(weapons, abs=1e-6)
    assert strict["decision"]["action"] == "reject"
    assert "weapons" in strict["decision"]["categories"]
    assert strict["decision"]["policy_version"] == "default@test-strict"
    assert default["decision"]["policy_version"] == "default@2"
