"""Model deployments: image models, text encoder, risk scorer (heads + fusion).

Each is a thin Ray wrapper around a Ray-free engine in models/ (ImageEngine, the sentence
encoder, HeadScorer): @serve.batch, metrics, batch-size stats and live batch settings live here,
the work lives there. Every deployment gets the one AdriskConfig the app builder loaded
(deployments/app.py), so replicas never re-read the profile on their own.

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
from typing import Any

import numpy as np
from ray import serve

from core import metrics
from core.config import AdriskConfig
from models.contracts import MediaResult, Medium
from models.image_engine import ImageEngine
from models.registry import Registry
from models.scoring import HeadScorer, ScoreJob, ScoreResult
from models.text_encoder import SentenceTransformerEncoder

log = logging.getLogger("ray.serve")


def replica_placement(batch_sizes: collections.Counter) -> dict[str, Any]:
    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(),
            "replica": serve.get_replica_context().replica_id.unique_id,
            "items": sum(size * n for size, n in batch_sizes.items())}


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
    """Images and video creatives (models/image_engine.py: decode, OCR, every image backend,
    pHash, the per-category merge), batched across requests.

    A batch item is one medium — an image or a whole video — so one batch mixes still images and
    the sampled frames of many videos from many ads; all their pixels go through the backends in
    one pass while Tesseract reads text from them in parallel threads.
    """

    batch_method = "_score_batch"

    def __init__(self, config: AdriskConfig) -> None:
        self.config = config
        self.engine = ImageEngine(config)
        self.engine.setup()
        self._init_batching()
        log.info("ImageRiskModel ready: %s", self.engine.models())

    def placement(self) -> dict[str, Any]:
        """Where this replica runs and how many items it has batched (the multi-node check)."""
        return replica_placement(self.batch_sizes)

    def ready(self) -> list[str]:
        return self.engine.models()

    async def score(self, media: list[Medium]) -> list[MediaResult]:
        """One result per medium, in order; a medium that fails is a MediaFailure, not an exception."""
        return list(await asyncio.gather(*(self._score_batch(item) for item in media)))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def _score_batch(self, media: list[Medium]) -> list[MediaResult]:
        self.batch_sizes[len(media)] += 1
        metrics.BATCH_SIZE.labels("ImageRiskModel").observe(len(media))
        return self.engine.predict(media)  # on-loop on purpose: see the module docstring


@serve.deployment(name="TextEncoder")
class TextEncoder(_Batching):
    batch_method = "_embed_batch"

    def __init__(self, config: AdriskConfig) -> None:
        self.config = config
        self.encoder = SentenceTransformerEncoder(config.text_encoder)
        self.encoder.setup()
        self.encoder.predict(["warm-up"])  # the first call pays lazy initialisation
        self._init_batching()

    def placement(self) -> dict[str, Any]:
        """Where this replica runs and how many items it has batched (the multi-node check)."""
        return replica_placement(self.batch_sizes)

    def ready(self) -> str:
        return self.encoder.ident

    async def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float16 L2-normalised embeddings."""
        rows = await asyncio.gather(*(self._embed_batch(t) for t in texts))
        return np.stack(rows) if rows else np.zeros((0, self.encoder.dim), dtype=np.float16)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def _embed_batch(self, texts: list[str]) -> list[np.ndarray]:
        self.batch_sizes[len(texts)] += 1
        metrics.BATCH_SIZE.labels("TextEncoder").observe(len(texts))
        vectors = self.encoder.predict(texts)  # on-loop on purpose: see the module docstring
        return [v.astype(np.float16) for v in vectors]


@serve.deployment(name="RiskScorer")
class RiskScorer:
    """Text risk heads, the URL head and per-source fusion; head versions live here."""

    def __init__(self, config: AdriskConfig) -> None:
        self.config = config
        self.scorer = HeadScorer(config)
        self.scorer.setup()

    def ready(self) -> str:
        return self.scorer.ident

    def backing(self) -> dict[str, list[dict[str, Any]]]:
        return self.scorer.heads.backing()

    def manifest(self) -> dict[str, Any]:
        """The serving head set's manifest (its held-out figures feed the quality record)."""
        return self.scorer.heads.manifest

    async def score(self, jobs: list[ScoreJob]) -> list[ScoreResult]:
        """With a multiplexed model id (a head version under rollout), that version scores."""
        version = serve.get_multiplexed_model_id()
        scorer = await self.head_set(version) if version else self.scorer
        return scorer.predict(jobs)

    @serve.multiplexed(max_num_models_per_replica=3)
    async def head_set(self, version: str) -> HeadScorer:
        """A registered head version, verified against its manifest, loaded once per replica (LRU)."""
        registry = Registry.from_config(self.config)
        manifest = registry.get("text_heads", version)
        registry.verify(manifest)
        loaded = HeadScorer(self.config, manifest.artifact)
        loaded.setup()
        log.info("loaded head set %s for multiplexed id %s", loaded.ident, version)
        return loaded
