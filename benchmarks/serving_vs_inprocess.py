"""Served throughput vs. the same models run in-process, measured in one run on one machine.

1. In-process (no Ray): the replica's image engine (models/image_engine.py, the very class the
   ImageRiskModel deployment wraps: decode, every image backend, OCR, pHash, the merge) at batch
   sizes 1/8/16, and the text replicas' work (the encoder's predict, the RiskScorer's head set on the
   jobs the pipeline builds) at batch sizes 1/32; first with the replicas' thread settings
   (the backends' setup() applies the profile), then with two torch threads.
2. Served (benchmarks/served_load.py): `start_local` on a free port with a throw-away decision
   store, then an aiohttp client at a fixed concurrency: one image per /v1/review, 16 one-image
   ads per /v1/review:batch, and one short ad copy per /v1/review, with the batch sizes the
   deployments achieved, server-side stage times and the CPU each process used.

    .venv/bin/python -m benchmarks.serving_vs_inprocess [--quick] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import base64
import gc
import itertools
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import CpuMeter, cpu_seconds, machine_info, process_title
from benchmarks.report import write_section
from benchmarks.served_load import Phase, PhaseResult, log, measure_served, render_served
from core.config import load_config

# Re-exported: benchmarks/hops.py and benchmarks/known_bad.py import these from here.
__all__ = ["CpuMeter", "cpu_seconds", "machine_info", "main", "make_jpegs", "process_title"]

PROFILE = "cpu"

IMAGE_SIZE = (1280, 960)
JPEG_QUALITY = 93  # ~150 KB per image
DISTINCT_IMAGES = 8
IMAGE_BATCHES = (1, 8, 16)
TEXT_BATCHES = (1, 32)
TWO_THREADS = "2 torch threads"
ADS_PER_BATCH_CALL = 16
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
    """The replica's image engine and text encoder, in this process, at each batch size."""
    import torch

    from models.contracts import Medium
    from models.image_engine import ImageEngine
    from models.text_encoder import SentenceTransformerEncoder

    config = load_config(PROFILE)
    images = ImageEngine(config)
    images.setup()
    encoder = SentenceTransformerEncoder(config.text_encoder)
    encoder.setup()
    media = [Medium("image", raw) for raw in jpegs]
    texts = [ad_copy(i) for i in range(max(TEXT_BATCHES) * 4)]
    text_work = replica_text_work(config, encoder, texts)
    rates: list[Rate] = []
    try:
        for label, threads in (("replica settings", None), (TWO_THREADS, 2)):
            if threads:
                # ONNX Runtime stays at the 1 thread the open-nsfw backend pins: with 2 ORT threads and
                # 2 torch threads in one process, the two pools thrash on 2 cores.
                torch.set_num_threads(threads)
            rates += [timed_batches("image", label, images.predict, media, b, plan.inproc_images)
                      for b in IMAGE_BATCHES]
            rates += [timed_batches("text", label, text_work, texts, b, plan.inproc_texts) for b in TEXT_BATCHES]
    finally:
        images.close()
    return rates


def replica_text_work(config, encoder, pool: list[str]) -> Callable[[list[str]], object]:
    """What the served text path's replicas do for a batch of ad copies: the TextEncoder's predict
    (float16 rows) and the RiskScorer's HeadScorer on the jobs the pipeline builds from each ad (built
    here once per text of the pool: taking an ad apart is the ingress's work, not the replicas')."""
    from core.config import resolve_project_path
    from core.schemas import ReviewRequest
    from models.page_phishing import PagePhishingHead
    from models.scoring import HeadScorer, ScoreJob
    from serving.stages.extract import prepare

    scorer = HeadScorer(config)
    scorer.setup()
    page_head = PagePhishingHead.load(resolve_project_path(config.heads.page))
    ads = {text: prepare(ReviewRequest.model_validate({"request_id": f"bench-{i}", "creative": {"text": text}}),
                         config, None, page_head) for i, text in enumerate(pool)}

    def run(texts: list[str]) -> None:
        prepared = [ads[text] for text in texts]
        rows = [v.astype(np.float16) for v in encoder.predict([p.text for ad in prepared for p in ad.texts])]
        jobs, at = [], 0
        for ad in prepared:
            jobs.append(ScoreJob(texts=ad.texts, text_embeddings=np.stack(rows[at:at + len(ad.texts)]), url=ad.url,
                                 signals=ad.signals, page_gate=ad.page_gate))
            at += len(ad.texts)
        scorer.predict(jobs)

    return run


def best(rates: list[Rate], path: str, threads: str) -> Rate:
    return max((r for r in rates if r.path == path and r.threads == threads), key=lambda r: r.per_s)


def at_batch(rates: list[Rate], path: str, threads: str, batch: int) -> Rate:
    return next(r for r in rates if r.path == path and r.threads == threads and r.batch == batch)


# ---------------------------------------------------------------------------------- served
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


# --------------------------------------------------------------------------------- report
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
        "the replica's own ImageEngine (models/image_engine.py): decode (2-worker pool), every image backend "
        "of the profile, OCR (2-worker pool), pHash and the per-category merge. Texts: one short ad copy each; "
        "text work = the TextEncoder's predict (float16 rows) + the RiskScorer's head set on each ad's job.",
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
    served, startup_s = measure_served(PROFILE, build_phases(plan, jpegs), plan.phase_cap_s)
    report = render(info, args.quick, jpegs, rates, served, startup_s)
    print(report)
    if args.out:
        write_section(args.out, report, key="serving_vs_inprocess")
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
