"""OpenAI's moderation API (`POST /v1/moderations`) on adrisk's review pipeline. No Ray here.

A request becomes one review per result (`plan_moderation` → `review_requests`): each string of
an array its own review, an array of parts (text and images) one review of them all. Reviews are
never recorded and ask for no LLM summary. Each ReviewResponse becomes a ModerationResult by the
mapping in configs/moderation.yaml (`moderation_result`); adrisk's own scores and decision ride
along in `adrisk`. Errors on this route take OpenAI's shape (`OpenAIErrorShape`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from core.config import AdriskConfig, FetchConfig, ModerationModel
from core.errors import AdriskError, InvalidInput, NotFound, PayloadTooLarge
from core.schemas import (
    OPENAI_CATEGORIES,
    AdriskVerdict,
    Creative,
    ImageInput,
    ModerationImagePart,
    ModerationInputType,
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    OpenAICategories,
    ReviewOptions,
    ReviewRequest,
    ReviewResponse,
)
from multimodal.fetch import FetchedPage, fetch_page

MODERATIONS_PATH = "/v1/moderations"
Fetch = Callable[..., Awaitable[FetchedPage]]


class ModelNotFound(NotFound):
    code = "model_not_found"

    def to_body(self) -> dict[str, str]:
        return {**super().to_body(), "param": "model"}


class InvalidModerationInput(InvalidInput):
    def to_body(self) -> dict[str, str]:
        return {**super().to_body(), "param": "input"}


# ------------------------------------------------------------------------------------ request
@dataclass(frozen=True)
class ImageRef:
    field: str  # where it was in the request: input[2].image_url
    data: str | None  # base64: a data: URL's payload, or the fetched bytes
    url: str | None = None  # an http(s) URL still to fetch


@dataclass(frozen=True)
class ModerationItem:
    """What one result is about: its text (parts joined) and images."""

    field: str  # input, input[3]
    text: str
    images: tuple[ImageRef, ...] = ()

    @property
    def input_types(self) -> set[ModerationInputType]:
        types: set[ModerationInputType] = {"image"} if self.images else set()
        return types | ({"text"} if self.text.strip() else set())


@dataclass(frozen=True)
class ModerationPlan:
    id: str
    model: ModerationModel
    items: tuple[ModerationItem, ...]


def plan_moderation(
    request: ModerationRequest, config: AdriskConfig, moderation_id: str | None = None
) -> ModerationPlan:
    """Resolve the model and split the input into results. Raises ModelNotFound (404) or
    InvalidModerationInput (400)."""
    name = request.model or config.moderation.default_model
    model = config.moderation.model(name)
    if model is None:
        known = sorted(n for m in config.moderation.models for n in (m.name, *m.aliases))
        raise ModelNotFound(f"the model {name!r} does not exist; known: {', '.join(known)}")
    limits = config.limits
    if isinstance(request.input, str):
        items: tuple[ModerationItem, ...] = (ModerationItem("input", request.input),)
    elif all(isinstance(v, str) for v in request.input):
        if len(request.input) > limits.max_batch_items:
            raise InvalidModerationInput(
                f"input has {len(request.input)} strings; the limit is {limits.max_batch_items} per call")
        items = tuple(ModerationItem(f"input[{i}]", text) for i, text in enumerate(request.input))
    else:
        texts = [p.text for p in request.input if not isinstance(p, ModerationImagePart)]
        images = tuple(ImageRef(f"input[{i}].image_url", p.image_url.base64_data(),
                                None if p.image_url.url.startswith("data:") else p.image_url.url)
                       for i, p in enumerate(request.input) if isinstance(p, ModerationImagePart))
        if images and "image" not in model.input_types:
            raise InvalidModerationInput(f"the model {name!r} accepts text only; send images to one that takes "
                                         "them (omni-moderation-latest)")
        if len(images) > limits.max_images:
            raise InvalidModerationInput(f"input has {len(images)} images; the limit is {limits.max_images} per input")
        items = (ModerationItem("input", "\n".join(t for t in texts if t.strip()), images),)
    return ModerationPlan(moderation_id or f"modr-{uuid.uuid4().hex}", model, items)


async def fetch_images(plan: ModerationPlan, config: FetchConfig, max_bytes: int, fetch: Fetch = fetch_page,
                       ) -> ModerationPlan:
    """Fetch the images given by http(s) URL, under multimodal/fetch.py's SSRF rules; only where
    the profile enables fetching."""
    async def fetched(image: ImageRef) -> ImageRef:
        if image.url is None:
            return image
        data = await _fetch_image(image, config, max_bytes, fetch)
        return replace(image, data=base64.b64encode(data).decode(), url=None)

    # All at once: the call waits for the slowest fetch (≤ fetch.timeout_s), not for their sum.
    items = [replace(item, images=tuple(await asyncio.gather(*(fetched(i) for i in item.images))))
             for item in plan.items]
    return replace(plan, items=tuple(items))


async def _fetch_image(image: ImageRef, config: FetchConfig, max_bytes: int, fetch: Fetch) -> bytes:
    where = f"{image.field}.url"
    if not config.enabled:
        raise InvalidModerationInput(f"{where}: fetching images by URL is off in this profile (fetch.enabled); "
                                     "send the image as a data: URL (data:image/png;base64,...)")
    try:
        fetched = await fetch(image.url, config, kind="image", max_bytes=max_bytes)
    except PayloadTooLarge as exc:
        raise PayloadTooLarge(f"{where}: {exc.detail}") from None
    except AdriskError as exc:  # refused by the SSRF rules, unreachable, not an image: the client's URL
        raise InvalidModerationInput(f"{where}: {exc.detail}") from None
    if fetched.status >= 400:
        raise InvalidModerationInput(f"{where}: the server answered HTTP {fetched.status}")
    return fetched.body


def review_requests(plan: ModerationPlan) -> list[ReviewRequest | None]:
    """One review per result; None where there is nothing to score (an empty string)."""
    options = ReviewOptions(record=False, summary="none")
    reviews: list[ReviewRequest | None] = []
    for i, item in enumerate(plan.items):
        if not item.input_types:
            reviews.append(None)
            continue
        creative = Creative(text=item.text if item.text.strip() else None,
                            images=[ImageInput(data=_fetched(image)) for image in item.images])
        reviews.append(ReviewRequest(request_id=f"{plan.id}-{i}", creative=creative, options=options))
    return reviews


def _fetched(image: ImageRef) -> str:
    if image.data is None:  # fetch_images runs first: an unfetched URL here is a programming error
        raise ValueError(f"{image.field}: image not fetched")
    return image.data


# ----------------------------------------------------------------------------------- response
def moderation_response(
    plan: ModerationPlan, outcomes: Sequence[ReviewResponse | AdriskError | None], config: AdriskConfig
) -> ModerationResponse:
    """Results in input order; the first failed review fails the call, naming its input."""
    results = []
    for item, outcome in zip(plan.items, outcomes, strict=True):
        if isinstance(outcome, AdriskError):
            raise _located(outcome, item)
        results.append(moderation_result(item, outcome, config))
    return ModerationResponse(id=plan.id, model=plan.model.name, results=results)


def _located(err: AdriskError, item: ModerationItem) -> AdriskError:
    """The pipeline names adrisk's fields (creative.images[0]); say which input it was instead."""
    detail = err.detail
    for k, image in enumerate(item.images):
        if detail.startswith(f"creative.images[{k}]"):
            detail = image.field + detail.removeprefix(f"creative.images[{k}]")
            break
    else:
        detail = f"{item.field}: {detail.removeprefix('creative.text: ')}"
    if err.http_status >= 500:
        return type(err)(detail)
    located = InvalidModerationInput(detail)  # a client error about this input: param "input", its status
    located.code, located.http_status = err.code, err.http_status
    return located


def moderation_result(item: ModerationItem, review: ReviewResponse | None, config: AdriskConfig) -> ModerationResult:
    """OpenAI's categories from adrisk's final scores (configs/moderation.yaml):

    * score: the highest mapped score (`any_of`), or the lowest (`all_of`: content that is all of them);
    * flagged: when a mapped category reaches its review threshold in the policy in force (`any_of`),
      or every one does (`all_of`) — the score at which adrisk would send an ad to a reviewer;
    * applied input types: `text` when the input had text (every adrisk category scores text);
      `image` when it had images and an image model of the profile scores a mapped category, or the
      review's evidence for one cites an image (its pixels, the words OCR read in it, a known-bad match).
    An unbacked category is 0, unflagged, and applied to no input type.
    """
    flags: dict[str, bool] = {}
    scores: dict[str, float] = {}
    applied: dict[str, list[ModerationInputType]] = {}
    image_scored = {c for model in config.image_models for c in model.categories}
    for key in OPENAI_CATEGORIES:
        mapping = config.moderation.categories[key]
        sources = mapping.sources
        if review is None or not sources:
            flags[key], scores[key], applied[key] = False, 0.0, []
            continue
        values = [review.scores[c] for c in sources]
        reached = [review.scores[c] >= config.thresholds(c).review for c in sources]
        if mapping.all_of:
            scores[key], flags[key] = min(values), all(reached)
        else:
            scores[key], flags[key] = max(values), any(reached)
        types: list[ModerationInputType] = ["text"] if "text" in item.input_types else []
        if item.images and (image_scored & set(sources) or any(
                e.category in sources and e.source.startswith("image[") for e in review.evidence)):
            types.append("image")
        applied[key] = types
    verdict = None
    if review is not None:
        verdict = AdriskVerdict(request_id=review.request_id, scores=review.scores, decision=review.decision,
                                model_versions=review.model_versions)
    return ModerationResult(
        flagged=any(flags.values()),
        categories=OpenAICategories[bool].model_validate(flags),
        category_scores=OpenAICategories[float].model_validate(scores),
        category_applied_input_types=OpenAICategories[list[ModerationInputType]].model_validate(applied),
        adrisk=verdict,
    )


# -------------------------------------------------------------------------------------- errors
VALIDATION_PARAMS = tuple(ModerationRequest.model_fields)


def openai_error(status: int, body: bytes) -> tuple[int, dict[str, Any]]:
    """adrisk's `{error, detail}` (or a framework's plain text) → OpenAI's `{error: {message, type,
    param, code}}`. 415 and 422 become 400: OpenAI answers every invalid request with 400."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        return status, doc  # already OpenAI's shape
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        code, message, param = doc["error"], str(doc.get("detail", "")), doc.get("param")
    else:
        code, message, param = None, body.decode("utf-8", errors="replace").strip() or f"HTTP {status}", None
    if status == 422 and param is None:  # a schema violation: "input.parts.0.type: ..." names the field
        head = message.split(":", 1)[0].split(".", 1)[0]
        param = head if head in VALIDATION_PARAMS else None
    status = 400 if status in (415, 422) else status
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}


class OpenAIErrorShape:
    """Pure ASGI, outside every other middleware but the request counter: each error answer on
    /v1/moderations — the route's, auth's, validation's, the body limit's — in OpenAI's shape, with
    its headers (Retry-After, WWW-Authenticate) kept. Other routes keep adrisk's `{error, detail}`."""

    def __init__(self, app, path: str = MODERATIONS_PATH) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").rstrip("/").endswith(self.path):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def shaped(message: dict[str, Any]) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, doc = openai_error(start["status"], b"".join(chunks))
            body = json.dumps(doc).encode()
            headers = [(k, v) for k, v in start.get("headers", [])
                       if k.lower() not in (b"content-length", b"content-type")]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, shaped)


async def run_reviews(
    plan: ModerationPlan,
    review_many: Callable[[list[ReviewRequest]], Awaitable[list[ReviewResponse | AdriskError]]],
) -> list[ReviewResponse | AdriskError | None]:
    """The plan's reviews in one pipeline call (one admission, one batch to the models); None
    stays in place for an input with nothing to score."""
    reviews = review_requests(plan)
    scored = iter(await review_many([r for r in reviews if r is not None]) if any(reviews) else [])
    return [next(scored) if r is not None else None for r in reviews]
