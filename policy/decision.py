"""Apply a policy version (configs/policy/*.yaml) to per-category scores."""

from __future__ import annotations

from policy.fusion import FusionOutcome, fuse
from serving.config import AdriskConfig
from serving.schemas import Action, Advertiser, Decision


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
