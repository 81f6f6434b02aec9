"""Risk head sets: what turns text embeddings (and URLs) into per-category scores.

A head set is a directory — a manifest on disk, Triton-repository style:
    manifest.json   name, version, encoder it was trained on, data hashes, per-head metrics
    weights.npz     trained logistic heads (W on the embedding, W_ngram on hashed word n-grams, b),
                    the URL head
    zero_shot.*     prompt embeddings and their per-category centres on benign training text
Categories with a trained head use it; the rest use the transparent zero-shot baseline
(cosine similarity of the text to the category's prompts, squashed by a fixed logistic).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.config import Taxonomy

URL_HASH_FEATURES = 2**17
TEXT_HASH_FEATURES = 2**18
_DIGIT = re.compile(r"\d")


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


def _text_shape(text: str) -> str:
    """Lower case with every digit a 0: a card number, a phone number and a price keep their shape."""
    return _DIGIT.sub("0", text.lower())


def text_vectorizer():
    """Stateless hashed word 1–2-grams of the text (digits folded), l2-normalised: the n-gram half of
    a head's features, beside the sentence embedding. Nothing to fit, identical at train and serve time."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        n_features=TEXT_HASH_FEATURES,
        alternate_sign=False,
        norm="l2",
        preprocessor=_text_shape,
        token_pattern=r"(?u)\b\w+\b",
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
    W_ngram: np.ndarray | None  # (len(trained), TEXT_HASH_FEATURES) float64: weights on text_vectorizer() features
    prompt_vectors: np.ndarray  # (P, dim)
    prompt_owner: np.ndarray  # (P,) index into categories
    url_coef: np.ndarray | None
    url_intercept: float
    zero_shot_centers: np.ndarray  # (categories,) calibrated on benign text at training time
    zero_shot_scale: float
    zero_shot_bias: float
    zero_shot_for_trained: bool = True  # also let zero-shot prompts raise a category that has a head

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
            # float64 in Fortran order: score_text multiplies the float64 hashed features by W_ngram.T,
            # which is then C-contiguous and of their dtype. Else scipy converts (copies) all 2^18 rows
            # on every call, ~4 of the ~5 ms a one-text score took; the products are the same.
            W_ngram=np.asfortranarray(arrays["W_ngram"][order], dtype=np.float64) if "W_ngram" in arrays else None,
            prompt_vectors=prompt_vectors,
            prompt_owner=np.array([categories.index(o) for o in owner_ids]),
            url_coef=arrays["url_coef"].astype(np.float32) if "url_coef" in arrays else None,
            url_intercept=float(arrays["url_intercept"]) if "url_intercept" in arrays else 0.0,
            zero_shot_centers=np.array([zero_shot["centers"][c] for c in categories], dtype=np.float32),
            zero_shot_scale=scale,
            zero_shot_bias=bias,
            zero_shot_for_trained=bool(manifest.get("zero_shot_for_trained", True)),
        )

    @property
    def measured(self) -> frozenset[str]:
        """Categories with a score measured on held-out labelled data (a trained head)."""
        return frozenset(self.trained) | ({"phishing"} if self.url_coef is not None else frozenset())

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

    def score_text(self, embeddings: np.ndarray, texts: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(n, dim) embeddings of n texts → (scores, from_trained), both (n, categories).

        A category with a trained head is scored by it: a logistic model on the embedding and, in
        head sets that have them, hashed word n-grams of the text itself (so `texts` is required
        there). Head sets whose manifest sets `zero_shot_for_trained` take the larger of the head
        and the zero-shot prompts; the rest of the categories use zero-shot prompts alone.
        `from_trained` says which one gave the score.
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
            logits = emb @ self.W.T + self.b
            if self.W_ngram is not None:
                if texts is None or len(texts) != n:
                    raise ValueError("this head set reads the texts too: pass one text per embedding")
                logits = logits + np.asarray(text_vectorizer().transform(texts) @ self.W_ngram.T)
            trained = sigmoid(logits)
            for t, category in enumerate(self.trained):
                col = self.categories.index(category)
                if self.zero_shot_for_trained:
                    from_trained[:, col] = trained[:, t] >= scores[:, col]
                    scores[:, col] = np.maximum(scores[:, col], trained[:, t])
                else:
                    from_trained[:, col] = True
                    scores[:, col] = trained[:, t]
        return scores.astype(np.float32), from_trained

    def score_urls(self, urls: list[str]) -> np.ndarray:
        if self.url_coef is None or not urls:
            return np.zeros(len(urls), dtype=np.float32)
        features = url_vectorizer().transform(urls)
        return sigmoid(features @ self.url_coef + self.url_intercept).astype(np.float32)
