"""Part of the prepare stage: the cheap synchronous checks and extraction of one ad (`prepare`).

Limits on counts and sizes, a header probe of every image and video (so hopeless media never
reaches a model replica), the texts chunked for the encoder, and the landing page's HTML analysed
into text parts, signals, the phishing head's score and the page-evidence gate.
"""

from __future__ import annotations

import hashlib
import json
import time

from core.config import AdriskConfig, Limits
from core.errors import AdriskError, PayloadTooLarge, UnprocessableInput
from core.schemas import ReviewRequest
from models.contracts import MediaKind, Medium
from models.page_phishing import PagePhishingHead
from models.scoring import Signal, TextPart
from multimodal.images import probe_image
from multimodal.page import analyze_page
from multimodal.page_evidence import page_evidence_gate
from multimodal.text import chunk_words, normalise
from multimodal.video import probe_video
from serving.stages.fetch import FetchOutcome
from serving.stages.state import PreparedAd, SourcedMedium

FIELD_NAMES = {"video": "creative.video", "landing_page.screenshot": "landing_page.screenshot"}


def field_name(source: str) -> str:
    """The request field a medium came from: image[2] → creative.images[2]."""
    return FIELD_NAMES.get(source, source.replace("image", "creative.images"))


def input_digest(request: ReviewRequest) -> str:
    """Identity of the content: everything but `options` (rescoring must not change identity)."""
    doc = request.model_dump(mode="json", exclude={"options", "request_id"})
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


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
            ad.media.append(_probed(f"image[{i}]", "image", image.raw_bytes(), limits))
        if creative.video is not None:
            raw = fetched.video if fetched and fetched.video is not None else creative.video.raw_bytes()
            ad.media.append(_probed("video", "video", raw, limits))
        if creative.text and creative.text.strip():
            ad.texts += _text_parts("creative.text", creative.text, config)
    page = request.landing_page
    if page is not None:
        if page.screenshot is not None:
            ad.media.append(_probed("landing_page.screenshot", "image", page.screenshot.raw_bytes(), limits))
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


def _text_parts(source: str, text: str, config: AdriskConfig) -> list[TextPart]:
    enc = config.text_encoder
    clean = normalise(text, config.limits.max_text_chars)
    chunks = chunk_words(clean, enc.chunk_words, enc.max_chunks_per_text)
    if len(chunks) == 1:
        return [TextPart(source, chunks[0])]
    return [TextPart(f"{source}[{i}]", chunk) for i, chunk in enumerate(chunks)]


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


def _probed(source: str, kind: MediaKind, raw: bytes, limits: Limits) -> SourcedMedium:
    """Cheap header checks in the ingress; a failure names the request field the medium came from."""
    try:
        if kind == "video":
            probe_video(raw, limits)
        else:
            probe_image(raw, limits)
    except AdriskError as exc:
        raise type(exc)(f"{field_name(source)}: {exc.detail}") from None
    return SourcedMedium(source, Medium(kind, raw))
