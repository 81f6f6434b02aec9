"""Stage 3, decide: from one ad's scores to its decision under the policy of its rollout arm.

The advertiser's prior rejections come from the decision log; the ad's images and frames are
matched against the known-bad bank (a match boosts its categories); fusion rules combine the
content scores with the request's facts; the policy decides. The shadow candidates (a head set,
a policy version) decide too, for the comparison report only. After the summarise stage an
`always` diagnosis is merged in: the LLM may raise approve/deboost to human_review, never lower.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from core.config import AdriskConfig
from core.schemas import Advertiser
from core.store import DecisionStore
from policy.decision import fuse_and_decide, merge_decision
from policy.fusion import request_facts
from policy.known_bad import KnownBadIndex, apply_matches
from serving.rollout import RolloutPlan
from serving.stages.state import ReviewState, Verdict


class DecideStage:
    def __init__(self, config: AdriskConfig, store: DecisionStore, known_bad: KnownBadIndex, page_head: str) -> None:
        self.config, self.store, self.known_bad, self.page_head = config, store, known_bad, page_head

    async def run(self, state: ReviewState, plan: RolloutPlan | None) -> None:
        """Set the ad's `verdict`; its `stage_ms["policy"]` is the time up to the acted-on decision."""
        t = time.perf_counter()
        request = state.request
        assert state.scored is not None, "the fan-out stage has not scored this ad"
        result = state.scored.result
        cfg = plan.policy_config(plan.arm("policy", state.request_id).version, self.config) if plan else self.config
        adv_id = request.advertiser.id if request.advertiser else None
        rejections = await asyncio.to_thread(self.store.rejections, adv_id, state.request_id) if adv_id else None
        advertiser = _with_history(request.advertiser, rejections)
        # No pictures, nothing to look up (match answers [] at once): no thread hop for text-only ads.
        matches = (await asyncio.to_thread(self.known_bad.match, state.sightings, state.request_id)
                   if state.sightings else [])
        content, bank_evidence = apply_matches(result.scores, matches, cfg.policy.fusion.known_bad)
        facts = request_facts(request, rejections)
        fusion, decision = fuse_and_decide(content, facts, advertiser, cfg)
        state.stage_ms["policy"] = (time.perf_counter() - t) * 1000
        state.verdict = Verdict(
            config=cfg, advertiser_id=adv_id, advertiser=advertiser, facts=facts, content=content,
            matches=matches, fusion=fusion, decision=decision,
            result=dataclasses.replace(result, scores=fusion.scores, evidence=bank_evidence + result.evidence),
            versions={**cfg.model_versions(), "text_heads": result.head_version, "page_head": self.page_head},
            arms=_arms(plan, state.request_id) if plan else {},
        )
        state.verdict.shadow = self._shadows(state, plan)

    def _shadows(self, state: ReviewState, plan: RolloutPlan | None) -> dict[str, Any]:
        """What the shadowed head set and the shadowed policy would have decided (never acted on)."""
        verdict = state.decided()
        shadow: dict[str, Any] = {}
        if state.shadow_scored is not None:  # the candidate head set under the ad's policy
            candidate = state.shadow_scored.result
            content = apply_matches(candidate.scores, verdict.matches, verdict.config.policy.fusion.known_bad)[0]
            fused, decision = fuse_and_decide(content, verdict.facts, verdict.advertiser, verdict.config)
            shadow["text_heads"] = {"version": candidate.head_version, "action": decision.action.value,
                                    "scores": fused.scores}
        policy = plan.shadow("policy") if plan else None
        if plan and policy:  # the candidate policy on the acted-on content scores
            shadow_cfg = plan.policy_config(policy, self.config)
            fused, decision = fuse_and_decide(verdict.content, verdict.facts, verdict.advertiser, shadow_cfg)
            shadow["policy"] = {"version": f"{shadow_cfg.policy.name}@{shadow_cfg.policy.version}",
                                "action": decision.action.value, "scores": fused.scores}
        return shadow

    def merge_diagnosis(self, state: ReviewState) -> None:
        """An `always` diagnosis, checked against the evidence, may raise the decision (never lower it)."""
        if state.diagnosis is None or state.done:
            return
        verdict = state.decided()
        assert self.config.llm is not None
        verdict.decision = merge_decision(verdict.decision, state.diagnosis, verdict.result.scores,
                                          self.config.llm.raise_min_score)


def _with_history(advertiser: Advertiser | None, rejections: int | None) -> Advertiser | None:
    """The advertiser as the policy sees it: prior violations at least what the decision log counts."""
    if advertiser is None or not rejections or (advertiser.prior_violations or 0) >= rejections:
        return advertiser
    return advertiser.model_copy(update={"prior_violations": rejections})


def _arms(plan: RolloutPlan, request_id: str) -> dict[str, dict[str, Any]]:
    """Which version of each rolled-out component this review used (for the comparison report)."""
    arms = {}
    for component in plan.states:
        arm = plan.arm(component, request_id)
        arms[component] = {"version": arm.version, "candidate": arm.candidate}
    return arms
