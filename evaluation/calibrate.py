"""Fit per-category thresholds on the *calibration* split and write them as a new policy version.

What an analyst can run safely:
  - thresholds are fitted on one eval run (`adrisk eval --split calibration`) and checked on another
    (`--check`, the evaluation split): the figures printed are never from the rows that were fitted;
  - reject: the lowest threshold where held-out benign commercial text (product listings) reaches
    reject at most `target_commercial_reject` of the time and all negatives at most `target_overkill`;
  - review: as low as the overall budget allows (benign ads — the benign commercial rows — at or
    above any review threshold ≤ `review_budget`), giving up first the recall that costs the most
    benign ads, and always at least `min_band` below reject, so the band never collapses;
  - no threshold moves by more than `max_step` in one calibration;
  - categories with fewer than `min_positives` positives (or no negatives) keep their thresholds, and
    the output says why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from core.config import load_config, resolve_config_path
from models.corpora import BENIGN_COMMERCIAL

GRID = np.round(np.arange(0.05, 0.995, 0.01), 2)


@dataclass
class Rows:
    """One eval run's results as arrays: scores (n, categories), labels (n, categories; -1 unknown)."""

    categories: list[str]
    scores: np.ndarray
    labels: np.ndarray
    benign: np.ndarray
    commercial: np.ndarray

    @classmethod
    def read(cls, path: Path, categories: list[str]) -> Rows:
        docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        docs = [d for d in docs if d["ok"]]
        if not docs:
            raise ValueError(f"{path}: no successful results")
        scores = np.array([[float(d["scores"].get(c, 0.0)) for c in categories] for d in docs])
        labels = np.array([[int(d["labels"][c]) if c in d["labels"] else (0 if d["benign"] else -1)
                            for c in categories] for d in docs])
        benign = np.array([bool(d["benign"]) for d in docs])
        commercial = np.array([d["source"] == BENIGN_COMMERCIAL for d in docs]) & benign
        return cls(categories, scores, labels, benign, commercial)


@dataclass
class Targets:
    commercial_reject: float = 0.005
    overkill: float = 0.01
    review_budget: float = 0.02
    min_positives: int = 20
    min_band: float = 0.1
    max_step: float = 0.2


@dataclass
class Fitted:
    thresholds: dict[str, tuple[float, float]]  # category → (review, reject)
    kept: dict[str, str] = field(default_factory=dict)  # category → why it kept its thresholds


def _lowest(ok: list[float], default: float) -> float:
    return min(ok) if ok else default


def fit(rows: Rows, current: dict[str, tuple[float, float]], targets: Targets) -> Fitted:
    fitted = Fitted(thresholds=dict(current))
    adjustable: list[str] = []
    for j, c in enumerate(rows.categories):
        y, p = rows.labels[:, j], rows.scores[:, j]
        pos, neg = p[y == 1], p[y == 0]
        if len(pos) < targets.min_positives or len(neg) == 0:
            fitted.kept[c] = (f"{len(pos)} positives in the calibration split (< {targets.min_positives})"
                              if len(neg) else "no negatives in the calibration split")
            continue
        review0, reject0 = current[c]
        commercial = p[rows.commercial]
        ok = [float(t) for t in GRID if reject0 - targets.max_step <= t <= reject0 + targets.max_step
              and (commercial >= t).mean() <= targets.commercial_reject and (neg >= t).mean() <= targets.overkill]
        reject = round(_lowest(ok, min(0.99, reject0 + targets.max_step)), 2)
        review = round(max(float(GRID[0]), review0 - targets.max_step), 2)
        fitted.thresholds[c] = (min(review, round(reject - targets.min_band, 2)), reject)
        adjustable.append(c)
    _fit_review_budget(rows, fitted, adjustable, current, targets)
    return fitted


def benign_review_rate(rows: Rows, thresholds: dict[str, tuple[float, float]]) -> float:
    """Share of benign *ads* at or above any review threshold. The benign ads are the benign commercial
    rows (product listings as ad copy) where the run has them: tweets, SMS and web pages are benign
    but are not ads, and their style is not what the pipeline reviews."""
    ads = rows.benign
    if not ads.any():
        return 0.0
    review = np.array([thresholds[c][0] for c in rows.categories])
    return float((rows.scores[ads] >= review).any(axis=1).mean())


LOOKAHEAD = 0.05  # score window used to weigh what the next review step saves against what it loses


def _fit_review_budget(rows: Rows, fitted: Fitted, adjustable: list[str], current: dict[str, tuple[float, float]],
                       targets: Targets) -> None:
    """Raise review thresholds 0.01 at a time until benign ads at or above any review threshold fit
    the budget (or nothing can rise). Each step goes to the category whose next `LOOKAHEAD` of score
    holds the most benign ads per positive it would let through (the cheapest recall to give up).
    Where review would come closer than `min_band` to reject, reject rises with it (fewer automatic
    rejects, never more overkill), within `max_step` of where each started."""
    ads = rows.benign
    col = {c: j for j, c in enumerate(rows.categories)}

    def can_rise(c: str) -> bool:
        review, reject = fitted.thresholds[c]
        needs_reject = review + 0.01 > reject - targets.min_band + 1e-9
        return (review + 0.01 <= current[c][0] + targets.max_step + 1e-9
                and (not needs_reject or reject + 0.01 <= min(0.99, current[c][1] + targets.max_step) + 1e-9))

    def value(c: str) -> float:
        review = fitted.thresholds[c][0]
        p, y = rows.scores[:, col[c]], rows.labels[:, col[c]]
        window = (p >= review) & (p < review + LOOKAHEAD)
        return float((window & ads).sum()) / (float((window & (y == 1)).sum()) + 1.0)

    while benign_review_rate(rows, fitted.thresholds) > targets.review_budget:
        movable = [c for c in adjustable if can_rise(c)]
        if not movable:
            return
        best = max(movable, key=value)
        review, reject = fitted.thresholds[best]
        review = round(review + 0.01, 2)
        fitted.thresholds[best] = (review, max(reject, round(review + targets.min_band, 2)))


def figures(rows: Rows, thresholds: dict[str, tuple[float, float]]) -> dict[str, dict[str, float | int | None]]:
    """Per category on one run: positives, recall at review / reject, commercial text at reject."""
    out = {}
    for j, c in enumerate(rows.categories):
        y, p = rows.labels[:, j], rows.scores[:, j]
        review, reject = thresholds[c]
        pos = p[y == 1]
        commercial = p[rows.commercial]
        out[c] = {"positives": len(pos),
                  "recall_review": round(float((pos >= review).mean()), 4) if len(pos) else None,
                  "recall_reject": round(float((pos >= reject).mean()), 4) if len(pos) else None,
                  "commercial_at_reject": round(float((commercial >= reject).mean()), 4) if len(commercial) else None}
    return out


def _fmt(x: float | int | None) -> str:
    return "—" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def check_table(rows: Rows, current: dict[str, tuple[float, float]], new: dict[str, tuple[float, float]]) -> list[str]:
    """Current vs new thresholds on the check run (the evaluation split), per category and overall."""
    old_f, new_f = figures(rows, current), figures(rows, new)
    lines = [f"{'category':<26}thresholds (now → new)   positives  recall@review now→new  recall@reject now→new"
             "  commercial@reject now→new"]
    for c in rows.categories:
        o, n = old_f[c], new_f[c]
        lines.append(f"{c:<26}{current[c][0]:.2f}/{current[c][1]:.2f} → {new[c][0]:.2f}/{new[c][1]:.2f}   "
                     f"{o['positives']:>9}  {_fmt(o['recall_review']):>6} → {_fmt(n['recall_review']):<6}    "
                     f"{_fmt(o['recall_reject']):>6} → {_fmt(n['recall_reject']):<6}     "
                     f"{_fmt(o['commercial_at_reject']):>6} → {_fmt(n['commercial_at_reject'])}")
    lines.append(f"benign ads at or above any review threshold: {benign_review_rate(rows, current):.4f} → "
                 f"{benign_review_rate(rows, new):.4f}")
    return lines


def policy_file_in_force(profile: str) -> Path:
    """The policy file a profile serves (its `policy:` entry)."""
    doc = yaml.safe_load(resolve_config_path(f"profiles/{profile}.yaml").read_text())
    return resolve_config_path(doc["policy"])


def calibrate_policy(results: Path, profile: str, version: str, targets: Targets,
                     check: Path | None = None) -> tuple[str, list[str]]:
    """(the new policy file's text, the report lines to print). Nothing is written here."""
    config = load_config(profile)
    categories = config.taxonomy.ids
    current = {c: (config.thresholds(c).review, config.thresholds(c).reject) for c in categories}
    rows = Rows.read(results, categories)
    fitted = fit(rows, current, targets)
    base_file = policy_file_in_force(profile)
    policy = yaml.safe_load(base_file.read_text())
    thresholds = dict(policy.get("thresholds") or {})
    report = [f"fitted on {results} ({len(rows.scores)} results); benign ads at or above review: "
              f"{benign_review_rate(rows, current):.4f} → {benign_review_rate(rows, fitted.thresholds):.4f} "
              f"(budget {targets.review_budget})"]
    provenance = []
    for c in categories:
        if c in fitted.kept:
            report.append(f"{c}: kept {current[c][0]}/{current[c][1]}: {fitted.kept[c]}")
            continue
        review, reject = fitted.thresholds[c]
        thresholds[c] = {"review": review, "reject": reject}
        line = f"{c}: {current[c][0]}/{current[c][1]} → {review}/{reject}"
        report.append(line)
        provenance.append(line)
    if check is not None:
        report += ["", f"checked on {check} (not used for fitting):",
                   *check_table(Rows.read(check, categories), current, fitted.thresholds)]
    policy["version"] = str(version)
    policy["thresholds"] = thresholds
    load_config(profile, {"policy_doc": policy})  # the new version must load before it is written
    digest = hashlib.sha256(results.read_bytes()).hexdigest()[:16]
    header = [
        f"# Policy {policy['name']}@{version}: written by `adrisk calibrate` on {dt.datetime.now(dt.UTC):%Y-%m-%d} "
        f"from {base_file.name}",
        f"# Fitted on {results.name} (sha256 {digest}…): benign commercial text at reject ≤ "
        f"{targets.commercial_reject}, negatives at reject ≤ {targets.overkill}, benign ads at review ≤ "
        f"{targets.review_budget}, review ≥ {targets.min_band} below reject, steps ≤ {targets.max_step}",
        *[f"#   {line}" for line in provenance],
        *[f"#   {c}: kept ({why})" for c, why in fitted.kept.items()],
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump(policy, sort_keys=False, allow_unicode=True), report
