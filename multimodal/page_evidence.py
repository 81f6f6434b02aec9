"""How model scores about a landing page count, given what the page's own structure shows.

The text heads score the page's title, meta description and visible text as if they were ad copy,
and two URL models (the text-head set's char-n-gram URL head, the page-phishing head) score the page's
address and markup. Measured on real benign pages (`adrisk pages eval`, README "Landing pages") those
model scores put many ordinary pages in front of a reviewer: login screens read like phishing, admin
dashboards like scams, real documentation URLs like phishing URLs. The page's own signals
(multimodal/page_signals.py) say something the models cannot: whether the page asks for secrets at all.

So, for a page whose HTML the service analysed, the ingress builds a PageEvidenceGate from the page's
signals and `model_evidence` in configs/page_signals.yaml, the ScoreJob carries it to the scorer, and
the scorer caps the matching model scores before taking each category's maximum:

- phishing, URL models: no support from the page's phishing signals → below the review threshold;
  weak support → below the reject threshold; strong support → as scored;
- phishing, page text: no support → one band weaker; weak support → below reject; strong → as scored;
- the other categories listed in `page_text_one_band_weaker`, page text: one band weaker.

"One band weaker": a score below the category's reject threshold is capped below its review threshold;
one at or above reject is capped below reject where the category rejects (a deboost category keeps its
deboost). A category's rules are lifted when an independent source of it (ad copy, an image, OCR, a
page signal: anything the gate does not cap) already reaches the review threshold. A capped score stays
in the evidence, with what it was and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multimodal.page_rules import ModelEvidenceRules, load_page_signals
from multimodal.page_types import PageSignal

__all__ = ["PageEvidenceGate", "SourceRule", "page_evidence_gate", "phishing_support"]

Candidate = tuple[str, str, float, str]  # (category, source, score, detail), as models/scoring.py builds them
_INDEX = re.compile(r"\[\d+\]$")

BELOW_REVIEW = "below_review"
BELOW_REJECT = "below_reject"
ONE_BAND_WEAKER = "one_band_weaker"


def _base(source: str) -> str:
    return _INDEX.sub("", source)


@dataclass(frozen=True)
class SourceRule:
    category: str
    sources: tuple[str, ...]  # evidence sources it caps (a chunk index such as "[2]" is ignored)
    kind: str  # below_review | below_reject | one_band_weaker
    review: float  # the category's thresholds in the serving config
    reject: float
    reject_enforced: bool  # enforcement "reject" (a deboost category keeps its deboost)
    why: str

    def cap(self, score: float, margin: float) -> float:
        below_review, below_reject = max(0.0, self.review - margin), max(0.0, self.reject - margin)
        if self.kind == BELOW_REVIEW:
            return min(score, below_review)
        if self.kind == BELOW_REJECT:
            return min(score, below_reject)
        if score < self.reject:
            return min(score, below_review)
        return min(score, below_reject) if self.reject_enforced else score


@dataclass(frozen=True)
class PageEvidenceGate:
    """Caps for model scores of one page; plain data, so it crosses the Ray handle with the ScoreJob."""

    rules: tuple[SourceRule, ...]
    margin: float

    def apply(self, candidates: list[Candidate]) -> list[Candidate]:
        by_category: dict[str, list[SourceRule]] = {}
        for rule in self.rules:
            by_category.setdefault(rule.category, []).append(rule)
        capped_sources = {c: {s for r in rules for s in r.sources} for c, rules in by_category.items()}
        lifted = {
            category for category, source, score, _ in candidates
            if category in by_category and _base(source) not in capped_sources[category]
            and score >= by_category[category][0].review
        }
        out: list[Candidate] = []
        for category, source, score, detail in candidates:
            rule = next((r for r in by_category.get(category, ()) if _base(source) in r.sources), None)
            if rule is not None and category not in lifted:
                counted = rule.cap(score, self.margin)
                if counted < score:
                    detail = f"{detail} [counted {counted:.4g}, not {score:.4g}: {rule.why}]"
                    score = counted
            out.append((category, source, score, detail))
        return out


def phishing_support(signals: list[PageSignal], rules: ModelEvidenceRules) -> tuple[str, str]:
    """(none | weak | strong, which signals): how far the page's own phishing signals back a phishing score."""
    spec = rules.phishing_support
    found = {s.name: s.score for s in signals if s.name in spec.signals}
    at_weak = {n: v for n, v in found.items() if v >= spec.weak}
    named = ", ".join(f"{n} {v:.2f}" for n, v in sorted(at_weak.items(), key=lambda kv: -kv[1]))
    if any(v >= spec.strong for v in at_weak.values()) or len(at_weak) >= 2:
        return "strong", named
    if at_weak:
        return "weak", named
    return "none", ""


def page_evidence_gate(signals: list[PageSignal], config) -> PageEvidenceGate:
    """The gate for a page with these signals, under `config` (core.config.AdriskConfig) thresholds."""
    rules = load_page_signals().model_evidence
    enforcement = {c.id: c.enforcement for c in config.taxonomy.categories}
    page_text, url_models = tuple(rules.page_text_sources), tuple(rules.url_model_sources)

    def rule(category: str, sources: tuple[str, ...], kind: str, why: str) -> SourceRule:
        t = config.thresholds(category)
        return SourceRule(category, sources, kind, t.review, t.reject, enforcement[category] == "reject", why)

    out: list[SourceRule] = []
    support, named = phishing_support(signals, rules)
    if support == "none":
        why = "the page asks for no credentials or card details and posts nowhere else"
        out.append(rule("phishing", url_models, BELOW_REVIEW, f"URL/page model; {why}"))
        if "phishing" in rules.page_text_one_band_weaker:
            out.append(rule("phishing", page_text, ONE_BAND_WEAKER, f"page text; {why}"))
    elif support == "weak":
        why = f"the page's own phishing evidence is weak ({named})"
        out.append(rule("phishing", url_models + page_text, BELOW_REJECT, why))
    for category in rules.page_text_one_band_weaker:
        if category != "phishing":
            out.append(rule(category, page_text, ONE_BAND_WEAKER,
                            "page text alone: the text heads over-fire on benign page text"))
    return PageEvidenceGate(tuple(out), rules.margin)
