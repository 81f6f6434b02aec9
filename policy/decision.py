"""Apply a policy version (configs/policy/*.yaml) to per-category scores."""

from __future__ import annotations

from core.config import AdriskConfig
from core.schemas import Action, Advertiser, Consistency, Decision, Diagnosis, Severity
from policy.fusion import FusionOutcome, fuse


def repeat_or_throwaway(advertiser: Advertiser | None, config: AdriskConfig) -> str | None:
    """Why this advertiser's history makes an egregious violation an account-level problem."""
    if advertiser is None:
        return None
    rule = config.policy.suspend_account
    if (advertiser.prior_violations or 0) >= rule.min_prior_violations:
        return f"advertiser has {advertiser.prior_violations} prior violations (≥ {rule.min_prior_violations})"
    age = advertiser.account_age_days
    if age is not None and age <= rule.max_new_account_age_days:
        if not rule.new_account_requires_unverified or not advertiser.verified:
            return f"unverified account is {age:g} days old (≤ {rule.max_new_account_age_days:g})"
    return None


def decide(
    scores: dict[str, float], advertiser: Advertiser | None, config: AdriskConfig,
    fusion: FusionOutcome | None = None,
) -> Decision:
    """The action, then what fusion adds: its reasons always, and its floor (approve/deboost →
    human_review) when a rule asks for a reviewer."""
    decision = _decide_scores(scores, advertiser, config)
    if fusion is None or not (fusion.reasons or fusion.floor_reasons):
        return decision
    reasons = [*decision.reasons, *fusion.reasons]
    if fusion.floor_reasons and decision.action in (Action.approve, Action.deboost):
        return decision.model_copy(update={
            "action": Action.human_review,
            "reasons": [*fusion.floor_reasons, *reasons],
            "traffic_multiplier": 0.0,
        })
    return decision.model_copy(update={"reasons": reasons + [f"also: {r}" for r in fusion.floor_reasons]})


def fuse_and_decide(
    content: dict[str, float], facts: dict[str, float], advertiser: Advertiser | None, config: AdriskConfig
) -> tuple[FusionOutcome, Decision]:
    """A policy version end to end: fusion rules over the content scores, then the action."""
    fused = fuse(content, facts, config)
    return fused, decide(fused.scores, advertiser, config, fused)


def _decide_scores(scores: dict[str, float], advertiser: Advertiser | None, config: AdriskConfig) -> Decision:
    """Every category votes for an action; the policy's precedence picks the winner."""
    votes: dict[Action, list[tuple[str, str]]] = {action: [] for action in Action}
    history = repeat_or_throwaway(advertiser, config)
    for category in config.taxonomy.categories:
        score = scores.get(category.id, 0.0)
        t = config.thresholds(category.id)
        if score >= t.reject:
            why = f"{category.id} score {score:.3f} ≥ reject threshold {t.reject:g}"
            if category.enforcement == "deboost":
                votes[Action.deboost].append((category.id, why))
            elif category.egregious and history:
                votes[Action.suspend_account].append((category.id, f"{why}; {history}"))
            else:
                votes[Action.reject].append((category.id, why))
            if category.zero_tolerance:
                votes[Action.human_review].append(
                    (category.id, f"{category.id} is zero-tolerance: a reviewer confirms every hit")
                )
        elif score >= t.review:
            votes[Action.human_review].append(
                (category.id, f"{category.id} score {score:.3f} in review band [{t.review:g}, {t.reject:g})")
            )
    for name in config.policy.precedence:
        action = Action(name)
        if votes.get(action):
            categories = list(dict.fromkeys(c for c, _ in votes[action]))
            reasons = [why for _, why in votes[action]]
            # Lower-precedence votes still explain the ad to a reviewer.
            for other in config.policy.precedence:
                if other != name and votes.get(Action(other)):
                    reasons += [f"also: {why}" for _, why in votes[Action(other)]]
            return Decision(
                action=action,
                categories=categories,
                reasons=reasons,
                # Deboosted ads serve at the policy's multiplier; every other hit is held.
                traffic_multiplier=config.policy.deboost_multiplier if action == Action.deboost else 0.0,
                policy_version=f"{config.policy.name}@{config.policy.version}",
            )
    return Decision(
        action=Action.approve,
        categories=[],
        reasons=["every category below its review threshold"],
        traffic_multiplier=1.0,
        policy_version=f"{config.policy.name}@{config.policy.version}",
    )


RAISING_SEVERITIES = {Severity.high, Severity.critical}
RAISE_MIN_CONFIDENCE = 0.5


def merge_decision(
    decision: Decision, diagnosis: Diagnosis, scores: dict[str, float], min_score: float
) -> Decision:
    """The LLM explains; it may raise approve/deboost to human_review, and never lowers anything.

    `diagnosis` is the one check_against_evidence returned: its `violations` are the supported ones
    only (category at or above its review threshold) and its `confidence` is the capped one. A
    raise needs a serious supported violation whose category also scored ≥ min_score, with capped
    confidence ≥ 0.5, so a small model's hallucinated category cannot send clean ads to reviewers.
    (An approved ad has no category at review, so in practice the raise is deboost → human_review.)
    """
    if diagnosis.consistency is Consistency.unchecked:
        raise ValueError("merge_decision needs a diagnosis checked against the evidence")
    if decision.action not in (Action.approve, Action.deboost):
        return decision
    serious = [v for v in diagnosis.violations
               if v.severity in RAISING_SEVERITIES and scores.get(v.category, 0.0) >= min_score]
    if not serious or diagnosis.confidence < RAISE_MIN_CONFIDENCE:
        return decision
    cats = list(dict.fromkeys(v.category for v in serious))
    reason = (f"LLM diagnosis flagged {', '.join(cats)} ({serious[0].severity.value}, confidence "
              f"{diagnosis.confidence:.2f}): raised to human_review")
    return decision.model_copy(update={
        "action": Action.human_review,
        "categories": list(dict.fromkeys(decision.categories + cats)),
        "reasons": [reason, *decision.reasons],
        "traffic_multiplier": 0.0,
    })
