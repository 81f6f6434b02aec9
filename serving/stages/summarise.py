"""Stage 4, summarise: the LLM diagnosis of one decided ad, now or after its decision is stored.

The summary plan (`plan`) turns `options.summary` (or the profile's default) into a status:
`none` → not_requested; no LLM → disabled; `always` → the review waits for the diagnosis
(`llm.deadline_s` at most) and the decide stage merges it; `auto` → skipped for approve/deboost
or an unrecorded review, else pending (run in the background once the decision is stored, by
the record stage) or shed when the background backlog is full. A diagnosis is held to the final
scores under the thresholds of the ad's policy (check_against_evidence).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from core import metrics
from core.config import AdriskConfig
from core.schemas import Action, Diagnosis, SummaryStatus
from core.store import DecisionStore
from models.contracts import LlmAnswer
from models.diagnosis import ReviewContext, check_against_evidence
from serving.background import BackgroundTasks
from serving.stages.state import Call, ReviewState

log = logging.getLogger("ray.serve")


@dataclass
class DiagnosisOutcome:
    status: SummaryStatus
    diagnosis: Diagnosis | None = None
    versions: dict[str, str] = field(default_factory=dict)  # llm and llm_prompt, when the LLM answered
    ms: float = 0.0


class SummariseStage:
    def __init__(
        self, config: AdriskConfig, diagnose: Call | None, store: DecisionStore, background: BackgroundTasks
    ) -> None:
        self.config, self._diagnose, self.store, self.background = config, diagnose, store, background

    async def run(self, state: ReviewState) -> None:
        """Set the ad's `summary_status`; under `always`, also its `diagnosis` (when the LLM gave one)."""
        status = self.plan(state)
        if status is not None:
            state.summary_status = status
            return
        outcome = await self.diagnose(state)
        state.summary_status, state.diagnosis = outcome.status, outcome.diagnosis
        state.stage_ms["llm"] = outcome.ms
        state.decided().versions.update(outcome.versions)

    def plan(self, state: ReviewState) -> SummaryStatus | None:
        """What this review's diagnosis will be: None to wait for it (`summary: always`), else the
        status answered at once — `pending` when it runs after the decision is stored (`auto`)."""
        request, llm = state.request, self.config.llm
        mode = request.options.summary or (llm.default_summary if llm else "none")
        if mode == "none":
            return SummaryStatus.not_requested
        if llm is None or not llm.enabled or self._diagnose is None:
            return SummaryStatus.disabled
        if mode == "always":
            return None
        if state.decided().decision.action in (Action.approve, Action.deboost) or not request.options.record:
            return SummaryStatus.skipped  # nothing to explain, or no stored decision to attach it to
        return SummaryStatus.pending if self.background.has_room() else SummaryStatus.shed

    async def diagnose(self, state: ReviewState) -> DiagnosisOutcome:
        """The LLM diagnosis under `llm.deadline_s`, held to the final scores under the thresholds of
        the policy in force for this ad."""
        llm, verdict = self.config.llm, state.decided()
        assert llm is not None and self._diagnose is not None
        ctx = ReviewContext(
            scores=verdict.result.scores,
            action=verdict.decision.action.value,
            decision_categories=verdict.decision.categories,
            evidence=verdict.result.evidence,
            untrusted={part.source: part.text for part in state.scoring_job().texts},
            advertiser=state.request.advertiser.model_dump(exclude_none=True) if state.request.advertiser else {},
            # only a vision-language model gets the pixels
            media=[(m.source, m.medium.kind, m.medium.data) for m in state.prepared().media] if llm.max_images else [],
        )
        started = time.perf_counter()
        response = self._diagnose(ctx)
        try:
            with metrics.in_flight("LlmDiagnoser"):
                out: LlmAnswer = await asyncio.wait_for(response, timeout=llm.deadline_s)
        except TimeoutError:
            cancel = getattr(response, "cancel", None)
            if cancel:
                cancel()  # the replica aborts the generation; its batch slot frees up
            return DiagnosisOutcome(SummaryStatus.timeout, ms=(time.perf_counter() - started) * 1000)
        except Exception:
            return DiagnosisOutcome(SummaryStatus.unavailable, ms=(time.perf_counter() - started) * 1000)
        ms = (time.perf_counter() - started) * 1000
        versions = {"llm": out.model, "llm_prompt": out.prompt_version}
        if out.diagnosis is None:
            return DiagnosisOutcome(SummaryStatus.invalid, versions=versions, ms=ms)
        diagnosis = check_against_evidence(out.diagnosis, verdict.result.scores, verdict.config)
        return DiagnosisOutcome(SummaryStatus.ok, diagnosis, versions, ms)

    def start_later(self, state: ReviewState, created_at: float) -> bool:
        """Start the `auto` diagnosis of a stored decision in the background; False when it is full."""
        return self.background.submit(self._diagnose_later(state, created_at), name=f"diagnose:{state.request_id}")

    async def _diagnose_later(self, state: ReviewState, created_at: float) -> None:
        """An `auto` diagnosis, run after its decision was stored and answered, written onto that
        decision (the one made at `created_at`). `auto` only explains reject / suspend / human_review,
        which the LLM can never change, so the answered decision stays the decision."""
        outcome = await self.diagnose(state)
        diagnosis = outcome.diagnosis.model_dump(mode="json") if outcome.diagnosis else None
        attached = await asyncio.to_thread(self.store.attach_summary, state.request_id, created_at,
                                           outcome.status.value, diagnosis, outcome.versions)
        metrics.LLM_SUMMARIES.labels(outcome.status.value).inc()
        metrics.STAGE_SECONDS.labels("llm").observe(outcome.ms / 1000)
        log.info("diagnosis %s %s", state.request_id, outcome.status.value, extra={
            "review_request_id": state.request_id, "summary_status": outcome.status.value,
            "attached": attached, "llm_ms": round(outcome.ms, 1)})
