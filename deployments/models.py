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


class _TextBatching(_Batching):
    """The text encoder behind @serve.batch, one text per batch item: the TextEncoder replica, and
    the Ingress's own encoder under graph `fused` (LocalEncoder). A process holds one of them."""

    batch_method = "_embed_batch"

    def _init_encoder(self, config: AdriskConfig) -> None:
        self.encoder = SentenceTransformerEncoder(config.text_encoder)
        self.encoder.setup()
        self.encoder.predict(["warm-up"])  # the first call pays lazy initialisation
        self._init_batching()

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


@serve.deployment(name="TextEncoder")
class TextEncoder(_TextBatching):
    def __init__(self, config: AdriskConfig) -> None:
        self.config = config
        self._init_encoder(config)

    def placement(self) -> dict[str, Any]:
        """Where this replica runs and how many items it has batched (the multi-node check)."""
        return replica_placement(self.batch_sizes)

    def ready(self) -> str:
        return self.encoder.ident


def load_head_version(config: AdriskConfig, version: str) -> HeadScorer:
    """A registered head version, verified against its manifest and loaded (RiskScorer, LocalScorer)."""
    registry = Registry.from_config(config)
    manifest = registry.get("text_heads", version)
    registry.verify(manifest)
    loaded = HeadScorer(config, manifest.artifact)
    loaded.setup()
    log.info("loaded head set %s for head version %s", loaded.ident, version)
    return loaded


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
        return load_head_version(self.config, version)


# ---------------------------------------------------------------------------------------------------
# The text path inside the Ingress (graph `local_scorer` / `fused`, core/config/profile.py): the same
# engines, called in the Ingress's own process instead of over a handle.


class LocalScorer:
    """The RiskScorer's work in the Ingress: the profile's head set, and up to three registered head
    versions under rollout, least recently used first out (as the RiskScorer's multiplexing)."""

    MAX_VERSIONS = 3

    def __init__(self, config: AdriskConfig) -> None:
        self.config = config
        self.scorer = HeadScorer(config)
        self.scorer.setup()
        self._versions: collections.OrderedDict[str, HeadScorer] = collections.OrderedDict()

    @property
    def ident(self) -> str:
        return self.scorer.ident

    async def score(self, payload: tuple[list[ScoreJob], str]) -> list[ScoreResult]:
        """(jobs, head version; '' = the profile's) → one result per job, on the caller's loop (numpy
        heads: ~0.5 ms per job)."""
        jobs, version = payload
        scorer = await self.head_set(version) if version else self.scorer
        return scorer.predict(jobs)

    async def head_set(self, version: str) -> HeadScorer:
        if version in self._versions:
            self._versions.move_to_end(version)
            return self._versions[version]
        loaded = await asyncio.to_thread(load_head_version, self.config, version)
        self._versions[version] = loaded
        while len(self._versions) > self.MAX_VERSIONS:
            self._versions.popitem(last=False)
        return loaded


class LocalEncoder(_TextBatching):
    """The TextEncoder's work in the Ingress (graph `fused`), behind the same @serve.batch with its
    batch body on the Ingress's event loop, as in the replica (see the module docstring). Its
    batches count in the same metrics and stats, under the name TextEncoder."""

    def __init__(self, config: AdriskConfig) -> None:
        self._init_encoder(config)

    @property
    def ident(self) -> str:
        return self.encoder.ident
