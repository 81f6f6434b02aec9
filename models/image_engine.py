"""The image engine: everything one ImageRiskModel batch does, without Ray.

A batch item is one medium — an image or a whole video. One `predict` decodes every medium on a
small thread pool (images at reduced scale, videos to a few sampled frames), sends every still
image and sampled frame of the batch through every image backend in one pass (each backend on its
own thread, so two single-threaded backends use two cores) while Tesseract reads text from the
chosen ones on a second pool, hashes each picture (pHash, for the known-bad bank) and merges the
backends per category (the max, with the model and labels behind it).

With a backend that takes device tensors (`decode_on_device` on a CUDA `clip_zero_shot` model), the
batch's JPEGs are decoded on that device in one call (multimodal/images.decode_jpegs_on_device,
after the same header checks), the backend reads them there, and the rest of the engine gets the
same pictures as PIL images; anything the device decode does not take goes the Pillow way.

The Ray deployment (deployments/models.py) wraps it with batching, metrics and live batch
settings; benchmarks/serving_vs_inprocess.py runs the same class in-process, so both do the
same work.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from core.config import AdriskConfig
from core.errors import AdriskError
from models.base import ModelBackend
from models.contracts import MediaFailure, MediaResult, Medium, ScoredFrame, ScoredImage, ScoredVideo
from models.image_models import ImageResult, build_image_backend
from multimodal.images import (
    DecodedImage,
    JpegDecoder,
    configure_pillow,
    decode_image,
    decode_jpegs_on_device,
    device_jpeg_decoder,
)
from multimodal.ocr import ocr_image, tesseract_available
from multimodal.phash import phash
from multimodal.video import DecodedVideo, decode_video

log = logging.getLogger(__name__)


def ocr_frame_choice(kinds: list[str], budget: int) -> set[int]:
    """Which frames to OCR: every scene start first (new scene, new text), then evenly spread frames."""
    scenes = [i for i, k in enumerate(kinds) if k == "scene"][:budget]
    rest = [i for i in range(len(kinds)) if i not in scenes]
    room = budget - len(scenes)
    spread = [rest[round(j * (len(rest) - 1) / max(1, room - 1))] for j in range(room)] if rest and room > 0 else []
    return set(scenes) | set(spread)


class ImageEngine(ModelBackend[Medium, MediaResult]):
    """Media → ScoredImage / ScoredVideo / MediaFailure, one per medium, in order."""

    name = "image-engine"

    def __init__(self, config: AdriskConfig, decode_workers: int = 2, ocr_workers: int = 2,
                 backends: Sequence[ModelBackend] | None = None, backend_workers: int | None = None,
                 device_decoder: JpegDecoder | None = None) -> None:
        """`backends` replaces the profile's image models (tests: stand-ins that need no weights).
        `backend_workers`: threads running the backends side by side (default one per backend; 1 runs
        them one after another on the calling thread, as before issue 16). `device_decoder` replaces
        torchvision's device JPEG decode for backends that take tensors (tests: a CPU stand-in)."""
        self.config = config
        self.decode_workers, self.ocr_workers = decode_workers, ocr_workers
        self.backend_workers = backend_workers
        self._given = list(backends) if backends is not None else None
        self.backends: list[ModelBackend] = []
        self.ocr_enabled = False
        self._decode_pool: ThreadPoolExecutor | None = None
        self._ocr_pool: ThreadPoolExecutor | None = None
        self._backend_pool: ThreadPoolExecutor | None = None
        self._given_decoder = device_decoder
        self._device_decode: JpegDecoder | None = None
        self._tensor_backends: frozenset[int] = frozenset()

    @property
    def version(self) -> str:  # type: ignore[override]
        return "+".join(b.ident for b in self.backends) or "not-set-up"

    def setup(self) -> None:
        """Load and warm every backend, check for Tesseract, start the decode and OCR pools."""
        configure_pillow(self.config.limits)
        self.backends = self._given if self._given is not None else [
            build_image_backend(m, self.config.taxonomy) for m in self.config.image_models]
        for backend in self.backends:
            backend.setup()
            backend.predict([Image.new("RGB", (64, 64), "white")])  # warm-up: first call is slow
        self._setup_device_decode()
        self.ocr_enabled = self.config.ocr.enabled and tesseract_available(self.config.ocr)
        if self.config.ocr.enabled and not self.ocr_enabled:
            log.warning("OCR is enabled in the profile but Tesseract (engine %s) or its %s model is not "
                        "installed: OCR is off", self.config.ocr.engine, self.config.ocr.languages)
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core per tesseract process; the pool parallelises
        # FFmpeg may only read the temp file we hand it: no network or other protocols from inside a video.
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "protocol_whitelist;file")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # quiet: bad uploads are answered, not logged
        self._decode_pool = ThreadPoolExecutor(max_workers=self.decode_workers, thread_name_prefix="decode")
        self._ocr_pool = ThreadPoolExecutor(max_workers=self.ocr_workers, thread_name_prefix="ocr")
        workers = len(self.backends) if self.backend_workers is None else self.backend_workers
        if workers > 1 and len(self.backends) > 1:
            self._backend_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-backend")

    def _setup_device_decode(self) -> None:
        """Decode on the device when a backend takes device tensors and a decoder runs there."""
        takers = {i: b.tensor_device for i, b in enumerate(self.backends) if getattr(b, "tensor_device", None)}
        if not takers:
            return
        devices = sorted(set(takers.values()))
        if len(devices) > 1:
            log.warning("backends take tensors on %s; decoding on %s only", devices, devices[0])
        decoder = self._given_decoder or device_jpeg_decoder(devices[0])
        if decoder is not None:
            self._device_decode = decoder
            self._tensor_backends = frozenset(i for i, d in takers.items() if d == devices[0])

    def models(self) -> list[str]:
        """What answers for this engine: every backend, and Tesseract when OCR is on."""
        return [b.ident for b in self.backends] + (["tesseract"] if self.ocr_enabled else [])

    def close(self) -> None:
        for pool in (self._decode_pool, self._ocr_pool, self._backend_pool):
            if pool is not None:
                pool.shutdown()
        self._decode_pool = self._ocr_pool = self._backend_pool = None

    def _decode(self, item: Medium) -> DecodedImage | DecodedVideo | AdriskError:
        try:
            if item.kind == "video":
                return decode_video(item.data, self.config.limits)
            return decode_image(item.data, self.config.limits)
        except AdriskError as exc:
            return exc

    def predict(self, batch: Sequence[Medium]) -> list[MediaResult]:
        """One result per medium, in order; a medium that fails is a MediaFailure, not an exception."""
        if self._decode_pool is None or self._ocr_pool is None:
            raise RuntimeError("setup() was not called")
        decoded = self._decode_batch(batch)
        pictures: list[Image.Image] = []  # every still image and sampled frame of the batch
        pixels: list[object] = []  # the same picture on the device where it was decoded there, else None
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
                    pixels.append(None)
            else:
                ocr_wanted.append(len(pictures))
                pictures.append(item.image)
                pixels.append(item.pixels)
        ocr_futures = (
            {i: self._ocr_pool.submit(ocr_image, pictures[i], self.config.ocr) for i in ocr_wanted}
            if self.ocr_enabled else {}
        )
        on_device = [px if px is not None else pic for px, pic in zip(pixels, pictures, strict=True)]
        inputs = [on_device if i in self._tensor_backends else pictures for i in range(len(self.backends))]
        if self._backend_pool is not None and pictures:
            futures = [self._backend_pool.submit(b.predict, x) for b, x in zip(self.backends, inputs, strict=True)]
            per_backend: list[list[ImageResult]] = [f.result() for f in futures]
        else:
            per_backend = [b.predict(x) for b, x in zip(self.backends, inputs, strict=True)]
        hashes = [phash(p) for p in pictures]  # for known-bad matching and trends
        ocr = {i: f.result() for i, f in ocr_futures.items()}
        return self._assemble(decoded, per_backend, hashes, ocr)

    def _decode_batch(self, batch: Sequence[Medium]) -> list[DecodedImage | DecodedVideo | AdriskError]:
        """Every medium decoded, in order: the JPEGs on the device when device decode is on (one call),
        everything else (and whatever the device decode left) on the decode pool with Pillow."""
        assert self._decode_pool is not None
        if self._device_decode is None:
            return list(self._decode_pool.map(self._decode, batch))
        images = [i for i, item in enumerate(batch) if item.kind != "video"]
        on_device = decode_jpegs_on_device([batch[i].data for i in images], self.config.limits, self._device_decode)
        done: dict[int, DecodedImage | DecodedVideo | AdriskError] = {
            i: d for i, d in zip(images, on_device, strict=True) if d is not None}
        rest = [i for i in range(len(batch)) if i not in done]
        done.update(zip(rest, self._decode_pool.map(self._decode, [batch[i] for i in rest]), strict=True))
        return [done[i] for i in range(len(batch))]

    def _assemble(self, decoded: list[DecodedImage | DecodedVideo | AdriskError],
                  per_backend: list[list[ImageResult]], hashes: list[int], ocr: dict[int, str]) -> list[MediaResult]:
        """Back from the flat list of pictures to one result per medium."""
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
