"""Part of the prepare stage: fetch what an ad gave only by URL, when the profile enables fetching.

The SSRF rules of multimodal/fetch.py apply. A landing page that cannot be fetched is itself a
destination-quality signal, not a failed review; a video that cannot be fetched fails the review
(it is the creative under review).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import AdriskConfig
from core.errors import AdriskError, UnprocessableInput
from core.schemas import ReviewRequest
from models.scoring import Signal
from multimodal.fetch import fetch_page


@dataclass
class FetchOutcome:
    html: str | None  # the fetched landing page
    signals: list[Signal]  # what the fetch itself says about the destination
    video: bytes | None = None  # the fetched creative.video.url


async def fetch_if_needed(request: ReviewRequest, config: AdriskConfig) -> FetchOutcome | None:
    """The landing page's HTML when only its URL came, and the video when only its URL came."""
    video = await fetch_video(request, config)
    page = request.landing_page
    if not (config.fetch.enabled and page and page.url and not page.html and not page.text):
        return FetchOutcome(None, [], video) if video is not None else None
    try:
        fetched = await fetch_page(page.url.strip(), config.fetch)
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


async def fetch_video(request: ReviewRequest, config: AdriskConfig) -> bytes | None:
    """The bytes of creative.video.url; raises the ad's error when it cannot be had."""
    video = request.creative.video if request.creative else None
    if video is None or video.url is None:
        return None
    if not config.fetch.enabled:
        raise UnprocessableInput("creative.video.url: fetching is disabled in this profile; send video.data")
    try:
        fetched = await fetch_page(video.url.strip(), config.fetch, kind="video",
                                   max_bytes=config.limits.max_video_bytes)
    except AdriskError as exc:
        raise type(exc)(f"creative.video.url: {exc.detail}") from None
    if fetched.status >= 400:
        raise UnprocessableInput(f"creative.video.url answered HTTP {fetched.status}")
    return fetched.body
