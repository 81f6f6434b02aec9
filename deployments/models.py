"""Model deployments: image models, text encoder, risk scorer (heads + fusion).

Encoders use @serve.batch with one *image* or one *text* as the batch item, so a batch mixes
items from many concurrent requests; batch size and wait come from the Serve config's
`user_config` and can be retuned live (reconfigure).

The batch bodies run *on* the replica's user event loop, not in an executor. Measured on Ray
2.60 (docs/benchmarks.md): with the model call off-loop, Serve's batching loop keeps forming the
next batch from whatever arrived in the short wait window while the previous one computes, so
batches stayed at 1–2 under saturation. Blocking the loop during the forward pass lets requests
pile up in front of it, and the next batch takes all of them (up to max_batch_size).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image
from ray import serve

from models.heads import HeadSet
from models.image_models import ImageResult, build_image_backend
from models.scoring import ScoreJob, ScoreResult, score_job
from models.text_encoder import SentenceTransformerEncoder
from multimodal.images import configure_pillow, decode_image
from serving.config import load_config, resolve_project_path
from serving.errors import AdriskError

log = logging.getLogger("ray.serve")


class _Batching:
    """Shared batch-parameter handling and a histogram of achieved batch sizes."""

    batch_method: str

    def _init_batching(self) -> None:
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self.batch_params: dict[str, Any] = {}

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        method = getattr(self, self.batch_method)
        if "max_batch_size" in user_config:
            method.set_max_batch_size(int(user_config["max_batch_size"]))
        if "batch_wait_timeout_s" in user_config:
            method.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))
        self.batch_params = dict(user_config)

    def stats(self) -> dict[str, Any]:
        return {"batch_sizes": dict(self.batch_sizes), "batch_params": self.batch_params}


@serve.deployment(name="ImageRiskModel")
class ImageRiskModel(_Batching):
    batch_method = "_score_batch"

    def __init__(self, profile: str, overrides: dict[str, Any] | None = None) -> None:
        self.config = load_config(profile, overrides)
        configure_pillow(self.config.limits)
        self.backends = [build_image_backend(m, self.config.taxonomy) for m in self.config.image_models]
        for backend in self.backends:
            backend.setup()
            backend.predict([Image.new("RGB", (64, 64), "white")])  # warm-up: first call is slow
        self._decode_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")
        self._init_batching()
        log.info("ImageRiskModel ready: %s", [b.ident for b in self.backends])

    def ready(self) -> list[str]:
        return [b.ident for b in self.backends]

    async def score(self, images: list[bytes]) -> list[dict[str, Any]]:
        """One result per image, in order: {ok, scores, detail, labels} or {ok: False, error}."""
        return list(await asyncio.gather(*(self._score_batch(img) for img in images)))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def _score_batch(self, images: list[bytes]) -> list[dict[str, Any]]:
        self.batch_sizes[len(images)] += 1
        return self._run_batch(images)  # on-loop on purpose: see the module docstring

    def _decode(self, raw: bytes):
        try:
            return decode_image(raw, self.config.limits)
        except AdriskError as exc:
            return exc

    def _run_batch(self, images: list[bytes]) -> list[dict[str, Any]]:
        decoded = list(self._decode_pool.map(self._decode, images))
        good = [d.image for d in decoded if not isinstance(d, AdriskError)]
        per_backend: list[list[ImageResult]] = [b.predict(good) for b in self.backends]
        out: list[dict[str, Any]] = []
        k = 0
        for item in decoded:
            if isinstance(item, AdriskError):
                out.append({"ok": False, "error": item.code, "detail": item.detail,
                            "status": item.http_status})
                continue
            scores: dict[str, float] = {}
            detail: dict[str, str] = {}
            for backend, results in zip(self.backends, per_backend, strict=True):
                result = results[k]
                labels = ", ".join(f"{name.split(',')[0]} {p:.2f}" for name, p in result.labels)
                for category, score in result.category_scores.items():
                    if score >= scores.get(category, -1.0):
                        scores[category] = score
                        detail[category] = f"{backend.ident}: {labels}"
            k += 1
            out.append({"ok": True, "scores": scores, "detail": detail})
        return out


@serve.deployment(name="TextEncoder")
class TextEncoder(_Batching):
    batch_method = "_embed_batch"

    def __init__(self, profile: str, overrides: dict[str, Any] | None = None) -> None:
        self.config = load_config(profile, overrides)
        self.encoder = SentenceTransformerEncoder(self.config.text_encoder)
        self.encoder.setup()
        self.encoder.encode(["warm-up"])  # the first call pays lazy initialisation
        self._init_batching()

    def ready(self) -> str:
        return self.encoder.ident

    async def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float16 L2-normalised embeddings."""
        rows = await asyncio.gather(*(self._embed_batch(t) for t in texts))
        return np.stack(rows) if rows else np.zeros((0, self.encoder.dim), dtype=np.float16)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def _embed_batch(self, texts: list[str]) -> list[np.ndarray]:
        self.batch_sizes[len(texts)] += 1
        vectors = self.encoder.encode(texts)  # on-loop on purpose: see the module docstring
        return list(vectors.astype(np.float16))


@serve.deployment(name="RiskScorer")
class RiskScorer:
    """Text risk heads, the URL head and per-source fusion; head versions live here."""

    def __init__(self, profile: str, overrides: dict[str, Any] | None = None) -> None:
        self.config = load_config(profile, overrides)
        heads = self.config.heads
        self.heads = HeadSet.load(
            resolve_project_path(heads.text), self.config.taxonomy,
            heads.zero_shot_scale, heads.zero_shot_bias,
        )
        # Warm-up: the URL vectorizer and numpy paths initialise lazily (~0.5 s on first use).
        score_job(ScoreJob(url="http://warm.up/"), self.heads)

    def ready(self) -> str:
        return self.heads.ident

    def backing(self) -> dict[str, list[dict[str, Any]]]:
        return self.heads.backing()

    def score(self, jobs: list[ScoreJob]) -> list[ScoreResult]:
        return [score_job(job, self.heads) for job in jobs]
