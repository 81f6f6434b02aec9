"""Admission control in the ingress: a review holds its payload in memory until it is answered,
so the ingress admits work only while the ads and bytes in flight stay under the profile's limits;
past them it answers Overloaded (HTTP 503 + Retry-After, gRPC RESOURCE_EXHAUSTED) at once, without
decoding anything. Together with Serve's `max_ongoing_requests` / `max_queued_requests` this bounds
memory at any offered load, and the service recovers as soon as load drops."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import Overloaded
from core.schemas import ReviewRequest

MIB = 1024 * 1024


def request_bytes(request: ReviewRequest) -> int:
    """What a review pins in memory: its media (base64) and its texts."""
    size = 0
    if request.creative is not None:
        size += sum(len(image.data) for image in request.creative.images)
        if request.creative.video is not None:
            size += len(request.creative.video.data or "")
        size += len(request.creative.text or "")
    page = request.landing_page
    if page is not None:
        size += len(page.html or "") + len(page.text or "")
        if page.screenshot is not None:
            size += len(page.screenshot.data)
    return size


class AdmissionGate:
    def __init__(self, max_ads: int, max_bytes: int) -> None:
        self.max_ads, self.max_bytes = max_ads, max_bytes
        self.ads = 0
        self.bytes = 0
        self.rejected = 0
        self._lock = threading.Lock()

    @contextmanager
    def admit(self, requests: list[ReviewRequest]) -> Iterator[None]:
        ads, size = len(requests), sum(request_bytes(r) for r in requests)
        with self._lock:
            # One call bigger than the whole budget is still admitted when nothing else is in
            # flight: the per-request limits already bound it, and it must not wait forever.
            busy = self.ads > 0 and (self.ads + ads > self.max_ads or self.bytes + size > self.max_bytes)
            if busy:
                self.rejected += 1
                raise Overloaded(f"ingress busy: {self.ads} ads and {self.bytes / MIB:.0f} MiB in flight "
                                 f"(limits {self.max_ads} ads, {self.max_bytes / MIB:.0f} MiB); retry after 1 s")
            self.ads += ads
            self.bytes += size
        try:
            yield
        finally:
            with self._lock:
                self.ads -= ads
                self.bytes -= size
