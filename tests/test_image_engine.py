"""The Ray-free image engine (models/image_engine.py): what one ImageRiskModel batch does, in-process.

With stand-in backends (no weights, fast tier): decoding, the per-category merge, pHash and the
order of results. With the cpu profile's real backends and Tesseract (slow: ~2 s set-up, ~2 s of
OCR): a still image, corrupt ones, and a short video.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from PIL import Image

from core.config import load_config
from models.base import ModelBackend
from models.contracts import MediaFailure, Medium, ScoredFrame, ScoredImage, ScoredVideo
from models.image_engine import ImageEngine, ocr_frame_choice
from models.image_models import ImageResult
from multimodal.images import decode_image
from multimodal.phash import phash
from tests.media import caption_scene, encode, landscape_photo, rifle_drawing, video_file

CPU = load_config("cpu")


class Constant(ModelBackend[Image.Image, ImageResult]):
    """A stand-in backend: the same scores for every picture."""

    def __init__(self, name: str, scores: dict[str, float]) -> None:
        self.name, self.version, self.scores = name, "test", scores
        self.seen = 0

    def setup(self) -> None:
        pass

    def predict(self, batch: Sequence[Image.Image]) -> list[ImageResult]:
        self.seen += len(batch)
        return [ImageResult(dict(self.scores), [(f"{self.name} label", 0.5)]) for _ in batch]


@pytest.fixture(scope="module")
def short_video(tmp_path_factory) -> bytes:
    scenes = [caption_scene((250, 210, 40), "WIN CASH NOW"), landscape_photo(), rifle_drawing()]
    return video_file(tmp_path_factory.mktemp("video") / "ad.mp4", scenes, seconds_per_scene=1.0, fps=10)


def check_video(result, frames_at_least: int = 2) -> None:
    assert isinstance(result, ScoredVideo)
    assert 2.5 <= result.duration_s <= 3.5
    assert len(result.frames) >= frames_at_least
    assert all(isinstance(f, ScoredFrame) and isinstance(f.phash, int) for f in result.frames)
    assert all(0 <= f.phash < 2**64 for f in result.frames)
    times = [f.time_s for f in result.frames]
    assert times == sorted(times) and len({f.phash for f in result.frames}) >= 2  # distinct scenes


def test_ocr_frame_choice_takes_scene_starts_first_then_spreads():
    kinds = ["uniform", "scene", "uniform", "uniform", "scene", "uniform", "uniform", "uniform"]
    assert ocr_frame_choice(kinds, 2) == {1, 4}
    chosen = ocr_frame_choice(kinds, 4)
    assert {1, 4} <= chosen and len(chosen) == 4
    assert ocr_frame_choice(kinds, 0) == set()
    assert ocr_frame_choice(["uniform"] * 3, 10) == {0, 1, 2}


def test_engine_merges_backends_hashes_and_keeps_order_with_stand_in_backends(short_video):
    config = load_config("cpu", {"ocr": {"enabled": False}})
    low = Constant("low", {"weapons": 0.2, "adult_sexual": 0.9})
    high = Constant("high", {"weapons": 0.7})
    engine = ImageEngine(config, backends=[low, high])
    engine.setup()
    try:
        jpeg = encode(rifle_drawing())
        out = engine.predict([Medium("image", jpeg), Medium("image", b"not an image"), Medium("video", short_video)])
    finally:
        engine.close()
    image, failure, video = out
    assert isinstance(image, ScoredImage)
    assert image.scores == {"weapons": 0.7, "adult_sexual": 0.9}  # the max per category over backends
    assert image.detail["weapons"] == "high@test: high label 0.50"
    assert image.detail["adult_sexual"].startswith("low@test:")
    assert image.ocr == ""  # OCR off in this config
    assert image.phash == phash(decode_image(jpeg, config.limits).image)
    assert failure == MediaFailure("invalid_input", "image data is not a recognised image format")
    check_video(video)
    assert low.seen == high.seen == 1 + 1 + len(video.frames)  # the warm-up, then one pass over the batch
    assert engine.models() == ["low@test", "high@test"]


@pytest.mark.slow
def test_engine_on_the_cpu_profile_scores_images_refuses_corrupt_ones_and_samples_video(short_video):
    engine = ImageEngine(CPU)
    engine.setup()
    try:
        jpeg = encode(rifle_drawing())
        out = engine.predict([
            Medium("image", jpeg),
            Medium("image", jpeg[: len(jpeg) // 2]),  # truncated
            Medium("image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),  # a PNG signature and nothing else
            Medium("video", short_video),
            Medium("video", b"not a video"),
        ])
    finally:
        engine.close()
    image, truncated, broken_png, video, not_video = out
    assert isinstance(image, ScoredImage)
    assert image.scores["weapons"] > 0.5 and "assault rifle" in image.detail["weapons"]
    assert set(image.scores) == {c for m in CPU.image_models for c in m.categories}
    assert isinstance(image.phash, int) and image.phash == phash(decode_image(jpeg, CPU.limits).image)
    assert isinstance(truncated, MediaFailure) and truncated.code == "invalid_input"
    assert "truncated" in truncated.detail
    assert isinstance(broken_png, MediaFailure) and broken_png.code == "invalid_input"
    check_video(video)
    assert not_video == MediaFailure("unsupported_media_type", not_video.detail)
    assert truncated.error("creative.images[1]").http_status == 400
