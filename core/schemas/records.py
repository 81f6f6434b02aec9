"""What is stored about a decision and read back: reviewer feedback and appeals, the decision record, and
the known-bad trend clusters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from core.schemas.base import RequestId, _Strict
from core.schemas.responses import Action


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
