"""LlmDiagnoser: one vLLM AsyncLLM per replica (models/llm_engine.py); concurrent reviews share it
(continuous batching). It gets the app builder's AdriskConfig, like every deployment."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from ray import serve

from core import metrics
from core.config import AdriskConfig
from models.contracts import LlmAnswer
from models.diagnosis import PromptConfig, ReviewContext, build_messages, diagnosis_schema, validate_diagnosis
from models.llm_engine import LlmPrompt, VllmEngine
from models.llm_vision import VisualInput, visual_inputs

log = logging.getLogger("ray.serve")

WARM_UP = ReviewContext(scores={"scam_fraud": 0.9}, action="reject", decision_categories=["scam_fraud"],
                        evidence=[], untrusted={"creative.text": "Win a free prize now"}, advertiser={})


@serve.deployment(name="LlmDiagnoser")
class LlmDiagnoser:
    def __init__(self, config: AdriskConfig) -> None:
        self.config = config
        if config.llm is None or not config.llm.enabled:
            raise ValueError(f"profile {config.profile!r} has no enabled llm section")
        self.prompt = PromptConfig.load(self.config)
        self.schema = diagnosis_schema(self.config.taxonomy.ids)
        self.engine = VllmEngine(self.config.llm)
        self.engine.setup()
        self.in_flight = 0
        self.totals = {"requests": 0, "prompt_tokens": 0, "generation_tokens": 0, "invalid": 0}
        self.ttft_ms: list[float] = []
        self._warm_up: asyncio.Task | None = None
        log.info("LlmDiagnoser ready: %s, %s", self.engine.ident, self.prompt.version)

    async def ready(self) -> str:
        """Ready once a warm-up diagnosis has run: the first request pays for compiling the JSON-schema
        grammar and the first forward pass, and no review should."""
        if self._warm_up is None:
            self._warm_up = asyncio.create_task(self.diagnose(WARM_UP))
        if not self._warm_up.done():
            raise RuntimeError("LLM warming up")
        self._warm_up.result()  # a failed warm-up keeps the replica not ready, with its error
        return self.engine.ident

    def stats(self) -> dict[str, Any]:
        """Queue depth (in flight), token totals and recent time-to-first-token (for metrics)."""
        return {"in_flight": self.in_flight, **self.totals, "ttft_ms_recent": self.ttft_ms[-256:]}

    async def diagnose(self, ctx: ReviewContext) -> LlmAnswer:
        visuals = await self._visuals(ctx)
        messages = build_messages(ctx, self.prompt, self.config, [v.label for v in visuals])
        self.in_flight += 1
        try:
            gen = await self.engine.predict(LlmPrompt(messages, self.schema, [v.image for v in visuals]))
        finally:
            self.in_flight -= 1
        self.totals["requests"] += 1
        self.totals["prompt_tokens"] += gen.prompt_tokens
        self.totals["generation_tokens"] += gen.generation_tokens
        metrics.LLM_TOKENS.labels("prompt").inc(gen.prompt_tokens)
        metrics.LLM_TOKENS.labels("generation").inc(gen.generation_tokens)
        metrics.LLM_TTFT.observe(gen.ttft_ms / 1000)
        self.ttft_ms.append(gen.ttft_ms)
        del self.ttft_ms[:-1024]
        answer = LlmAnswer(model=self.engine.ident, prompt_version=self.prompt.version,
                           prompt_tokens=gen.prompt_tokens, generation_tokens=gen.generation_tokens,
                           ttft_ms=round(gen.ttft_ms, 1), total_ms=round(gen.total_ms, 1))
        try:
            diagnosis = validate_diagnosis(gen.text, self.config.taxonomy.ids)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            self.totals["invalid"] += 1
            log.warning("invalid diagnosis after %d tokens: %s", gen.generation_tokens, str(exc)[:300])
            return dataclasses.replace(answer, error=str(exc)[:300])
        return dataclasses.replace(answer, diagnosis=diagnosis)

    async def _visuals(self, ctx: ReviewContext) -> list[VisualInput]:
        llm = self.config.llm
        if not (llm and llm.max_images and ctx.media):
            return []
        return await asyncio.to_thread(visual_inputs, ctx.media, ctx.evidence, self.config.limits,
                                       llm.max_images, llm.image_max_side)

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.shutdown()
