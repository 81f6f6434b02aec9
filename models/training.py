"""Train the text risk heads on frozen encoder embeddings from ../shared/data.

Reproducible: a row's split is a hash of its text (20% held out), training is seeded and
deterministic, and the manifest records the SHA-256 of every input file, so rerunning the command
on the same data and encoder writes the same artifact.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.heads import prompts_digest, url_vectorizer
from serving.config import AdriskConfig

SEED = 20261124
HELDOUT_PERCENT = 20

# Which labels of which public set train which head (see ../shared/data/README.md).
MODERATION_LABELS = {
    "adult_sexual": ["S"],
    "child_safety": ["S3"],
    "hate_harassment": ["H", "H2", "HR"],
    "violence_gore": ["V", "V2"],
    "self_harm_body_image": ["SH"],
}
HEAD_SOURCES = {
    "scam_fraud": "sms_spam_collection (spam vs ham)",
    "hate_harassment": "hatecheck + davidson (hate vs neither) + openai_moderation H/H2/HR",
    "adult_sexual": "openai_moderation S",
    "child_safety": "openai_moderation S3",
    "violence_gore": "openai_moderation V/V2",
    "self_harm_body_image": "openai_moderation SH",
}


@dataclass
class Example:
    text: str
    source: str
    labels: dict[str, int] = field(default_factory=dict)  # category → 0/1 where the set says
    benign: bool = False  # the set says it is harmless in every respect


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_heldout(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100 < HELDOUT_PERCENT


def load_examples(data_dir: Path) -> list[Example]:
    examples: list[Example] = []
    with (data_dir / "sms_spam_collection.tsv").open(encoding="utf-8", errors="replace") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            spam = row["Label"].strip() == "spam"
            examples.append(
                Example(row["SMS"], "sms", {"scam_fraud": int(spam)}, benign=not spam)
            )
    with (data_dir / "hatecheck_test_suite_cases.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            hateful = row["label_gold"].strip() == "hateful"
            examples.append(Example(row["test_case"], "hatecheck", {"hate_harassment": int(hateful)}))
    with (data_dir / "davidson_labeled_data.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            cls = int(row["class"])
            if cls == 0:
                examples.append(Example(row["tweet"], "davidson", {"hate_harassment": 1}))
            elif cls == 2:
                examples.append(Example(row["tweet"], "davidson", {"hate_harassment": 0}, True))
            # class 1 (offensive, not hate) is ambiguous for every head: left out.
    with gzip.open(data_dir / "openai_moderation_samples.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            labels = {c: int(any(row.get(k) for k in keys)) for c, keys in MODERATION_LABELS.items()}
            examples.append(
                Example(row["prompt"], "openai_moderation", labels, benign=not any(labels.values()))
            )
    # Deduplicate on text (first label wins) so a text never sits on both sides of the split.
    seen: dict[str, Example] = {}
    for ex in examples:
        text = " ".join(ex.text.split())
        if text and text not in seen:
            ex.text = text
            seen[text] = ex
    return list(seen.values())


# Sets whose every row is a safe negative for heads they do not label: SMS messages (spam or not)
# are not hate, sexual, violent or self-harm content; HateCheck cases are not sexual, scams, etc.
CLEAN_FOR_OTHER_HEADS = {"sms", "hatecheck"}


def head_dataset(examples: list[Example], category: str) -> tuple[list[int], np.ndarray]:
    """Rows for one head: explicit labels for it, plus benign/clean rows of other sets as negatives."""
    rows, labels = [], []
    for i, ex in enumerate(examples):
        if category in ex.labels:
            rows.append(i)
            labels.append(ex.labels[category])
        elif ex.benign or ex.source in CLEAN_FOR_OTHER_HEADS:
            rows.append(i)
            labels.append(0)
    return rows, np.array(labels, dtype=np.int64)


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


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    counts = confusion_counts(y, p >= threshold)
    return {
        "threshold": threshold,
        "precision": counts["precision"],
        "recall": counts["recall"],
        "f1": counts["f1"],
        "leak_rate": round(1 - counts["recall"], 4),
        "overkill": round(counts["fp"] / max(1, int(np.sum(y == 0))), 4),
        "auprc": round(float(average_precision_score(y, p)), 4),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "n_pos": int(np.sum(y == 1)),
        "n_neg": int(np.sum(y == 0)),
    }


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 32.0):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000, random_state=SEED)
    model.fit(x, y)
    return model


def load_phishing_urls(data_dir: Path) -> tuple[list[str], np.ndarray]:
    urls, labels = [], []
    with (data_dir / "phishing_urls.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            urls.append(row["url"].strip())
            labels.append(int(row["status"].strip() == "phishing"))
    return urls, np.array(labels, dtype=np.int64)


def train_url_head(data_dir: Path, reject_threshold: float) -> tuple[dict[str, Any], np.ndarray, float]:
    urls, y = load_phishing_urls(data_dir)
    held = np.array([is_heldout(u) for u in urls])
    features = url_vectorizer().transform(urls)
    model = fit_logistic(features[~held], y[~held], c=8.0)
    p = model.predict_proba(features[held])[:, 1]
    info = {
        "data": "phishing_urls (status), char 3-5-gram hashing of the URL string",
        "train_rows": int((~held).sum()),
        "metrics": binary_metrics(y[held], p, reject_threshold),
    }
    return info, model.coef_[0].astype(np.float32), float(model.intercept_[0])


ZERO_SHOT_BENIGN_QUANTILE = 0.995


def write_zero_shot(
    config: AdriskConfig,
    encode: Callable[[list[str]], np.ndarray],
    out: Path,
    benign: np.ndarray,
) -> None:
    """Embed every category's zero-shot prompts and calibrate each category on benign text.

    A category's centre is the 99.5th percentile of its best prompt similarity over benign texts,
    so a zero-shot score of 0.5 means "closer to the category than 99.5% of harmless messages".
    """
    texts, owners = [], []
    for category in config.taxonomy.categories:
        for prompt in [category.description, *category.zero_shot_prompts]:
            texts.append(prompt)
            owners.append(category.id)
    vectors = encode(texts).astype(np.float32)
    sims = benign.astype(np.float32) @ vectors.T
    centers = {}
    for category in config.taxonomy.ids:
        cols = [j for j, owner in enumerate(owners) if owner == category]
        best = sims[:, cols].max(axis=1)
        centers[category] = round(float(np.quantile(best, ZERO_SHOT_BENIGN_QUANTILE)), 4)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "zero_shot.npz", vectors=vectors, owners=np.array(owners))
    doc = {
        "prompts_sha256": prompts_digest(config.taxonomy),
        "prompts": len(texts),
        "calibration": f"centre = quantile {ZERO_SHOT_BENIGN_QUANTILE} of best-prompt similarity "
        f"over {len(benign)} benign texts",
        "centers": centers,
    }
    (out / "zero_shot.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def feedback_examples(store_path: Path) -> list[Example]:
    """Reviewer verdicts from the decision log as training rows: every text the heads read for a
    reviewed ad (ad copy, page text, OCR), labelled by the latest verdict. A verdict that approves
    with no positive label marks the ad benign in every category."""
    from serving.store import SQLiteDecisionStore

    store = SQLiteDecisionStore(store_path)
    latest: dict[str, Any] = {}
    for verdict in store.all_feedback():
        latest[verdict.request_id] = verdict
    out = []
    for request_id, verdict in latest.items():
        record = store.get(request_id)
        if record is None:
            continue
        labels = {c: int(v) for c, v in verdict.labels.items()}
        benign = verdict.final_action == "approve" and not any(labels.values())
        for part in record.inputs.get("texts", []):
            if part.get("text", "").strip() and (labels or benign):
                out.append(Example(" ".join(part["text"].split()), "feedback", dict(labels), benign))
    return out


def train_heads(
    config: AdriskConfig,
    data_dir: Path,
    out: Path,
    encode: Callable[[list[str]], np.ndarray],
    limit: int | None = None,
    version: str = "1",
    log: Callable[[str], None] = print,
    extra: list[Example] | None = None,
    heldout: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, write the head set to `out`, return its manifest. Pass `heldout` (a dict) to get
    the examples, embeddings and held-out mask back, for comparing against another head set."""
    examples = load_examples(data_dir)
    if limit:
        rng = np.random.default_rng(SEED)
        examples = [examples[i] for i in sorted(rng.choice(len(examples), limit, replace=False))]
    if extra:  # reviewer verdicts win over a public set's label for the same text
        texts = {ex.text for ex in extra}
        examples = list(extra) + [ex for ex in examples if ex.text not in texts]
    embeddings = cached_embeddings([ex.text for ex in examples], config, encode, log)
    held = np.array([is_heldout(ex.text) for ex in examples])
    heads: dict[str, Any] = {}
    weights, biases = [], []
    for category in HEAD_SOURCES:
        rows, y = head_dataset(examples, category)
        rows_arr = np.array(rows)
        x, h = embeddings[rows_arr], held[rows_arr]
        if y[~h].sum() < 5 or y[h].sum() < 2:
            log(f"  {category}: too few positives, skipped")
            continue
        model = fit_logistic(x[~h], y[~h])
        p = model.predict_proba(x[h])[:, 1]
        threshold = config.thresholds(category).reject
        metrics = binary_metrics(y[h], p, threshold)
        metrics_review = binary_metrics(y[h], p, config.thresholds(category).review)
        heads[category] = {
            "kind": "logistic_regression",
            "data": HEAD_SOURCES[category],
            "train_rows": int((~h).sum()),
            "train_positives": int(y[~h].sum()),
            "metrics": metrics,
            "metrics_at_review_threshold": metrics_review,
        }
        weights.append(model.coef_[0].astype(np.float32))
        biases.append(np.float32(model.intercept_[0]))
        log(f"  {category}: AUPRC {metrics['auprc']}, P {metrics['precision']}, R {metrics['recall']}")
    url_info, url_coef, url_intercept = train_url_head(data_dir, config.thresholds("phishing").reject)
    log(f"  phishing (url): AUPRC {url_info['metrics']['auprc']}")

    data_files = sorted(p for p in data_dir.iterdir() if p.suffix in {".tsv", ".csv", ".gz"})
    manifest = {
        "name": f"text-heads-{config.text_encoder.name}",
        "version": version,
        "encoder": {"name": config.text_encoder.name, "version": config.text_encoder.version,
                    "dim": int(embeddings.shape[1])},
        "taxonomy_version": config.taxonomy.version,
        "created_by": "adrisk train-heads",
        "seed": SEED,
        "heldout_percent": HELDOUT_PERCENT,
        "split": "sha256(text) mod 100 < heldout_percent",
        "rows": len(examples),
        "limit": limit,
        "data": {p.name: file_sha256(p) for p in data_files},
        "heads": heads,
        "url_head": url_info,
        "note": "None of these public sets is an ad data set; metrics are proxies.",
        "feedback_rows": len(extra or []),
    }
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / "weights.npz",
        W=np.stack(weights),
        b=np.array(biases, dtype=np.float32),
        heads=np.array(list(heads)),  # row order of W and b
        url_coef=url_coef.astype(np.float16),
        url_intercept=np.float32(url_intercept),
    )
    benign = embeddings[[i for i, ex in enumerate(examples) if ex.benign]]
    write_zero_shot(config, encode, out, benign)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if heldout is not None:
        heldout.update(examples=examples, embeddings=embeddings, held=held)
    return manifest


def compare_on_heldout(
    candidate: Path, current: Path, examples: list[Example], embeddings: np.ndarray, held: np.ndarray
) -> dict[str, Any]:
    """Held-out AUPRC of two head sets on the same rows (the candidate's split, feedback included)."""
    from sklearn.metrics import average_precision_score

    def predict(directory: Path) -> dict[str, np.ndarray]:
        with np.load(directory / "weights.npz") as w:
            names = [str(x) for x in w["heads"]]
            probs = 1.0 / (1.0 + np.exp(-(embeddings @ w["W"].astype(np.float32).T + w["b"])))
        return {name: probs[:, i] for i, name in enumerate(names)}

    new, old = predict(candidate), predict(current)
    per_head: dict[str, dict[str, float]] = {}
    for category in sorted(set(new) & set(old)):
        rows, y = head_dataset(examples, category)
        idx = np.array(rows)[held[np.array(rows)]]
        y_held = y[held[np.array(rows)]]
        if y_held.min() == y_held.max():
            continue
        fb = np.array([examples[i].source == "feedback" for i in idx])
        entry = {"candidate": round(float(average_precision_score(y_held, new[category][idx])), 4),
                 "current": round(float(average_precision_score(y_held, old[category][idx])), 4),
                 "heldout_rows": len(idx), "feedback_rows": int(fb.sum())}
        per_head[category] = entry
    mean_new = float(np.mean([v["candidate"] for v in per_head.values()])) if per_head else 0.0
    mean_old = float(np.mean([v["current"] for v in per_head.values()])) if per_head else 0.0
    return {"heads": per_head, "mean_auprc": {"candidate": round(mean_new, 4), "current": round(mean_old, 4)},
            "beats_current": mean_new > mean_old}


def cached_embeddings(
    texts: list[str], config: AdriskConfig, encode: Callable[[list[str]], np.ndarray],
    log: Callable[[str], None],
) -> np.ndarray:
    """Embeddings are a pure function of (encoder, texts): cache them under var/cache."""
    from serving.config import PROJECT_ROOT

    key = hashlib.sha256(
        json.dumps([config.text_encoder.name, config.text_encoder.version,
                    config.text_encoder.max_seq_length, texts]).encode()
    ).hexdigest()[:24]
    path = PROJECT_ROOT / "var" / "cache" / f"embeddings-{key}.npy"
    if path.exists():
        log(f"using cached embeddings {path.name}")
        return np.load(path)
    log(f"embedding {len(texts)} texts with {config.text_encoder.name} ...")
    embeddings = encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, embeddings)
    return embeddings


def iter_batches(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
