"""Past capacity the ingress sheds load at once — HTTP 503 with Retry-After, gRPC
RESOURCE_EXHAUSTED — and serves normally again as soon as load drops."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import pytest

from serving.grpc_client import AdriskClient
from tests.media import b64, encode, landscape_photo

IMAGE = b64(encode(landscape_photo(size=(900, 600))))


@pytest.fixture(scope="module")
def tight(service, tmp_path_factory):
    """A second ingress (same model replicas) admitting at most 2 ads at a time."""
    from commands.launcher import run_extra_ingress

    run_extra_ingress(
        "adrisk-tight", "/tight",
        overrides={"limits": {"max_in_flight_ads": 2},
                   "store": {"path": str(tmp_path_factory.mktemp("tight") / "d.sqlite3")}, "llm": None},
        ingress_options={"ray_actor_options": {"num_cpus": 0.05}},
    )
    return service.url + "/tight"


def body() -> dict:
    return {"request_id": f"ol-{uuid.uuid4().hex[:10]}", "creative": {"images": [{"data": IMAGE}], "text": "Sale"}}


def test_http_overload_is_503_with_retry_after_and_recovers(tight):
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(*(client.post(f"{tight}/v1/review", json=body()) for _ in range(24)))

    responses = asyncio.run(burst())  # ~12× what this ingress admits
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}, codes
    shed = [r for r in responses if r.status_code == 503]
    assert shed and codes.count(200) >= 2
    assert all(r.headers.get("retry-after") == "1" and r.json()["error"] == "overloaded" for r in shed)
    assert "in flight" in shed[0].json()["detail"]
    with httpx.Client(timeout=60) as client:  # load gone: served again
        assert client.post(f"{tight}/v1/review", json=body()).status_code == 200


def test_grpc_overload_is_resource_exhausted(tight, service):
    def call(_: int) -> str:
        with AdriskClient(service.grpc_target, application="adrisk-tight") as client:
            try:
                client.review(body())
                return "OK"
            except grpc.RpcError as err:
                return err.code().name

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(call, range(16)))
    assert set(outcomes) <= {"OK", "RESOURCE_EXHAUSTED"}, outcomes
    assert "RESOURCE_EXHAUSTED" in outcomes and "OK" in outcomes
