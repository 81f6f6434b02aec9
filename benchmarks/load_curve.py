"""Latency at 50/70/90% of the measured maximum load, and behaviour at 3× (overload).

    .venv/bin/python -m benchmarks.load_curve [--seconds 15] [--out docs/benchmarks.md]

One run, one machine, profile cpu without the LLM (summaries have their own benchmark):
1. capacity: closed loop, 32 concurrent clients sending one short ad copy per /v1/review;
2. open loop (Poisson arrivals, fresh request_ids) at 50, 70 and 90% of that rate:
   achieved rate and p50/p95/p99 latency;
3. 3× the capacity: the share answered 503 (with Retry-After), latency of the admitted ones,
   the ingress replica's RSS before, at peak and after;
4. recovery: load back to 50%, every request must succeed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from benchmarks.report import publish
from core.net import free_port

TEXTS = ["Double your bitcoin in 24 hours, guaranteed", "Fresh sourdough bread delivered daily",
         "Lose 10 kg in a week with one pill", "Handmade oak furniture, free delivery", "Learn Spanish online"]


def ingress_rss_mb() -> float:
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "ServeReplica:adrisk:Ingress" in cmd:
            total += proc.memory_info().rss / 1e6
    return total


async def one(session, url: str) -> tuple[int, float, bool]:
    body = {"request_id": f"curve-{uuid.uuid4().hex[:12]}", "creative": {"text": random.choice(TEXTS)}}
    started = time.perf_counter()
    try:
        async with session.post(f"{url}/v1/review", json=body) as resp:
            await resp.read()
            return resp.status, time.perf_counter() - started, resp.headers.get("Retry-After") is not None
    except Exception:
        return 0, time.perf_counter() - started, False


async def closed_loop(url: str, seconds: float, concurrency: int = 32) -> float:
    import aiohttp

    done = 0
    stop = time.perf_counter() + seconds

    async def worker(session) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            status, _, _ = await one(session, url)
            done += status == 200

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


async def open_loop(url: str, rate: float, seconds: float, sample_rss: bool = False) -> dict:
    import aiohttp

    results: list[tuple[int, float, bool]] = []
    rss: list[float] = []
    tasks = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300),
                                     connector=aiohttp.TCPConnector(limit=2000)) as session:
        started = time.perf_counter()
        next_at = started
        while next_at - started < seconds:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            tasks.append(asyncio.create_task(one(session, url)))
            next_at += random.expovariate(rate)
            if sample_rss and len(tasks) % 50 == 0:
                rss.append(await asyncio.to_thread(ingress_rss_mb))
        results = list(await asyncio.gather(*tasks))
        elapsed = time.perf_counter() - started
    ok = [lat for status, lat, _ in results if status == 200]
    shed = [r for r in results if r[0] == 503]
    return {"offered": rate, "sent": len(results), "ok": len(ok), "achieved": len(ok) / elapsed,
            "shed": len(shed), "shed_with_retry_after": sum(1 for r in shed if r[2]),
            "other": len(results) - len(ok) - len(shed),
            "p50": np.percentile(ok, 50) * 1000 if ok else None, "p95": np.percentile(ok, 95) * 1000 if ok else None,
            "p99": np.percentile(ok, 99) * 1000 if ok else None, "rss_peak": max(rss) if rss else None}


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from commands.launcher import start_local, stop_local

    store = Path(tempfile.mkdtemp(prefix="adrisk-curve-")) / "d.sqlite3"
    url = start_local(profile="cpu", host="127.0.0.1", port=free_port(), grpc_port=free_port(),
                      overrides={"store": {"path": str(store)}, "llm": None})
    try:
        asyncio.run(closed_loop(url, 5))  # warm-up
        capacity = asyncio.run(closed_loop(url, args.seconds))
        rows = [asyncio.run(open_loop(url, capacity * f, args.seconds)) for f in (0.5, 0.7, 0.9)]
        rss_before = ingress_rss_mb()
        overload = asyncio.run(open_loop(url, capacity * 3, args.seconds, sample_rss=True))
        time.sleep(5)
        rss_after = ingress_rss_mb()
        recovery = asyncio.run(open_loop(url, capacity * 0.5, args.seconds / 2))
    finally:
        stop_local()
    lines = [
        f"- Date {time.strftime('%Y-%m-%d')}; `python -m benchmarks.load_curve --seconds {args.seconds:g}`; profile "
        "cpu without the LLM; one short ad copy per `/v1/review`; aiohttp client on the same 2 cores.",
        f"- Capacity (closed loop, 32 clients): **{capacity:.1f} reviews/s**.", "",
        "| offered load | offered/s | answered 200/s | p50 ms | p95 ms | p99 ms | 503 | other errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in zip(("50%", "70%", "90%", "300% (overload)", "50% after overload"),
                        [*rows, overload, recovery], strict=True):
        lines.append(f"| {label} | {r['offered']:.1f} | {r['achieved']:.1f} | {_ms(r['p50'])} | {_ms(r['p95'])} | "
                     f"{_ms(r['p99'])} | {r['shed']} | {r['other']} |")
    lines += ["", f"At 3×: {overload['shed']} of {overload['sent']} requests shed with 503 "
              f"({overload['shed_with_retry_after']} carried Retry-After), {overload['other']} other errors; ingress "
              f"RSS {rss_before:.0f} MB before, {overload['rss_peak'] or 0:.0f} MB at peak, {rss_after:.0f} MB after. "
              f"Recovery at 50%: {recovery['ok']}/{recovery['sent']} answered 200."]
    publish("\n".join(lines), "Latency vs load, and overload at 3×", "load_curve", args.out)


if __name__ == "__main__":
    main()
