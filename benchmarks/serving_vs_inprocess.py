"""Served throughput vs. the same models run in-process, measured in one run on one machine.

1. In-process (no Ray): what one ImageRiskModel batch does (decode every image on a 2-worker pool,
   then every image backend) at batch sizes 1/8/16, and the text encoder at batch sizes 1/32;
   first with the replicas' thread settings (the backends' setup() applies the profile), then with
   two threads per runtime (torch and ONNX Runtime).
2. Served: `start_local` on a free port with a throw-away decision store, then an aiohttp client
   at a fixed concurrency: one image per /v1/review, 16 one-image ads per /v1/review:batch, and one
   short ad copy per /v1/review. The batch sizes the deployments achieved come from their
   `stats()` counters, read through handles before and after each measured phase; the responses'
   `timings_ms` give server-side stage times, and /proc gives the CPU each process (and every other
   process on the machine) used during each measurement.

    .venv/bin/python -m benchmarks.serving_vs_inprocess [--quick] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import write_section
from core.config import PROJECT_ROOT, AdriskConfig, load_config
from core.net import free_port

PROFILE = "cpu"
APP_NAME = "adrisk"

IMAGE_SIZE = (1280, 960)
JPEG_QUALITY = 93  # ~150 KB per image
DISTINCT_IMAGES = 8
IMAGE_BATCHES = (1, 8, 16)
TEXT_BATCHES = (1, 32)
TWO_THREADS = "2 torch threads"
ADS_PER_BATCH_CALL = 16
REQUEST_TIMEOUT_S = 60.0
JSON_HEADERS = {"content-type": "application/json"}
AD_COPY = (
    "Summer sale: 40% off running shoes, free shipping today only.",
    "Learn Spanish in 10 minutes a day with our award-winning app.",
    "Fresh organic vegetables delivered to your door every week.",
    "Upgrade your home office with an ergonomic standing desk.",
    "Book a weekend getaway: beachfront hotels from $89 a night.",
    "Try our new cold brew coffee, smooth and never bitter.",
    "Protect your family with affordable term life insurance.",
    "Handmade leather wallets, personalised with your initials.",
    "Get fit at home: 30-day yoga program for beginners.",
    "Compare mortgage rates from top lenders in minutes.",
    "Kids' coding camp this summer, ages 8 to 14, spots limited.",
    "Noise-cancelling headphones with 40 hours of battery life.",
)


@dataclass(frozen=True)
class Plan:
    """How much work each measurement does: fixed counts, each after a short warm-up."""

    inproc_images: int  # images per (threads, batch size) cell
    inproc_texts: int  # texts per (threads, batch size) cell
    single_warmup: int
    single_requests: int
    batch_warmup: int
    batch_calls: int
    text_warmup: int
    text_requests: int
    phase_cap_s: float  # safety net: a phase stops issuing requests after this long
    single_concurrency: int = 32
    batch_concurrency: int = 4
    text_concurrency: int = 32


QUICK = Plan(
    inproc_images=16, inproc_texts=64,
    single_warmup=16, single_requests=64,
    batch_warmup=1, batch_calls=4,
    text_warmup=32, text_requests=256,
    phase_cap_s=20.0,
)
FULL = Plan(
    inproc_images=48, inproc_texts=256,
    single_warmup=32, single_requests=320,
    batch_warmup=4, batch_calls=20,
    text_warmup=64, text_requests=1200,
    phase_cap_s=45.0,
)


# ---------------------------------------------------------------------------------- inputs
def make_jpegs(n: int = DISTINCT_IMAGES) -> list[bytes]:
    from tests.media import encode, landscape_photo

    return [encode(landscape_photo(seed, IMAGE_SIZE), "JPEG", quality=JPEG_QUALITY) for seed in range(n)]


def ad_copy(index: int) -> str:
    return f"{AD_COPY[index % len(AD_COPY)]} Code {index}."


# -------------------------------------------------------------------------- CPU accounting
@dataclass(frozen=True)
class CpuUse:
    """CPU used over a wall-clock window: this run's processes by title, and everyone else's."""

    wall_s: float
    by_title: dict[str, float]  # CPU seconds of this process and its descendants (Ray), by title
    others_cores: float  # average cores used by every other process on the machine

    def share(self, title: str) -> float:
        """Average share of one core."""
        return self.by_title.get(title, 0.0) / self.wall_s if self.wall_s else 0.0


class CpuMeter:
    def __init__(self) -> None:
        self._procs, self._busy, self._t = process_cpu(), machine_busy_s(), time.perf_counter()

    def stop(self) -> CpuUse:
        procs, busy, wall = process_cpu(), machine_busy_s(), time.perf_counter() - self._t
        by_title = cpu_by_title(self._procs, procs)
        others = (busy - self._busy - sum(by_title.values())) / wall if wall else 0.0
        return CpuUse(wall, by_title, max(0.0, others))


def stat_cpu_seconds(fields: list[str]) -> float:
    """utime + stime + cutime + cstime of /proc/PID/stat's fields after the command name: short-lived
    children (tesseract) are reaped between readings, and only their parent's counters keep their CPU."""
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return stat_cpu_seconds(raw[raw.rindex(")") + 2:].split())


def process_cpu() -> dict[int, float]:
    """CPU seconds of this process and every descendant (Ray's daemons and workers), by pid."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: dict[int, float] = {}
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        if pid in stats:
            out[pid] = stat_cpu_seconds(stats[pid])
    return out


def cpu_by_title(before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """CPU seconds spent between two process_cpu() readings, summed by process title."""
    out: Counter[str] = Counter()
    for pid, seconds in after.items():
        out[process_title(pid)] += seconds - before.get(pid, 0.0)
    return dict(out)


def process_title(pid: int) -> str:
    if pid == os.getpid():
        return "client (this process)"
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return "?"
    if argv0.startswith("ray::"):  # a worker's title gains ".method" while it runs an actor task
        return argv0.strip().removeprefix("ray::").split(".", 1)[0]
    return Path(argv0).name


def machine_busy_s() -> float:
    """Non-idle CPU seconds of every process on the machine since boot (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------ in-process
@dataclass(frozen=True)
class Rate:
    path: str  # "image" or "text"
    threads: str
    batch: int
    items: int
    seconds: float
    others_cores: float  # CPU other processes on the machine used meanwhile

    @property
    def per_s(self) -> float:
        return self.items / self.seconds


class InProcessImages:
    """One ImageRiskModel batch without Ray: decode on a 2-worker pool, then every backend."""

    def __init__(self, config: AdriskConfig) -> None:
        from models.image_models import build_image_backend
        from multimodal.images import configure_pillow

        configure_pillow(config.limits)
        self.limits = config.limits
        self.backends = [build_image_backend(m, config.taxonomy) for m in config.image_models]
        for backend in self.backends:
            backend.setup()
        self.decode_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")
        # OCR of every image on its own 2-worker pool, overlapping the backends, as the replica does.
        from multimodal.ocr import tesseract_available

        self.ocr_config = config.ocr if config.ocr.enabled and tesseract_available() else None
        self.ocr_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ocr")

    def _decode(self, raw: bytes) -> Any:
        from multimodal.images import decode_image

        return decode_image(raw, self.limits).image

    def run(self, raws: Sequence[bytes]) -> None:
        from multimodal.ocr import ocr_image

        images = list(self.decode_pool.map(self._decode, raws))
        ocr = [self.ocr_pool.submit(ocr_image, im, self.ocr_config) for im in images] if self.ocr_config else []
        for backend in self.backends:
            backend.predict(images)
        for future in ocr:
            future.result()

    def use_threads(self, n: int) -> None:
        """torch intra-op threads. ONNX Runtime stays at the 1 thread the open-nsfw backend pins: with 2
        ORT threads and 2 torch threads in one process, the two pools thrash on 2 cores."""
        import torch

        torch.set_num_threads(n)

    def close(self) -> None:
        self.decode_pool.shutdown()
        self.ocr_pool.shutdown()


def timed_batches(
    path: str, threads: str, run: Callable[[list[Any]], object], pool: Sequence[Any], batch: int, total: int
) -> Rate:
    """Push ~total items through run() in batches of `batch`, after one warm-up batch."""
    cycle = itertools.cycle(pool)
    batches = [[next(cycle) for _ in range(batch)] for _ in range(max(1, total // batch))]
    run(batches[0])
    meter = CpuMeter()
    for chunk in batches:
        run(chunk)
    cpu = meter.stop()
    rate = Rate(path, threads, batch, len(batches) * batch, cpu.wall_s, cpu.others_cores)
    log(f"in-process {path} {threads} batch {batch}: {rate.per_s:.1f}/s (others {cpu.others_cores:.2f} cores)")
    return rate


def measure_inprocess(plan: Plan, jpegs: list[bytes]) -> list[Rate]:
    from models.text_encoder import SentenceTransformerEncoder

    config = load_config(PROFILE)
    images = InProcessImages(config)
    encoder = SentenceTransformerEncoder(config.text_encoder)
    encoder.setup()
    texts = [ad_copy(i) for i in range(max(TEXT_BATCHES) * 4)]
    rates: list[Rate] = []
    try:
        for label, threads in (("replica settings", None), (TWO_THREADS, 2)):
            if threads:
                images.use_threads(threads)
            rates += [timed_batches("image", label, images.run, jpegs, b, plan.inproc_images) for b in IMAGE_BATCHES]
            rates += [timed_batches("text", label, encoder.encode, texts, b, plan.inproc_texts) for b in TEXT_BATCHES]
    finally:
        images.close()
    return rates


def best(rates: list[Rate], path: str, threads: str) -> Rate:
    return max((r for r in rates if r.path == path and r.threads == threads), key=lambda r: r.per_s)


def at_batch(rates: list[Rate], path: str, threads: str, batch: int) -> Rate:
    return next(r for r in rates if r.path == path and r.threads == threads and r.batch == batch)


# ---------------------------------------------------------------------------------- served
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


def image_body(b64_images: list[str]) -> Callable[[str, int], dict[str, Any]]:
    def body(request_id: str, index: int) -> dict[str, Any]:
        return {"request_id": request_id,
                "creative": {"images": [{"data": b64_images[index % len(b64_images)]}]}}

    return body


def batch_body(b64_images: list[str]) -> Callable[[str, int], dict[str, Any]]:
    single = image_body(b64_images)

    def body(request_id: str, index: int) -> dict[str, Any]:
        return {"items": [single(f"{request_id}.{k}", index * ADS_PER_BATCH_CALL + k)
                          for k in range(ADS_PER_BATCH_CALL)]}

    return body


def text_body(request_id: str, index: int) -> dict[str, Any]:
    return {"request_id": request_id, "creative": {"text": ad_copy(index)}}


def build_phases(plan: Plan, jpegs: list[bytes]) -> list[Phase]:
    b64_images = [base64.b64encode(raw).decode() for raw in jpegs]
    return [
        Phase("single", "1 image / `/v1/review`", "/v1/review", plan.single_concurrency, "images",
              image_body(b64_images), plan.single_warmup, plan.single_requests),
        Phase("batch", f"{ADS_PER_BATCH_CALL} one-image ads / `/v1/review:batch`", "/v1/review:batch",
              plan.batch_concurrency, "images", batch_body(b64_images), plan.batch_warmup, plan.batch_calls),
        Phase("text", "1 short ad copy / `/v1/review`", "/v1/review", plan.text_concurrency, "texts",
              text_body, plan.text_warmup, plan.text_requests),
    ]


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


def measure_served(plan: Plan, jpegs: list[bytes]) -> tuple[list[PhaseResult], float]:
    """(phase results, service start-up seconds)."""
    from commands.launcher import start_local, stop_local

    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="adrisk-bench-") as tmp:
        try:
            started = time.perf_counter()
            url = start_local(
                profile=PROFILE, host="127.0.0.1", port=free_port(),
                # The encoders are measured here; LLM summaries (benchmarks.llm) would share the cores.
                overrides={"store": {"path": str(Path(tmp) / "decisions.sqlite3")}, "llm": None},
            )
            startup_s = time.perf_counter() - started
            log(f"service ready at {url} in {startup_s:.0f}s")
            results = [run_phase(url, phase, run_id, plan.phase_cap_s) for phase in build_phases(plan, jpegs)]
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


def machine_info() -> dict[str, str]:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    cpu, mem_kb = "unknown", 0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    changed = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
    load1, load5, _ = os.getloadavg()
    return {
        "nproc": nproc, "cpu": cpu, "ram": f"{mem_kb / 2**20:.1f} GiB",
        "commit": f"`{git('rev-parse', '--short', 'HEAD') or 'unknown'}`"
        + (f" + uncommitted changes in {changed} tracked files" if changed else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": f"{load1:.2f} / {load5:.2f}",
    }


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False).stdout.strip()


def render(info: dict[str, str], quick: bool, jpegs: list[bytes], rates: list[Rate],
           served: list[PhaseResult], startup_s: float) -> str:
    kb = statistics.mean(len(j) for j in jpegs) / 1000
    lines = [
        f"## Served vs. in-process throughput (profile `{PROFILE}`{', --quick' if quick else ''})",
        "",
        f"- Date {info['date']}, commit {info['commit']}; `python -m benchmarks.serving_vs_inprocess"
        f"{' --quick' if quick else ''}`",
        f"- Machine: nproc {info['nproc']}, {info['cpu']}, {info['ram']} RAM; load average (1/5 min) "
        f"before the run {info['load']}",
        f"- Images: {len(jpegs)} distinct {IMAGE_SIZE[0]}×{IMAGE_SIZE[1]} JPEGs, mean {kb:.0f} KB; image work = "
        "decode (2-worker pool) + every image backend of the profile + OCR (2-worker pool), as in the replica. "
        "Texts: one short ad copy each.",
        f"- Service: `start_local` (Ray on 2 CPUs, `configs/serve/cpu.yaml`, no LLM), ready in {startup_s:.0f} s; "
        "the load client (aiohttp) runs on the same machine.",
        "",
        *render_inprocess(rates),
        "",
        *render_served(served),
        "",
        *render_ratios(rates, served),
    ]
    return "\n".join(lines)


def render_inprocess(rates: list[Rate]) -> list[str]:
    lines = [
        "### In-process (one process, no Ray)",
        "",
        "| Path | Threads | Batch | Items | Seconds | Items/s | Other processes (cores) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rates:
        unit = "images" if r.path == "image" else "texts"
        lines.append(f"| {r.path} | {r.threads} | {r.batch} | {r.items} {unit} | {r.seconds:.2f} | {r.per_s:.1f} "
                     f"| {r.others_cores:.2f} |")
    lines += ["", "Batching speedup (best batch ÷ batch 1):", ""]
    for path in ("image", "text"):
        for threads in ("replica settings", TWO_THREADS):
            top, one = best(rates, path, threads), at_batch(rates, path, threads, 1)
            lines.append(f"- {path}, {threads}: ×{top.per_s / one.per_s:.2f} (batch {top.batch})")
    lines += [
        "",
        "Replica settings: torch 1 intra-op thread (`torch_threads` in the profile), ONNX Runtime 1 thread "
        "(the open-nsfw backend's setup), decode pool of 2. 2 torch threads: the same with `torch.set_num_threads(2)`; "
        "ONNX Runtime stays at 1 (2 ORT + 2 torch threads in one process thrash on this machine).",
    ]
    return lines


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


def render_ratios(rates: list[Rate], served: list[PhaseResult]) -> list[str]:
    by_key = {res.phase.key: res for res in served}
    lines = [
        "### Ratios (served ÷ in-process best batch)",
        "",
        "| Served | In-process baseline | Ratio |",
        "|---|---|---:|",
    ]
    for key, path in (("single", "image"), ("batch", "image"), ("text", "text")):
        res = by_key[key]
        for threads in ("replica settings", TWO_THREADS):
            base = best(rates, path, threads)
            lines.append(
                f"| {res.phase.title}: {res.items_per_s:.1f}/s | {path}, {threads}, batch {base.batch}: "
                f"{base.per_s:.1f}/s | {res.items_per_s / base.per_s:.2f} |"
            )
    return lines


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small request counts (smoke run)")
    parser.add_argument("--out", type=Path, help="write/replace this benchmark's section in a Markdown file")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL

    info = machine_info()
    jpegs = make_jpegs()
    rates = measure_inprocess(plan, jpegs)
    gc.collect()
    served, startup_s = measure_served(plan, jpegs)
    report = render(info, args.quick, jpegs, rates, served, startup_s)
    print(report)
    if args.out:
        write_section(args.out, report, key="serving_vs_inprocess")
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
