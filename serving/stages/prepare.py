"""Stage 1, prepare: every ad of a call, concurrently, from its request to a `PreparedAd`.

Per ad: the stored decision first (a replayed request_id costs one lookup, never a fetch or a
parse; the same id with other content is a conflict), then whatever came only by URL is fetched,
then `extract.prepare` checks and takes the ad apart in a worker thread. Bad input fails that ad
only; the ads stay in request order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from core.config import AdriskConfig
from core.errors import AdriskError, Conflict
from core.schemas import ReviewRequest, ReviewResponse
from core.store import DecisionStore
from models.page_phishing import PagePhishingHead
from serving.decision_log import settled_response
from serving.stages.extract import input_digest, prepare
from serving.stages.fetch import fetch_if_needed
from serving.stages.state import Outcome, ReviewState


class PrepareStage:
    def __init__(
        self, config: AdriskConfig, store: DecisionStore, page_head: PagePhishingHead | None,
        clock: Callable[[], float],
    ) -> None:
        self.config, self.store, self.page_head, self._clock = config, store, page_head, clock

    async def run(self, states: list[ReviewState]) -> None:
        """Prepare every ad at once; each ends with its `ad` set or its `outcome` (replay or error)."""
        await asyncio.gather(*(self.prepare_one(state) for state in states))

    async def prepare_one(self, state: ReviewState) -> None:
        stored = await self.lookup(state.request)
        if stored is not None:
            state.outcome = stored
            return
        try:
            fetched = await fetch_if_needed(state.request, self.config)
            state.ad = await asyncio.to_thread(prepare, state.request, self.config, fetched, self.page_head)
        except AdriskError as exc:
            state.fail(exc)
            return
        state.stage_ms.update(state.ad.timings)

    async def lookup(self, request: ReviewRequest) -> Outcome | None:
        """The decision stored for this request_id (`cached`), a Conflict, or None to review it."""
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
