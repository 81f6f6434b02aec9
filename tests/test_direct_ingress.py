"""With Ray Serve's direct ingress on (configs/serve/ray_env.yaml `local`), the Ingress replica
serves HTTP and gRPC on its own ports as well: same API, same answers, same error mapping, one
hop fewer than the proxy. (Shedding at overload is the Ingress's own admission gate, which these
ports reach like the proxy does; tests/test_service_overload.py drives it.)"""

from __future__ import annotations

import uuid

import httpx
import pytest

from commands.launcher import direct_ingress_targets
from serving.grpc_client import AdriskClient

TEXT = "Double your bitcoin in 24 hours, guaranteed returns"


@pytest.fixture(scope="module")
def direct(service) -> dict[str, list[int]]:
    ports = direct_ingress_targets()
    assert ports["http"] and ports["grpc"], f"direct ingress is on locally but no replica port is listed: {ports}"
    return ports


def review(text: str) -> dict:
    return {"request_id": f"di-{uuid.uuid4().hex[:10]}", "creative": {"text": text}}


def test_the_ingress_replica_answers_http_itself_like_the_proxy(service, direct):
    with httpx.Client(timeout=60) as client:
        via_proxy = client.post(f"{service.url}/v1/review", json=review(TEXT))
        via_replica = client.post(f"http://127.0.0.1:{direct['http'][0]}/v1/review", json=review(TEXT))
        bad = client.post(f"http://127.0.0.1:{direct['http'][0]}/v1/review", json={"creative": {}})
    assert via_proxy.status_code == via_replica.status_code == 200
    assert via_replica.json()["decision"]["action"] == via_proxy.json()["decision"]["action"]
    assert via_replica.json()["scores"] == pytest.approx(via_proxy.json()["scores"], abs=1e-3)
    assert bad.status_code == 422 and bad.json()["error"]  # the same error mapping on this door


def test_the_ingress_replica_answers_grpc_itself(service, direct):
    with AdriskClient(service.grpc_target) as client:
        via_proxy = client.review(review(TEXT))
    with AdriskClient(f"127.0.0.1:{direct['grpc'][0]}") as client:
        via_replica = client.review(review(TEXT))
    assert via_replica.decision.action == via_proxy.decision.action
    assert via_replica.scores == pytest.approx(via_proxy.scores, abs=1e-3)
