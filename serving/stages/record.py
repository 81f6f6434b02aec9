"""Stage 5, record: one decided ad's response, metrics and log line, and its decision-log entry.

The response is built from the ad's verdict and summary; the decision metrics and a structured
`decision` log line follow. An unrecorded review (`options.record: false`) is answered there.
Otherwise the decision is inserted (or put, under `options.rescore`) with what retraining and
the rollout report need; if another request stored different content under the id meanwhile,
the ad is a conflict, and if the same content was stored first, that decision is answered
(`cached`). A `pending` diagnosis is started once its decision is stored; when the background
backlog filled up meanwhile, the stored decision is marked `shed` instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from core import metrics
from core.config import AdriskConfig
from core.errors import Conflict, Unavailable
from core.schemas import Decision, Evidence, ReviewResponse, SummaryStatus
from core.store import DecisionStore, Sighting, StoredDecision
from serving.stages.state import ReviewState
from serving.stages.summarise import SummariseStage

log = logging.getLogger("ray.serve")
MAX_STORED_TEXT = 2000  # per text part kept in the decision log for retraining from verdicts


class RecordStage:
    def __init__(
        self, store: DecisionStore, clock: Callable[[], float], summarise: SummariseStage
    ) -> None:
        self.store, self._clock, self.summarise = store, clock, summarise
        self.writer = GroupWriter(store)

    async def run(self, state: ReviewState, started: float) -> None:
        """Set the ad's `outcome`: its response (stored unless unrecorded) or the store's error."""
        response = self.response(state)
        stage_ms = state.stage_ms
        _observe(response, stage_ms, state.summary_status)
        decision = response.decision
        log.info("decision %s %s", state.request_id, decision.action.value, extra={
            "review_request_id": state.request_id, "action": decision.action.value,
            "categories": decision.categories, "policy_version": decision.policy_version,
            "fusion_rules": response.fusion_rules, "summary_status": state.summary_status.value,
            "stage_ms": {k: round(v, 2) for k, v in stage_ms.items()}})
        if not state.request.options.record:
            stage_ms["total"] = (time.perf_counter() - started) * 1000
            state.outcome = response.model_copy(update={"timings_ms": _rounded(stage_ms)})
            return
        t = time.perf_counter()
        record = self.stored_decision(state, response)
        try:
            stored = await self.writer.write(record, replace=state.request.options.rescore)
        except Exception as exc:
            state.fail(Unavailable(f"decision store failed: {type(exc).__name__}: {exc}"))
            return
        if stored.input_digest != record.input_digest:
            state.fail(Conflict(f"request_id {state.request_id!r} was taken concurrently by other content"))
            return
        stage_ms["store"] = (time.perf_counter() - t) * 1000
        metrics.STAGE_SECONDS.labels("store").observe(stage_ms["store"] / 1000)
        stage_ms["total"] = (time.perf_counter() - started) * 1000
        cached = stored.created_at != record.created_at
        body = {**stored.response, "timings_ms": _rounded(stage_ms)}
        if state.summary_status is SummaryStatus.pending and not cached:
            if not self.summarise.start_later(state, record.created_at):
                # Filled up since the plan: the stored decision must not promise a diagnosis.
                await asyncio.to_thread(self.store.attach_summary, state.request_id, record.created_at,
                                        SummaryStatus.shed.value, None, {})
                body["summary_status"] = SummaryStatus.shed.value
        state.outcome = ReviewResponse.model_validate({**body, "cached": cached})

    @staticmethod
    def response(state: ReviewState) -> ReviewResponse:
        """The answer for a decided ad (no timings yet)."""
        verdict, scored = state.decided(), state.scored
        assert scored is not None
        return ReviewResponse(
            request_id=state.request_id,
            scores={c: round(v, 6) for c, v in verdict.fusion.scores.items()},
            content_scores=scored.result.scores if verdict.fusion.scores != scored.result.scores else None,
            fusion_rules=verdict.fusion.fired + (["known_bad"] if verdict.matches else []),
            decision=verdict.decision,
            evidence=[Evidence.model_validate(e) for e in verdict.result.evidence],
            model_versions=verdict.versions,
            timings_ms={},
            summary_status=state.summary_status,
            diagnosis=state.diagnosis,
        )

    def stored_decision(self, state: ReviewState, response: ReviewResponse) -> StoredDecision:
        """The decision-log entry: the response, and what retraining and the rollout report read."""
        verdict, ad, job = state.decided(), state.prepared(), state.scoring_job()
        decision = response.decision
        return StoredDecision(
            request_id=state.request_id,
            input_digest=ad.digest,
            response=response.model_dump(mode="json", exclude={"timings_ms", "cached"}),
            action=decision.action.value,
            policy_version=decision.policy_version,
            created_at=self._clock(),
            advertiser_id=verdict.advertiser_id,
            categories=tuple(decision.categories),
            sightings=tuple(_cite(state.sightings, verdict.result.evidence, decision, verdict.config)),
            inputs={"facts": verdict.facts, "content_scores": verdict.content,
                    "texts": [{"source": p.source, "text": p.text[:MAX_STORED_TEXT]} for p in job.texts[:32]],
                    "arms": verdict.arms, "shadow": verdict.shadow, "stage_ms": _rounded(state.stage_ms),
                    "latency_ms": {"scorer": state.scored.ms if state.scored else None,
                                   "shadow_scorer": state.shadow_scored.ms if state.shadow_scored else None}},
        )


class GroupWriter:
    """Group commit of decisions: the records of every ad that reaches the store while a write is
    in flight go together in the next transaction (`insert_many_if_absent`, or `put_many` for
    rescores), so a batch call's ads, and concurrent single calls, share one commit and its wait for
    durability. Each ad is still answered only after the transaction holding its record committed;
    a failed transaction fails the ads in it. One transaction at a time per ingress: the stores
    serialise writers anyway (SQLite has one; PostgreSQL's sightings lock)."""

    def __init__(self, store: DecisionStore, max_group: int = 256) -> None:
        self.store, self.max_group = store, max_group
        self._queue: list[tuple[StoredDecision, bool, asyncio.Future[StoredDecision]]] = []
        self._writing = False
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  # how many groups were written (tests and benchmarks read it)

    async def write(self, record: StoredDecision, replace: bool) -> StoredDecision:
        """Store one record (insert-if-absent, or put when `replace`); returns what is stored for its id."""
        future: asyncio.Future[StoredDecision] = asyncio.get_running_loop().create_future()
        self._queue.append((record, replace, future))
        if not self._writing:
            self._writing = True
            self._task = asyncio.get_running_loop().create_task(self._drain())  # held: asyncio keeps weak refs
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
                for replace in (False, True):
                    part = [(record, future) for record, r, future in group if r is replace]
                    if part:
                        await self._commit([record for record, _ in part], [future for _, future in part], replace)
        finally:
            self._writing = False

    async def _commit(self, records: list[StoredDecision], futures: list[asyncio.Future[StoredDecision]],
                      replace: bool) -> None:
        write = self.store.put_many if replace else self.store.insert_many_if_absent
        try:
            stored = await asyncio.to_thread(write, records)
        except Exception as exc:  # every ad of the group sees the store's error
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        self.transactions += 1
        for future, result in zip(futures, stored, strict=True):
            if not future.done():
                future.set_result(result)


def _rounded(stage_ms: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in stage_ms.items()}


def _cite(
    sightings: list[Sighting], evidence: list[dict[str, Any]], decision: Decision, config: AdriskConfig
) -> list[Sighting]:
    """Mark the images/frames whose own evidence reached the review band of a category the decision
    acted on: only those enter the known-bad bank when the decision rejects."""
    cited = {str(e["source"]).removesuffix(".ocr") for e in evidence
             if e["category"] in decision.categories and float(e["score"]) >= config.thresholds(e["category"]).review}
    return [dataclasses.replace(s, cited=s.source in cited) for s in sightings]


def _observe(response: ReviewResponse, stage_ms: dict[str, float], status: SummaryStatus) -> None:
    """Metrics of one fresh decision (cached replays are counted by the request metrics only)."""
    for stage, ms in stage_ms.items():
        _child(metrics.STAGE_SECONDS, stage).observe(ms / 1000)
    decision = response.decision
    _child(metrics.DECISIONS, decision.action.value, decision.policy_version).inc()
    for category in decision.categories:
        _child(metrics.DECISION_CATEGORIES, category, decision.action.value).inc()
    for rule in response.fusion_rules:
        _child(metrics.FUSION_RULES, rule).inc()
    for component, version in response.model_versions.items():
        if (component, version) not in _MODEL_INFO_SET:  # a gauge of constant 1: set once per process
            metrics.MODEL_INFO.labels(component, version).set(1)
            _MODEL_INFO_SET.add((component, version))
    if status not in (SummaryStatus.not_requested, SummaryStatus.disabled, SummaryStatus.pending):
        _child(metrics.LLM_SUMMARIES, status.value).inc()  # a pending one is counted when it ends


_MODEL_INFO_SET: set[tuple[str, str]] = set()


@functools.lru_cache(maxsize=4096)
def _child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, looked up once: the child is the same object every time, and
    labels() (checks and a lock) was a tenth of a millisecond a call, a dozen calls per decision."""
    return metric.labels(*labels)
