"""Text reviews/s through each entry point, against the in-process encoder + heads, in one run.

    .venv/bin/python -m benchmarks.entrypoints [--seconds 15] [--out docs/benchmarks.md]

The text path is where per-request overhead shows (the model work per ad copy is ~3 ms): HTTP
and gRPC with one ad per call, and both with 16 ads per batch call, closed loop with 32
concurrent clients. The in-process baseline is the same encoder and head set called directly
with batches of 32. Profile cpu without the LLM.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.report import publish
from core.net import free_port

TEXTS = ["Double your bitcoin in 24 hours, guaranteed", "Fresh sourdough bread delivered daily",
         "Lose 10 kg in a week with one pill", "Handmade oak furniture, free delivery", "Learn Spanish online"]


def ad(i: int) -> dict:
    return {"request_id": f"ep-{uuid.uuid4().hex[:12]}", "creative": {"text": f"{random.choice(TEXTS)} #{i}"}}


def inprocess(seconds: float) -> float:
    import numpy as np

    from core.config import load_config, resolve_project_path
    from models.heads import HeadSet
    from models.scoring import ScoreJob, TextPart, score_job
    from models.text_encoder import SentenceTransformerEncoder

    config = load_config("cpu")
    encoder = SentenceTransformerEncoder(config.text_encoder)
    encoder.setup()
    heads = HeadSet.load(resolve_project_path(config.heads.text), config.taxonomy, config.heads.zero_shot_scale,
                         config.heads.zero_shot_bias)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        texts = [ad(i)["creative"]["text"] for i in range(32)]
        vectors = encoder.encode(texts).astype(np.float16)
        for text, vector in zip(texts, vectors, strict=True):
            score_job(ScoreJob(texts=[TextPart("creative.text", text)], text_embeddings=vector[None, :]), heads)
        done += len(texts)
    return done / (time.perf_counter() - started)


async def http_loop(url: str, seconds: float, batch: int, concurrency: int = 32) -> float:
    import aiohttp

    done = 0
    stop = time.perf_counter() + seconds

    async def worker(session) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            if batch == 1:
                async with session.post(f"{url}/v1/review", json=ad(0)) as resp:
                    await resp.read()
                    done += resp.status == 200
            else:
                async with session.post(f"{url}/v1/review:batch", json={"items": [ad(i) for i in range(batch)]}) as r:
                    body = await r.json()
                    done += sum(item["ok"] for item in body["results"]) if r.status == 200 else 0

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


async def grpc_loop(target: str, seconds: float, batch: int, concurrency: int = 32) -> float:
    import grpc
    from google.protobuf import json_format

    from serving.proto import adrisk_pb2 as pb
    from serving.proto import adrisk_pb2_grpc

    done = 0
    stop = time.perf_counter() + seconds
    metadata = [("application", "adrisk")]
    async with grpc.aio.insecure_channel(target) as channel:
        stub = adrisk_pb2_grpc.AdriskStub(channel)

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                if batch == 1:
                    await stub.Review(json_format.ParseDict(ad(0), pb.ReviewRequest()), metadata=metadata, timeout=120)
                    done += 1
                else:
                    items = [json_format.ParseDict(ad(i), pb.ReviewRequest()) for i in range(batch)]
                    try:
                        out = await stub.ReviewBatch(pb.BatchReviewRequest(items=items), metadata=metadata,
                                                     timeout=120)
                    except grpc.aio.AioRpcError as err:  # shed by the admission gate: back off
                        if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                            raise
                        await asyncio.sleep(0.2)
                        continue
                    done += sum(r.ok for r in out.results)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    baseline = inprocess(args.seconds)
    from commands.launcher import start_local, stop_local

    store = Path(tempfile.mkdtemp(prefix="adrisk-ep-")) / "d.sqlite3"
    grpc_port = free_port()
    url = start_local(profile="cpu", host="127.0.0.1", port=free_port(), grpc_port=grpc_port,
                      overrides={"store": {"path": str(store)}, "llm": None})
    target = f"127.0.0.1:{grpc_port}"
    try:
        asyncio.run(http_loop(url, 5, 1))  # warm-up
        rows = [
            ("HTTP `/v1/review`, 1 ad per call", asyncio.run(http_loop(url, args.seconds, 1))),
            ("gRPC `Review`, 1 ad per call", asyncio.run(grpc_loop(target, args.seconds, 1))),
            # 8 clients × 16 ads keeps ~128 ads in flight, inside the ingress admission budget (256).
            ("HTTP `/v1/review:batch`, 16 ads per call", asyncio.run(http_loop(url, args.seconds, 16, 8))),
            ("gRPC `ReviewBatch`, 16 ads per call", asyncio.run(grpc_loop(target, args.seconds, 16, 8))),
        ]
    finally:
        stop_local()
    lines = [
        f"- Date {time.strftime('%Y-%m-%d')}; `python -m benchmarks.entrypoints --seconds {args.seconds:g}`; profile "
        "cpu without the LLM; 32 concurrent clients for single calls, 8 for 16-ad batches (aiohttp / grpc.aio) on "
        "the same 2 cores; every ad is scored and stored (fresh request_ids).",
        f"- In-process baseline (MiniLM batches of 32 + the head set, one process): **{baseline:.0f} ads/s**.", "",
        "| entry point | served ads/s | served ÷ in-process |", "|---|---:|---:|",
    ]
    lines += [f"| {name} | {rate:.1f} | {rate / baseline:.2f} |" for name, rate in rows]
    publish("\n".join(lines), "Text ads per entry point (served vs in-process)", "entrypoints", args.out)


if __name__ == "__main__":
    main()
