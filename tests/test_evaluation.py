"""Metrics, threshold choice and labeled-set validation on known inputs (no service)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.calibrate import choose
from evaluation.dataset import LabeledExample, load_set
from evaluation.metrics import evaluate
from evaluation.runner import Outcome
from serving.config import load_config

IDS = load_config("cpu").taxonomy.ids


def outcome(label: int | None, score: float, action: str, benign: bool = False) -> Outcome:
    labels = {} if label is None else {"scam_fraud": label}
    ex = LabeledExample(id="x", source="t", request={}, labels=labels, benign=benign)
    return Outcome(ex, True, {"scam_fraud": score}, action, ["scam_fraud"] if action != "approve" else [])


def test_leak_rate_overkill_and_precision_recall_are_counted_as_defined():
    outcomes = [outcome(1, 0.9, "reject"), outcome(1, 0.6, "human_review"), outcome(1, 0.2, "approve"),
                outcome(0, 0.7, "reject", benign=True), outcome(0, 0.1, "approve", benign=True),
                outcome(0, 0.05, "approve", benign=True), outcome(None, 0.3, "approve", benign=True)]
    m = evaluate(outcomes, {"scam_fraud": (0.5, 0.85)})
    assert m["overall"]["violating"] == 3 and m["overall"]["benign"] == 4
    assert m["overall"]["leak_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["overall"]["overkill"] == pytest.approx(1 / 4)
    c = m["categories"]["scam_fraud"]
    assert c["n"] == 7 and c["positives"] == 3  # a benign example is a negative for every category
    assert c["at_review"] == {**c["at_review"], "tp": 2, "fp": 1, "fn": 1}
    assert c["at_reject"]["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert c["leak_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["confusion"]["scam_fraud"] == {"scam_fraud": 2, "approve": 1}
    assert sum(b["n"] for b in c["calibration"]["bins"]) == 7


def test_calibration_picks_the_lowest_threshold_meeting_the_overkill_target():
    rng = np.random.default_rng(0)
    neg, pos = rng.uniform(0, 0.6, 1000), rng.uniform(0.4, 1.0, 200)
    y = np.r_[np.zeros(1000, int), np.ones(200, int)]
    review, reject, achieved = choose(y, np.r_[neg, pos], target_overkill=0.02, target_leak=0.05, current=(0.5, 0.85))
    assert achieved["overkill_at_reject"] <= 0.02
    assert (neg >= reject - 0.01).mean() > 0.02  # one grid step lower would miss the target
    assert achieved["leak_below_review"] <= 0.05 and review <= reject


def test_labeled_sets_are_validated(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"request": {"creative": {"text": "hi"}}, "labels": {"scam_fraud": 1}}) + "\n")
    assert load_set(good, IDS)[0].labels == {"scam_fraud": 1}
    for bad, message in (({"request": {"creative": {"text": "hi"}}, "labels": {"nope": 1}}, "unknown categories"),
                         ({"request": {}}, "not a labeled example"),
                         ({"labels": {}}, "not a labeled example"),
                         ({"request": {"creative": {"text": "hi"}}, "labels": {"scam_fraud": 2}}, "0 or 1")):
        path = tmp_path / "bad.jsonl"
        path.write_text(json.dumps(bad) + "\n")
        with pytest.raises(ValueError, match=message):
            load_set(path, IDS)
