"""Request and response shapes: the one source of truth for HTTP (and later gRPC)."""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

RequestId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Base64Media(_Strict):
    data: str

    @field_validator("data")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"data is not valid base64: {exc}") from None
        return value

    def raw_bytes(self) -> bytes:
        return base64.b64decode(self.data, validate=True)


class ImageInput(_Base64Media):
    data: str = Field(description="The encoded image (JPEG, PNG, GIF, WebP, BMP) as base64.")


class VideoInput(_Strict):
    data: str | None = Field(None, description="The encoded video (MP4/MOV, WebM/MKV, AVI) as base64.")
    url: str | None = Field(
        None, max_length=8192, description="Where to fetch it (only when the profile enables fetching)."
    )

    _is_base64 = field_validator("data")(_Base64Media._is_base64.__func__)

    @model_validator(mode="after")
    def _one_source(self) -> VideoInput:
        if (self.data is None) == (self.url is None):
            raise ValueError("give exactly one of video.data (base64) or video.url")
        return self

    def raw_bytes(self) -> bytes:
        return base64.b64decode(self.data or "", validate=True)


class Creative(_Strict):
    images: list[ImageInput] = Field(default_factory=list)
    video: VideoInput | None = None
    text: str | None = Field(default=None, description="Ad copy: headline, body, call to action.")


class DomainFacts(_Strict):
    """What the pipeline upstream knows about the landing page's domain (WHOIS, reputation feeds)."""

    age_days: float | None = Field(default=None, ge=0, description="Days since the domain was registered.")
    reputation: float | None = Field(default=None, ge=0, le=1, description="0 = known bad, 1 = trusted.")
    on_blocklist: bool | None = None


class LandingPage(_Strict):
    url: str | None = Field(default=None, max_length=8192, description="The page's http(s) address.")
    html: str | None = None
    text: str | None = Field(default=None, description="Visible page text, if already extracted.")
    screenshot: ImageInput | None = None
    domain: DomainFacts | None = None

    @field_validator("url")
    @classmethod
    def _web_address(cls, url: str | None) -> str | None:
        """An ad's destination is a web page: javascript:, data:, file: and the like are refused."""
        if url is None:
            return url
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url.strip())
        except ValueError:
            raise ValueError("not a URL") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL with a host, not {parts.scheme or 'a relative'}: address")
        return url


class Advertiser(_Strict):
    id: str | None = Field(default=None, max_length=128)
    account_age_days: float | None = Field(default=None, ge=0)
    prior_violations: int | None = Field(default=None, ge=0)
    verified: bool | None = None
    country: str | None = Field(default=None, max_length=8)
    spend_velocity: float | None = Field(
        default=None, ge=0, description="Last day's spend over the trailing 7-day daily mean (1 = steady)."
    )
    attributes: dict[str, str | float | int | bool] = Field(default_factory=dict)


class ConversionSignals(_Strict):
    """Post-click outcomes of this ad or advertiser; rates are fractions in [0, 1]."""

    clicks: int | None = Field(default=None, ge=0)
    conversion_rate: float | None = Field(default=None, ge=0, le=1)
    baseline_conversion_rate: float | None = Field(
        default=None, ge=0, le=1, description="The vertical's normal conversion rate, to spot anomalies."
    )
    refund_rate: float | None = Field(default=None, ge=0, le=1)
    chargeback_rate: float | None = Field(default=None, ge=0, le=1)


class UserFeedbackSignals(_Strict):
    """What people who saw the ad did: hides, 'not interested', reports."""

    impressions: int | None = Field(default=None, ge=0)
    negative_feedback: int | None = Field(default=None, ge=0, description="Hides and 'not interested'.")
    reports: int | None = Field(default=None, ge=0, description="Explicit 'report ad' actions.")


class ReviewOptions(_Strict):
    rescore: bool = Field(default=False, description="Score again even if request_id was seen.")
    record: bool = Field(
        default=True,
        description="false for evaluation or shadow traffic: the decision is returned but not stored, "
        "so it is neither replayed, nor counted in advertiser history, nor added to the known-bad bank.",
    )
    summary: Literal["none", "auto", "always"] | None = Field(
        default=None,
        description="LLM diagnosis: none, auto (only reject/human_review/suspend ads), always. "
        "Default: the profile's llm.default_summary.",
    )


class ReviewRequest(_Strict):
    request_id: RequestId
    creative: Creative | None = None
    landing_page: LandingPage | None = None
    advertiser: Advertiser | None = None
    conversion: ConversionSignals | None = None
    user_feedback: UserFeedbackSignals | None = None
    signals: dict[str, float] = Field(
        default_factory=dict,
        description="Other numeric signals; fusion rules read them as `signals.<name>`.",
    )
    options: ReviewOptions = Field(default_factory=ReviewOptions)

    @model_validator(mode="after")
    def _has_content(self) -> ReviewRequest:
        creative_has = self.creative is not None and (
            bool(self.creative.images)
            or self.creative.video is not None
            or bool((self.creative.text or "").strip())
        )
        page_has = self.landing_page is not None and (
            self.landing_page.screenshot is not None
            or any((getattr(self.landing_page, part) or "").strip() for part in ("url", "html", "text"))
        )
        if not (creative_has or page_has):
            raise ValueError(
                "at least one content part is required: creative.images, creative.video, creative.text, "
                "landing_page.url, landing_page.html, landing_page.text or landing_page.screenshot"
            )
        return self


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


SEVERITIES = ["low", "medium", "high", "critical"]
MAX_VIOLATIONS = 2
SUMMARY_WORDS = 60


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Violation(BaseModel):
    """One policy violation the LLM names, with evidence quoted from the inputs."""

    model_config = ConfigDict(extra="forbid")

    category: str
    severity: Severity
    evidence: str = Field(max_length=300)
    rationale: str = Field(max_length=300)


def _first_words(value: str) -> str:
    words = value.split()
    return " ".join(words[:SUMMARY_WORDS]) if len(words) > SUMMARY_WORDS else value


class LlmDiagnosis(BaseModel):
    """What the LLM writes (guided decoding to this schema, validated again here), before it is held
    to the models' evidence (models/diagnosis.py: check_against_evidence → Diagnosis)."""

    model_config = ConfigDict(extra="forbid")

    violations: list[Violation] = Field(max_length=MAX_VIOLATIONS)
    summary: str = Field(max_length=600)
    confidence: float = Field(ge=0, le=1)

    _short = field_validator("summary")(_first_words)


class UnsupportedViolation(Violation):
    """A violation the LLM named in a category the models scored below its review threshold: shown
    so a reviewer sees what the LLM claimed, never counted as a finding."""

    model_score: float = Field(description="The category's final score for this ad.")
    review_threshold: float = Field(description="The category's review threshold in the policy in force.")
    reason: str


class Consistency(StrEnum):
    consistent = "consistent"  # every named violation is backed by the models (or none named, none flagged)
    partly_unsupported = "partly_unsupported"  # some named violations are backed, some are not
    unsupported = "unsupported"  # nothing the diagnosis claims is backed: read its summary as noise
    unchecked = "unchecked"  # a diagnosis stored before the evidence check existed (a replayed id)


class Diagnosis(BaseModel):
    """The LLM's diagnosis held to the evidence: only what the models back counts as a finding."""

    model_config = ConfigDict(extra="forbid")

    consistency: Consistency = Field(
        Consistency.unchecked,
        description="consistent | partly_unsupported | unsupported: whether the models' scores back what "
        "the diagnosis says. With `unsupported` the summary is not an explanation of the verdict.",
    )
    violations: list[Violation] = Field(
        max_length=MAX_VIOLATIONS,
        description="The LLM's violations in categories the models scored at or above the review threshold.",
    )
    unsupported: list[UnsupportedViolation] = Field(
        default_factory=list, max_length=MAX_VIOLATIONS,
        description="The LLM's violations in categories the models scored below the review threshold.",
    )
    summary: str = Field(max_length=600)
    confidence: float = Field(ge=0, le=1, description="The LLM's confidence, capped at what the evidence backs.")
    llm_confidence: float | None = Field(
        None, ge=0, le=1, description="The confidence the LLM reported (absent on unchecked diagnoses)."
    )
    confidence_capped: bool = Field(False, description="True when `confidence` is below `llm_confidence`.")

    _short = field_validator("summary")(_first_words)


class SummaryStatus(StrEnum):
    ok = "ok"
    not_requested = "not_requested"
    skipped = "skipped"  # auto mode on the approve/deboost path, or auto with options.record=false
    pending = "pending"  # auto mode: the decision is stored; the diagnosis is written to it when ready
    shed = "shed"  # auto mode: this ingress's backlog of pending diagnoses was full; the decision stands
    disabled = "disabled"  # no LLM in this profile
    timeout = "timeout"
    unavailable = "unavailable"
    invalid = "invalid"


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


class BatchReviewRequest(_Strict):
    items: list[dict[str, Any]] = Field(
        min_length=1, description="Review requests; each is validated on its own."
    )


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


class FeedbackRequest(_Strict):
    """A reviewer's verdict on a stored decision; an appeal's verdict overturns it when it differs."""

    request_id: RequestId
    kind: Literal["review", "appeal"] = "review"
    reviewer: str = Field(min_length=1, max_length=128)
    labels: dict[str, bool] = Field(
        default_factory=dict, description="Final label per category (true = violates); unknown ids are refused."
    )
    final_action: Action = Field(description="The action the reviewer settled on.")
    note: str = Field("", max_length=4000)


class FeedbackRecord(BaseModel):
    id: int
    kind: str
    reviewer: str
    labels: dict[str, bool]
    final_action: Action
    note: str
    created_at: float


class FeedbackResponse(BaseModel):
    request_id: str
    feedback_id: int
    original_action: Action
    effective_action: Action
    overturned: bool = Field(description="An appeal changed the action the service took.")
    agreed: bool = Field(description="The reviewer settled on the action the service took.")


class DecisionRecord(BaseModel):
    request_id: str
    created_at: float
    action: Action = Field(description="The action the service took.")
    effective_action: Action = Field(description="The latest reviewer verdict's action, else `action`.")
    policy_version: str
    advertiser_id: str | None = None
    response: dict[str, Any] = Field(description="The stored ReviewResponse (no timings_ms); its summary_status "
                                     "and diagnosis are updated when an `auto` diagnosis is written back.")
    feedback: list[FeedbackRecord]


class TrendCluster(BaseModel):
    cluster_id: str = Field(description="pHash (hex) of the cluster's first sighting.")
    count: int = Field(description="Distinct reviews that showed a member of the cluster.")
    sightings: int
    first_seen: float
    last_seen: float
    categories: dict[str, int]
    actions: dict[str, int]
    example: dict[str, str]
    request_ids: list[str]


class TrendsResponse(BaseModel):
    window_s: float
    since: float
    until: float
    max_distance: int
    clusters: list[TrendCluster]


# ------------------------------------------------------------- OpenAI-compatible moderation (/v1/moderations)
# The shapes of OpenAI's moderation API, so its clients work unchanged; the mapping from adrisk's
# categories is configs/moderation.yaml (serving/moderation.py applies it).
ModerationInputType = Literal["text", "image"]


class ModerationTextPart(_Strict):
    type: Literal["text"]
    text: str


class ModerationImageUrl(_Strict):
    url: str = Field(description="A data: URL (`data:image/png;base64,…`), or an http(s) URL where the "
                     "profile enables fetching (the landing-page SSRF rules apply).")

    @field_validator("url")
    @classmethod
    def _data_or_web(cls, url: str) -> str:
        if url.startswith("data:"):
            header, comma, payload = url.partition(",")
            media_type, *params = header.removeprefix("data:").split(";")
            if not comma or "base64" not in params:
                raise ValueError("a data: URL must be base64: data:image/<type>;base64,<data>")
            if media_type and not media_type.lower().startswith("image/"):
                raise ValueError(f"a data: URL must hold an image, not {media_type}")
            _Base64Media._is_base64(payload)
            return url
        LandingPage._web_address(url[:8192])
        if len(url) > 8192:
            raise ValueError("an http(s) image URL is at most 8192 characters")
        return url

    def base64_data(self) -> str | None:
        """The base64 payload of a data: URL; None for an http(s) URL (fetched, where enabled)."""
        return self.url.partition(",")[2] if self.url.startswith("data:") else None


class ModerationImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ModerationImageUrl


ModerationPart = Annotated[ModerationTextPart | ModerationImagePart, Field(discriminator="type")]


def _input_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "parts" if any(isinstance(v, dict) for v in value) else "strings"
    return None


ModerationInput = Annotated[
    Annotated[str, Tag("string")]
    | Annotated[list[str], Field(min_length=1), Tag("strings")]
    | Annotated[list[ModerationPart], Field(min_length=1), Tag("parts")],
    Discriminator(_input_kind, custom_error_type="input_shape",
                  custom_error_message="input must be a string, an array of strings, or an array of "
                  "{type: text | image_url} parts"),
]


class ModerationRequest(_Strict):
    """OpenAI's moderation request. A string or an array of strings gets one result per string; an
    array of parts (text and images) is one input and gets one result."""

    model: str | None = Field(None, description="A model name or alias from configs/moderation.yaml "
                              "(omni-moderation-latest, text-moderation-latest, ...); absent: its default_model.")
    input: ModerationInput


T = TypeVar("T")


class OpenAICategories(BaseModel, Generic[T]):
    """One value per OpenAI moderation category, keyed by OpenAI's names (`harassment/threatening`).
    The field aliases are the one list of those names: configs/moderation.yaml must map each of them."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    harassment: T
    harassment_threatening: T = Field(alias="harassment/threatening")
    hate: T
    hate_threatening: T = Field(alias="hate/threatening")
    illicit: T
    illicit_violent: T = Field(alias="illicit/violent")
    self_harm: T = Field(alias="self-harm")
    self_harm_intent: T = Field(alias="self-harm/intent")
    self_harm_instructions: T = Field(alias="self-harm/instructions")
    sexual: T
    sexual_minors: T = Field(alias="sexual/minors")
    violence: T
    violence_graphic: T = Field(alias="violence/graphic")


OPENAI_CATEGORIES: tuple[str, ...] = tuple(f.alias or name for name, f in OpenAICategories.model_fields.items())


class AdriskVerdict(BaseModel):
    """adrisk's own answer for one moderation input: all of its categories and its decision."""

    request_id: str = Field(description="The review's id (not stored: moderation calls are never recorded).")
    scores: dict[str, float] = Field(description="Final risk per adrisk category (all of them).")
    decision: Decision
    model_versions: dict[str, str]


class ModerationResult(BaseModel):
    flagged: bool = Field(description="True when any category is flagged.")
    categories: OpenAICategories[bool]
    category_scores: OpenAICategories[float]
    category_applied_input_types: OpenAICategories[list[ModerationInputType]]
    adrisk: AdriskVerdict | None = Field(
        None, description="adrisk's scores and decision; null for an input with nothing to score (empty text)."
    )


class ModerationResponse(BaseModel):
    id: str
    model: str = Field(description="The model the request's name resolved to.")
    results: list[ModerationResult]


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """The error shape of /v1/moderations (OpenAI's); adrisk's own routes answer ErrorBody."""

    error: OpenAIError
