"""Train the text risk heads on frozen encoder embeddings from ../shared/data, and measure them.

Reproducible and honest: rows are read by models/corpora.py (deduplicated on normalised text, each
with its group), split by group (models/splits.py: train / calibration / evaluation), training is
seeded, the zero-shot baseline is calibrated on *training* rows only, and every figure in the manifest
is measured on the evaluation split with the text scores exactly as the served head set computes
them. The manifest records the SHA-256 of every input file. The rows and their split are in
models/training_data.py, the measuring in models/head_measure.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.config import AdriskConfig
from models.corpora import SOURCE_NOTES, Example
from models.head_measure import compare_on_heldout, measure
from models.head_metrics import auprc, binary_metrics
from models.heads import HeadSet, prompts_digest, text_vectorizer, url_vectorizer
from models.model_files import file_sha256
from models.splits import url_split
from models.training_data import (
    HEAD_CATEGORIES,
    MIN_EVAL_POSITIVES,
    MIN_TRAIN_POSITIVES,
    SEED,
    SPLIT_RULE,
    assign_splits,
    cached_embeddings,
    feedback_examples,
    head_dataset,
    head_sources,
    load_examples,
    load_phishing_urls,
)

# The training rows and the measuring have modules of their own; importers take these names from here.
__all__ = ["SPLIT_RULE", "assign_splits", "compare_on_heldout", "feedback_examples", "head_dataset", "load_examples",
           "load_phishing_urls", "train_heads"]

def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 32.0):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000, random_state=SEED)
    model.fit(x, y)
    return model


NGRAM_WEIGHTS = (0.0, 1.0, 2.0)  # scale of the n-gram block beside the unit-norm embedding
C_HEADS = 8.0
MIN_SELECTION_POSITIVES = 10


@dataclass
class HeadFit:
    w_embedding: np.ndarray
    w_ngram: np.ndarray  # zeros when the embedding alone was chosen
    bias: float
    ngram_weight: float
    selection: str


def fit_head(emb: np.ndarray, ngrams: Any, y: np.ndarray, side: np.ndarray) -> HeadFit:
    """Fit one head on the train rows for each n-gram weight and keep the one with the best
    calibration-split AUPRC (never the evaluation split). With too few calibration positives to
    choose, the simplest model (the embedding alone) is kept."""
    import scipy.sparse as sparse
    from sklearn.linear_model import LogisticRegression

    train, cal = side == "train", side == "calibration"
    candidates = NGRAM_WEIGHTS if y[cal].sum() >= MIN_SELECTION_POSITIVES else (0.0,)
    best: tuple[float, float, Any] | None = None
    tried = []
    for weight in candidates:
        x = sparse.hstack([sparse.csr_matrix(emb), ngrams * weight]).tocsr() if weight else emb
        model = LogisticRegression(C=C_HEADS, max_iter=3000, solver="liblinear", random_state=SEED)
        model.fit(x[train], y[train])
        score = auprc(y[cal], model.decision_function(x[cal])) if cal.any() else None
        tried.append(f"×{weight}: {score}")
        if best is None or (score or 0.0) > best[0]:
            best = (score or 0.0, weight, model)
    assert best is not None
    _, weight, model = best
    coef = model.coef_[0]
    dim = emb.shape[1]
    w_ngram = coef[dim:] * weight if weight else np.zeros(ngrams.shape[1], dtype=np.float32)
    selection = (f"n-gram weight by calibration-split AUPRC ({', '.join(tried)})" if len(candidates) > 1
                 else f"embedding only ({int(y[cal].sum())} calibration positives: too few to choose)")
    return HeadFit(coef[:dim].astype(np.float32), np.asarray(w_ngram, dtype=np.float32),
                   float(model.intercept_[0]), weight, selection)


def train_url_head(data_dir: Path, review: float, reject: float) -> tuple[dict[str, Any], np.ndarray, float]:
    """Char n-gram URL head; whole registrable domains are held out (evaluation split)."""
    urls, y = load_phishing_urls(data_dir)
    splits = np.array([url_split(u) for u in urls])
    features = url_vectorizer().transform(urls)
    train, ev = splits == "train", splits == "evaluation"
    model = fit_logistic(features[train], y[train], c=8.0)
    p = model.predict_proba(features[ev])[:, 1]
    info = {
        "data": "phishing_urls (status), char 3-5-gram hashing of the URL string",
        "split": "registrable domain (Public Suffix List snapshot), " + SPLIT_RULE.split(": ", 1)[1],
        "train_rows": int(train.sum()),
        "metrics": binary_metrics(y[ev], p, reject),
        "metrics_at_review_threshold": binary_metrics(y[ev], p, review),
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

    A category's centre is the 99.5th percentile of its best prompt similarity over benign training
    texts, so a zero-shot score of 0.5 means "closer to the category than 99.5% of harmless texts".
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
        f"over {len(benign)} benign training-split texts",
        "centers": centers,
    }
    (out / "zero_shot.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


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
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Train, write the head set to `out`, return its manifest. Pass `heldout` (a dict) to get
    the examples, embeddings and split back, for comparing against another head set; `cache_dir`
    to keep the embedding cache somewhere other than var/cache."""
    examples = load_examples(data_dir)
    if limit:
        rng = np.random.default_rng(SEED)
        examples = [examples[i] for i in sorted(rng.choice(len(examples), limit, replace=False))]
    if extra:  # reviewer verdicts win over a public set's label for the same text
        texts = {ex.text for ex in extra}
        examples = list(extra) + [ex for ex in examples if ex.text not in texts]
    embeddings = cached_embeddings([ex.text for ex in examples], config, encode, log, cache_dir)
    split = assign_splits(examples)
    train = split == "train"
    ngrams = text_vectorizer().transform([ex.text for ex in examples])
    heads: dict[str, Any] = {}
    weights, ngram_weights, biases = [], [], []
    for category in HEAD_CATEGORIES:
        rows, y = head_dataset(examples, category)
        rows_arr = np.array(rows, dtype=np.int64)
        if len(rows_arr) == 0:
            continue
        side = split[rows_arr]
        if y[side == "train"].sum() < MIN_TRAIN_POSITIVES or y[side == "evaluation"].sum() < MIN_EVAL_POSITIVES:
            log(f"  {category}: too few positives, skipped")
            continue
        fit = fit_head(embeddings[rows_arr], ngrams[rows_arr], y, side)
        heads[category] = {
            "kind": "logistic_regression",
            "features": "sentence embedding" + (f" + hashed word 1-2-grams ×{fit.ngram_weight}"
                                                if fit.ngram_weight else ""),
            "selection": fit.selection,
            "data": " + ".join(head_sources(examples, category)),
            "train_rows": int((side == "train").sum()),
            "train_positives": int(y[side == "train"].sum()),
        }
        weights.append(fit.w_embedding)
        ngram_weights.append(fit.w_ngram)
        biases.append(np.float32(fit.bias))
    if not heads:
        raise ValueError(f"no head has {MIN_TRAIN_POSITIVES} training and {MIN_EVAL_POSITIVES} evaluation positives "
                         f"in these {len(examples)} rows: use more rows (--limit)")
    phishing = config.thresholds("phishing")
    url_info, url_coef, url_intercept = train_url_head(data_dir, phishing.review, phishing.reject)
    log(f"  phishing (url): AUPRC {url_info['metrics']['auprc']}")

    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / "weights.npz",
        W=np.stack(weights),
        W_ngram=np.stack(ngram_weights).astype(np.float16),
        b=np.array(biases, dtype=np.float32),
        heads=np.array(list(heads)),  # row order of W and b
        url_coef=url_coef.astype(np.float16),
        url_intercept=np.float32(url_intercept),
    )
    benign_train = embeddings[[i for i, ex in enumerate(examples) if ex.benign and train[i]]]
    write_zero_shot(config, encode, out, benign_train)

    data_files = sorted(p for p in data_dir.iterdir() if p.suffix in {".tsv", ".csv", ".gz"})
    manifest = {
        "name": f"text-heads-{config.text_encoder.name}",
        "version": version,
        "encoder": {"name": config.text_encoder.name, "version": config.text_encoder.version,
                    "dim": int(embeddings.shape[1])},
        "taxonomy_version": config.taxonomy.version,
        "created_by": "adrisk train-heads",
        "seed": SEED,
        "split": SPLIT_RULE,
        "split_rows": {s: int((split == s).sum()) for s in ("train", "calibration", "evaluation")},
        "rows": len(examples),
        "limit": limit,
        "data": {p.name: file_sha256(p) for p in data_files},
        "sources": {s: SOURCE_NOTES.get(s, s) for s in sorted({ex.source for ex in examples})},
        "heads": heads,
        "zero_shot_for_trained": False,  # measured: a head alone beats max(head, zero-shot) on every category
        "url_head": url_info,
        "note": "None of these public sets is ad copy; every figure is a proxy measured on the evaluation split.",
        "feedback_rows": len(extra or []),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    served = HeadSet.load(out, config.taxonomy, config.heads.zero_shot_scale, config.heads.zero_shot_bias)
    quality = measure(served, config, examples, embeddings, split, list(heads))
    for category, info in heads.items():
        held = quality[category]["heldout"]
        info["metrics"] = {"auprc": held["auprc"], "n_pos": held["n_pos"], "n_neg": held["n_neg"],
                           **{k: v for k, v in held["reject"].items()}}
        log(f"  {category}: AUPRC {held['auprc']} (pos {held['n_pos']}), R@review {held['review']['recall']}, "
            f"benign commercial at review {quality[category]['benign_commercial']['at_review']}")
    manifest["quality"] = quality
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if heldout is not None:
        heldout.update(examples=examples, embeddings=embeddings, split=split)
    return manifest
