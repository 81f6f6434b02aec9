"""Held-out metrics of a score against 0/1 labels: the numbers every manifest and report carries."""

from __future__ import annotations

import numpy as np


def confusion_counts(y: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of a flag against 0/1 labels, with the counts behind them."""
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp,
            "fn": fn}


def auprc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Average precision; None where one class is missing (the figure would mean nothing)."""
    from sklearn.metrics import average_precision_score

    if len(y) == 0 or y.min() == y.max():
        return None
    return round(float(average_precision_score(y, p)), 4)


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    counts = confusion_counts(y, p >= threshold)
    both = y.min() != y.max() if len(y) else False
    return {
        "threshold": threshold,
        "precision": counts["precision"],
        "recall": counts["recall"],
        "f1": counts["f1"],
        "leak_rate": round(1 - counts["recall"], 4),
        "overkill": round(counts["fp"] / max(1, int(np.sum(y == 0))), 4),
        "auprc": auprc(y, p),
        "roc_auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "n_pos": int(np.sum(y == 1)),
        "n_neg": int(np.sum(y == 0)),
    }


def at_thresholds(y: np.ndarray, p: np.ndarray, review: float, reject: float) -> dict[str, object]:
    """AUPRC plus precision / recall / false-positive rate at the review and reject thresholds."""
    out: dict[str, object] = {"auprc": auprc(y, p), "n_pos": int(np.sum(y == 1)), "n_neg": int(np.sum(y == 0))}
    for name, t in (("review", review), ("reject", reject)):
        c = confusion_counts(y, p >= t)
        out[name] = {"threshold": t, "precision": c["precision"], "recall": c["recall"],
                     "fpr": round(c["fp"] / max(1, int(np.sum(y == 0))), 4)}
    return out


def flag_rate(p: np.ndarray, review: float, reject: float) -> dict[str, float | int]:
    """Share of negatives at or above each threshold (overkill on a benign-only set)."""
    n = len(p)
    return {"n": n, "at_review": round(float((p >= review).mean()), 4) if n else 0.0,
            "at_reject": round(float((p >= reject).mean()), 4) if n else 0.0}
