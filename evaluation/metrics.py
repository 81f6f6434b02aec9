"""What integrity analysts own, per category and overall: precision / recall / F1 / AUPRC at the
policy's thresholds, leak rate (violations approved), overkill (good ads blocked), threshold sweeps,
calibration, and which category acted on each violation (confusion between categories)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from evaluation.runner import Outcome
from models.corpora import BENIGN_COMMERCIAL
from models.head_metrics import confusion_counts

BLOCKING = {"reject", "suspend_account"}
SWEEP = [round(t, 2) for t in np.arange(0.05, 1.0, 0.05)]
CALIBRATION_BINS = 10


def _sweep_point(y: np.ndarray, p: np.ndarray, positives: np.ndarray, t: float) -> dict[str, float]:
    counts = confusion_counts(y, p >= t)
    return {"threshold": t, "precision": counts["precision"], "recall": counts["recall"], "f1": counts["f1"],
            "negatives_flagged": round(float((p[~positives] >= t).mean()), 4)}


def labeled(outcomes: list[Outcome], category: str) -> tuple[np.ndarray, np.ndarray, list[Outcome]]:
    rows = [o for o in outcomes if o.ok and o.example.label(category) is not None]
    y = np.array([o.example.label(category) for o in rows], dtype=np.int64)
    p = np.array([o.scores.get(category, 0.0) for o in rows], dtype=np.float64)
    return y, p, rows


def calibration(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    bins, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if mask.any():
            mean_p, rate = float(p[mask].mean()), float(y[mask].mean())
            ece += mask.sum() / len(p) * abs(mean_p - rate)
            bins.append({"lo": round(float(lo), 2), "hi": round(float(hi), 2), "n": int(mask.sum()),
                         "mean_score": round(mean_p, 4), "positive_rate": round(rate, 4)})
    return {"bins": bins, "ece": round(float(ece), 4)}


def category_metrics(outcomes: list[Outcome], category: str, review: float, reject: float) -> dict[str, Any] | None:
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    y, p, rows = labeled(outcomes, category)
    if len(y) == 0 or y.min() == y.max():
        return None  # needs both classes
    positives = y == 1
    approved = np.array([o.action == "approve" for o in rows])
    acted_on = np.array([category in o.categories and o.action != "approve" for o in rows])
    precision, recall, _ = precision_recall_curve(y, p)
    return {
        "n": len(y), "positives": int(positives.sum()),
        "auprc": round(float(average_precision_score(y, p)), 4),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "prevalence": round(float(positives.mean()), 4),
        "thresholds": {"review": review, "reject": reject},
        "at_review": confusion_counts(y, p >= review),
        "at_reject": confusion_counts(y, p >= reject),
        "leak_rate": round(float(approved[positives].mean()), 4),
        "caught_for_this_category": round(float(acted_on[positives].mean()), 4),
        "flag_rate_on_negatives": round(float((p[~positives] >= review).mean()), 4),
        "sweep": [_sweep_point(y, p, positives, t) for t in SWEEP],
        "calibration": calibration(y, p),
        "pr_curve": {"precision": [round(float(v), 4) for v in precision[::max(1, len(precision) // 200)]],
                     "recall": [round(float(v), 4) for v in recall[::max(1, len(recall) // 200)]]},
    }


def confusion(outcomes: list[Outcome], categories: list[str]) -> dict[str, dict[str, int]]:
    """For violations of each labeled category: which categories the decision acted on (or approve)."""
    matrix: dict[str, dict[str, int]] = {}
    for o in outcomes:
        if not o.ok:
            continue
        for c in categories:
            if o.example.labels.get(c) == 1:
                row = matrix.setdefault(c, {})
                drivers = o.categories if o.action != "approve" else ["approve"]
                for d in drivers or ["(none)"]:
                    row[d] = row.get(d, 0) + 1
    return matrix


def evaluate(outcomes: list[Outcome], thresholds: dict[str, tuple[float, float]]) -> dict[str, Any]:
    ok = [o for o in outcomes if o.ok]
    benign = [o for o in ok if o.example.benign]
    violating = [o for o in ok if any(v == 1 for v in o.example.labels.values())]
    actions: dict[str, int] = {}
    for o in ok:
        actions[o.action] = actions.get(o.action, 0) + 1
    per_category = {}
    for c, (review, reject) in thresholds.items():
        m = category_metrics(ok, c, review, reject)
        if m is not None:
            per_category[c] = m
    return {
        "n": len(outcomes), "errors": len(outcomes) - len(ok),
        "error_examples": [o.error for o in outcomes if not o.ok][:5],
        "sources": sorted({o.example.source for o in outcomes}),
        "actions": dict(sorted(actions.items())),
        "overall": {
            "violating": len(violating), "benign": len(benign),
            "leak_rate": round(float(np.mean([o.action == "approve" for o in violating])), 4) if violating else None,
            "overkill": round(float(np.mean([o.action in BLOCKING for o in benign])), 4) if benign else None,
            "benign_review_rate": round(float(np.mean([o.action == "human_review" for o in benign])), 4)
            if benign else None,
            "benign_deboost_rate": round(float(np.mean([o.action == "deboost" for o in benign])), 4)
            if benign else None,
        },
        "categories": per_category,
        "benign_commercial": benign_commercial(ok, thresholds),
        "confusion": confusion(ok, list(thresholds)),
    }




def benign_commercial(ok: list[Outcome], thresholds: dict[str, tuple[float, float]]) -> dict[str, Any] | None:
    """Overkill where it matters: benign product copy sent as ad copy. Per category, the share whose
    score reaches review and reject; overall, the share the service sent to review, deboosted, blocked."""
    rows = [o for o in ok if o.example.source == BENIGN_COMMERCIAL]
    if not rows:
        return None
    per_category = {}
    for c, (review, reject) in thresholds.items():
        p = np.array([o.scores.get(c, 0.0) for o in rows])
        per_category[c] = {"at_review": round(float((p >= review).mean()), 4),
                           "at_reject": round(float((p >= reject).mean()), 4)}
    return {"n": len(rows),
            "blocked": round(float(np.mean([o.action in BLOCKING for o in rows])), 4),
            "human_review": round(float(np.mean([o.action == "human_review" for o in rows])), 4),
            "deboost": round(float(np.mean([o.action == "deboost" for o in rows])), 4),
            "categories": per_category}
