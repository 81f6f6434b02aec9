"""A small typed client for the adrisk gRPC API: pydantic models in, pydantic models out.

    from serving.grpc_client import AdriskClient
    with AdriskClient("127.0.0.1:9000") as client:
        response = client.review({"request_id": "r1", "creative": {"text": "..."}})

Requests are the same dicts as for HTTP: media `data` as base64 text, sent as raw bytes on the wire.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format

from core.schemas import (
    BatchReviewResponse,
    DecisionRecord,
    FeedbackResponse,
    ReviewRequest,
    ReviewResponse,
    TaxonomyResponse,
)
from serving.grpc_mapping import message_to_dict
from serving.proto import adrisk_pb2 as pb
from serving.proto import adrisk_pb2_grpc


def request_message(request: ReviewRequest | dict[str, Any]) -> pb.ReviewRequest:
    doc = request.model_dump(mode="json", exclude_none=True) if isinstance(request, ReviewRequest) else request
    return json_format.ParseDict(doc, pb.ReviewRequest())  # base64 text → bytes fields


class AdriskClient:
    def __init__(self, target: str = "127.0.0.1:9000", application: str = "adrisk", api_key: str | None = None,
                 timeout_s: float = 60.0) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = adrisk_pb2_grpc.AdriskStub(self._channel)
        self.metadata = [("application", application)] + ([("x-api-key", api_key)] if api_key else [])
        self.timeout_s = timeout_s

    def __enter__(self) -> AdriskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, message: Any, timeout_s: float | None) -> Any:
        return getattr(self._stub, method)(message, metadata=self.metadata, timeout=timeout_s or self.timeout_s)

    def review(self, request: ReviewRequest | dict[str, Any], timeout_s: float | None = None) -> ReviewResponse:
        out = self._call("Review", request_message(request), timeout_s)
        return ReviewResponse.model_validate(message_to_dict(out))

    def review_batch(self, items: list[dict[str, Any]], timeout_s: float | None = None) -> BatchReviewResponse:
        message = pb.BatchReviewRequest(items=[request_message(item) for item in items])
        out = self._call("ReviewBatch", message, timeout_s)
        return BatchReviewResponse.model_validate(message_to_dict(out))

    def feedback(self, body: dict[str, Any], timeout_s: float | None = None) -> FeedbackResponse:
        out = self._call("Feedback", json_format.ParseDict(body, pb.FeedbackRequest()), timeout_s)
        return FeedbackResponse.model_validate(message_to_dict(out))

    def taxonomy(self, timeout_s: float | None = None) -> TaxonomyResponse:
        out = self._call("GetTaxonomy", pb.TaxonomyRequest(), timeout_s)
        return TaxonomyResponse.model_validate(message_to_dict(out))

    def decision(self, request_id: str, timeout_s: float | None = None) -> DecisionRecord:
        out = self._call("GetDecision", pb.DecisionRequest(request_id=request_id), timeout_s)
        return DecisionRecord.model_validate(message_to_dict(out))
