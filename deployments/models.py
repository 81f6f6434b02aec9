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
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image
from ray import serve

from core import metrics
from core.config import load_config, resolve_project_path
from core.errors import AdriskError
from models.contracts import MediaFailure, MediaResult, Medium, ScoredFrame, ScoredImage, ScoredVideo
from models.heads import HeadSet
from models.image_models import ImageResult, build_image_backend
from models.registry import Registry
from models.scoring import ScoreJob, ScoreResult, score_job
from models.text_encoder import SentenceTransformerEncoder
from multimodal.images import configure_pillow, decode_image
from multimodal.ocr import ocr_image, tesseract_available
from multimodal.phash import phash
from multimodal.video import DecodedVideo, decode_video

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


def ocr_frame_choice(kinds: list[str], budget: int) -> set[int]:
    """Which frames to OCR: every scene start first (new scene, new text), then evenly spread frames."""
    scenes = [i for i, k in enumerate(kinds) if k == "scene"][:budget]
    rest = [i for i in range(len(kinds)) if i not in scenes]
    room = budget - len(scenes)
    spread = [rest[round(j * (len(rest) - 1) / max(1, room - 1))] for j in range(room)] if rest and room > 0 else []
    return set(scenes) | set(spread)


@serve.deployment(name="ImageRiskModel")
class ImageRiskModel(_Batching):
    """Images and video creatives: decode, OCR, and every image backend, batched together.

    A batch item is one medium — an image or a whole video — so one batch mixes still images and
    the sampled frames of many videos from many ads; all their pixels go through the backends in
    one pass while Tesseract reads text from them in parallel threads.
    """

    batch_method = "_score_batch"

    def __init__(self, profile: str, overrides: dict[str, Any] | None = None) -> None:
        self.config = load_config(profile, overrides)
        configure_pillow(self.config.limits)
        self.backends = [build_image_backend(m, self.config.taxonomy) for m in self.config.image_models]
        for backend in self.backends:
            backend.setup()
            backend.predict([Image.new("RGB", (64, 64), "white")])  # warm-up: first call is slow
        self._decode_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")
        self.ocr_enabled = self.config.ocr.enabled and tesseract_available()
        if self.config.ocr.enabled and not self.ocr_enabled:
            log.warning("OCR is enabled in the profile but `tesseract` is not installed: OCR is off")
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core per tesseract process; the pool parallelises
        # FFmpeg may only read the temp file we hand it: no network or other protocols from inside a video.
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "protocol_whitelist;file")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # quiet: bad uploads are answered, not logged
        self._ocr_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ocr")
        self._init_batching()
        log.info("ImageRiskModel ready: %s, OCR %s", [b.ident for b in self.backends], self.ocr_enabled)

    def placement(self) -> dict[str, Any]:
        """Where this replica runs and how many items it has batched (the multi-node check)."""
        return replica_placement(self.batch_sizes)

    def ready(self) -> list[str]:
        return [b.ident for b in self.backends] + (["tesseract"] if self.ocr_enabled else [])

    async def score(self, media: list[Medium]) -> list[MediaResult]:
        """One result per medium, in order; a medium that fails is a MediaFailure, not an exception."""
        return list(await asyncio.gather(*(self._score_batch(item) for item in media)))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def _score_batch(self, media: list[Medium]) -> list[MediaResult]:
        self.batch_sizes[len(media)] += 1
        metrics.BATCH_SIZE.labels("ImageRiskModel").observe(len(media))
        return self._run_batch(media)  # on-loop on purpose: see the module docstring

    def _decode(self, item: Medium):
        try:
            if item.kind == "video":
                return decode_video(item.data, self.config.limits)
            return decode_image(item.data, self.config.limits)
        except AdriskError as exc:
            return exc

    def _run_batch(self, media: list[Medium]) -> list[MediaResult]:
        decoded = list(self._decode_pool.map(self._decode, media))
        pictures: list[Image.Image] = []  # every still image and sampled frame of the batch
        ocr_wanted: list[int] = []  # indices into pictures that get OCR
        for item in decoded:
            if isinstance(item, AdriskError):
                continue
            if isinstance(item, DecodedVideo):
                chosen = ocr_frame_choice([f.kind for f in item.frames], self.config.video.ocr_frames)
                for i, frame in enumerate(item.frames):
                    if i in chosen:
                        ocr_wanted.append(len(pictures))
                    pictures.append(frame.image)
            else:
                ocr_wanted.append(len(pictures))
                pictures.append(item.image)
        ocr_futures = (
            {i: self._ocr_pool.submit(ocr_image, pictures[i], self.config.ocr) for i in ocr_wanted}
            if self.ocr_enabled else {}
        )
        per_backend: list[list[ImageResult]] = [b.predict(pictures) for b in self.backends]
        hashes = [phash(p) for p in pictures]  # for known-bad matching and trends
        ocr = {i: f.result() for i, f in ocr_futures.items()}

        out: list[MediaResult] = []
        k = 0
        for item in decoded:
            if isinstance(item, AdriskError):
                out.append(MediaFailure.of(item))
                continue
            if isinstance(item, DecodedVideo):
                frames = []
                for frame in item.frames:
                    scores, detail = self._merge(per_backend, k)
                    frames.append(ScoredFrame(scores, detail, ocr.get(k, ""), hashes[k],
                                              time_s=round(frame.time_s, 2), kind=frame.kind))
                    k += 1
                out.append(ScoredVideo(round(item.duration_s, 2), tuple(frames)))
            else:
                scores, detail = self._merge(per_backend, k)
                out.append(ScoredImage(scores, detail, ocr.get(k, ""), hashes[k]))
                k += 1
        return out

    def _merge(self, per_backend: list[list[ImageResult]], k: int) -> tuple[dict[str, float], dict[str, str]]:
        """Max over backends per category, with the model and labels that produced it."""
        scores: dict[str, float] = {}
        detail: dict[str, str] = {}
        for backend, results in zip(self.backends, per_backend, strict=True):
            result = results[k]
            labels = ", ".join(f"{name.split(',')[0]} {p:.2f}" for name, p in result.labels)
            for category, score in result.category_scores.items():
                if score >= scores.get(category, -1.0):
                    scores[category] = score
                    detail[category] = f"{backend.ident}: {labels}"
        return scores, detail


@serve.deployment(name="TextEncoder")
class TextEncoder(_Batching):
    batch_method = "_embed_batch"

    def __init__(self, profile: str, overrides: dict[str, Any] | None = None) -> None:
        self.config = load_config(profile, overrides)
        self.encoder = SentenceTransformerEncoder(self.config.text_encoder)
        self.encoder.setup()
        self.encoder.encode(["warm-up"])  # the first call pays lazy initialisation
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

    def manifest(self) -> dict[str, Any]:
        """The serving head set's manifest (its held-out figures feed the quality record)."""
        return self.heads.manifest

    async def score(self, jobs: list[ScoreJob]) -> list[ScoreResult]:
        """With a multiplexed model id (a head version under rollout), that version scores."""
        version = serve.get_multiplexed_model_id()
        heads = await self.head_set(version) if version else self.heads
        return [score_job(job, heads) for job in jobs]

    @serve.multiplexed(max_num_models_per_replica=3)
    async def head_set(self, version: str) -> HeadSet:
        """A registered head version, verified against its manifest, loaded once per replica (LRU)."""
        registry = Registry.from_config(self.config)
        manifest = registry.get("text_heads", version)
        registry.verify(manifest)
        heads = self.config.heads
        loaded = HeadSet.load(resolve_project_path(manifest.artifact), self.config.taxonomy,
                              heads.zero_shot_scale, heads.zero_shot_bias)
        log.info("loaded head set %s for multiplexed id %s", loaded.ident, version)
        return loaded
