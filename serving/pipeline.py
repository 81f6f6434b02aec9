"""The review pipeline the ingress runs: validate → fan out to the models → fuse → decide → store.

One pipeline call handles a *group* of ads (one for /v1/review, many for /v1/review:batch): all
their images go to the image deployment in one handle call, all their texts to the text encoder
in one call, and all their jobs to the scorer in one call. The deployments' @serve.batch queues
then merge groups from concurrent requests. A failure in one ad (a corrupt image) fails that ad
only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core import metrics
from core.config import AdriskConfig, resolve_project_path
from core.errors import (
    AdriskError,
    Conflict,
    DeadlineExceeded,
    Overloaded,
    PayloadTooLarge,
    Unavailable,
    UnprocessableInput,
)
from core.schemas import (
    Action,
    Advertiser,
    Decision,
    Diagnosis,
    Evidence,
    ReviewRequest,
    ReviewResponse,
    SummaryStatus,
)
from core.store import DecisionStore, Sighting, StoredDecision
from models.contracts import LlmAnswer, MediaFailure, MediaResult, Medium, ScoredVideo
from models.diagnosis import ReviewContext, check_against_evidence
from models.page_phishing import PagePhishingHead
from models.scoring import ImagePart, ScoreJob, ScoreResult, Signal, TextPart, aggregate_video
from multimodal.fetch import fetch_page
from multimodal.images import probe_image
from multimodal.page import analyze_page
from multimodal.page_evidence import PageEvidenceGate, page_evidence_gate
from multimodal.text import chunk_words, normalise
from multimodal.video import probe_video
from policy.decision import fuse_and_decide, merge_decision
from policy.fusion import request_facts
from policy.known_bad import KnownBadIndex, apply_matches
from serving.admission import MIB, AdmissionGate
from serving.background import BackgroundTasks
from serving.decision_log import settled_response
from serving.rollout import RolloutPlan, RolloutWatcher

Call = Callable[..., Awaitable[Any]]
log = logging.getLogger("ray.serve")
STAGE_DEPLOYMENTS = {"image_models": "ImageRiskModel", "text_encoder": "TextEncoder",
                     "text_encoder_ocr": "TextEncoder", "scorer": "RiskScorer"}
MAX_STORED_TEXT = 2000  # per text part kept in the decision log for retraining from verdicts


def input_digest(request: ReviewRequest) -> str:
    """Identity of the content: everything but `options` (rescoring must not change identity)."""
    doc = request.model_dump(mode="json", exclude={"options", "request_id"})
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class PreparedAd:
    request: ReviewRequest
    digest: str
    media: list[tuple[str, str, bytes]] = field(default_factory=list)  # (source, "image"|"video", bytes)
    texts: list[TextPart] = field(default_factory=list)
    url: str | None = None
    signals: list[Signal] = field(default_factory=list)
    page_gate: PageEvidenceGate | None = None  # set when the landing page's HTML was analysed
    error: AdriskError | None = None
    timings: dict[str, float] = field(default_factory=dict)
    sightings: list[Sighting] = field(default_factory=list)  # perceptual hashes of its images and frames


@dataclass
class DiagnosisOutcome:
    status: SummaryStatus
    diagnosis: Diagnosis | None = None
    versions: dict[str, str] = field(default_factory=dict)  # llm and llm_prompt, when the LLM answered
    ms: float = 0.0


@dataclass
class FetchOutcome:
    html: str | None
    signals: list[Signal]
    video: bytes | None = None


def _text_parts(source: str, text: str, config: AdriskConfig) -> list[TextPart]:
    enc = config.text_encoder
    clean = normalise(text, config.limits.max_text_chars)
    chunks = chunk_words(clean, enc.chunk_words, enc.max_chunks_per_text)
    if len(chunks) == 1:
        return [TextPart(source, chunks[0])]
    return [TextPart(f"{source}[{i}]", chunk) for i, chunk in enumerate(chunks)]


def prepare(
    request: ReviewRequest,
    config: AdriskConfig,
    fetched: FetchOutcome | None = None,
    page_head: PagePhishingHead | None = None,
) -> PreparedAd:
    """Cheap, synchronous checks and extraction. Raises AdriskError for bad input."""
    started = time.perf_counter()
    limits = config.limits
    ad = PreparedAd(request=request, digest=input_digest(request))
    if fetched is not None:
        ad.signals += fetched.signals
    creative = request.creative
    if creative is not None:
        if len(creative.images) > limits.max_images:
            raise UnprocessableInput(
                f"{len(creative.images)} images; the limit is {limits.max_images} per ad"
            )
        for i, image in enumerate(creative.images):
            ad.media.append(_probed(f"image[{i}]", f"creative.images[{i}]", "image", image.raw_bytes(), limits))
        if creative.video is not None:
            raw = fetched.video if fetched and fetched.video is not None else creative.video.raw_bytes()
            ad.media.append(_probed("video", "creative.video", "video", raw, limits))
        if creative.text and creative.text.strip():
            ad.texts += _text_parts("creative.text", creative.text, config)
    page = request.landing_page
    if page is not None:
        if page.screenshot is not None:
            raw = page.screenshot.raw_bytes()
            ad.media.append(_probed("landing_page.screenshot", "landing_page.screenshot", "image", raw, limits))
        html = page.html or (fetched.html if fetched else None)
        if html:
            size = len(html.encode("utf-8", errors="replace"))
            if size > limits.max_html_bytes:
                raise PayloadTooLarge(
                    f"landing_page.html is {size} bytes; the limit is {limits.max_html_bytes}"
                )
            ad.texts += _page_parts(ad, html, page.url, bool(page.text and page.text.strip()), config, page_head)
        if page.text and page.text.strip():
            ad.texts += _text_parts("landing_page.text", page.text, config)
        if page.url and page.url.strip():
            ad.url = page.url.strip()
    ad.timings["prepare"] = (time.perf_counter() - started) * 1000
    return ad


def _page_parts(
    ad: PreparedAd, html: str, url: str | None, has_text: bool, config: AdriskConfig,
    page_head: PagePhishingHead | None,
) -> list[TextPart]:
    """Analyse the landing page: its text for the text heads, its signals and phishing head as evidence,
    and the gate that holds model scores about it to what its structure shows (multimodal/page_evidence.py)."""
    analysis = analyze_page(html, url, config.limits.max_text_chars)
    ad.page_gate = page_evidence_gate(analysis.signals, config)
    parts: list[TextPart] = []
    if analysis.title:
        parts += _text_parts("landing_page.title", analysis.title, config)
    if analysis.meta_description:
        parts += _text_parts("landing_page.meta", analysis.meta_description, config)
    if analysis.visible_text and not has_text:
        parts += _text_parts("landing_page.text", analysis.visible_text, config)
    ad.signals += [Signal(s.category, f"landing_page:{s.name}", s.score, s.detail) for s in analysis.signals]
    if page_head is not None:
        probability, reasons = page_head.score(url, analysis, html)
        weight = 1.0 if url else config.heads.page_only_weight
        kind = "URL+page model" if url else f"HTML-only model ×{weight:g}"
        ad.signals.append(Signal("phishing", "landing_page.phishing_head", probability * weight,
                                 f"{page_head.ident} ({kind}): " + "; ".join(reasons[:3])))
    return parts


def _probed(source: str, field_name: str, kind: str, raw: bytes, limits) -> tuple[str, str, bytes]:
    """Cheap header checks in the ingress, so hopeless media never reaches a model replica."""
    try:
        if kind == "video":
            probe_video(raw, limits)
        else:
            probe_image(raw, limits)
    except AdriskError as exc:
        raise type(exc)(f"{field_name}: {exc.detail}") from None
    return source, kind, raw


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


def _observe(response: ReviewResponse, stage_ms: dict[str, float], status: SummaryStatus) -> None:
    """Metrics of one fresh decision (cached replays are counted by the request metrics only)."""
    for stage, ms in stage_ms.items():
        metrics.STAGE_SECONDS.labels(stage).observe(ms / 1000)
    decision = response.decision
    metrics.DECISIONS.labels(decision.action.value, decision.policy_version).inc()
    for category in decision.categories:
        metrics.DECISION_CATEGORIES.labels(category, decision.action.value).inc()
    for rule in response.fusion_rules:
        metrics.FUSION_RULES.labels(rule).inc()
    for component, version in response.model_versions.items():
        metrics.MODEL_INFO.labels(component, version).set(1)
    if status not in (SummaryStatus.not_requested, SummaryStatus.disabled, SummaryStatus.pending):
        metrics.LLM_SUMMARIES.labels(status.value).inc()  # a pending one is counted when it ends


def _cite(
    sightings: list[Sighting], evidence: list[dict[str, Any]], decision: Decision, config: AdriskConfig
) -> list[Sighting]:
    """Mark the images/frames whose own evidence reached the review band of a category the decision
    acted on: only those enter the known-bad bank when the decision rejects."""
    cited = {str(e["source"]).removesuffix(".ocr") for e in evidence
             if e["category"] in decision.categories and float(e["score"]) >= config.thresholds(e["category"]).review}
    return [dataclasses.replace(s, cited=s.source in cited) for s in sightings]


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


class ReviewPipeline:
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
        self._score_media = score_media
        self._embed_texts = embed_texts
        self._score_jobs = score_jobs
        self._diagnose = diagnose
        self.store = store
        self.known_bad = KnownBadIndex(store, config.policy.fusion.known_bad)
        self.admission = AdmissionGate(config.limits.max_in_flight_ads, config.limits.max_in_flight_mib * MIB)
        self._clock = clock
        self.page_head = PagePhishingHead.load(resolve_project_path(config.heads.page))
        self.background = BackgroundTasks(config.llm.max_pending if config.llm else 1)

    async def _call(self, stage: str, fn: Call, payload: Any) -> Any:
        try:
            with metrics.in_flight(STAGE_DEPLOYMENTS.get(stage, stage)):
                return await asyncio.wait_for(fn(payload), timeout=self.config.stage_timeout_s)
        except Exception as exc:
            raise map_remote_error(exc, stage) from None

    async def review_many(
        self, requests: list[ReviewRequest]
    ) -> list[ReviewResponse | AdriskError]:
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
        results: list[ReviewResponse | AdriskError | None] = [None] * len(requests)
        pending: list[tuple[int, PreparedAd]] = []
        for i, request in enumerate(requests):
            # The stored decision first: a replayed id costs one lookup, never a fetch or a parse.
            stored = await self._lookup(request)
            if stored is not None:
                results[i] = stored
                continue
            try:
                fetched = await self._fetch_if_needed(request)
                ad = await asyncio.to_thread(prepare, request, self.config, fetched, self.page_head)
            except AdriskError as exc:
                results[i] = exc
                continue
            pending.append((i, ad))
        if pending:
            plan = self.rollouts.plan() if self.rollouts else None  # one snapshot for the whole call
            fresh = await self._score_group([ad for _, ad in pending], started, plan)
            for (i, _), outcome in zip(pending, fresh, strict=True):
                results[i] = outcome
        return [r for r in results if r is not None]

    def _summary_plan(self, request: ReviewRequest, decision: Decision) -> SummaryStatus | None:
        """What this review's diagnosis will be: None to wait for it (`summary: always`), else the
        status answered at once — `pending` when it runs after the decision is stored (`auto`)."""
        llm = self.config.llm
        mode = request.options.summary or (llm.default_summary if llm else "none")
        if mode == "none":
            return SummaryStatus.not_requested
        if llm is None or not llm.enabled or self._diagnose is None:
            return SummaryStatus.disabled
        if mode == "always":
            return None
        if decision.action in (Action.approve, Action.deboost) or not request.options.record:
            return SummaryStatus.skipped  # nothing to explain, or no stored decision to attach it to
        return SummaryStatus.pending if self.background.has_room() else SummaryStatus.shed

    async def _diagnosis(
        self, ad: PreparedAd, job: ScoreJob, result: ScoreResult, decision: Decision, cfg: AdriskConfig
    ) -> DiagnosisOutcome:
        """The LLM diagnosis under `llm.deadline_s`, held to the final scores under `cfg`'s thresholds
        (the policy in force for this request)."""
        llm = self.config.llm
        assert llm is not None and self._diagnose is not None
        ctx = ReviewContext(
            scores=result.scores,
            action=decision.action.value,
            decision_categories=decision.categories,
            evidence=result.evidence,
            untrusted={part.source: part.text for part in job.texts},
            advertiser=ad.request.advertiser.model_dump(exclude_none=True) if ad.request.advertiser else {},
            media=ad.media if llm.max_images else [],  # only a vision-language model gets the pixels
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
        diagnosis = check_against_evidence(out.diagnosis, result.scores, cfg)
        return DiagnosisOutcome(SummaryStatus.ok, diagnosis, versions, ms)

    async def _diagnose_later(
        self, ad: PreparedAd, job: ScoreJob, result: ScoreResult, decision: Decision, cfg: AdriskConfig,
        created_at: float,
    ) -> None:
        """An `auto` diagnosis, run after its decision was stored and answered, written onto that
        decision (the one made at `created_at`). `auto` only explains reject / suspend / human_review,
        which the LLM can never change, so the answered decision stays the decision."""
        outcome = await self._diagnosis(ad, job, result, decision, cfg)
        diagnosis = outcome.diagnosis.model_dump(mode="json") if outcome.diagnosis else None
        attached = await asyncio.to_thread(self.store.attach_summary, ad.request.request_id, created_at,
                                           outcome.status.value, diagnosis, outcome.versions)
        metrics.LLM_SUMMARIES.labels(outcome.status.value).inc()
        metrics.STAGE_SECONDS.labels("llm").observe(outcome.ms / 1000)
        log.info("diagnosis %s %s", ad.request.request_id, outcome.status.value, extra={
            "review_request_id": ad.request.request_id, "summary_status": outcome.status.value,
            "attached": attached, "llm_ms": round(outcome.ms, 1)})

    async def _fetch_if_needed(self, request: ReviewRequest) -> FetchOutcome | None:
        """Fetch what was given only by URL, when the profile enables it (SSRF rules apply).

        A landing page that cannot be fetched is itself a destination-quality signal, not a failed
        review; a video that cannot be fetched fails the review (it is the creative under review).
        """
        video = await self._fetch_video(request)
        page = request.landing_page
        if not (self.config.fetch.enabled and page and page.url and not page.html and not page.text):
            return FetchOutcome(None, [], video) if video is not None else None
        try:
            fetched = await fetch_page(page.url.strip(), self.config.fetch)
        except AdriskError as exc:
            return FetchOutcome(None, [Signal("destination_quality", "landing_page.fetch", 0.5,
                                              f"landing page not fetched: {exc.detail}")])
        html = fetched.body.decode("utf-8", errors="replace")
        signals = []
        if fetched.status >= 400:
            signals.append(Signal("destination_quality", "landing_page.fetch", 0.7,
                                  f"landing page answered HTTP {fetched.status}"))
        if fetched.redirects:
            signals.append(Signal("destination_quality", "landing_page.fetch", 0.1,
                                  f"{len(fetched.redirects)} redirect(s): {' → '.join(fetched.redirects)[:300]}"))
        return FetchOutcome(html, signals, video)

    async def _fetch_video(self, request: ReviewRequest) -> bytes | None:
        video = request.creative.video if request.creative else None
        if video is None or video.url is None:
            return None
        if not self.config.fetch.enabled:
            raise UnprocessableInput("creative.video.url: fetching is disabled in this profile; send video.data")
        try:
            fetched = await fetch_page(video.url.strip(), self.config.fetch, kind="video",
                                       max_bytes=self.config.limits.max_video_bytes)
        except AdriskError as exc:
            raise type(exc)(f"creative.video.url: {exc.detail}") from None
        if fetched.status >= 400:
            raise UnprocessableInput(f"creative.video.url answered HTTP {fetched.status}")
        return fetched.body

    async def _lookup(self, request: ReviewRequest) -> ReviewResponse | AdriskError | None:
        if request.options.rescore or not request.options.record:
            return None
        t = time.perf_counter()
        stored = await asyncio.to_thread(self.store.get, request.request_id)
        if stored is None:
            return None
        if stored.input_digest != input_digest(request):
            return Conflict(
                f"request_id {request.request_id!r} was already used for different content; "
                "use a new id, or set options.rescore to replace the stored decision"
            )
        timings = {"store_lookup": (time.perf_counter() - t) * 1000}
        response = settled_response(stored.response, stored.created_at, self.config, self._clock())
        return ReviewResponse.model_validate({**response, "cached": True, "timings_ms": timings})

    async def _timed(self, timings: dict[str, float], stage: str, fn: Call, payload: Any) -> Any:
        t = time.perf_counter()
        out = await self._call(stage, fn, payload)
        timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - t) * 1000
        return out

    async def _score_group(
        self, ads: list[PreparedAd], started: float, plan: RolloutPlan | None = None
    ) -> list[ReviewResponse | AdriskError]:
        timings: dict[str, float] = {}
        flat_media = [Medium(kind, raw) for ad in ads for _, kind, raw in ad.media]
        flat_texts = [part.text for ad in ads for part in ad.texts]

        async def nothing() -> list:
            return []

        try:
            media_out, text_out = await asyncio.gather(
                self._timed(timings, "image_models", self._score_media, flat_media) if flat_media else nothing(),
                self._timed(timings, "text_encoder", self._embed_texts, flat_texts) if flat_texts else nothing(),
            )
            # Stage 2: what OCR read in images and frames goes through the text heads too.
            image_parts, ocr_parts = self._split_media(ads, media_out)
            flat_ocr = [p.text for parts in ocr_parts for p in parts]
            ocr_out = (await self._timed(timings, "text_encoder_ocr", self._embed_texts, flat_ocr)
                       if flat_ocr else [])
        except AdriskError as exc:
            return [exc for _ in ads]

        jobs: list[ScoreJob | None] = []
        text_at, ocr_at = 0, 0
        for ad, images, ocr in zip(ads, image_parts, ocr_parts, strict=True):
            n, m = len(ad.texts), len(ocr)
            rows = [text_out[text_at : text_at + n]] if n else []
            rows += [ocr_out[ocr_at : ocr_at + m]] if m else []
            text_at, ocr_at = text_at + n, ocr_at + m
            if ad.error is not None:
                jobs.append(None)
                continue
            emb = np.concatenate(rows) if rows else None
            jobs.append(ScoreJob(texts=ad.texts + ocr, text_embeddings=emb, url=ad.url, images=images,
                                 signals=ad.signals, page_gate=ad.page_gate))

        try:
            scored, shadows = await self._score_arms(ads, jobs, timings, plan)
        except AdriskError as exc:
            return [exc for _ in ads]

        outcomes: list[Any] = []
        for i, (ad, job) in enumerate(zip(ads, jobs, strict=True)):
            if job is None:
                assert ad.error is not None
                outcomes.append(ad.error)
                continue
            outcomes.append((ad, job, scored[i], shadows.get(i, (None, None))))
        # Summaries for the whole group run concurrently (the LLM batches them continuously).
        return list(await asyncio.gather(*(
            self._finish(item[0], item[2][0], timings, started, item[1], plan, *item[3],
                         scorer_ms=item[2][1])
            if isinstance(item, tuple) else _done(item)
            for item in outcomes
        )))

    async def _score_arms(
        self, ads: list[PreparedAd], jobs: list[ScoreJob | None], timings: dict[str, float], plan: RolloutPlan | None
    ) -> tuple[dict[int, tuple[ScoreResult, float]], dict[int, tuple[ScoreResult, float]]]:
        """Score each ad with the head version of its arm (one scorer call per version), plus the
        shadow candidate's scores when one is shadowed (never acted on; its failure is ignored).
        Each result comes with the milliseconds its scorer call took (the report compares them)."""
        groups: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            if job is not None:
                version = plan.heads_model_id(plan.arm("text_heads", ads[i].request.request_id).version) if plan else ""
                groups.setdefault(version, []).append(i)
        shadow = plan.shadow("text_heads") if plan else None

        async def run(version: str, rows: list[int]) -> tuple[list[ScoreResult], float]:
            t = time.perf_counter()
            out = await self._timed(timings, "scorer", self._score_jobs, ([jobs[i] for i in rows], version))
            return out, (time.perf_counter() - t) * 1000

        async def run_shadow() -> tuple[list[ScoreResult], float] | None:
            if not shadow or not groups:
                return None
            rows = sorted(i for r in groups.values() for i in r)
            t = time.perf_counter()
            try:
                out = await self._call("scorer", self._score_jobs, ([jobs[i] for i in rows],
                                                                    plan.heads_model_id(shadow)))
            except AdriskError as exc:
                log.warning("shadow head set %s failed: %s", shadow, exc.detail)
                return None
            return out, (time.perf_counter() - t) * 1000

        outs = await asyncio.gather(*(run(v, rows) for v, rows in groups.items()), run_shadow())
        scored: dict[int, tuple[ScoreResult, float]] = {}
        for rows, (out, ms) in zip(groups.values(), outs[:-1], strict=True):
            scored.update((i, (r, ms)) for i, r in zip(rows, out, strict=True))
        shadows: dict[int, tuple[ScoreResult, float]] = {}
        if outs[-1] is not None:
            out, ms = outs[-1]
            shadows = {i: (r, ms) for i, r in zip(sorted(scored), out, strict=True)}
        return scored, shadows

    def _split_media(
        self, ads: list[PreparedAd], media_out: list[MediaResult]
    ) -> tuple[list[list[ImagePart]], list[list[TextPart]]]:
        """Per ad: image parts for the scorer, OCR text parts; a failed medium fails its ad."""
        video = self.config.video
        images_per_ad: list[list[ImagePart]] = []
        ocr_per_ad: list[list[TextPart]] = []
        at = 0
        for ad in ads:
            images: list[ImagePart] = []
            ocr: list[TextPart] = []
            for source, _, _ in ad.media:
                item = media_out[at]
                at += 1
                if isinstance(item, MediaFailure):
                    ad.error = ad.error or item.error(field_name(source))
                elif isinstance(item, ScoredVideo):
                    images += aggregate_video(item.frames, video.aggregation, video.top_k)
                    ocr += [TextPart(f"video@{f.time_s:.1f}s.ocr", f.ocr) for f in item.frames if f.ocr]
                    ad.sightings += [Sighting(f"video@{f.time_s:.1f}s", f.phash) for f in item.frames]
                else:
                    images.append(ImagePart(source, item.scores, item.detail))
                    ad.sightings.append(Sighting(source, item.phash))
                    if item.ocr:
                        ocr.append(TextPart(f"{source}.ocr", item.ocr))
            images_per_ad.append(images)
            ocr_per_ad.append(ocr)
        return images_per_ad, ocr_per_ad

    async def _finish(
        self, ad: PreparedAd, result: ScoreResult, timings: dict[str, float], started: float, job: ScoreJob,
        plan: RolloutPlan | None = None, shadow_result: ScoreResult | None = None, shadow_ms: float | None = None,
        scorer_ms: float | None = None,
    ) -> ReviewResponse | AdriskError:
        t = time.perf_counter()
        request = ad.request
        policy_arm = plan.arm("policy", request.request_id) if plan else None
        cfg = plan.policy_config(policy_arm.version, self.config) if plan and policy_arm else self.config
        adv_id = request.advertiser.id if request.advertiser else None
        rejections = await asyncio.to_thread(self.store.rejections, adv_id, request.request_id) if adv_id else None
        advertiser = _with_history(request.advertiser, rejections)
        matches = await asyncio.to_thread(self.known_bad.match, ad.sightings, request.request_id)
        known_bad = cfg.policy.fusion.known_bad
        content, bank_evidence = apply_matches(result.scores, matches, known_bad)
        facts = request_facts(request, rejections)
        fused, decision = fuse_and_decide(content, facts, advertiser, cfg)
        final = dataclasses.replace(result, scores=fused.scores, evidence=bank_evidence + result.evidence)
        stage_ms = {**ad.timings, **timings, "policy": (time.perf_counter() - t) * 1000}
        versions = {**cfg.model_versions(), "text_heads": result.head_version, "page_head": self.page_head.ident}
        shadow: dict[str, Any] = {}
        if shadow_result is not None:  # the candidate head set: scored, decided, logged, never acted on
            shadow_content = apply_matches(shadow_result.scores, matches, known_bad)[0]
            shadow_fused, shadow_decision = fuse_and_decide(shadow_content, facts, advertiser, cfg)
            shadow["text_heads"] = {"version": shadow_result.head_version, "action": shadow_decision.action.value,
                                    "scores": shadow_fused.scores}
        shadow_policy = plan.shadow("policy") if plan else None
        if shadow_policy:
            shadow_cfg = plan.policy_config(shadow_policy, self.config)
            shadow_fused, shadow_decision = fuse_and_decide(content, facts, advertiser, shadow_cfg)
            shadow["policy"] = {"version": f"{shadow_cfg.policy.name}@{shadow_cfg.policy.version}",
                                "action": shadow_decision.action.value, "scores": shadow_fused.scores}
        status = self._summary_plan(request, decision)
        diagnosis: Diagnosis | None = None
        if status is None:  # `summary: always`: the caller asked to wait (llm.deadline_s at most)
            outcome = await self._diagnosis(ad, job, final, decision, cfg)
            status, diagnosis = outcome.status, outcome.diagnosis
            if diagnosis is not None:
                decision = merge_decision(decision, diagnosis, final.scores, self.config.llm.raise_min_score)
            stage_ms["llm"] = outcome.ms
            versions.update(outcome.versions)
        response = ReviewResponse(
            request_id=ad.request.request_id,
            scores={c: round(v, 6) for c, v in fused.scores.items()},
            content_scores=result.scores if fused.scores != result.scores else None,
            fusion_rules=fused.fired + (["known_bad"] if matches else []),
            decision=decision,
            evidence=[Evidence.model_validate(e) for e in final.evidence],
            model_versions=versions,
            timings_ms={},
            summary_status=status,
            diagnosis=diagnosis,
        )
        _observe(response, stage_ms, status)
        log.info("decision %s %s", request.request_id, decision.action.value, extra={
            "review_request_id": request.request_id, "action": decision.action.value,
            "categories": decision.categories, "policy_version": decision.policy_version,
            "fusion_rules": response.fusion_rules, "summary_status": status.value,
            "stage_ms": {k: round(v, 2) for k, v in stage_ms.items()}})
        if not request.options.record:
            stage_ms["total"] = (time.perf_counter() - started) * 1000
            return response.model_copy(update={"timings_ms": {k: round(v, 3) for k, v in stage_ms.items()}})
        t = time.perf_counter()
        record = StoredDecision(
            request_id=ad.request.request_id,
            input_digest=ad.digest,
            response=response.model_dump(mode="json", exclude={"timings_ms", "cached"}),
            action=decision.action.value,
            policy_version=decision.policy_version,
            created_at=self._clock(),
            advertiser_id=adv_id,
            categories=tuple(decision.categories),
            sightings=tuple(_cite(ad.sightings, final.evidence, decision, cfg)),
            inputs={"facts": facts, "content_scores": content,
                    "texts": [{"source": p.source, "text": p.text[:MAX_STORED_TEXT]} for p in job.texts[:32]],
                    "arms": _arms(plan, request.request_id) if plan else {}, "shadow": shadow,
                    "stage_ms": {k: round(v, 3) for k, v in stage_ms.items()},
                    "latency_ms": {"scorer": scorer_ms, "shadow_scorer": shadow_ms}},
        )
        try:
            if ad.request.options.rescore:
                stored = await asyncio.to_thread(self.store.put, record)
            else:
                stored = await asyncio.to_thread(self.store.insert_if_absent, record)
        except Exception as exc:
            return Unavailable(f"decision store failed: {type(exc).__name__}: {exc}")
        if stored.input_digest != ad.digest:
            return Conflict(f"request_id {ad.request.request_id!r} was taken concurrently by other content")
        stage_ms["store"] = (time.perf_counter() - t) * 1000
        metrics.STAGE_SECONDS.labels("store").observe(stage_ms["store"] / 1000)
        stage_ms["total"] = (time.perf_counter() - started) * 1000
        cached = stored.created_at != record.created_at
        body = {**stored.response, "timings_ms": {k: round(v, 3) for k, v in stage_ms.items()}}
        if status is SummaryStatus.pending and not cached:
            work = self._diagnose_later(ad, job, final, decision, cfg, record.created_at)
            if not self.background.submit(work, name=f"diagnose:{request.request_id}"):
                # Filled up since the plan: the stored decision must not promise a diagnosis.
                await asyncio.to_thread(self.store.attach_summary, request.request_id, record.created_at,
                                        SummaryStatus.shed.value, None, {})
                body["summary_status"] = SummaryStatus.shed.value
        return ReviewResponse.model_validate({**body, "cached": cached})


async def _done(value: Any) -> Any:
    return value


FIELD_NAMES = {"video": "creative.video", "landing_page.screenshot": "landing_page.screenshot"}


def field_name(source: str) -> str:
    """The request field a medium came from: image[2] → creative.images[2]."""
    return FIELD_NAMES.get(source, source.replace("image", "creative.images"))
