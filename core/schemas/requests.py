"""What a client sends: one ad's review request (creative, landing page, advertiser, signals) and a batch of them."""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from core.schemas.base import RequestId, _Base64Media, _Strict


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


class BatchReviewRequest(_Strict):
    items: list[dict[str, Any]] = Field(
        min_length=1, description="Review requests; each is validated on its own."
    )
