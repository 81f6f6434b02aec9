"""The policy: action precedence, account suspension, per-category thresholds and the fusion rules
(policy/fusion.py applies them), known-bad matching included."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from core.config.base import _Strict
from core.config.taxonomy import Thresholds


class SuspendRule(_Strict):
    min_prior_violations: int = Field(ge=1)
    max_new_account_age_days: float = Field(ge=0)
    new_account_requires_unverified: bool = True


# Facts fusion rules may test (see policy/fusion.py for how each is derived); `signals.<name>` too.
FUSION_FACTS = frozenset({
    "advertiser.account_age_days", "advertiser.prior_violations", "advertiser.verified",
    "advertiser.spend_velocity", "history.rejections",
    "conversion.clicks", "conversion.conversion_rate", "conversion.conversion_lift",
    "conversion.refund_rate", "conversion.chargeback_rate",
    "user_feedback.impressions", "user_feedback.report_rate", "user_feedback.negative_rate",
    "domain.age_days", "domain.reputation", "domain.on_blocklist",
})


class Condition(_Strict):
    """All given bounds must hold; a fact the request does not carry never satisfies a condition."""

    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None
    eq: float | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if all(v is None for v in (self.gte, self.gt, self.lte, self.lt, self.eq)):
            raise ValueError("a condition needs at least one of gte, gt, lte, lt, eq")
        return self


class FusionRule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    when: dict[str, Condition] = Field(min_length=1)
    categories: list[str] = Field(default_factory=list, description="categories whose risk the rule moves")
    add: float = Field(0.0, ge=-0.5, le=0.5)
    multiply: float = Field(1.0, ge=0.0, le=3.0)
    min_content_score: float = Field(
        0.0, ge=0, le=1, description="move a category only if the content models scored it at least this"
    )
    floor_action: Literal["human_review"] | None = Field(
        None, description="send approve/deboost decisions to a reviewer when the rule fires"
    )

    @model_validator(mode="after")
    def _known_facts_and_some_effect(self) -> FusionRule:
        unknown = [f for f in self.when if f not in FUSION_FACTS and not re.fullmatch(r"signals\.\w+", f)]
        if unknown:
            raise ValueError(
                f"rule {self.id}: unknown facts {unknown}; known: {sorted(FUSION_FACTS)} or signals.<name>"
            )
        moves = self.add != 0.0 or self.multiply != 1.0
        if moves and not self.categories:
            raise ValueError(f"rule {self.id}: add/multiply need categories")
        if not moves and self.floor_action is None:
            raise ValueError(f"rule {self.id}: no effect (set add, multiply or floor_action)")
        return self

    @property
    def lowers(self) -> bool:
        return self.add < 0 or self.multiply < 1


class KnownBadRule(_Strict):
    """Near-duplicates (perceptual hash) of creatives rejected before, or confirmed by a reviewer."""

    enabled: bool = True
    max_distance: int = Field(6, ge=0, le=20, description="Hamming distance between 64-bit pHashes")
    boost: float = Field(0.35, ge=0, le=1, description="added to the matched creative's categories")
    trend_distance: int = Field(8, ge=0, le=20, description="Hamming distance that joins a trend cluster")


class Fusion(_Strict):
    version: str = "none"
    rules: list[FusionRule] = Field(default_factory=list)
    known_bad: KnownBadRule = Field(default_factory=KnownBadRule)


class Policy(_Strict):
    name: str
    version: str
    precedence: list[Literal["suspend_account", "reject", "human_review", "deboost", "approve"]]
    deboost_multiplier: float = Field(ge=0, le=1)
    suspend_account: SuspendRule
    thresholds: dict[str, Thresholds] = Field(default_factory=dict)
    fusion: Fusion = Field(default_factory=Fusion)

    @model_validator(mode="after")
    def _complete_precedence(self) -> Policy:
        expected = {"suspend_account", "reject", "human_review", "deboost", "approve"}
        if set(self.precedence) != expected or len(self.precedence) != len(expected):
            raise ValueError(f"precedence must list each of {sorted(expected)} once")
        return self
