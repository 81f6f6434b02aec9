"""Train the text risk heads on frozen encoder embeddings from ../shared/data, and measure them.

Reproducible and honest: rows are read by models/corpora.py (deduplicated on normalised text, each
with its group), split by group (models/splits.py: train / calibration / evaluation), training is
seeded, the zero-shot baseline is calibrated on *training* rows only, and every figure in the manifest
is measured on the evaluation split with the text scores exactly as the served head set computes
them. The manifest records the SHA-256 of every input file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import AdriskConfig
from models.corpora import BENIGN_COMMERCIAL, SOURCE_NOTES, Example, load_all
from models.head_metrics import at_thresholds, auprc, binary_metrics, flag_rate
from models.heads import HeadSet, prompts_digest, text_vectorizer, url_vectorizer
from models.model_files import file_sha256
from models.splits import CALIBRATION_PERCENT, EVALUATION_PERCENT, group_key, split_of, url_split

if TYPE_CHECKING:
    from core.store import DecisionStore

SEED = 20261124
SPLIT_RULE = (f"by group (template, domain, author, question, collection, else normalised text): "
              f"sha256(source:group) mod 100 < {CALIBRATION_PERCENT} calibration, "
              f"< {CALIBRATION_PERCENT + EVALUATION_PERCENT} evaluation, else train")

# Sources whose every row is a safe negative for the listed heads (beyond their own labels and the
# rows marked benign): SMS messages are not hate, sexual, violent or self-harm content; HateCheck
# cases are not sexual, scams, misinformation or personal data (they are threats: not violence-clean).
CLEAN_FOR = {
    "sms": {"hate_harassment", "adult_sexual", "child_safety", "violence_gore", "self_harm_body_image",
            "misinformation_political"},
    "hatecheck": {"adult_sexual", "child_safety", "self_harm_body_image", "scam_fraud", "misleading_claims",
                  "misinformation_political", "privacy_personal_data"},
    "clickbait": {"misinformation_political", "privacy_personal_data", "scam_fraud"},  # news + listicles
    "covid": {"privacy_personal_data", "scam_fraud", "misleading_claims"},
    "pii": {"scam_fraud", "misleading_claims", "misinformation_political", "hate_harassment"},
}
HEAD_CATEGORIES = ("scam_fraud", "hate_harassment", "adult_sexual", "child_safety", "violence_gore",
                   "self_harm_body_image", "misleading_claims", "misinformation_political",
                   "privacy_personal_data", "ai_generated_manipulated")
MIN_TRAIN_POSITIVES, MIN_EVAL_POSITIVES = 5, 2


def load_examples(data_dir: Path) -> list[Example]:
    return load_all(data_dir)


def assign_splits(examples: list[Example]) -> np.ndarray:
    """Each row's split name, decided by its group (or the split its set names)."""
    return np.array([ex.split or split_of(group_key(ex.source, ex.group, ex.text)) for ex in examples])


def head_dataset(examples: list[Example], category: str) -> tuple[list[int], np.ndarray]:
    """Rows for one head: explicit labels for it, plus benign rows and clean sets as negatives."""
    rows, labels = [], []
    for i, ex in enumerate(examples):
        if category in ex.labels:
            rows.append(i)
            labels.append(ex.labels[category])
        elif ex.benign or category in CLEAN_FOR.get(ex.source, ()):
            rows.append(i)
            labels.append(0)
    return rows, np.array(labels, dtype=np.int64)


def labelled_rows(examples: list[Example], category: str, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the rows at `positions` (e.g. the evaluation split), those the head labels: their index
    into `positions` and their 0/1 labels."""
    rows, y = head_dataset(examples, category)
    where = {r: k for k, r in enumerate(positions)}
    keep = [(where[r], label) for r, label in zip(rows, y, strict=True) if r in where]
    return (np.array([k for k, _ in keep], dtype=np.int64), np.array([label for _, label in keep], dtype=np.int64))


def head_sources(examples: list[Example], category: str) -> list[str]:
    return sorted({ex.source for ex in examples if ex.labels.get(category)})


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


def load_phishing_urls(data_dir: Path) -> tuple[list[str], np.ndarray]:
    import csv

    urls, labels = [], []
    with (data_dir / "phishing_urls.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            urls.append(row["url"].strip())
            labels.append(int(row["status"].strip() == "phishing"))
    return urls, np.array(labels, dtype=np.int64)


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


def feedback_examples(store: DecisionStore) -> list[Example]:
    """Reviewer verdicts from the decision log as training rows: every text the heads read for a
    reviewed ad (ad copy, page text, OCR), labelled by the latest verdict. A verdict that approves
    with no positive label marks the ad benign in every category. One ad is one group."""
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
                out.append(Example(" ".join(part["text"].split()), "feedback", dict(labels), benign,
                                   group=f"request:{request_id}"))
    return out


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
    the examples, embeddings and split back, for comparing against another head set."""
    examples = load_examples(data_dir)
    if limit:
        rng = np.random.default_rng(SEED)
        examples = [examples[i] for i in sorted(rng.choice(len(examples), limit, replace=False))]
    if extra:  # reviewer verdicts win over a public set's label for the same text
        texts = {ex.text for ex in extra}
        examples = list(extra) + [ex for ex in examples if ex.text not in texts]
    embeddings = cached_embeddings([ex.text for ex in examples], config, encode, log)
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


def cached_embeddings(
    texts: list[str], config: AdriskConfig, encode: Callable[[list[str]], np.ndarray],
    log: Callable[[str], None],
) -> np.ndarray:
    """Embeddings are a pure function of (encoder, text): cached per text under var/cache, so adding
    a set embeds only its new rows."""
    from core.config import PROJECT_ROOT

    encoder_key = hashlib.sha256(json.dumps([config.text_encoder.name, config.text_encoder.version,
                                             config.text_encoder.max_seq_length]).encode()).hexdigest()[:16]
    path = PROJECT_ROOT / "var" / "cache" / f"text-embeddings-{encoder_key}.npz"
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    known: dict[str, int] = {}
    vectors = np.zeros((0, 0), dtype=np.float32)
    if path.exists():
        with np.load(path) as cache:
            vectors = cache["vectors"]
            known = {str(k): i for i, k in enumerate(cache["keys"])}
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        log(f"embedding {len(missing)} of {len(texts)} texts with {config.text_encoder.name} "
            f"({len(texts) - len(missing)} cached) ...")
        new = encode([t for _, t in missing]).astype(np.float32)
        vectors = new if not known else np.concatenate([vectors, new])
        for k, _ in missing:
            known[k] = len(known)
        path.parent.mkdir(parents=True, exist_ok=True)
        order = sorted(known, key=known.get)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(order), vectors=vectors)
        tmp.replace(path)
    else:
        log(f"using cached embeddings for all {len(texts)} texts ({path.name})")
    return vectors[[known[k] for k in keys]]


def iter_batches(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
