"""What the text heads are trained and measured on (models/training.py): the rows of ../shared/data
(read by models/corpora.py), their split by group (models/splits.py), each head's labelled rows and
safe negatives, the phishing URLs, reviewer verdicts from the decision log as extra rows, and the
embedding cache under var/cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import AdriskConfig
from models.corpora import Example, load_all
from models.splits import CALIBRATION_PERCENT, EVALUATION_PERCENT, group_key, split_of

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


def load_phishing_urls(data_dir: Path) -> tuple[list[str], np.ndarray]:
    import csv

    urls, labels = [], []
    with (data_dir / "phishing_urls.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            urls.append(row["url"].strip())
            labels.append(int(row["status"].strip() == "phishing"))
    return urls, np.array(labels, dtype=np.int64)


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


def encoder_fingerprint(config: AdriskConfig) -> list[str]:
    """What identifies the encoder's weights beyond its name and version: for a model directory
    (not a versioned package), its path and its weight files' sizes and modification times. A
    random-weight stand-in that borrows a real model's name (tests/gpu_models.py) or a re-downloaded
    model at the same path never reuses another's embeddings."""
    import os

    from core.config import resolve_model_source

    source = config.text_encoder.source
    if source.startswith("package:"):
        return []
    path = Path(resolve_model_source(source))
    if not path.is_dir():  # a hub id: its name is all there is
        return [str(path)]
    weights = sorted(p for p in path.rglob("*") if p.suffix in {".safetensors", ".bin", ".pt"})
    return [os.path.abspath(path), *(f"{p.relative_to(path)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                                     for p in weights)]


def cached_embeddings(
    texts: list[str], config: AdriskConfig, encode: Callable[[list[str]], np.ndarray],
    log: Callable[[str], None], cache_dir: Path | None = None,
) -> np.ndarray:
    """Embeddings are a pure function of (encoder, text): cached per text under var/cache (or
    `cache_dir`), so adding a set embeds only its new rows."""
    from core.config import PROJECT_ROOT

    key = [config.text_encoder.name, config.text_encoder.version, config.text_encoder.max_seq_length]
    encoder_key = hashlib.sha256(json.dumps(key + encoder_fingerprint(config)).encode()).hexdigest()[:16]
    path = (cache_dir or PROJECT_ROOT / "var" / "cache") / f"text-embeddings-{encoder_key}.npz"
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
