"""Multi-signal fusion: content scores moved by advertiser, conversion, user-feedback and domain facts.

The rules are data (`fusion` in a policy version, validated at load). Each fired rule leaves a reason
naming the facts that fired it and what it changed, so every action explains itself. Rules never
lower egregious or zero-tolerance categories (refused at load), and `min_content_score` lets a rule
require corroboration by the content models before it moves a category.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.config import AdriskConfig, Condition, FusionRule
from core.schemas import ReviewRequest


def _rate(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


def request_facts(request: ReviewRequest, rejections: int | None = None) -> dict[str, float]:
    """Flatten what the request (and the decision log's history) says into named numeric facts."""
    facts: dict[str, float | None] = {}
    adv = request.advertiser
    if adv is not None:
        facts["advertiser.account_age_days"] = adv.account_age_days
        facts["advertiser.prior_violations"] = adv.prior_violations
        facts["advertiser.verified"] = None if adv.verified is None else float(adv.verified)
        facts["advertiser.spend_velocity"] = adv.spend_velocity
    if rejections is not None:
        facts["history.rejections"] = rejections
    conv = request.conversion
    if conv is not None:
        facts["conversion.clicks"] = conv.clicks
        facts["conversion.conversion_rate"] = conv.conversion_rate
        if conv.conversion_rate is not None and conv.baseline_conversion_rate:
            facts["conversion.conversion_lift"] = conv.conversion_rate / conv.baseline_conversion_rate
        facts["conversion.refund_rate"] = conv.refund_rate
        facts["conversion.chargeback_rate"] = conv.chargeback_rate
    fb = request.user_feedback
    if fb is not None:
        facts["user_feedback.impressions"] = fb.impressions
        facts["user_feedback.report_rate"] = _rate(fb.reports, fb.impressions)
        facts["user_feedback.negative_rate"] = _rate(fb.negative_feedback, fb.impressions)
    domain = request.landing_page.domain if request.landing_page else None
    if domain is not None:
        facts["domain.age_days"] = domain.age_days
        facts["domain.reputation"] = domain.reputation
        facts["domain.on_blocklist"] = None if domain.on_blocklist is None else float(domain.on_blocklist)
    for name, value in request.signals.items():
        facts[f"signals.{name}"] = value
    return {k: float(v) for k, v in facts.items() if v is not None}


def _holds(value: float, cond: Condition) -> bool:
    return ((cond.gte is None or value >= cond.gte) and (cond.gt is None or value > cond.gt)
            and (cond.lte is None or value <= cond.lte) and (cond.lt is None or value < cond.lt)
            and (cond.eq is None or value == cond.eq))


def _describe(fact: str, value: float, cond: Condition) -> str:
    bounds = [f"{op} {getattr(cond, name):g}" for name, op in
              (("gte", "≥"), ("gt", ">"), ("lte", "≤"), ("lt", "<"), ("eq", "="))
              if getattr(cond, name) is not None]
    return f"{fact} {value:.4g} {' and '.join(bounds)}"


def fires(rule: FusionRule, facts: dict[str, float]) -> str | None:
    """Why the rule fires (its conditions, with the values), or None."""
    parts = []
    for fact, cond in rule.when.items():
        if fact not in facts or not _holds(facts[fact], cond):
            return None
        parts.append(_describe(fact, facts[fact], cond))
    return ", ".join(parts)


@dataclass
class FusionOutcome:
    scores: dict[str, float]
    reasons: list[str] = field(default_factory=list)
    floor_reasons: list[str] = field(default_factory=list)  # reasons to send approve/deboost to review
    fired: list[str] = field(default_factory=list)


def fuse(content: dict[str, float], facts: dict[str, float], config: AdriskConfig) -> FusionOutcome:
    """Apply every rule, in order, to the content scores."""
    scores = dict(content)
    out = FusionOutcome(scores)
    for rule in config.policy.fusion.rules:
        why = fires(rule, facts)
        if why is None:
            continue
        moved = []
        for category in rule.categories:
            before = scores.get(category, 0.0)
            if content.get(category, 0.0) < rule.min_content_score:
                continue
            after = min(1.0, max(0.0, before * rule.multiply + rule.add))
            if after != before:
                scores[category] = after
                moved.append(f"{category} {before:.3f}→{after:.3f}")
        if moved:
            out.reasons.append(f"fusion {rule.id}: {why}: {', '.join(moved)}")
        if rule.floor_action:
            out.floor_reasons.append(f"fusion {rule.id}: {why}: {rule.description}")
        if moved or rule.floor_action:
            out.fired.append(rule.id)
    return out
