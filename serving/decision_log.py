"""The decision log's API side: reviewer feedback, a decision with its verdicts, and trends."""

from __future__ import annotations

from typing import Any

from core.config import AdriskConfig
from core.errors import NotFound, UnprocessableInput
from core.schemas import (
    Action,
    DecisionRecord,
    FeedbackRecord,
    FeedbackRequest,
    FeedbackResponse,
    SummaryStatus,
    TrendCluster,
    TrendsResponse,
)
from core.store import DecisionStore, Feedback

MAX_TREND_WINDOW_S = 90 * 86400.0


def record_feedback(store: DecisionStore, config: AdriskConfig, body: FeedbackRequest, now: float) -> FeedbackResponse:
    unknown = sorted(set(body.labels) - set(config.taxonomy.ids))
    if unknown:
        raise UnprocessableInput(f"labels name unknown categories {unknown}; see GET /v1/taxonomy")
    try:
        saved = store.add_feedback(Feedback(
            request_id=body.request_id, kind=body.kind, reviewer=body.reviewer, labels=body.labels,
            final_action=body.final_action.value, note=body.note, created_at=now,
        ))
    except KeyError:
        raise NotFound(f"no stored decision for request_id {body.request_id!r}") from None
    decision = store.get(body.request_id)
    assert decision is not None and saved.id is not None
    original = Action(decision.action)
    return FeedbackResponse(
        request_id=body.request_id, feedback_id=saved.id, original_action=original,
        effective_action=body.final_action,
        overturned=body.kind == "appeal" and body.final_action != original,
        agreed=body.final_action == original,
    )


SUMMARY_GRACE_S = 30.0  # past llm.deadline_s, for the write-back itself


def settled_response(response: dict[str, Any], created_at: float, config: AdriskConfig, now: float) -> dict[str, Any]:
    """A stored response as a reader should see it: a `pending` diagnosis that can no longer arrive
    (its ingress replica died before writing it back) reads as `unavailable`, not pending forever."""
    if response.get("summary_status") != SummaryStatus.pending.value:
        return response
    deadline = (config.llm.deadline_s if config.llm else 0.0) + SUMMARY_GRACE_S
    if now - created_at <= deadline:
        return response
    return {**response, "summary_status": SummaryStatus.unavailable.value}


def decision_record(store: DecisionStore, config: AdriskConfig, request_id: str, now: float) -> DecisionRecord:
    """A stored decision with its verdicts; its diagnosis as it stands (`pending` until written back)."""
    decision = store.get(request_id)
    if decision is None:
        raise NotFound(f"no stored decision for request_id {request_id!r}")
    verdicts = store.feedback_for(request_id)
    return DecisionRecord(
        request_id=decision.request_id, created_at=decision.created_at, action=Action(decision.action),
        effective_action=Action(verdicts[-1].final_action if verdicts else decision.action),
        policy_version=decision.policy_version, advertiser_id=decision.advertiser_id,
        response=settled_response(decision.response, decision.created_at, config, now),
        feedback=[FeedbackRecord(id=f.id or 0, kind=f.kind, reviewer=f.reviewer, labels=f.labels,
                                 final_action=Action(f.final_action), note=f.note, created_at=f.created_at)
                  for f in verdicts],
    )


def trend_report(
    store: DecisionStore, config: AdriskConfig, window_s: float, min_count: int, now: float
) -> TrendsResponse:
    from policy.known_bad import trends

    if not 0 < window_s <= MAX_TREND_WINDOW_S:
        raise UnprocessableInput(f"window_s must be in (0, {MAX_TREND_WINDOW_S:g}]")
    if min_count < 1:
        raise UnprocessableInput("min_count must be at least 1")
    distance = config.policy.fusion.known_bad.trend_distance
    since = now - window_s
    clusters = trends(store.hash_records(since=since), distance, min_count)
    return TrendsResponse(window_s=window_s, since=since, until=now, max_distance=distance,
                          clusters=[TrendCluster.model_validate(c) for c in clusters])
