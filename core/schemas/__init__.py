"""Request and response shapes: the one source of truth for HTTP and gRPC (serving/grpc_mapping.py maps the
proto onto them field for field).

One module per concern; every public name is re-exported here, so `from core.schemas import X` is the
way to import any of them:

- base: the request id's form, the strict base model, base64 media
- requests: what a client sends (ReviewRequest, BatchReviewRequest and their parts)
- responses: what the review API answers (ReviewResponse, Decision, Evidence, batch results, the taxonomy)
- diagnosis: the LLM's diagnosis, before and after it is held to the models' evidence
- records: feedback and appeals, stored decision records, known-bad trends
- moderation: the OpenAI-compatible /v1/moderations shapes
"""

from core.schemas.base import (
    RequestId,
)
from core.schemas.diagnosis import (
    MAX_VIOLATIONS,
    SEVERITIES,
    SUMMARY_WORDS,
    Consistency,
    Diagnosis,
    LlmDiagnosis,
    Severity,
    SummaryStatus,
    UnsupportedViolation,
    Violation,
)
from core.schemas.moderation import (
    OPENAI_CATEGORIES,
    AdriskVerdict,
    ModerationImagePart,
    ModerationImageUrl,
    ModerationInput,
    ModerationInputType,
    ModerationPart,
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    ModerationTextPart,
    OpenAICategories,
    OpenAIError,
    OpenAIErrorBody,
)
from core.schemas.records import (
    DecisionRecord,
    FeedbackRecord,
    FeedbackRequest,
    FeedbackResponse,
    TrendCluster,
    TrendsResponse,
)
from core.schemas.requests import (
    Advertiser,
    BatchReviewRequest,
    ConversionSignals,
    Creative,
    DomainFacts,
    ImageInput,
    LandingPage,
    ReviewOptions,
    ReviewRequest,
    UserFeedbackSignals,
    VideoInput,
)
from core.schemas.responses import (
    Action,
    BatchItemResult,
    BatchReviewResponse,
    BenignCommercial,
    CategoryInfo,
    CategoryQuality,
    Decision,
    ErrorBody,
    Evidence,
    HeldoutFigures,
    ItemError,
    QualityBacking,
    ReviewResponse,
    TaxonomyResponse,
    ThresholdFigures,
)

__all__ = [
    "MAX_VIOLATIONS",
    "OPENAI_CATEGORIES",
    "SEVERITIES",
    "SUMMARY_WORDS",
    "Action",
    "AdriskVerdict",
    "Advertiser",
    "BatchItemResult",
    "BatchReviewRequest",
    "BatchReviewResponse",
    "BenignCommercial",
    "CategoryInfo",
    "CategoryQuality",
    "Consistency",
    "ConversionSignals",
    "Creative",
    "Decision",
    "DecisionRecord",
    "Diagnosis",
    "DomainFacts",
    "ErrorBody",
    "Evidence",
    "FeedbackRecord",
    "FeedbackRequest",
    "FeedbackResponse",
    "HeldoutFigures",
    "ImageInput",
    "ItemError",
    "LandingPage",
    "LlmDiagnosis",
    "ModerationImagePart",
    "ModerationImageUrl",
    "ModerationInput",
    "ModerationInputType",
    "ModerationPart",
    "ModerationRequest",
    "ModerationResponse",
    "ModerationResult",
    "ModerationTextPart",
    "OpenAICategories",
    "OpenAIError",
    "OpenAIErrorBody",
    "QualityBacking",
    "RequestId",
    "ReviewOptions",
    "ReviewRequest",
    "ReviewResponse",
    "Severity",
    "SummaryStatus",
    "TaxonomyResponse",
    "ThresholdFigures",
    "TrendCluster",
    "TrendsResponse",
    "UnsupportedViolation",
    "UserFeedbackSignals",
    "VideoInput",
    "Violation",
]
