"""Fuse per-source model outputs of one ad into per-category scores with evidence.

Inputs cross Ray handles, so they are plain dataclasses of numbers and short strings; embeddings
travel as float16 (half the bytes, no measurable score change for logistic heads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import AdriskConfig, resolve_project_path
from models.base import ModelBackend
from models.contracts import ScoredFrame
from models.heads import HeadSet
from multimodal.page_evidence import PageEvidenceGate

EVIDENCE_FLOOR = 0.2  # below this a source is not worth citing
UNMEASURED = "unmeasured: no labelled data"  # said in the evidence of a category nothing labelled backs
SNIPPET_CHARS = 160


@dataclass
class TextPart:
    source: str  # creative.text, landing_page.text[1], landing_page.title, ...
    text: str


@dataclass
class ImagePart:
    source: str  # image[0], landing_page.screenshot, ...
    scores: dict[str, float]  # category → score (max over image backends)
    detail: dict[str, str]  # category → which model/labels produced it


@dataclass
class Signal:
    """A finished per-source score computed before the scorer (page analysis, fetch outcome)."""

    category: str
    source: str
    score: float
    detail: str


@dataclass
class ScoreJob:
    texts: list[TextPart] = field(default_factory=list)
    text_embeddings: np.ndarray | None = None  # (len(texts), dim) float16
    url: str | None = None
    images: list[ImagePart] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    page_gate: PageEvidenceGate | None = None  # caps on model scores about an analysed landing page


@dataclass
class ScoreResult:
    scores: dict[str, float]
    evidence: list[dict[str, object]]
    head_version: str


# Ad copy and page: similarity ≥ 0.35 related (no signal), ≤ 0.10 unrelated (full signal), linear between.
MISMATCH_RELATED, MISMATCH_UNRELATED = 0.35, 0.10


def copy_page_mismatch(texts: list[TextPart], embeddings: np.ndarray) -> list[tuple[str, str, float, str]]:
    """Ad copy that has nothing to do with its landing page: a destination/misleading signal."""
    ad = [i for i, t in enumerate(texts) if t.source.startswith("creative.text")]
    page = [i for i, t in enumerate(texts) if t.source.startswith(("landing_page.text", "landing_page.title"))]
    if not ad or not page:
        return []
    a, p = embeddings[ad].mean(axis=0), embeddings[page].mean(axis=0)
    cos = float(a @ p / (np.linalg.norm(a) * np.linalg.norm(p) + 1e-9))
    strength = float(np.clip((MISMATCH_RELATED - cos) / (MISMATCH_RELATED - MISMATCH_UNRELATED), 0.0, 1.0))
    detail = (f"ad copy vs landing page similarity {cos:.2f} "
              f"(related ≥ {MISMATCH_RELATED}, unrelated ≤ {MISMATCH_UNRELATED})")
    return [("destination_quality", "creative.text~landing_page", 0.7 * strength, detail),
            ("misleading_claims", "creative.text~landing_page", 0.5 * strength, detail)]


def _snippet(text: str) -> str:
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def score_job(job: ScoreJob, heads: HeadSet) -> ScoreResult:
    """Category score = max over sources; every source above the floor is cited, best first."""
    categories = heads.categories
    candidates: list[tuple[str, str, float, str]] = []  # (category, source, score, detail)
    explicit = {(s.category, s.source, s.detail) for s in job.signals}  # always cited, whatever their score
    if job.texts:
        matrix, from_trained = heads.score_text(np.asarray(job.text_embeddings, dtype=np.float32),
                                                [part.text for part in job.texts])
        for part, row, trained_row in zip(job.texts, matrix, from_trained, strict=True):
            for j, category in enumerate(categories):
                kind = "trained text head" if trained_row[j] else "zero-shot text similarity"
                candidates.append((category, part.source, float(row[j]), f"{kind}: \"{_snippet(part.text)}\""))
        candidates += copy_page_mismatch(job.texts, np.asarray(job.text_embeddings, dtype=np.float32))
    if job.url:
        url_score = float(heads.score_urls([job.url])[0])
        candidates.append(("phishing", "landing_page.url", url_score, f"URL head: {_snippet(job.url)}"))
    for image in job.images:
        for category, score in image.scores.items():
            candidates.append((category, image.source, float(score), image.detail.get(category, "")))
    for signal in job.signals:
        candidates.append((signal.category, signal.source, float(signal.score), signal.detail))
    if job.page_gate is not None:
        candidates = job.page_gate.apply(candidates)

    scores = dict.fromkeys(categories, 0.0)
    for category, _, score, _ in candidates:
        if category in scores and score > scores[category]:
            scores[category] = score
    measured = heads.measured
    evidence = [
        {"source": source, "category": category, "score": round(score, 4),
         "detail": detail if category in measured else f"{detail} [{UNMEASURED}]"}
        for category, source, score, detail in sorted(candidates, key=lambda c: -c[2])
        if score >= EVIDENCE_FLOOR or (category, source, detail) in explicit
    ]
    return ScoreResult(
        scores={c: round(s, 6) for c, s in scores.items()},
        evidence=evidence,
        head_version=heads.ident,
    )


class HeadScorer(ModelBackend[ScoreJob, ScoreResult]):
    """A head set behind the narrow interface: setup() loads it (the profile's, or a registered
    version's directory) and warms it up; predict() scores a batch of jobs."""

    def __init__(self, config: AdriskConfig, directory: str | Path | None = None) -> None:
        self.config = config
        self.directory = resolve_project_path(str(directory or config.heads.text))
        self.heads: HeadSet | None = None

    def setup(self) -> None:
        heads = self.config.heads
        self.heads = HeadSet.load(self.directory, self.config.taxonomy, heads.zero_shot_scale, heads.zero_shot_bias)
        self.name, self.version = self.heads.manifest["name"], self.heads.manifest["version"]
        # Warm-up: the URL vectorizer and numpy paths initialise lazily (~0.5 s on first use).
        score_job(ScoreJob(url="http://warm.up/"), self.heads)

    def predict(self, batch: Sequence[ScoreJob]) -> list[ScoreResult]:
        if self.heads is None:
            raise RuntimeError("setup() was not called")
        return [score_job(job, self.heads) for job in batch]


def aggregate_video(frames: Sequence[ScoredFrame], method: str, top_k: int) -> list[ImagePart]:
    """Per-category video score from its frames (max, or mean of the top k), cited by the best frame."""
    parts: list[ImagePart] = []
    categories = {c for f in frames for c in f.scores}
    for category in sorted(categories):
        ranked = sorted(frames, key=lambda f: -f.scores.get(category, 0.0))
        top = ranked[: (1 if method == "max" else top_k)]
        score = sum(f.scores.get(category, 0.0) for f in top) / len(top)
        best = ranked[0]
        cited = ", ".join(f"{f.time_s:.1f}s {f.scores.get(category, 0.0):.2f}" for f in ranked[:3])
        detail = (f"{method} over {len(frames)} frames (top: {cited}); best frame: "
                  f"{best.detail.get(category, '')}")
        parts.append(ImagePart(f"video@{best.time_s:.1f}s", {category: score}, {category: detail}))
    return parts
