from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageInput(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class VideoInput(_message.Message):
    __slots__ = ("data", "url")
    DATA_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    url: str
    def __init__(self, data: _Optional[bytes] = ..., url: _Optional[str] = ...) -> None: ...

class Creative(_message.Message):
    __slots__ = ("images", "video", "text")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[ImageInput]
    video: VideoInput
    text: str
    def __init__(self, images: _Optional[_Iterable[_Union[ImageInput, _Mapping]]] = ..., video: _Optional[_Union[VideoInput, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class DomainFacts(_message.Message):
    __slots__ = ("age_days", "reputation", "on_blocklist")
    AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    REPUTATION_FIELD_NUMBER: _ClassVar[int]
    ON_BLOCKLIST_FIELD_NUMBER: _ClassVar[int]
    age_days: float
    reputation: float
    on_blocklist: bool
    def __init__(self, age_days: _Optional[float] = ..., reputation: _Optional[float] = ..., on_blocklist: _Optional[bool] = ...) -> None: ...

class LandingPage(_message.Message):
    __slots__ = ("url", "html", "text", "screenshot", "domain")
    URL_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCREENSHOT_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    url: str
    html: str
    text: str
    screenshot: ImageInput
    domain: DomainFacts
    def __init__(self, url: _Optional[str] = ..., html: _Optional[str] = ..., text: _Optional[str] = ..., screenshot: _Optional[_Union[ImageInput, _Mapping]] = ..., domain: _Optional[_Union[DomainFacts, _Mapping]] = ...) -> None: ...

class Advertiser(_message.Message):
    __slots__ = ("id", "account_age_days", "prior_violations", "verified", "country", "spend_velocity", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    PRIOR_VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    SPEND_VELOCITY_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    account_age_days: float
    prior_violations: int
    verified: bool
    country: str
    spend_velocity: float
    attributes: _containers.MessageMap[str, _struct_pb2.Value]
    def __init__(self, id: _Optional[str] = ..., account_age_days: _Optional[float] = ..., prior_violations: _Optional[int] = ..., verified: _Optional[bool] = ..., country: _Optional[str] = ..., spend_velocity: _Optional[float] = ..., attributes: _Optional[_Mapping[str, _struct_pb2.Value]] = ...) -> None: ...

class ConversionSignals(_message.Message):
    __slots__ = ("clicks", "conversion_rate", "baseline_conversion_rate", "refund_rate", "chargeback_rate")
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    REFUND_RATE_FIELD_NUMBER: _ClassVar[int]
    CHARGEBACK_RATE_FIELD_NUMBER: _ClassVar[int]
    clicks: int
    conversion_rate: float
    baseline_conversion_rate: float
    refund_rate: float
    chargeback_rate: float
    def __init__(self, clicks: _Optional[int] = ..., conversion_rate: _Optional[float] = ..., baseline_conversion_rate: _Optional[float] = ..., refund_rate: _Optional[float] = ..., chargeback_rate: _Optional[float] = ...) -> None: ...

class UserFeedbackSignals(_message.Message):
    __slots__ = ("impressions", "negative_feedback", "reports")
    IMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    impressions: int
    negative_feedback: int
    reports: int
    def __init__(self, impressions: _Optional[int] = ..., negative_feedback: _Optional[int] = ..., reports: _Optional[int] = ...) -> None: ...

class ReviewOptions(_message.Message):
    __slots__ = ("rescore", "record", "summary")
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    rescore: bool
    record: bool
    summary: str
    def __init__(self, rescore: _Optional[bool] = ..., record: _Optional[bool] = ..., summary: _Optional[str] = ...) -> None: ...

class ReviewRequest(_message.Message):
    __slots__ = ("request_id", "creative", "landing_page", "advertiser", "conversion", "user_feedback", "signals", "options")
    class SignalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CREATIVE_FIELD_NUMBER: _ClassVar[int]
    LANDING_PAGE_FIELD_NUMBER: _ClassVar[int]
    ADVERTISER_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FIELD_NUMBER: _ClassVar[int]
    USER_FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    creative: Creative
    landing_page: LandingPage
    advertiser: Advertiser
    conversion: ConversionSignals
    user_feedback: UserFeedbackSignals
    signals: _containers.ScalarMap[str, float]
    options: ReviewOptions
    def __init__(self, request_id: _Optional[str] = ..., creative: _Optional[_Union[Creative, _Mapping]] = ..., landing_page: _Optional[_Union[LandingPage, _Mapping]] = ..., advertiser: _Optional[_Union[Advertiser, _Mapping]] = ..., conversion: _Optional[_Union[ConversionSignals, _Mapping]] = ..., user_feedback: _Optional[_Union[UserFeedbackSignals, _Mapping]] = ..., signals: _Optional[_Mapping[str, float]] = ..., options: _Optional[_Union[ReviewOptions, _Mapping]] = ...) -> None: ...

class BatchReviewRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ReviewRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[ReviewRequest, _Mapping]]] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("request_id", "kind", "reviewer", "labels", "final_action", "note")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    FINAL_ACTION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: str
    reviewer: str
    labels: _containers.ScalarMap[str, bool]
    final_action: str
    note: str
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[str] = ..., reviewer: _Optional[str] = ..., labels: _Optional[_Mapping[str, bool]] = ..., final_action: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class TaxonomyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Decision(_message.Message):
    __slots__ = ("action", "categories", "reasons", "traffic_multiplier", "policy_version")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    action: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    reasons: _containers.RepeatedScalarFieldContainer[str]
    traffic_multiplier: float
    policy_version: str
    def __init__(self, action: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., reasons: _Optional[_Iterable[str]] = ..., traffic_multiplier: _Optional[float] = ..., policy_version: _Optional[str] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("source", "category", "score", "detail")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    source: str
    category: str
    score: float
    detail: str
    def __init__(self, source: _Optional[str] = ..., category: _Optional[str] = ..., score: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("category", "severity", "evidence", "rationale")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    category: str
    severity: str
    evidence: str
    rationale: str
    def __init__(self, category: _Optional[str] = ..., severity: _Optional[str] = ..., evidence: _Optional[str] = ..., rationale: _Optional[str] = ...) -> None: ...

class UnsupportedViolation(_message.Message):
    __slots__ = ("category", "severity", "evidence", "rationale", "model_score", "review_threshold", "reason")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    MODEL_SCORE_FIELD_NUMBER: _ClassVar[int]
    REVIEW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    category: str
    severity: str
    evidence: str
    rationale: str
    model_score: float
    review_threshold: float
    reason: str
    def __init__(self, category: _Optional[str] = ..., severity: _Optional[str] = ..., evidence: _Optional[str] = ..., rationale: _Optional[str] = ..., model_score: _Optional[float] = ..., review_threshold: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class Diagnosis(_message.Message):
    __slots__ = ("violations", "summary", "confidence", "unsupported", "llm_confidence", "confidence_capped", "consistency")
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    UNSUPPORTED_FIELD_NUMBER: _ClassVar[int]
    LLM_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_CAPPED_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    summary: str
    confidence: float
    unsupported: _containers.RepeatedCompositeFieldContainer[UnsupportedViolation]
    llm_confidence: float
    confidence_capped: bool
    consistency: str
    def __init__(self, violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., summary: _Optional[str] = ..., confidence: _Optional[float] = ..., unsupported: _Optional[_Iterable[_Union[UnsupportedViolation, _Mapping]]] = ..., llm_confidence: _Optional[float] = ..., confidence_capped: _Optional[bool] = ..., consistency: _Optional[str] = ...) -> None: ...

class ReviewResponse(_message.Message):
    __slots__ = ("request_id", "scores", "content_scores", "fusion_rules", "decision", "evidence", "model_versions", "timings_ms", "cached", "summary_status", "diagnosis")
    class ScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ContentScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ModelVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class TimingsMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SCORES_FIELD_NUMBER: _ClassVar[int]
    FUSION_RULES_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_MS_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_STATUS_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    scores: _containers.ScalarMap[str, float]
    content_scores: _containers.ScalarMap[str, float]
    fusion_rules: _containers.RepeatedScalarFieldContainer[str]
    decision: Decision
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    model_versions: _containers.ScalarMap[str, str]
    timings_ms: _containers.ScalarMap[str, float]
    cached: bool
    summary_status: str
    diagnosis: Diagnosis
    def __init__(self, request_id: _Optional[str] = ..., scores: _Optional[_Mapping[str, float]] = ..., content_scores: _Optional[_Mapping[str, float]] = ..., fusion_rules: _Optional[_Iterable[str]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., model_versions: _Optional[_Mapping[str, str]] = ..., timings_ms: _Optional[_Mapping[str, float]] = ..., cached: _Optional[bool] = ..., summary_status: _Optional[str] = ..., diagnosis: _Optional[_Union[Diagnosis, _Mapping]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("error", "detail", "status")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    error: str
    detail: str
    status: int
    def __init__(self, error: _Optional[str] = ..., detail: _Optional[str] = ..., status: _Optional[int] = ...) -> None: ...

class BatchItemResult(_message.Message):
    __slots__ = ("request_id", "ok", "result", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    ok: bool
    result: ReviewResponse
    error: ItemError
    def __init__(self, request_id: _Optional[str] = ..., ok: _Optional[bool] = ..., result: _Optional[_Union[ReviewResponse, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class BatchReviewResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchItemResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchItemResult, _Mapping]]] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ("request_id", "feedback_id", "original_action", "effective_action", "overturned", "agreed")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_ACTION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_ACTION_FIELD_NUMBER: _ClassVar[int]
    OVERTURNED_FIELD_NUMBER: _ClassVar[int]
    AGREED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    feedback_id: int
    original_action: str
    effective_action: str
    overturned: bool
    agreed: bool
    def __init__(self, request_id: _Optional[str] = ..., feedback_id: _Optional[int] = ..., original_action: _Optional[str] = ..., effective_action: _Optional[str] = ..., overturned: _Optional[bool] = ..., agreed: _Optional[bool] = ...) -> None: ...

class DecisionRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class FeedbackRecord(_message.Message):
    __slots__ = ("id", "kind", "reviewer", "labels", "final_action", "note", "created_at")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    FINAL_ACTION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    reviewer: str
    labels: _containers.ScalarMap[str, bool]
    final_action: str
    note: str
    created_at: float
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., reviewer: _Optional[str] = ..., labels: _Optional[_Mapping[str, bool]] = ..., final_action: _Optional[str] = ..., note: _Optional[str] = ..., created_at: _Optional[float] = ...) -> None: ...

class DecisionRecord(_message.Message):
    __slots__ = ("request_id", "created_at", "action", "effective_action", "policy_version", "advertiser_id", "response", "feedback")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_ACTION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ADVERTISER_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    created_at: float
    action: str
    effective_action: str
    policy_version: str
    advertiser_id: str
    response: ReviewResponse
    feedback: _containers.RepeatedCompositeFieldContainer[FeedbackRecord]
    def __init__(self, request_id: _Optional[str] = ..., created_at: _Optional[float] = ..., action: _Optional[str] = ..., effective_action: _Optional[str] = ..., policy_version: _Optional[str] = ..., advertiser_id: _Optional[str] = ..., response: _Optional[_Union[ReviewResponse, _Mapping]] = ..., feedback: _Optional[_Iterable[_Union[FeedbackRecord, _Mapping]]] = ...) -> None: ...

class CategoryInfo(_message.Message):
    __slots__ = ("id", "name", "description", "severity", "enforcement", "thresholds", "egregious", "zero_tolerance", "backed_by", "references", "quality")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    EGREGIOUS_FIELD_NUMBER: _ClassVar[int]
    ZERO_TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    BACKED_BY_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    severity: str
    enforcement: str
    thresholds: _containers.ScalarMap[str, float]
    egregious: bool
    zero_tolerance: bool
    backed_by: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    references: _containers.RepeatedScalarFieldContainer[str]
    quality: CategoryQuality
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., severity: _Optional[str] = ..., enforcement: _Optional[str] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., egregious: _Optional[bool] = ..., zero_tolerance: _Optional[bool] = ..., backed_by: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., references: _Optional[_Iterable[str]] = ..., quality: _Optional[_Union[CategoryQuality, _Mapping]] = ...) -> None: ...

class ThresholdFigures(_message.Message):
    __slots__ = ("threshold", "precision", "recall", "fpr")
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    FPR_FIELD_NUMBER: _ClassVar[int]
    threshold: float
    precision: float
    recall: float
    fpr: float
    def __init__(self, threshold: _Optional[float] = ..., precision: _Optional[float] = ..., recall: _Optional[float] = ..., fpr: _Optional[float] = ...) -> None: ...

class HeldoutFigures(_message.Message):
    __slots__ = ("kind", "data", "n_pos", "n_neg", "auprc", "review", "reject")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    N_POS_FIELD_NUMBER: _ClassVar[int]
    N_NEG_FIELD_NUMBER: _ClassVar[int]
    AUPRC_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    data: str
    n_pos: int
    n_neg: int
    auprc: float
    review: ThresholdFigures
    reject: ThresholdFigures
    def __init__(self, kind: _Optional[str] = ..., data: _Optional[str] = ..., n_pos: _Optional[int] = ..., n_neg: _Optional[int] = ..., auprc: _Optional[float] = ..., review: _Optional[_Union[ThresholdFigures, _Mapping]] = ..., reject: _Optional[_Union[ThresholdFigures, _Mapping]] = ...) -> None: ...

class BenignCommercial(_message.Message):
    __slots__ = ("n", "at_review", "at_reject")
    N_FIELD_NUMBER: _ClassVar[int]
    AT_REVIEW_FIELD_NUMBER: _ClassVar[int]
    AT_REJECT_FIELD_NUMBER: _ClassVar[int]
    n: int
    at_review: float
    at_reject: float
    def __init__(self, n: _Optional[int] = ..., at_review: _Optional[float] = ..., at_reject: _Optional[float] = ...) -> None: ...

class QualityBacking(_message.Message):
    __slots__ = ("kind", "name", "data", "measured")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    data: str
    measured: bool
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., data: _Optional[str] = ..., measured: _Optional[bool] = ...) -> None: ...

class CategoryQuality(_message.Message):
    __slots__ = ("measured", "status", "backing", "heldout", "benign_commercial")
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BACKING_FIELD_NUMBER: _ClassVar[int]
    HELDOUT_FIELD_NUMBER: _ClassVar[int]
    BENIGN_COMMERCIAL_FIELD_NUMBER: _ClassVar[int]
    measured: bool
    status: str
    backing: _containers.RepeatedCompositeFieldContainer[QualityBacking]
    heldout: _containers.RepeatedCompositeFieldContainer[HeldoutFigures]
    benign_commercial: BenignCommercial
    def __init__(self, measured: _Optional[bool] = ..., status: _Optional[str] = ..., backing: _Optional[_Iterable[_Union[QualityBacking, _Mapping]]] = ..., heldout: _Optional[_Iterable[_Union[HeldoutFigures, _Mapping]]] = ..., benign_commercial: _Optional[_Union[BenignCommercial, _Mapping]] = ...) -> None: ...

class TaxonomyResponse(_message.Message):
    __slots__ = ("version", "policy_version", "categories")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    version: str
    policy_version: str
    categories: _containers.RepeatedCompositeFieldContainer[CategoryInfo]
    def __init__(self, version: _Optional[str] = ..., policy_version: _Optional[str] = ..., categories: _Optional[_Iterable[_Union[CategoryInfo, _Mapping]]] = ...) -> None: ...
