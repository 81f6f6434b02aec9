"""Send a labeled set through a running service (POST /v1/review:batch), with a progress bar.

Every request carries `options.record: false`: an evaluation never writes the decision log, never
feeds advertiser history or the known-bad bank, and can be rerun with the same ids.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
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


RETRIED_ITEM_ERRORS = {"unavailable", "overloaded"}  # transient: the item is sent again, not counted as an error
ITEM_RETRIES = 3


async def _post_batch(session, url: str, chunk: list[LabeledExample], run: str, timeout_s: float) -> list[Outcome]:
    """One batch call; the whole call is retried on 503, and items that failed transiently (a model
    deployment that did not answer in time) are sent again, so an eval's error count is real errors."""
    import aiohttp

    done: dict[int, Outcome] = {}
    pending = list(range(len(chunk)))
    for item_try in range(ITEM_RETRIES + 1):
        items = [{**chunk[k].request, "request_id": f"eval-{run}-{chunk[k].id}",
                  "options": {**chunk[k].request.get("options", {}), "record": False, "summary": "none"}}
                 for k in pending]
        for attempt in range(5):
            async with session.post(f"{url}/v1/review:batch", json={"items": items},
                                    timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                if resp.status == 503 and attempt < 4:  # overloaded: back off and retry
                    await asyncio.sleep(float(resp.headers.get("Retry-After", "1")) * (attempt + 1))
                    continue
                body = await resp.json()
                if resp.status != 200:
                    return [done.get(k) or Outcome(ex, False, error=f"HTTP {resp.status}: {body}")
                            for k, ex in enumerate(chunk)]
                break
        retry = []
        for k, item in zip(pending, body["results"], strict=True):
            ex = chunk[k]
            if item["ok"]:
                r = item["result"]
                done[k] = Outcome(ex, True, r["scores"], r["decision"]["action"], r["decision"]["categories"],
                                  evidence=r.get("evidence", []))
            elif item["error"]["error"] in RETRIED_ITEM_ERRORS and item_try < ITEM_RETRIES:
                retry.append(k)
            else:
                done[k] = Outcome(ex, False, error=f"{item['error']['error']}: {item['error']['detail']}")
        if not retry:
            break
        pending = retry
        await asyncio.sleep(1.0 + item_try)
    return [done[k] for k in range(len(chunk))]


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


def service_thresholds(url: str) -> tuple[dict[str, tuple[float, float]], str]:
    """The running policy's thresholds, from the service itself (GET /v1/taxonomy)."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/v1/taxonomy", timeout=30) as resp:
        doc = json.load(resp)
    return ({c["id"]: (c["thresholds"]["review"], c["thresholds"]["reject"]) for c in doc["categories"]},
            doc["policy_version"])
