"""What the stages know about one ad: a `ReviewState` each stage reads and extends, in stage order.

A stage that ends an ad early (a replayed decision, bad input, a failed medium or model call, a
store conflict) sets its `outcome`; later stages skip it, and `review_many` answers the outcomes
in request order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.config import AdriskConfig
from core.errors import AdriskError
from core.schemas import Advertiser, Decision, Diagnosis, ReviewRequest, ReviewResponse, SummaryStatus
from core.store import Sighting
from models.contracts import Medium
from models.scoring import ImagePart, ScoreJob, ScoreResult, Signal, TextPart
from multimodal.page_evidence import PageEvidenceGate
from policy.fusion import FusionOutcome
from policy.known_bad import Match

Call = Callable[..., Awaitable[Any]]  # a model replica: one awaitable call per stage payload
Outcome = ReviewResponse | AdriskError


@dataclass(frozen=True)
class SourcedMedium:
    """One image or video for the image model, with where in the request it came from."""

    source: str  # image[0], video, landing_page.screenshot
    medium: Medium


@dataclass
class PreparedAd:
    """The prepare stage's product: the request checked against the limits and taken apart."""

    request: ReviewRequest
    digest: str  # input_digest: the content's identity in the decision log
    media: list[SourcedMedium] = field(default_factory=list)
    texts: list[TextPart] = field(default_factory=list)
    url: str | None = None
    signals: list[Signal] = field(default_factory=list)
    page_gate: PageEvidenceGate | None = None  # set when the landing page's HTML was analysed
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredArm:
    """The scorer's answer for one ad from one head-set arm, and how long that scorer call took."""

    result: ScoreResult
    ms: float


@dataclass
class Verdict:
    """The decide stage's product: the decision under the policy of the ad's arm, and how it came."""

    config: AdriskConfig  # the policy version in force for this ad (its rollout arm)
    advertiser_id: str | None
    advertiser: Advertiser | None  # as the policy saw it: prior violations from the decision log
    facts: dict[str, float]
    content: dict[str, float]  # content scores after known-bad boosts, before fusion
    matches: list[Match]
    fusion: FusionOutcome
    decision: Decision  # replaced when an `always` diagnosis raises it
    result: ScoreResult  # final: fused scores, known-bad evidence first
    versions: dict[str, str]  # model_versions of the response
    arms: dict[str, dict[str, Any]]  # which version of each rolled-out component decided
    shadow: dict[str, Any] = field(default_factory=dict)  # what the shadow candidates would have decided


@dataclass
class ReviewState:
    """One ad through the review. Each field is filled by the stage named beside it."""

    request: ReviewRequest
    outcome: Outcome | None = None  # any stage: the ad's answer, once it has one
    stage_ms: dict[str, float] = field(default_factory=dict)  # every stage: its time, as logged
    ad: PreparedAd | None = None  # prepare
    images: list[ImagePart] = field(default_factory=list)  # fanout: image model scores per picture
    ocr: list[TextPart] = field(default_factory=list)  # fanout: text read in images and frames
    sightings: list[Sighting] = field(default_factory=list)  # fanout: perceptual hashes, for known-bad
    job: ScoreJob | None = None  # fanout: what the scorer scored
    scored: ScoredArm | None = None  # fanout: the arm that decides
    shadow_scored: ScoredArm | None = None  # fanout: the shadow head set, when one is shadowed
    verdict: Verdict | None = None  # decide
    summary_status: SummaryStatus = SummaryStatus.not_requested  # summarise
    diagnosis: Diagnosis | None = None  # summarise: the `always` diagnosis, when the LLM gave one

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def fail(self, error: AdriskError) -> None:
        """End this ad with `error`, unless an earlier stage already ended it (its error stands)."""
        if self.outcome is None:
            self.outcome = error

    def prepared(self) -> PreparedAd:
        assert self.ad is not None, "the prepare stage has not run for this ad"
        return self.ad

    def scoring_job(self) -> ScoreJob:
        assert self.job is not None, "the fan-out stage has not built this ad's job"
        return self.job

    def decided(self) -> Verdict:
        assert self.verdict is not None, "the decide stage has not run for this ad"
        return self.verdict
