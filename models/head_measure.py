"""Measuring text head sets on the evaluation split, scored exactly as the served head set scores:
a trained set's figures for its manifest (models/training.py), and a candidate against the current
set on the same rows (`adrisk train-heads --from-feedback`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.config import AdriskConfig
from models.corpora import BENIGN_COMMERCIAL, Example
from models.head_metrics import at_thresholds, auprc, flag_rate
from models.heads import HeadSet
from models.training_data import labelled_rows


def measure(heads: HeadSet, config: AdriskConfig, examples: list[Example], embeddings: np.ndarray,
            split: np.ndarray, trained: list[str]) -> dict[str, dict[str, Any]]:
    """Every category's figures on the evaluation split, scored exactly as the served head set does:
    labelled rows where a head exists, per-source AUPRC (the shortcut check), and the share of held-out
    benign commercial text at or above the review and reject thresholds (for all 18 categories)."""
    ev = np.flatnonzero(split == "evaluation")
    scores, _ = heads.score_text(embeddings[ev], [examples[i].text for i in ev])
    col = {c: j for j, c in enumerate(heads.categories)}
    products = np.array([examples[i].source == BENIGN_COMMERCIAL for i in ev])
    out: dict[str, dict[str, Any]] = {}
    for category in heads.categories:
        t = config.thresholds(category)
        p = scores[:, col[category]]
        entry: dict[str, Any] = {"benign_commercial": flag_rate(p[products], t.review, t.reject)}
        if category in trained:
            idx, yy = labelled_rows(examples, category, ev)
            entry["heldout"] = at_thresholds(yy, p[idx], t.review, t.reject)
            per_source: dict[str, Any] = {}
            sources = np.array([examples[ev[k]].source for k in idx])
            for source in sorted(set(sources[yy == 1])):
                mine = sources == source
                ys, ps = yy[mine], p[idx][mine]
                per_source[source] = {"n_pos": int(ys.sum()), "n_neg": int((ys == 0).sum()),
                                      "auprc_within_source": auprc(ys, ps),
                                      "recall_at_review": round(float((ps[ys == 1] >= t.review).mean()), 4),
                                      # this source's positives against every negative of the head
                                      "auprc_vs_all_negatives": auprc(
                                          np.concatenate([ys[ys == 1], yy[yy == 0]]),
                                          np.concatenate([ps[ys == 1], p[idx][yy == 0]]))}
            entry["per_source"] = per_source
        out[category] = entry
    return out


def compare_on_heldout(
    config: AdriskConfig, candidate: Path, current: Path, examples: list[Example], embeddings: np.ndarray,
    split: np.ndarray,
) -> dict[str, Any]:
    """Evaluation-split AUPRC of two head sets on the same rows (the candidate's split, feedback
    included), each scored as it would be served."""
    evaluation = np.flatnonzero(split == "evaluation")
    texts = [examples[i].text for i in evaluation]

    def predict(directory: Path) -> tuple[dict[str, np.ndarray], set[str]]:
        heads = HeadSet.load(directory, config.taxonomy, config.heads.zero_shot_scale, config.heads.zero_shot_bias)
        scores, _ = heads.score_text(embeddings[evaluation], texts)
        return {c: scores[:, j] for j, c in enumerate(heads.categories)}, set(heads.trained)

    (new, new_trained), (old, old_trained) = predict(candidate), predict(current)
    per_head: dict[str, dict[str, float]] = {}
    for category in sorted(new_trained & old_trained):
        idx, y_held = labelled_rows(examples, category, evaluation)
        if len(y_held) == 0 or y_held.min() == y_held.max():
            continue
        fb = sum(examples[evaluation[k]].source == "feedback" for k in idx)
        per_head[category] = {"candidate": auprc(y_held, new[category][idx]),
                              "current": auprc(y_held, old[category][idx]),
                              "heldout_rows": len(idx), "feedback_rows": int(fb)}
    mean_new = float(np.mean([v["candidate"] for v in per_head.values()])) if per_head else 0.0
    mean_old = float(np.mean([v["current"] for v in per_head.values()])) if per_head else 0.0
    return {"heads": per_head, "mean_auprc": {"candidate": round(mean_new, 4), "current": round(mean_old, 4)},
            "beats_current": mean_new > mean_old}
