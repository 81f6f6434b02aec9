"""The review pipeline the ingress runs: prepare → fan out to the models → decide → summarise → record.

One pipeline call handles a *group* of ads (one for /v1/review, many for /v1/review:batch). Its
ads are prepared concurrently; then all their images go to the image deployment in one handle
call, all their texts to the text encoder in one call, and all their jobs to the scorer in one
call per head-set arm; the deployments' @serve.batch queues merge groups from concurrent
requests. Then each ad is decided, summarised and recorded on its own, concurrently. A failure in
one ad (bad input, a corrupt image) fails that ad only. Each stage is a module of
`serving.stages`; one `ReviewState` per ad carries what they learn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from core.config import AdriskConfig, resolve_project_path
from core.errors import AdriskError, DeadlineExceeded
from core.schemas import ReviewRequest, ReviewResponse
from core.store import DecisionStore
from models.page_phishing import PagePhishingHead
from policy.known_bad import KnownBadIndex
from serving.admission import MIB, AdmissionGate
from serving.background import BackgroundTasks
from serving.rollout import RolloutPlan, RolloutWatcher
from serving.stages.decide import DecideStage
from serving.stages.extract import field_name, input_digest, prepare
from serving.stages.fanout import STAGE_DEPLOYMENTS, FanOutStage, ModelCalls, map_remote_error
from serving.stages.fetch import FetchOutcome
from serving.stages.prepare import PrepareStage
from serving.stages.record import MAX_STORED_TEXT, RecordStage
from serving.stages.state import Call, PreparedAd, ReviewState
from serving.stages.summarise import DiagnosisOutcome, SummariseStage

__all__ = [
    "MAX_STORED_TEXT", "STAGE_DEPLOYMENTS", "Call", "DiagnosisOutcome", "FetchOutcome", "PreparedAd",
    "ReviewPipeline", "field_name", "input_digest", "map_remote_error", "prepare",
]


class ReviewPipeline:
    """The review of a call's ads, stage by stage, under the admission gate and the call's budget."""

    def __init__(
        self,
        config: AdriskConfig,
        score_media: Call,
        embed_texts: Call,
        score_jobs: Call,
        store: DecisionStore,
        diagnose: Call | None = None,
        clock: Callable[[], float] = time.time,
        rollouts: RolloutWatcher | None = None,
    ) -> None:
        self.config = config
        self.rollouts = rollouts
        self.store = store
        self.known_bad = KnownBadIndex(store, config.policy.fusion.known_bad)
        self.admission = AdmissionGate(config.limits.max_in_flight_ads, config.limits.max_in_flight_mib * MIB)
        self.page_head = PagePhishingHead.load(resolve_project_path(config.heads.page))
        self.background = BackgroundTasks(config.llm.max_pending if config.llm else 1)
        self.prepare_stage = PrepareStage(config, store, self.page_head, clock)
        self.fan_out_stage = FanOutStage(config, ModelCalls(score_media, embed_texts, score_jobs))
        self.decide_stage = DecideStage(config, store, self.known_bad, self.page_head.ident)
        self.summarise_stage = SummariseStage(config, diagnose, store, self.background)
        self.record_stage = RecordStage(store, clock, self.summarise_stage)

    async def review_many(
        self, requests: list[ReviewRequest]
    ) -> list[ReviewResponse | AdriskError]:
        """One answer per request, in request order: its response or its own error. Raises
        Overloaded when the ingress is full, DeadlineExceeded past `request_timeout_s`."""
        budget = self.config.request_timeout_s
        with self.admission.admit(requests):  # Overloaded at once when the ingress is full
            try:
                return await asyncio.wait_for(self._review_many(requests), timeout=budget)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"the call ran past its {budget:g} s budget; decisions made before then are stored: "
                    "retry with the same request_id to get them") from None

    async def _review_many(
        self, requests: list[ReviewRequest]
    ) -> list[ReviewResponse | AdriskError]:
        started = time.perf_counter()
        states = [ReviewState(request) for request in requests]
        await self.prepare_stage.run(states)  # replays and bad input end here
        live = [state for state in states if not state.done]
        if live:
            plan = self.rollouts.plan() if self.rollouts else None  # one snapshot for the whole call
            await self.fan_out_stage.run(live, plan)  # failed media and model calls end here
            # Each ad on its own from here; summaries run concurrently (the LLM batches them).
            await asyncio.gather(*(self._conclude(state, plan, started) for state in live if not state.done))
        outcomes = [state.outcome for state in states]
        assert all(outcome is not None for outcome in outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    async def _conclude(self, state: ReviewState, plan: RolloutPlan | None, started: float) -> None:
        """Stages 3–5 for one scored ad: decide, summarise (an `always` diagnosis merged), record."""
        await self.decide_stage.run(state, plan)
        await self.summarise_stage.run(state)
        self.decide_stage.merge_diagnosis(state)
        await self.record_stage.run(state, started)
