"""Fault drills: kill a replica of each deployment under load and count what survives.

    .venv/bin/python -m benchmarks.drills [--out docs/benchmarks.md] [--seconds 20]

A client (aiohttp, 6 concurrent) sends reviews with unique request_ids and retries a retryable
answer (503; 500 from a request in flight on a killed ingress; a dropped connection) with the
*same* request_id, as a pipeline should; every acknowledged review also gets a reviewer verdict. During each phase one
replica (TextEncoder, ImageRiskModel, RiskScorer, Ingress, LlmDiagnoser) is killed with
`ray.kill`; Serve starts a replacement. Afterwards the decision log is counted against the
client's acknowledgements: every acknowledged decision and verdict must be stored exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.report import publish
from core.net import free_port
from tests.media import b64, encode, random_blocks

PHASES = ["TextEncoder", "ImageRiskModel", "RiskScorer", "Ingress", "LlmDiagnoser"]
# 503: shed or a backend failed (Retry-After). 500: Ray's proxy answers it for a request that was
# in flight on an ingress replica killed outright (RayActorError). Reviews are idempotent on
# request_id, so retrying either with the same id can neither lose nor duplicate a decision.
RETRYABLE = {500, 502, 503, 504}


IMAGES = [b64(encode(random_blocks(i, size=(320, 240)))) for i in range(8)]


def body(phase: str, i: int) -> dict:
    review = {"request_id": f"drill-{phase}-{i}-{uuid.uuid4().hex[:6]}",
              "creative": {"text": random.choice(["Double your bitcoin now", "Fresh bread daily"])}}
    if i % 3 == 0:
        review["creative"]["images"] = [{"data": random.choice(IMAGES)}]
    if phase == "LlmDiagnoser" and i % 2 == 0:
        review["options"] = {"summary": "always"}
    return review


class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: dict[str, str] = {}  # request_id → summary_status
        self.feedback_acked: set[str] = set()
        self.codes: collections.Counter[str] = collections.Counter()
        self.retries = 0
        self.gave_up: list[str] = []

    async def review(self, session, review: dict) -> None:
        import aiohttp

        for attempt in range(8):
            try:
                async with session.post(f"{self.url}/v1/review", json=review,
                                        timeout=aiohttp.ClientTimeout(total=120)) as resp:
                    self.codes[str(resp.status)] += 1
                    if resp.status == 200:
                        self.acked[review["request_id"]] = (await resp.json())["summary_status"]
                        await self.feedback(session, review["request_id"])
                        return
                    if resp.status not in RETRYABLE:
                        self.gave_up.append(f"{resp.status}: {(await resp.text())[:200]}")
                        return
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.codes[type(exc).__name__] += 1
            self.retries += 1
            await asyncio.sleep(0.5 * (attempt + 1))
        self.gave_up.append(f"{review['request_id']}: still failing after 8 attempts")

    async def feedback(self, session, request_id: str) -> None:
        verdict = {"request_id": request_id, "reviewer": "drill", "final_action": "approve"}
        for attempt in range(8):
            try:
                async with session.post(f"{self.url}/v1/feedback", json=verdict) as resp:
                    if resp.status == 200:
                        self.feedback_acked.add(request_id)
                        return
            except Exception:
                pass
            await asyncio.sleep(0.5 * (attempt + 1))


async def load(client: Client, phase: str, stop: asyncio.Event, concurrency: int = 6) -> int:
    import aiohttp

    counter = iter(range(10**9))

    async def worker() -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                await client.review(session, body(phase, next(counter)))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return next(counter)


def kill_one(deployment: str) -> str:
    import ray

    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry["name"] if isinstance(entry, dict) else entry
        namespace = entry.get("namespace", "serve") if isinstance(entry, dict) else "serve"
        if name.startswith("SERVE_REPLICA::adrisk#") and f"#{deployment}#" in name:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
            return name
    raise RuntimeError(f"no replica of {deployment} found")


async def ready(url: str, timeout_s: float = 600) -> float:
    import aiohttp

    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - start < timeout_s:
            try:
                async with session.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    if resp.status == 200:
                        return time.monotonic() - start
            except Exception:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError("service did not become ready again")


async def phase_run(url: str, phase: str, seconds: float) -> dict:
    client = Client(url)
    stop = asyncio.Event()
    task = asyncio.create_task(load(client, phase, stop))
    await asyncio.sleep(seconds / 2)
    killed = await asyncio.to_thread(kill_one, phase)
    recovery = await ready(url)  # seconds from the kill until /readyz answers 200 again
    await asyncio.sleep(seconds / 2)
    stop.set()
    await task
    return {"phase": phase, "killed": killed, "recovery_s": round(recovery, 1), "client": client}


def count_store(path: Path, phase: str, ids: set[str], feedback_ids: set[str]) -> dict:
    from core.config import StoreConfig
    from core.store_factory import open_store

    store = open_store(StoreConfig(path=str(path)))
    prefix = f"drill-{phase}-"
    rows = {d.request_id for d in store.decisions() if d.request_id.startswith(prefix)}
    fb = collections.Counter(f.request_id for f in store.all_feedback() if f.request_id.startswith(prefix))
    store.close()
    return {"acked": len(ids), "stored": len(rows & ids), "lost": len(ids - rows),
            "stored_not_acked": len(rows - ids), "feedback_acked": len(feedback_ids),
            "feedback_lost": len(feedback_ids - set(fb)), "feedback_duplicated": sum(1 for n in fb.values() if n > 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None, help="write the results into this Markdown file's drills section")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--phases", nargs="*", default=PHASES)
    args = parser.parse_args()

    from commands.launcher import start_local, stop_local

    store = Path(tempfile.mkdtemp(prefix="adrisk-drill-")) / "decisions.sqlite3"
    url = start_local(profile="cpu", host="127.0.0.1", port=free_port(), grpc_port=free_port(),
                      overrides={"store": {"path": str(store)}})
    results = []
    try:
        for phase in args.phases:
            result = asyncio.run(phase_run(url, phase, args.seconds))
            client: Client = result.pop("client")
            counts = count_store(store, phase, set(client.acked), client.feedback_acked)
            statuses = collections.Counter(client.acked.values())
            results.append({**result, **counts, "codes": dict(client.codes), "retries": client.retries,
                            "gave_up": client.gave_up[:3], "summary_status": dict(statuses)})
            print(json.dumps(results[-1]), flush=True)
    finally:
        stop_local()
    lines = [
        f"- Date {time.strftime('%Y-%m-%d')}; `python -m benchmarks.drills --seconds {args.seconds:g}`; profile cpu, "
        "6 concurrent clients retrying 5xx / dropped connections with the same request_id; the "
        "profile's default `summary: auto` (reject/review ads get an LLM summary).", "",
        "| replica killed | acked reviews | stored | lost | answers seen | retries | gave up | verdicts acked | "
        "verdicts lost / duplicated | ready again after |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for r in results:
        codes = ", ".join(f"{k}×{v}" for k, v in sorted(r["codes"].items()))
        lines.append(f"| {r['phase']} | {r['acked']} | {r['stored']} | {r['lost']} | {codes} | {r['retries']} | "
                     f"{len(r['gave_up'])} | {r['feedback_acked']} | {r['feedback_lost']} / "
                     f"{r['feedback_duplicated']} | {r['recovery_s']} s |")
    llm = next((r for r in results if r["phase"] == "LlmDiagnoser"), None)
    if llm:
        lines += ["", f"LLM phase summary statuses: {llm['summary_status']} — reviews kept their scores and "
                  "decisions while the LLM replica restarted."]
    publish("\n".join(lines), "Fault drills: replica kills under load", "drills", args.out)


if __name__ == "__main__":
    main()
