"""What the ingress sends the model replicas and what they answer: typed, picklable, no dicts.

Beside `ScoreJob`/`ScoreResult` (models/scoring.py, the scorer's contract) these are the image
engine's and the LLM's. They cross Ray handle boundaries as plain frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.errors import AdriskError, error_class
from core.schemas import LlmDiagnosis

MediaKind = Literal["image", "video"]


@dataclass(frozen=True)
class Medium:
    """One image or one whole video, as bytes, for the image engine."""

    kind: MediaKind
    data: bytes


@dataclass(frozen=True)
class ScoredPicture:
    """One still image or one sampled video frame through every image backend."""

    scores: dict[str, float]  # per category: the max over backends
    detail: dict[str, str]  # per category: which backend and labels gave that max
    ocr: str  # text Tesseract read in it ("" when OCR is off, not chosen, or found nothing)
    phash: int  # 64-bit perceptual hash (multimodal/phash.py), for the known-bad bank


@dataclass(frozen=True)
class ScoredImage(ScoredPicture):
    pass


@dataclass(frozen=True)
class ScoredFrame(ScoredPicture):
    time_s: float = 0.0
    kind: str = "interval"  # "scene" (a scene starts here) or "interval" (evenly sampled)


@dataclass(frozen=True)
class ScoredVideo:
    duration_s: float
    frames: tuple[ScoredFrame, ...]


@dataclass(frozen=True)
class MediaFailure:
    """A medium that could not be decoded: the error's code (core/errors.py) and why."""

    code: str
    detail: str

    @classmethod
    def of(cls, exc: AdriskError) -> MediaFailure:
        return cls(exc.code, exc.detail)

    def error(self, field: str) -> AdriskError:
        """The ingress's error for the request field this medium came from."""
        return error_class(self.code)(f"{field}: {self.detail}")


MediaResult = ScoredImage | ScoredVideo | MediaFailure


@dataclass(frozen=True)
class LlmAnswer:
    """One diagnosis generation: the validated diagnosis, or why the output was refused."""

    model: str
    prompt_version: str
    prompt_tokens: int
    generation_tokens: int
    ttft_ms: float
    total_ms: float
    diagnosis: LlmDiagnosis | None = None
    error: str | None = None  # set when the output failed validation (schema, categories)

    @property
    def ok(self) -> bool:
        return self.diagnosis is not None
