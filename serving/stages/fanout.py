"""Stage 2, fan out to the models: one call per model for all the prepared ads of a call.

All images and videos go to the image model and all texts to the text encoder, concurrently;
then the text OCR read in pixels goes to the encoder too; then every ad's `ScoreJob` goes to the
scorer, one call per head-set arm (a canary's ads to the candidate), plus the shadow candidate's
call, whose failure is only logged. The replicas' own batching merges calls across requests.

A medium that could not be decoded fails its ad; a model call that fails fails every ad still
under review in the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from core import metrics
from core.config import AdriskConfig
from core.errors import AdriskError, Overloaded, Unavailable
from core.store import Sighting
from models.contracts import MediaFailure, MediaResult, ScoredVideo
from models.scoring import ImagePart, ScoreJob, ScoreResult, TextPart, aggregate_video
from serving.rollout import RolloutPlan
from serving.stages.extract import field_name
from serving.stages.state import Call, ReviewState, ScoredArm

log = logging.getLogger("ray.serve")
STAGE_DEPLOYMENTS = {"image_models": "ImageRiskModel", "text_encoder": "TextEncoder",
                     "text_encoder_ocr": "TextEncoder", "scorer": "RiskScorer"}


def map_remote_error(exc: BaseException, stage: str) -> AdriskError:
    """One place that turns Ray/asyncio failures into adrisk errors."""
    if isinstance(exc, AdriskError):
        return exc
    name = type(exc).__name__
    if name == "BackPressureError":
        return Overloaded(f"{stage} queue is full; retry shortly")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return Unavailable(f"{stage} did not answer in time")
    return Unavailable(f"{stage} failed: {name}")


@dataclass(frozen=True)
class ModelCalls:
    """The model replicas as plain async callables (Ray handles in the ingress, functions in tests)."""

    score_media: Call  # list[Medium] → list[MediaResult]
    embed_texts: Call  # list[str] → float16 array (n, dim)
    score_jobs: Call  # (list[ScoreJob], head-set model id; '' = the default) → list[ScoreResult]


class FanOutStage:
    def __init__(self, config: AdriskConfig, calls: ModelCalls) -> None:
        self.config, self.calls = config, calls

    async def run(self, states: list[ReviewState], plan: RolloutPlan | None) -> None:
        """Fill each ad's images, OCR, sightings, job and scores; its `stage_ms` gets the call times."""
        timings: dict[str, float] = {}
        try:
            await self._encode(states, timings)
            await self._score(states, plan, timings)
        except AdriskError as exc:
            for state in states:
                state.fail(exc)
        for state in states:
            state.stage_ms.update(timings)

    async def call(self, stage: str, fn: Call, payload: Any) -> Any:
        """One model call under the stage timeout; any failure becomes an AdriskError."""
        try:
            with metrics.in_flight(STAGE_DEPLOYMENTS.get(stage, stage)):
                return await asyncio.wait_for(fn(payload), timeout=self.config.stage_timeout_s)
        except Exception as exc:
            raise map_remote_error(exc, stage) from None

    async def _timed(self, timings: dict[str, float], stage: str, fn: Call, payload: Any) -> Any:
        t = time.perf_counter()
        out = await self.call(stage, fn, payload)
        timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - t) * 1000
        return out

    async def _each(self, timings: dict[str, float], stage: str, fn: Call, items: list[Any]) -> Any:
        """A list call, skipped when there is nothing to send."""
        return await self._timed(timings, stage, fn, items) if items else []

    async def _encode(self, states: list[ReviewState], timings: dict[str, float]) -> None:
        """Image model and text encoder at once, then the OCR texts; each ad's ScoreJob from them."""
        ads = [state.prepared() for state in states]
        media_out, text_out = await asyncio.gather(
            self._each(timings, "image_models", self.calls.score_media, [m.medium for ad in ads for m in ad.media]),
            self._each(timings, "text_encoder", self.calls.embed_texts, [p.text for ad in ads for p in ad.texts]),
        )
        at = 0
        for state, ad in zip(states, ads, strict=True):
            self._read_media(state, media_out[at : at + len(ad.media)])
            at += len(ad.media)
        live = [state for state in states if not state.done]
        ocr_out = await self._each(timings, "text_encoder_ocr", self.calls.embed_texts,
                                    [p.text for state in live for p in state.ocr])
        text_at, ocr_at = 0, 0
        for state, ad in zip(states, ads, strict=True):
            rows = text_out[text_at : text_at + len(ad.texts)]
            text_at += len(ad.texts)
            if state.done:
                continue
            ocr_rows = ocr_out[ocr_at : ocr_at + len(state.ocr)]
            ocr_at += len(state.ocr)
            blocks = [block for block in (rows, ocr_rows) if len(block)]
            state.job = ScoreJob(texts=ad.texts + state.ocr, text_embeddings=np.concatenate(blocks) if blocks else None,
                                 url=ad.url, images=state.images, signals=ad.signals, page_gate=ad.page_gate)

    def _read_media(self, state: ReviewState, results: list[MediaResult]) -> None:
        """The image model's answers for one ad: image parts, OCR texts, hashes; a failure fails the ad."""
        video = self.config.video
        for medium, item in zip(state.prepared().media, results, strict=True):
            source = medium.source
            if isinstance(item, MediaFailure):
                state.fail(item.error(field_name(source)))
            elif isinstance(item, ScoredVideo):
                state.images += aggregate_video(item.frames, video.aggregation, video.top_k)
                state.ocr += [TextPart(f"video@{f.time_s:.1f}s.ocr", f.ocr) for f in item.frames if f.ocr]
                state.sightings += [Sighting(f"video@{f.time_s:.1f}s", f.phash) for f in item.frames]
            else:
                state.images.append(ImagePart(source, item.scores, item.detail))
                state.sightings.append(Sighting(source, item.phash))
                if item.ocr:
                    state.ocr.append(TextPart(f"{source}.ocr", item.ocr))

    async def _score(self, states: list[ReviewState], plan: RolloutPlan | None, timings: dict[str, float]) -> None:
        """Each ad scored by the head set of its arm; the shadow candidate scores them all too."""
        live = [state for state in states if not state.done]
        arms: dict[str, list[ReviewState]] = {}
        for state in live:
            version = plan.heads_model_id(plan.arm("text_heads", state.request_id).version) if plan else ""
            arms.setdefault(version, []).append(state)
        shadow = plan.shadow("text_heads") if plan and live else None

        async def arm(version: str, group: list[ReviewState]) -> None:
            t = time.perf_counter()
            out = await self._timed(timings, "scorer", self.calls.score_jobs, _jobs_of(group, version))
            ms = (time.perf_counter() - t) * 1000
            for state, result in zip(group, out, strict=True):
                state.scored = ScoredArm(result, ms)

        async def shadow_arm(version: str) -> None:
            t = time.perf_counter()
            try:
                out: list[ScoreResult] = await self.call("scorer", self.calls.score_jobs, _jobs_of(live, version))
            except AdriskError as exc:
                log.warning("shadow head set %s failed: %s", shadow, exc.detail)
                return
            ms = (time.perf_counter() - t) * 1000
            for state, result in zip(live, out, strict=True):
                state.shadow_scored = ScoredArm(result, ms)

        await asyncio.gather(*(arm(version, group) for version, group in arms.items()),
                             *([shadow_arm(plan.heads_model_id(shadow))] if plan and shadow else []))


def _jobs_of(states: list[ReviewState], version: str) -> tuple[list[ScoreJob], str]:
    """The scorer's payload: the ads' jobs and the head-set model id to score them with."""
    return [state.scoring_job() for state in states], version
