"""Locust users for adrisk: HTTP (FastHttpUser) and gRPC, over the payloads of load_tests/payloads.py.

    python -m load_tests.run            # what `make load` does: payloads, service, locust, summary

Task mix per user (weights): text-only ads 6, image ads 3, landing pages 2, video ads 1,
8-ad batch calls 1, and LLM summaries (summary=always) only when LOAD_SUMMARIES=1. Every request
has a fresh request_id, so each is scored, never replayed. Targets must be 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
import uuid

from grpc.experimental import gevent as grpc_gevent

grpc_gevent.init_gevent()  # before any channel: gRPC must cooperate with locust's gevent loop

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from locust import FastHttpUser, User, between, events, tag, task  # noqa: E402

from serving.proto import adrisk_pb2 as pb  # noqa: E402
from serving.proto import adrisk_pb2_grpc  # noqa: E402

PAYLOADS = json.loads(open(os.environ.get("LOAD_PAYLOADS", "var/load/payloads.json")).read())
SUMMARIES = os.environ.get("LOAD_SUMMARIES") == "1"
GRPC_TARGET = os.environ.get("LOAD_GRPC_TARGET", "127.0.0.1:9000")
API_KEY = os.environ.get("LOAD_API_KEY", "")


@events.test_start.add_listener
def _loopback_only(environment, **_):
    host = environment.host or ""
    if not (host.startswith("http://127.0.0.1") or host.startswith("http://localhost")):
        raise SystemExit(f"load tests run against 127.0.0.1 only, not {host!r}")
    if not GRPC_TARGET.startswith("127.0.0.1:"):
        raise SystemExit(f"load tests run against 127.0.0.1 only, not {GRPC_TARGET!r}")


def review(kind: str, **options) -> dict:
    body = copy.deepcopy(random.choice(PAYLOADS[kind]))
    body["request_id"] = f"load-{kind}-{uuid.uuid4().hex[:12]}"
    body["options"] = {"summary": "none", **options}
    return body


class HttpReviewer(FastHttpUser):
    wait_time = between(0.05, 0.2)
    headers = {"x-api-key": API_KEY} if API_KEY else {}

    def _post(self, name: str, path: str, body: dict) -> None:
        with self.client.post(path, json=body, name=name, headers=self.headers, catch_response=True) as r:
            if r.status_code == 503:
                r.failure("503 overloaded")  # counted apart from errors in the summary
            elif r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")

    @tag("text")
    @task(6)
    def text_ad(self) -> None:
        self._post("http text", "/v1/review", review("text"))

    @tag("image")
    @task(3)
    def image_ad(self) -> None:
        self._post("http image", "/v1/review", review("image"))

    @tag("page")
    @task(2)
    def landing_page(self) -> None:
        self._post("http page", "/v1/review", review("page"))

    @tag("video")
    @task(1)
    def video_ad(self) -> None:
        self._post("http video", "/v1/review", review("video"))

    @tag("batch")
    @task(1)
    def batch(self) -> None:
        self._post("http batch(8)", "/v1/review:batch", {"items": [review(random.choice(["text", "image", "page"]))
                                                                    for _ in range(8)]})

    @tag("summary")
    @task(1)
    def summary(self) -> None:
        if SUMMARIES:
            self._post("http summary", "/v1/review", review("text", summary="always"))


class GrpcReviewer(User):
    """gRPC through the generated stub; every call is reported to locust as a request event."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.channel = grpc.insecure_channel(GRPC_TARGET)
        self.stub = adrisk_pb2_grpc.AdriskStub(self.channel)
        self.metadata = [("application", "adrisk")] + ([("x-api-key", API_KEY)] if API_KEY else [])

    def on_stop(self) -> None:
        self.channel.close()

    def _call(self, name: str, method: str, message) -> None:
        started = time.perf_counter()
        exception, size = None, 0
        try:
            size = getattr(self.stub, method)(message, metadata=self.metadata, timeout=60).ByteSize()
        except grpc.RpcError as err:
            exception = Exception(f"{err.code().name}: {err.details()}")
        self.environment.events.request.fire(
            request_type="grpc", name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=size, exception=exception, context={})

    @task(6)
    def text_ad(self) -> None:
        self._call("grpc text", "Review", json_format.ParseDict(review("text"), pb.ReviewRequest()))

    @task(3)
    def image_ad(self) -> None:
        self._call("grpc image", "Review", json_format.ParseDict(review("image"), pb.ReviewRequest()))

    @task(1)
    def batch(self) -> None:
        items = [json_format.ParseDict(review("text"), pb.ReviewRequest()) for _ in range(8)]
        self._call("grpc batch(8)", "ReviewBatch", pb.BatchReviewRequest(items=items))
