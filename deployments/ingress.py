"""The ingress deployment: the adrisk API on Ray Serve, over HTTP (FastAPI) and gRPC (adrisk.v1).

It maps requests onto the review pipeline (serving/pipeline.py), which does the review itself:
prepare the ad, fan out to the model deployments, fusion, policy, the decision log. The ingress
does what sits around it: API-key auth, body and batch-size limits, request validation, the
mapping of results and AdriskErrors to HTTP and gRPC, the OpenAI-compatible moderation route
(mapped by serving/moderation.py), the taxonomy, feedback, decision and trend routes (the decision
store via serving/decision_log.py), health and readiness (/healthz, /readyz, gRPC health) and
Prometheus metrics.
"""

# No `from __future__ import annotations` here: FastAPI must see real types on the route methods.


import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from grpc_health.v1 import health_pb2
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError
from ray import serve
from ray.serve.grpc_util import RayServegRPCContext
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import metrics
from core.config import AdriskConfig
from core.errors import AdriskError, NotReady, UnprocessableInput
from core.schemas import (
    BatchItemResult,
    BatchReviewRequest,
    BatchReviewResponse,
    CategoryInfo,
    DecisionRecord,
    ErrorBody,
    FeedbackRequest,
    FeedbackResponse,
    ItemError,
    ModerationRequest,
    ModerationResponse,
    OpenAIErrorBody,
    ReviewRequest,
    ReviewResponse,
    TaxonomyResponse,
    TrendsResponse,
)
from core.store_factory import open_store
from deployments.models import LocalEncoder, LocalScorer
from models.quality import page_signal_categories, quality_record
from serving import __version__
from serving.auth import KeyRing
from serving.decision_log import decision_record, record_feedback, trend_report
from serving.grpc_mapping import message_to_dict, model_to_message
from serving.http_limits import BodyLimitMiddleware, validation_error
from serving.moderation import (
    MODERATIONS_PATH,
    OpenAIErrorShape,
    fetch_images,
    moderation_response,
    plan_moderation,
    run_reviews,
)
from serving.pipeline import ReviewPipeline
from serving.proto import adrisk_pb2 as pb
from serving.rollout import RolloutWatcher

log = logging.getLogger("ray.serve")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}

app = FastAPI(
    title="adrisk",
    version=__version__,
    description="Multimodal ad-integrity risk scoring: per-category scores, an enforcement "
    "decision with reasons, and the evidence behind it.",
)
app.add_middleware(BodyLimitMiddleware)
app.add_middleware(OpenAIErrorShape)  # outside the body limit: its 413/415 on /v1/moderations too


@app.middleware("http")
async def _count_requests(request: Request, call_next):
    """Request count and latency by route template (never the raw path: ids would explode labels)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        if template != "/metrics":
            metrics.REQUESTS.labels("http", template, str(status)).inc()
            metrics.REQUEST_SECONDS.labels("http", template).observe(time.perf_counter() - started)


@app.exception_handler(AdriskError)
async def _adrisk_error(_: Request, exc: AdriskError) -> JSONResponse:
    headers = {"Retry-After": "1"} if exc.retryable else None
    if exc.http_status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="adrisk"'}
    return JSONResponse(exc.to_body(), status_code=exc.http_status, headers=headers)


HTTP_CODES = {400: "invalid_input", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "unprocessable"}


@app.exception_handler(StarletteHTTPException)
async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Framework errors (unparseable body, unknown route) in the same {error, detail} shape."""
    body = {"error": HTTP_CODES.get(exc.status_code, "error"), "detail": str(exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


@app.exception_handler(RequestValidationError)
async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    err = validation_error(exc.errors())
    return JSONResponse(err.to_body(), status_code=err.http_status)


def require(role: str) -> Any:
    """A route dependency: the caller's API key must carry `role` (see serving/auth.py)."""

    async def check(request: Request) -> str:
        client = request.client.host if request.client else ""
        return request.app.state.keyring.authorize(request.headers.items(), client, role)

    return Depends(check)


def _tag_request(request_id: str) -> None:
    """Make the review's request_id Serve's request id: it then rides every handle call (image,
    text, scorer, LLM replicas) and lands in every structured log line of this review."""
    try:
        serve.context._set_request_context(request_id=request_id)
    except AttributeError:  # a Ray without this (private) hook: Serve's own ids remain
        log.debug("cannot set the Serve request context")


def _validated(model: type[BaseModel], doc: dict[str, Any]) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None


async def _grpc_call(
    keyring: KeyRing, role: str, grpc_context: RayServegRPCContext, run: Callable[[], Awaitable[BaseModel]],
    response_cls: type,
):
    started = time.perf_counter()
    method = response_cls.__name__.removesuffix("Response")
    status = "OK"
    try:
        keyring.authorize(grpc_context.invocation_metadata(), grpc_context.peer(), role)
        return model_to_message(await run(), response_cls)
    except AdriskError as exc:
        status = exc.grpc_status
        grpc_context.set_code(getattr(grpc.StatusCode, exc.grpc_status))
        grpc_context.set_details(f"{exc.code}: {exc.detail}")
        if exc.retryable:
            grpc_context.set_trailing_metadata([("retry-after", "1")])
        return response_cls()
    finally:
        metrics.REQUESTS.labels("grpc", method, status).inc()
        metrics.REQUEST_SECONDS.labels("grpc", method).observe(time.perf_counter() - started)


def _item_error(request_id: Any, err: AdriskError) -> BatchItemResult:
    return BatchItemResult(
        request_id=request_id if isinstance(request_id, str) else None,
        ok=False,
        error=ItemError(error=err.code, detail=err.detail, status=err.http_status),
    )


@serve.deployment(name="Ingress")
@serve.ingress(app)
class AdriskIngress:
    def __init__(
        self,
        image_model,
        text_encoder,
        scorer,
        llm,
        config: AdriskConfig,
        models_app: str | None = None,
    ) -> None:
        """Model handles come bound from the graph, or (models_app) from another running app:
        an extra ingress with a candidate policy can then share one set of model replicas. The
        config is the app builder's (deployments/app.py), never re-read here."""
        self.config = config
        if models_app:  # the replicas this ingress's graph (core/config/profile.py) calls
            graph = self.config.graph

            def handle(name: str, wanted: bool = True) -> Any:
                return serve.get_deployment_handle(name, app_name=models_app) if wanted else None

            image_model, text_encoder, scorer = (handle("ImageRiskModel"), handle("TextEncoder", graph != "fused"),
                                                 handle("RiskScorer", graph == "split"))
            if self.config.llm is not None and self.config.llm.enabled:
                llm = handle("LlmDiagnoser")
        # graph `local_scorer` / `fused`: no replica bound for that engine, the Ingress runs it itself.
        self.local: dict[str, LocalEncoder | LocalScorer] = {}
        if text_encoder is None:
            self.local["text_encoder"] = LocalEncoder(self.config)
        if scorer is None:
            self.local["scorer"] = LocalScorer(self.config)
        self.handles = {name: h for name, h in
                        {"image_model": image_model, "text_encoder": text_encoder, "scorer": scorer}.items()
                        if h is not None}
        if llm is not None:
            self.handles["llm"] = llm
        self.store = open_store(self.config.store)
        self.keyring = KeyRing(self.config)
        app.state.keyring = self.keyring
        self.clock = time.time  # one clock for decisions, verdicts and trend windows
        self.pipeline = ReviewPipeline(
            self.config,
            score_media=lambda x: image_model.score.remote(x),
            embed_texts=(lambda x: text_encoder.embed.remote(x)) if text_encoder is not None
            else self.local["text_encoder"].embed,
            # (jobs, head version): a version under rollout goes to the replica that has it loaded.
            score_jobs=(lambda p: (scorer.options(multiplexed_model_id=p[1]) if p[1] else scorer).score.remote(p[0]))
            if scorer is not None else self.local["scorer"].score,
            diagnose=(lambda ctx: llm.diagnose.remote(ctx)) if llm is not None else None,
            store=self.store,
            clock=self.clock,
            rollouts=RolloutWatcher(self.store, self.config),
        )
        app.state.max_body_bytes = self.config.limits.max_body_bytes
        self._backing: dict[str, list[dict[str, Any]]] | None = None
        self._quality: dict[str, Any] = {}  # category → CategoryQuality, built with _backing

    # ------------------------------------------------------------------------ health
    @app.get("/healthz", summary="Liveness")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    def placement(self) -> dict[str, Any]:
        """Where this replica runs: its Ray node, replica id and process (handle call only, no
        route; the cluster-state check asks each ingress which node serves its route)."""
        import os

        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(),
                "replica": serve.get_replica_context().replica_id.unique_id, "pid": os.getpid()}

    @app.get("/metrics", summary="Prometheus metrics (all replicas of this node)", include_in_schema=False)
    async def prometheus(self) -> Response:
        body = await asyncio.to_thread(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", summary="Ready when every model deployment answers", responses=ERROR_RESPONSES)
    async def readyz(self) -> dict[str, Any]:
        try:
            idents = await asyncio.wait_for(
                asyncio.gather(*(h.ready.remote() for h in self.handles.values())), timeout=5.0
            )
        except Exception as exc:
            raise NotReady(f"models not ready: {type(exc).__name__}") from None
        local = {name: engine.ident for name, engine in self.local.items()}
        return {"status": "ready", "models": {**dict(zip(self.handles, idents, strict=True)), **local}}

    # ---------------------------------------------------------------------- taxonomy
    @app.get("/v1/taxonomy", response_model=TaxonomyResponse, dependencies=[require("score")])
    async def taxonomy(self) -> TaxonomyResponse:
        if self._backing is None:
            local = self.local.get("scorer")
            heads = local.scorer.heads if isinstance(local, LocalScorer) else None
            backing = heads.backing() if heads else await self.handles["scorer"].backing.remote()
            for model in self.config.image_models:
                for category in model.categories:
                    backing[category].append(
                        {"kind": f"image:{model.backend}", "model": f"{model.name}@{model.version}"}
                    )
            page_head = self.pipeline.page_head
            if page_head is not None:
                backing["phishing"].append({"kind": "page_head", "model": page_head.ident,
                                            "data": page_head.manifest["source"]})
            for category, names in page_signal_categories().items():
                backing[category] += [{"kind": "page_signal", "signal": name} for name in names]
            heads_manifest = heads.manifest if heads else await self.handles["scorer"].manifest.remote()
            self._quality = quality_record(self.config, heads_manifest,
                                           page_head.manifest if page_head is not None else None)
            self._backing = backing
        return TaxonomyResponse(
            version=self.config.taxonomy.version,
            policy_version=f"{self.config.policy.name}@{self.config.policy.version}",
            categories=[
                CategoryInfo(
                    id=c.id, name=c.name, description=c.description, severity=c.severity,
                    enforcement=c.enforcement,
                    thresholds=self.config.thresholds(c.id).model_dump(),
                    egregious=c.egregious, zero_tolerance=c.zero_tolerance,
                    backed_by=self._backing.get(c.id, []), references=c.references,
                    quality=self._quality[c.id],
                )
                for c in self.config.taxonomy.categories
            ],
        )

    # ------------------------------------------------------------------------ review
    @app.post("/v1/review", response_model=ReviewResponse, responses=ERROR_RESPONSES, dependencies=[require("score")])
    async def review(self, body: ReviewRequest) -> ReviewResponse:
        _tag_request(body.request_id)
        (outcome,) = await self.pipeline.review_many([body])
        if isinstance(outcome, AdriskError):
            raise outcome
        return outcome

    @app.post("/v1/review:batch", response_model=BatchReviewResponse, responses=ERROR_RESPONSES,
              dependencies=[require("score")])
    async def review_batch(self, body: BatchReviewRequest) -> BatchReviewResponse:
        return await self._review_items(body.items)

    async def _review_items(self, items: list[dict[str, Any]]) -> BatchReviewResponse:
        limit = self.config.limits.max_batch_items
        if len(items) > limit:
            raise UnprocessableInput(f"{len(items)} items; the limit is {limit} per batch")
        results: list[BatchItemResult | None] = [None] * len(items)
        valid: list[tuple[int, ReviewRequest]] = []
        for i, item in enumerate(items):
            try:
                valid.append((i, ReviewRequest.model_validate(item)))
            except ValidationError as exc:
                err = validation_error(exc.errors())
                results[i] = _item_error(item.get("request_id"), err)
        outcomes = await self.pipeline.review_many([r for _, r in valid])
        for (i, request), outcome in zip(valid, outcomes, strict=True):
            if isinstance(outcome, AdriskError):
                results[i] = _item_error(request.request_id, outcome)
            else:
                results[i] = BatchItemResult(request_id=request.request_id, ok=True, result=outcome)
        return BatchReviewResponse(results=[r for r in results if r is not None])

    # ------------------------------------------------------------------------ OpenAI-compatible moderation
    @app.post(MODERATIONS_PATH, response_model=ModerationResponse, dependencies=[require("score")],
              responses={code: {"model": OpenAIErrorBody} for code in (400, 401, 403, 404, 413, 503)},
              summary="OpenAI's moderation API: categories mapped from adrisk's by configs/moderation.yaml")
    async def moderations(self, body: ModerationRequest) -> ModerationResponse:
        plan = plan_moderation(body, self.config)
        _tag_request(plan.id)
        plan = await fetch_images(plan, self.config.fetch, self.config.limits.max_image_bytes)
        return moderation_response(plan, await run_reviews(plan, self.pipeline.review_many), self.config)

    # ------------------------------------------------------------------------ decision log
    @app.post("/v1/feedback", response_model=FeedbackResponse, responses=ERROR_RESPONSES,
              summary="A reviewer's verdict (or an appeal's) on a stored decision", dependencies=[require("feedback")])
    async def feedback(self, body: FeedbackRequest) -> FeedbackResponse:
        return await asyncio.to_thread(record_feedback, self.store, self.config, body, self.clock())

    @app.get("/v1/decisions/{request_id}", response_model=DecisionRecord, responses=ERROR_RESPONSES,
             summary="A stored decision with its reviewer verdicts and effective action",
             dependencies=[require("read")])
    async def decision(self, request_id: str) -> DecisionRecord:
        return await asyncio.to_thread(decision_record, self.store, self.config, request_id, self.clock())

    @app.get("/v1/trends", response_model=TrendsResponse, responses=ERROR_RESPONSES,
             summary="Clusters of near-duplicate flagged creatives in a time window", dependencies=[require("read")])
    async def trends(self, window_s: float = 86400.0, min_count: int = 2) -> TrendsResponse:
        return await asyncio.to_thread(trend_report, self.store, self.config, window_s, min_count, self.clock())

    # ------------------------------------------------------------------------ gRPC (adrisk.v1)
    # Ray's gRPC proxy calls these by RPC method name with the request message; errors become the
    # status code of the one AdriskError type per failure (core/errors.py).
    async def Review(self, request: pb.ReviewRequest, grpc_context: RayServegRPCContext) -> pb.ReviewResponse:
        async def run() -> ReviewResponse:
            return await self.review(_validated(ReviewRequest, message_to_dict(request)))

        return await _grpc_call(self.keyring, "score", grpc_context, run, pb.ReviewResponse)

    async def ReviewBatch(
        self, request: pb.BatchReviewRequest, grpc_context: RayServegRPCContext
    ) -> pb.BatchReviewResponse:
        async def run() -> BatchReviewResponse:
            if not request.items:
                raise UnprocessableInput("items: at least one review request is required")
            return await self._review_items([message_to_dict(item) for item in request.items])

        return await _grpc_call(self.keyring, "score", grpc_context, run, pb.BatchReviewResponse)

    async def Feedback(self, request: pb.FeedbackRequest, grpc_context: RayServegRPCContext) -> pb.FeedbackResponse:
        async def run() -> FeedbackResponse:
            return await self.feedback(_validated(FeedbackRequest, message_to_dict(request)))

        return await _grpc_call(self.keyring, "feedback", grpc_context, run, pb.FeedbackResponse)

    async def GetTaxonomy(
        self, request: pb.TaxonomyRequest, grpc_context: RayServegRPCContext
    ) -> pb.TaxonomyResponse:
        return await _grpc_call(self.keyring, "score", grpc_context, self.taxonomy, pb.TaxonomyResponse)

    async def GetDecision(self, request: pb.DecisionRequest, grpc_context: RayServegRPCContext) -> pb.DecisionRecord:
        async def run() -> DecisionRecord:
            return await self.decision(request.request_id)

        return await _grpc_call(self.keyring, "read", grpc_context, run, pb.DecisionRecord)

    async def Check(self, request: health_pb2.HealthCheckRequest, grpc_context: RayServegRPCContext):
        """grpc.health.v1: SERVING when every model deployment answers (as /readyz)."""
        try:
            await self.readyz()
            status = health_pb2.HealthCheckResponse.SERVING
        except AdriskError:
            status = health_pb2.HealthCheckResponse.NOT_SERVING
        return health_pb2.HealthCheckResponse(status=status)

    def __del__(self) -> None:
        metrics.process_exited()  # this replica's live gauges (queue depth) leave the merged view
