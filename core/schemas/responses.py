"""What the review API answers: the decision, its evidence, per-category scores, batch results, the taxonomy
with its measured quality, and the error body."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from core.schemas.diagnosis import Diagnosis, SummaryStatus


class Action(StrEnum):
    approve = "approve"
    reject = "reject"
    deboost = "deboost"
    suspend_account = "suspend_account"
    human_review = "human_review"


class Decision(BaseModel):
    action: Action
    categories: list[str] = Field(description="Categories that drove the action.")
    reasons: list[str]
    traffic_multiplier: float = Field(1.0, ge=0, le=1)
    policy_version: str


class Evidence(BaseModel):
    source: str = Field(description="Where it was found: image[0], creative.text, landing_page, ...")
    category: str
    score: float
    detail: str


class ReviewResponse(BaseModel):
    request_id: str
    scores: dict[str, float] = Field(description="Final per-category risk: content scores after fusion.")
    content_scores: dict[str, float] | None = Field(
        None, description="What the content models alone scored, when fusion or known-bad matching moved it."
    )
    fusion_rules: list[str] = Field(default_factory=list, description="Fusion rules (and known_bad) that fired.")

    @field_validator("content_scores")
    @classmethod
    def _unmoved_is_none(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        return value or None  # gRPC carries "not moved" as an empty map

    decision: Decision
    evidence: list[Evidence]
    model_versions: dict[str, str]
    timings_ms: dict[str, float]
    cached: bool = Field(False, description="True when this is the stored decision for a seen id.")
    summary_status: SummaryStatus = SummaryStatus.not_requested
    diagnosis: Diagnosis | None = None


class ItemError(BaseModel):
    error: str
    detail: str
    status: int


class BatchItemResult(BaseModel):
    request_id: str | None
    ok: bool
    result: ReviewResponse | None = None
    error: ItemError | None = None


class BatchReviewResponse(BaseModel):
    results: list[BatchItemResult]


class ThresholdFigures(BaseModel):
    """Held-out precision / recall at one threshold, and the share of negatives flagged (fpr)."""

    threshold: float
    precision: float
    recall: float
    fpr: float


class HeldoutFigures(BaseModel):
    """One backing's figures on the grouped evaluation split (models/splits.py)."""

    kind: str
    data: str
    n_pos: int
    n_neg: int
    auprc: float | None
    review: ThresholdFigures
    reject: ThresholdFigures


class BenignCommercial(BaseModel):
    """Share of held-out benign product listings whose text score reaches review / reject."""

    n: int
    at_review: float
    at_reject: float


class QualityBacking(BaseModel):
    kind: str
    name: str
    data: str = ""
    measured: bool


class CategoryQuality(BaseModel):
    """What backs a category and how well it is measured (models/quality.py); `status` says in plain
    words which parts are unmeasured ("unmeasured: no labelled data" when nothing is)."""

    measured: bool
    status: str
    backing: list[QualityBacking]
    heldout: list[HeldoutFigures]
    benign_commercial: BenignCommercial | None = None


class CategoryInfo(BaseModel):
    id: str
    name: str
    description: str
    severity: str
    enforcement: str
    thresholds: dict[str, float]
    egregious: bool
    zero_tolerance: bool
    backed_by: list[dict[str, Any]]
    references: list[str]
    quality: CategoryQuality | None = None


class TaxonomyResponse(BaseModel):
    version: str
    policy_version: str
    categories: list[CategoryInfo]


class ErrorBody(BaseModel):
    error: str
    detail: str
