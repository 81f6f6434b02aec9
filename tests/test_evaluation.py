"""Metrics, threshold choice and labeled-set validation on known inputs (no service)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.config import load_config
from evaluation.calibrate import Rows, Targets, benign_review_rate, fit
from evaluation.dataset import LabeledExample, load_set
from evaluation.metrics import evaluate
from evaluation.runner import Outcome

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


def _rows(n_neg: int = 2000, n_pos: int = 200, n_commercial: int = 1000, seed: int = 0) -> Rows:
    """Two categories: scam_fraud with labels (positives high, negatives low, commercial copy in between)
    and weapons with 3 positives only."""
    rng = np.random.default_rng(seed)
    cats = ["scam_fraud", "weapons"]
    scam = np.r_[rng.uniform(0, 0.6, n_neg), rng.uniform(0.3, 1.0, n_pos), rng.uniform(0, 0.9, n_commercial)]
    weapons = rng.uniform(0, 0.35, len(scam))
    labels = np.c_[np.r_[np.zeros(n_neg), np.ones(n_pos), np.zeros(n_commercial)],
                   np.r_[np.full(n_neg, -1), np.full(n_pos, -1), np.zeros(n_commercial)]].astype(int)
    labels[:3, 1] = 1
    weapons[:3] = 0.9
    benign = np.r_[np.ones(n_neg, bool), np.zeros(n_pos, bool), np.ones(n_commercial, bool)]
    commercial = np.r_[np.zeros(n_neg + n_pos, bool), np.ones(n_commercial, bool)]
    return Rows(cats, np.c_[scam, weapons], labels, benign, commercial)


def test_calibration_meets_the_commercial_reject_target_and_keeps_a_review_band():
    rows, current = _rows(), {"scam_fraud": (0.5, 0.85), "weapons": (0.4, 0.8)}
    targets = Targets(commercial_reject=0.005, overkill=0.01, review_budget=0.5, min_positives=20)
    fitted = fit(rows, current, targets)
    review, reject = fitted.thresholds["scam_fraud"]
    commercial = rows.scores[rows.commercial, 0]
    assert (commercial >= reject).mean() <= 0.005
    assert (commercial >= reject - 0.01).mean() > 0.005 or reject - 0.01 < 0.85 - targets.max_step
    assert review <= round(reject - targets.min_band, 2)  # the band never collapses into reject
    assert fitted.thresholds["weapons"] == (0.4, 0.8) and "3 positives" in fitted.kept["weapons"]


def test_calibration_raises_review_thresholds_until_the_benign_budget_holds():
    rows, current = _rows(), {"scam_fraud": (0.5, 0.85), "weapons": (0.4, 0.8)}
    loose = fit(rows, current, Targets(review_budget=1.0))
    tight = fit(rows, current, Targets(review_budget=0.1))
    assert benign_review_rate(rows, tight.thresholds) <= 0.1 < benign_review_rate(rows, loose.thresholds)
    assert tight.thresholds["scam_fraud"][0] > loose.thresholds["scam_fraud"][0]
    for review, reject in tight.thresholds.values():
        assert review < reject


def test_no_threshold_moves_more_than_the_step():
    rows = _rows()
    current = {"scam_fraud": (0.2, 0.3), "weapons": (0.4, 0.8)}  # far too low: the fit wants ~0.85
    fitted = fit(rows, current, Targets(max_step=0.2))
    assert fitted.thresholds["scam_fraud"][1] <= 0.5 + 1e-9


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
