"""Choose per-category thresholds for a target overkill (and optionally leak) on an eval's results,
and write them as a new policy version: the current policy with threshold overrides, annotated."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import yaml

from serving.config import load_config, resolve_config_path

GRID = np.round(np.arange(0.05, 0.995, 0.01), 2)


def _read_results(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["ok"]]


def _labels(rows: list[dict], category: str) -> tuple[np.ndarray, np.ndarray]:
    y, p = [], []
    for r in rows:
        label = r["labels"].get(category, 0 if r["benign"] else None)
        if label is not None:
            y.append(int(label))
            p.append(float(r["scores"].get(category, 0.0)))
    return np.array(y, dtype=np.int64), np.array(p)


def choose(y: np.ndarray, p: np.ndarray, target_overkill: float, target_leak: float | None,
           current: tuple[float, float]) -> tuple[float, float, dict[str, float]]:
    """reject: the lowest grid threshold whose negatives-at-or-above share ≤ target_overkill;
    review: the highest grid threshold ≤ reject whose positives-below share ≤ target_leak (when set),
    else the current review threshold capped at reject."""
    neg, pos = p[y == 0], p[y == 1]
    reject = next((float(t) for t in GRID if (neg >= t).mean() <= target_overkill), float(GRID[-1]))
    if target_leak is None:
        review = min(current[0], reject)
    else:
        ok = [float(t) for t in GRID if t <= reject and (pos < t).mean() <= target_leak]
        review = max(ok) if ok else float(GRID[0])
    achieved = {"overkill_at_reject": round(float((neg >= reject).mean()), 4),
                "recall_at_reject": round(float((pos >= reject).mean()), 4),
                "leak_below_review": round(float((pos < review).mean()), 4),
                "negatives_at_review": round(float((neg >= review).mean()), 4)}
    return round(review, 2), round(reject, 2), achieved


def calibrate_policy(results: Path, profile: str, target_overkill: float, target_leak: float | None,
                     version: str, min_positives: int = 20) -> tuple[str, list[str]]:
    config = load_config(profile)
    rows = _read_results(results)
    profile_doc = yaml.safe_load((resolve_config_path(f"profiles/{profile}.yaml")).read_text())
    base_file = resolve_config_path(profile_doc["policy"])
    policy = yaml.safe_load(base_file.read_text())
    thresholds = dict(policy.get("thresholds") or {})
    summary, provenance = [], []
    for category in config.taxonomy.ids:
        y, p = _labels(rows, category)
        current = config.thresholds(category)
        if int(y.sum()) < min_positives or int((y == 0).sum()) < min_positives:
            summary.append(f"{category}: kept {current.review}/{current.reject} ({int(y.sum())} positives)")
            continue
        review, reject = choose(y, p, target_overkill, target_leak, (current.review, current.reject))[:2]
        achieved = choose(y, p, target_overkill, target_leak, (current.review, current.reject))[2]
        thresholds[category] = {"review": review, "reject": reject}
        line = (f"{category}: {current.review}/{current.reject} → {review}/{reject} "
                f"(n={len(y)}, pos={int(y.sum())}; {json.dumps(achieved)})")
        summary.append(line)
        provenance.append(line)
    policy["version"] = str(version)
    policy["thresholds"] = thresholds
    load_config(profile, {"policy_doc": policy})  # the new version must load before it is written
    digest = hashlib.sha256(results.read_bytes()).hexdigest()[:16]
    header = [
        f"# Policy {policy['name']}@{version}: written by `adrisk calibrate` on {dt.datetime.now(dt.UTC):%Y-%m-%d} "
        f"from {base_file.name}",
        f"# Targets: overkill ≤ {target_overkill} per category at reject"
        + (f", leak ≤ {target_leak} below review" if target_leak is not None else "")
        + f"; eval results {results.name} sha256 {digest}…",
        *[f"#   {line}" for line in provenance],
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump(policy, sort_keys=False, allow_unicode=True), summary
