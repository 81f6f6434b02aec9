"""The served half of benchmarks/serving_vs_inprocess.py: a local service under an aiohttp client at
a fixed concurrency, phase by phase, and its report tables.

Each phase sends its warm-up requests, then its measured ones; the batch sizes the model
deployments achieved come from their `stats()` counters read through handles before and after,
the responses' `timings_ms` give server-side stage times, and /proc gives the CPU each process
(and every other process on the machine) used meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.machine import CpuMeter, CpuUse
from core.net import free_port

APP_NAME = "adrisk"
REQUEST_TIMEOUT_S = 60.0
JSON_HEADERS = {"content-type": "application/json"}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Phase:
    key: str
    title: str
    endpoint: str
    concurrency: int
    unit: str  # what items/s counts: "images" or "texts"
    make_body: Callable[[str, int], dict[str, Any]]  # (request id, index) → JSON body
    warmup: int
    requests: int


@dataclass
class LoadOutcome:
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    ok_items: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    truncated: bool = False
    stage_ms: dict[str, list[float]] = field(default_factory=dict)  # the responses' timings_ms

    def ok(self, result: dict[str, Any]) -> None:
        self.ok_items += 1
        for stage, ms in (result.get("timings_ms") or {}).items():
            self.stage_ms.setdefault(stage, []).append(float(ms))

    def fail(self, kind: str, detail: str) -> None:
        self.failures[kind] += 1
        if len(self.examples) < 3:
            self.examples.append(f"{kind}: {detail[:200]}")


@dataclass
class PhaseResult:
    phase: Phase
    load: LoadOutcome
    warmup_failures: Counter[str]
    batches: dict[str, Counter[int]]
    cpu: CpuUse  # during the measured phase

    @property
    def items_per_s(self) -> float:
        return self.load.ok_items / self.load.seconds if self.load.seconds else 0.0


def count_ok(payload: dict[str, Any], out: LoadOutcome) -> None:
    """A /v1/review body counts 1; a batch body counts its ok items and records the others."""
    if "results" not in payload:
        out.ok(payload)
        return
    for item in payload["results"]:
        if item.get("ok"):
            out.ok(item.get("result") or {})
        else:
            error = item.get("error") or {}
            out.fail(f"item {error.get('error', '?')}", str(error.get("detail")))


async def one_request(session: Any, phase: Phase, request_id: str, index: int, out: LoadOutcome) -> None:
    import aiohttp

    data = json.dumps(phase.make_body(request_id, index))
    started = time.perf_counter()
    try:
        async with session.post(phase.endpoint, data=data, headers=JSON_HEADERS) as resp:
            status, raw = resp.status, await resp.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        out.requests += 1
        out.fail(f"client {type(exc).__name__}", str(exc))
        return
    out.requests += 1
    if status != 200:
        out.fail(f"HTTP {status}", raw.decode(errors="replace"))
        return
    out.latencies_ms.append((time.perf_counter() - started) * 1000)
    count_ok(json.loads(raw), out)


async def drive(url: str, phase: Phase, prefix: str, n: int, cap_s: float) -> LoadOutcome:
    """n requests from phase.concurrency workers; stops issuing new ones after cap_s."""
    import aiohttp

    out = LoadOutcome()
    indices = itertools.count()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=phase.concurrency)
    started = time.perf_counter()
    deadline = started + cap_s

    async def worker(session: aiohttp.ClientSession) -> None:
        while (i := next(indices)) < n:
            if time.perf_counter() > deadline:
                out.truncated = True
                return
            await one_request(session, phase, f"{prefix}-{i}", i, out)

    async with aiohttp.ClientSession(base_url=url, timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(phase.concurrency)))
    out.seconds = time.perf_counter() - started
    return out


def batch_counters() -> dict[str, Counter[int]]:
    """Achieved-batch-size histograms of the model deployments (one replica each)."""
    from ray import serve

    counters = {}
    for name in ("ImageRiskModel", "TextEncoder"):
        stats = serve.get_deployment_handle(name, app_name=APP_NAME).stats.remote().result(timeout_s=30)
        counters[name] = Counter({int(k): int(v) for k, v in stats["batch_sizes"].items()})
    return counters


def run_phase(url: str, phase: Phase, run_id: str, cap_s: float) -> PhaseResult:
    warm = asyncio.run(drive(url, phase, f"{run_id}-{phase.key}-warm", phase.warmup, cap_s))
    before = batch_counters()
    meter = CpuMeter()
    load = asyncio.run(drive(url, phase, f"{run_id}-{phase.key}", phase.requests, cap_s))
    cpu = meter.stop()
    after = batch_counters()
    batches = {name: after[name] - before[name] for name in after}
    result = PhaseResult(phase, load, warm.failures, batches, cpu)
    log(f"served {phase.key}: {result.items_per_s:.1f} {phase.unit}/s over {load.requests} requests "
        f"in {load.seconds:.1f}s, failures {dict(load.failures) or 'none'}, others {cpu.others_cores:.2f} cores")
    return result


def measure_served(profile: str, phases: list[Phase], cap_s: float) -> tuple[list[PhaseResult], float]:
    """(phase results, service start-up seconds)."""
    from commands.launcher import start_local, stop_local

    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="adrisk-bench-") as tmp:
        try:
            started = time.perf_counter()
            url = start_local(
                profile=profile, host="127.0.0.1", port=free_port(),
                # The encoders are measured here; LLM summaries (benchmarks.llm) would share the cores.
                overrides={"store": {"path": str(Path(tmp) / "decisions.sqlite3")}, "llm": None},
            )
            startup_s = time.perf_counter() - started
            log(f"service ready at {url} in {startup_s:.0f}s")
            results = [run_phase(url, phase, run_id, cap_s) for phase in phases]
        finally:
            stop_local()
    return results, startup_s


# --------------------------------------------------------------------------------- report
def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


def describe_batches(counter: Counter[int]) -> str:
    batches = sum(counter.values())
    if not batches:
        return "—"
    items = sum(size * n for size, n in counter.items())
    top = ", ".join(f"{size}×{n}" for size, n in sorted(counter.items(), key=lambda kv: (-kv[1], -kv[0]))[:4])
    more = ", …" if len(counter) > 4 else ""
    return f"mean {items / batches:.1f} ({batches} batches, {items} items; size×count {top}{more})"


def render_served(served: list[PhaseResult]) -> list[str]:
    lines = [
        "### Served over HTTP",
        "",
        "| Phase | Concurrency | Requests | Seconds | Items/s | p50 ms | p95 ms | p99 ms | Failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for res in served:
        load = res.load
        p50, p95, p99 = percentiles(load.latencies_ms)
        failures = ", ".join(f"{k}×{v}" for k, v in load.failures.items()) or "none"
        if res.warmup_failures:
            failures += f" (warm-up: {', '.join(f'{k}×{v}' for k, v in res.warmup_failures.items())})"
        requests = f"{load.requests}{' (capped)' if load.truncated else ''}"
        lines.append(
            f"| {res.phase.title} | {res.phase.concurrency} | {requests} | {load.seconds:.1f} | "
            f"{res.items_per_s:.1f} {res.phase.unit}/s | {p50:.0f} | {p95:.0f} | {p99:.0f} | {failures} |"
        )
    lines += [
        "",
        "Latency is per HTTP call (a batch call carries 16 ads), over 200 responses. Batch sizes the model "
        "deployments achieved during each measured phase (`stats()` counters, after minus before):",
        "",
        "| Phase | ImageRiskModel | TextEncoder |",
        "|---|---|---|",
    ]
    for res in served:
        lines.append(f"| {res.phase.title} | {describe_batches(res.batches['ImageRiskModel'])} | "
                     f"{describe_batches(res.batches['TextEncoder'])} |")
    lines += ["", *render_stages(served), "", *render_cpu(served)]
    examples = [e for res in served for e in res.load.examples]
    if examples:
        lines += ["", "Failure examples:", "", *(f"- `{e}`" for e in examples)]
    return lines


def render_stages(served: list[PhaseResult]) -> list[str]:
    """Median server-side stage times (the responses' timings_ms) next to the client's p50."""
    order = ("prepare", "image_models", "text_encoder", "scorer", "policy", "store", "total")
    seen = set(itertools.chain.from_iterable(res.load.stage_ms for res in served))
    stages = [s for s in order if s in seen] + sorted(seen - set(order))
    lines = [
        "Server-side stage medians in ms (responses' `timings_ms`; `total` is the ingress pipeline, so "
        "client p50 − total ≈ HTTP proxy, FastAPI and queueing in front of the pipeline):",
        "",
        f"| Phase | client p50 | {' | '.join(stages)} |",
        f"|---|---:|{'---:|' * len(stages)}",
    ]
    for res in served:
        cells = [f"{statistics.median(v):.0f}" if (v := res.load.stage_ms.get(s)) else "—" for s in stages]
        lines.append(f"| {res.phase.title} | {percentiles(res.load.latencies_ms)[0]:.0f} | {' | '.join(cells)} |")
    return lines


def render_cpu(served: list[PhaseResult]) -> list[str]:
    """Where the CPU went during each measured phase: share of one core per process."""
    lines = [
        f"CPU during each measured phase in % of one core ({os.cpu_count()} cores = {100 * (os.cpu_count() or 1)}%): "
        "this run's processes (Ray workers by title), and every other process on the machine together:",
        "",
        "| Phase | Other processes | This run, top processes |",
        "|---|---:|---|",
    ]
    for res in served:
        top = [t for t in sorted(res.cpu.by_title, key=res.cpu.share, reverse=True)[:7] if res.cpu.share(t) >= 0.005]
        cells = ", ".join(f"{title} {100 * res.cpu.share(title):.0f}%" for title in top)
        lines.append(f"| {res.phase.title} | {100 * res.cpu.others_cores:.0f}% | {cells} |")
    return lines
