"""Send a labeled set through a running service (POST /v1/review:batch), with a progress bar.

Every request carries `options.record: false`: an evaluation never writes the decision log, never
feeds advertiser history or the known-bad bank, and can be rerun with the same ids.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from evaluation.dataset import LabeledExample


@dataclass
class Outcome:
    example: LabeledExample
    ok: bool
    scores: dict[str, float] = field(default_factory=dict)
    action: str = ""
    categories: list[str] = field(default_factory=list)
    error: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)  # kept in memory, not in to_json

    def to_json(self) -> dict[str, Any]:
        return {"id": self.example.id, "source": self.example.source, "labels": self.example.labels,
                "benign": self.example.benign, "ok": self.ok, "scores": self.scores, "action": self.action,
                "categories": self.categories, "error": self.error}


async def _post_batch(session, url: str, chunk: list[LabeledExample], run: str, timeout_s: float) -> list[Outcome]:
    import aiohttp

    items = [{**ex.request, "request_id": f"eval-{run}-{ex.id}",
              "options": {**ex.request.get("options", {}), "record": False, "summary": "none"}} for ex in chunk]
    for attempt in range(5):
        async with session.post(f"{url}/v1/review:batch", json={"items": items},
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            if resp.status == 503 and attempt < 4:  # overloaded: back off and retry
                await asyncio.sleep(float(resp.headers.get("Retry-After", "1")) * (attempt + 1))
                continue
            body = await resp.json()
            if resp.status != 200:
                return [Outcome(ex, False, error=f"HTTP {resp.status}: {body}") for ex in chunk]
            break
    out = []
    for ex, item in zip(chunk, body["results"], strict=True):
        if item["ok"]:
            r = item["result"]
            out.append(Outcome(ex, True, r["scores"], r["decision"]["action"], r["decision"]["categories"],
                               evidence=r.get("evidence", [])))
        else:
            out.append(Outcome(ex, False, error=f"{item['error']['error']}: {item['error']['detail']}"))
    return out


async def run_through_service(
    url: str, examples: list[LabeledExample], batch_size: int = 16, concurrency: int = 4,
    timeout_s: float = 300.0, progress: bool = True,
) -> list[Outcome]:
    import aiohttp
    from tqdm import tqdm

    run = uuid.uuid4().hex[:8]
    chunks = [examples[i:i + batch_size] for i in range(0, len(examples), batch_size)]
    results: list[list[Outcome] | None] = [None] * len(chunks)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(chunks)):
        queue.put_nowait(i)
    bar = tqdm(total=len(examples), unit="ad", desc="eval", disable=not progress)

    async def worker(session) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            results[i] = await _post_batch(session, url.rstrip("/"), chunks[i], run, timeout_s)
            bar.update(len(chunks[i]))

    try:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(worker(session) for _ in range(max(1, concurrency))))
    finally:
        bar.close()
    return [o for chunk in results if chunk for o in chunk]
