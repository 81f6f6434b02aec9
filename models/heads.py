"""Risk head sets: what turns text embeddings (and URLs) into per-category scores.

A head set is a directory — a manifest on disk, Triton-repository style:
    manifest.json   name, version, encoder it was trained on, data hashes, per-head metrics
    weights.npz     trained logistic heads (W, b), zero-shot prompt embeddings, URL head
Categories with a trained head use it; the rest use the transparent zero-shot baseline
(cosine similarity of the text to the category's prompts, squashed by a fixed logistic).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serving.config import Taxonomy

URL_HASH_FEATURES = 2**17


def prompts_digest(taxonomy: Taxonomy) -> str:
    """Hash of the zero-shot prompts, so a taxonomy edit invalidates stale prompt embeddings."""
    doc = [[c.id, list(c.zero_shot_prompts)] for c in taxonomy.categories]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def url_vectorizer():
    """Stateless char n-gram hashing of URLs: nothing to fit, identical at train and serve time."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        n_features=URL_HASH_FEATURES,
        alternate_sign=False,
        norm="l2",
        lowercase=True,
    )


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


@dataclass
class HeadSet:
    manifest: dict[str, Any]
    categories: list[str]  # taxonomy order
    trained: list[str]  # categories with a trained text head
    W: np.ndarray  # (len(trained), dim)
    b: np.ndarray  # (len(trained),)
    prompt_vectors: np.ndarray  # (P, dim)
    prompt_owner: np.ndarray  # (P,) index into categories
    url_coef: np.ndarray | None
    url_intercept: float
    zero_shot_centers: np.ndarray  # (categories,) calibrated on benign text at training time
    zero_shot_scale: float
    zero_shot_bias: float

    @property
    def ident(self) -> str:
        return f"{self.manifest['name']}@{self.manifest['version']}"

    @classmethod
    def load(cls, directory: str | Path, taxonomy: Taxonomy, scale: float, bias: float) -> HeadSet:
        directory = Path(directory)
        manifest_path = directory / "manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(
                f"no head set at {directory}: run `adrisk train-heads` (or `make prepare`)"
            )
        manifest = json.loads(manifest_path.read_text())
        with np.load(directory / "weights.npz") as weights:
            arrays = {k: weights[k] for k in weights.files}
        zero_shot = json.loads((directory / "zero_shot.json").read_text())
        if zero_shot["prompts_sha256"] != prompts_digest(taxonomy):
            raise ValueError(
                f"zero-shot prompt embeddings in {directory} are stale (taxonomy prompts changed):"
                " run `adrisk prepare`"
            )
        with np.load(directory / "zero_shot.npz") as zs:
            prompt_vectors = zs["vectors"].astype(np.float32)
            owner_ids = [str(x) for x in zs["owners"]]
        categories = taxonomy.ids
        rows = [str(x) for x in arrays["heads"]]  # row order of W and b
        trained = [c for c in rows if c in categories]
        order = [rows.index(c) for c in trained]
        return cls(
            manifest=manifest,
            categories=categories,
            trained=trained,
            W=arrays["W"][order].astype(np.float32),
            b=arrays["b"][order].astype(np.float32),
            prompt_vectors=prompt_vectors,
            prompt_owner=np.array([categories.index(o) for o in owner_ids]),
            url_coef=arrays["url_coef"].astype(np.float32) if "url_coef" in arrays else None,
            url_intercept=float(arrays["url_intercept"]) if "url_intercept" in arrays else 0.0,
            zero_shot_centers=np.array([zero_shot["centers"][c] for c in categories], dtype=np.float32),
            zero_shot_scale=scale,
            zero_shot_bias=bias,
        )

    def backing(self) -> dict[str, list[dict[str, Any]]]:
        """What backs each category, with held-out metrics where a head was trained."""
        out: dict[str, list[dict[str, Any]]] = {c: [] for c in self.categories}
        for category, info in self.manifest["heads"].items():
            if category in out:
                out[category].append(
                    {"kind": "trained_text_head", "head_set": self.ident, "data": info["data"],
                     "heldout": info["metrics"]}
                )
        if self.url_coef is not None and "phishing" in out:
            info = self.manifest["url_head"]
            out["phishing"].append(
                {"kind": "trained_url_head", "head_set": self.ident, "data": info["data"],
                 "heldout": info["metrics"]}
            )
        for category in self.categories:
            out[category].append({"kind": "zero_shot_text", "head_set": self.ident})
        return out

    def score_text(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, dim) embeddings → (scores, from_trained), both (n, categories).

        A category's score is the larger of its trained head (proxy-domain data) and its
        zero-shot prompts (ad-domain descriptions); `from_trained` says which one won.
        """
        n, k = embeddings.shape[0], len(self.categories)
        if n == 0:
            return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=bool)
        emb = embeddings.astype(np.float32)
        sims = emb @ self.prompt_vectors.T  # (n, P)
        best = np.full((n, k), -1.0, dtype=np.float32)
        for j, owner in enumerate(self.prompt_owner):
            best[:, owner] = np.maximum(best[:, owner], sims[:, j])
        scores = sigmoid((best - self.zero_shot_centers) * self.zero_shot_scale + self.zero_shot_bias)
        from_trained = np.zeros((n, k), dtype=bool)
        if self.trained:
            trained = sigmoid(emb @ self.W.T + self.b)
            for t, category in enumerate(self.trained):
                col = self.categories.index(category)
                from_trained[:, col] = trained[:, t] >= scores[:, col]
                scores[:, col] = np.maximum(scores[:, col], trained[:, t])
        return scores.astype(np.float32), from_trained

    def score_urls(self, urls: list[str]) -> np.ndarray:
        if self.url_coef is None or not urls:
            return np.zeros(len(urls), dtype=np.float32)
        features = url_vectorizer().transform(urls)
        return sigmoid(features @ self.url_coef + self.url_intercept).astype(np.float32)
