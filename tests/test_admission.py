"""The ingress admission gate: budget by ads and bytes, release on exit, never starve a big call."""

from __future__ import annotations

import pytest

from core.errors import Overloaded
from core.schemas import ReviewRequest
from serving.admission import AdmissionGate, request_bytes


def review(text: str = "x", image_chars: int = 0) -> ReviewRequest:
    creative = {"text": text, "images": [{"data": "A" * image_chars}] if image_chars else []}
    return ReviewRequest.model_validate({"request_id": "r", "creative": creative})


def test_budget_by_ads_and_bytes_and_release():
    gate = AdmissionGate(max_ads=2, max_bytes=1000)
    with gate.admit([review()]), gate.admit([review()]):
        with pytest.raises(Overloaded, match="2 ads"):
            with gate.admit([review()]):
                pass
    assert gate.ads == 0 and gate.bytes == 0 and gate.rejected == 1
    with gate.admit([review(image_chars=600)]):
        with pytest.raises(Overloaded, match="MiB"):
            with gate.admit([review(image_chars=600)]):
                pass


def test_a_call_bigger_than_the_budget_runs_alone_and_errors_release():
    gate = AdmissionGate(max_ads=2, max_bytes=100)
    with gate.admit([review(image_chars=400)] * 5):  # over both budgets, but nothing else in flight
        assert gate.ads == 5
    with pytest.raises(ValueError), gate.admit([review()]):
        raise ValueError("the review failed")
    assert gate.ads == 0 and gate.bytes == 0
    assert request_bytes(review("hello", 8)) == 13
