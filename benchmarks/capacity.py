"""The capacity model on paper (docs/capacity.md): cores, GPUs, replicas and database load for N
ads/day at a traffic mix, from the per-stage costs in configs/capacity.yaml.

    python -m benchmarks.capacity                                  # 1M, 10M, 100M ads/day
    python -m benchmarks.capacity --ads-per-day 3e6 --set mix.ads_per_call=1 --set mix.video_share=0.3
    python -m benchmarks.capacity pages [--dir var/page-corpus/pages]   # re-measure the page parse cost
    python -m benchmarks.capacity doc                              # refresh the tables in docs/capacity.md

No measurement happens here except `pages`; the plan is arithmetic on the YAML, whose every cost
says whether it was measured here (where, when), derived, published elsewhere or assumed.

Each stage's load at the peak second is `rate x cost`; a pool is sized so that it runs at
`planning.target_utilisation` at that peak. Per-call costs (the Serve hops) are divided among the
ads of a call; per-ad and per-item costs are not.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config import CONFIG_DIR, PROJECT_ROOT

DEFAULT_CONFIG = CONFIG_DIR / "capacity.yaml"
DOC = PROJECT_ROOT / "docs" / "capacity.md"
DEFAULT_SIZES = (1_000_000, 10_000_000, 100_000_000)
SECONDS_PER_DAY = 86_400
MIB = 1024 * 1024

COST_NAMES = (
    "proxy_cpu_per_call", "proxy_cpu_per_ad", "ingress_cpu_per_call", "ingress_cpu_per_ad",
    "encoder_hop_cpu_per_call", "encoder_hop_cpu_per_ad", "scorer_cpu_per_call", "scorer_cpu_per_ad",
    "non_model_split", "text_model_cpu_per_text", "page_parse_cpu_per_page", "image_decode_cpu_per_image",
    "video_decode_cpu_per_second", "ocr_cpu_per_item", "known_bad_match_cpu_per_ad",
    "gpu_fp16_tflops", "gpu_memory_bandwidth_gbs", "gpu_compute_efficiency", "gpu_bandwidth_efficiency",
    "image_tflop_per_image", "text_gpu_per_text", "text_gpu_per_page_chunk",
    "llm_language_params_b", "llm_vision_params_b", "llm_weights_gb", "llm_prompt_text_tokens",
    "llm_tokens_per_image", "llm_output_tokens", "llm_decode_batch",
    "db_decisions_per_s_text_only", "db_decisions_per_s_few_hashes", "db_few_hashes",
    "db_decisions_per_s_many_hashes", "db_many_hashes",
    "decision_row_bytes", "sighting_row_bytes", "diagnosis_bytes",
    "bank_bytes_per_hash_held", "bank_bytes_per_hash_first_load",
)
VISION_PATCHES_PER_TOKEN = 4  # Qwen2.5-VL merges 2x2 patches of 14 px into one 28-px token


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cost(_Strict):
    value: float = Field(ge=0)
    kind: Literal["measured", "derived", "public", "assumed"]
    source: str = Field(min_length=10, description="where the figure comes from: doc section and date, "
                        "publisher, or the arithmetic")


class Planning(_Strict):
    peak_to_average: float = Field(ge=1)
    target_utilisation: float = Field(gt=0, le=1)
    process_cores: float = Field(gt=0)


class Mix(_Strict):
    ads_per_call: int = Field(ge=1, le=64)  # limits.max_batch_items
    text_share: float = Field(ge=0, le=1)
    image_share: float = Field(ge=0, le=1)
    images_per_image_ad: float = Field(ge=0, le=16)  # limits.max_images
    video_share: float = Field(ge=0, le=1)
    video_seconds: float = Field(ge=0)
    video_frames: int = Field(16, ge=0, le=128)  # limits.video_max_frames
    video_ocr_frames: int = Field(4, ge=0)  # video.ocr_frames
    page_share: float = Field(ge=0, le=1)
    page_chunks: float = Field(ge=0, le=64)
    ocr_text_share: float = Field(ge=0, le=1)
    summary_share: float = Field(ge=0, le=1)
    llm_images_per_summary: float = Field(ge=0, le=16)
    bank_share: float = Field(ge=0, le=1)
    bank_hashes_per_ad: float = Field(ge=0)
    bank_retention_days: float = Field(ge=0)

    @model_validator(mode="after")
    def _media_shares(self) -> Mix:
        if self.image_share + self.video_share > 1:
            raise ValueError("image_share + video_share must be <= 1 (the model counts them as distinct ads)")
        if self.video_ocr_frames > self.video_frames:
            raise ValueError("video_ocr_frames cannot exceed video_frames")
        return self


class Replicas(_Strict):
    ocr_workers_per_image_replica: int = Field(ge=1)
    image_gpu_fraction: float = Field(gt=0, le=1)
    text_gpu_fraction: float = Field(gt=0, le=1)
    llm_gpus_per_replica: int = Field(ge=1)
    min_ingress: int = Field(ge=1)


class CapacityModel(_Strict):
    planning: Planning
    mix: Mix
    costs: dict[str, Cost]
    replicas: Replicas

    @model_validator(mode="after")
    def _every_cost_named(self) -> CapacityModel:
        missing = sorted(set(COST_NAMES) - set(self.costs))
        unknown = sorted(set(self.costs) - set(COST_NAMES))
        if missing or unknown:
            raise ValueError(f"costs: missing {missing or 'none'}, unknown {unknown or 'none'}")
        for name in ("gpu_compute_efficiency", "gpu_bandwidth_efficiency", "non_model_split"):
            if not 0 < self.costs[name].value <= 1:
                raise ValueError(f"costs.{name} must be in (0, 1]")
        for name in ("db_decisions_per_s_text_only", "db_decisions_per_s_few_hashes", "db_decisions_per_s_many_hashes",
                     "gpu_fp16_tflops", "gpu_memory_bandwidth_gbs", "llm_decode_batch", "db_few_hashes"):
            if self.costs[name].value <= 0:
                raise ValueError(f"costs.{name} must be positive")
        if self.costs["db_many_hashes"].value <= self.costs["db_few_hashes"].value:
            raise ValueError("costs.db_many_hashes must exceed costs.db_few_hashes")
        return self

    def cost(self, name: str) -> float:
        return self.costs[name].value


def load_model(path: Path | str = DEFAULT_CONFIG) -> CapacityModel:
    try:
        with Path(path).open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return CapacityModel.model_validate(doc)


def with_changes(model: CapacityModel, changes: dict[str, Any]) -> CapacityModel:
    """A validated copy with `section.key` values replaced (`mix.ads_per_call`, `planning.peak_to_average`,
    `costs.ocr_cpu_per_item` for a cost's value, `replicas.image_gpu_fraction`)."""
    doc = model.model_dump()
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if section not in doc or not key:
            raise ValueError(f"--set {dotted}: expected planning.X, mix.X, costs.X or replicas.X")
        if section == "costs":
            if key not in doc["costs"]:
                raise ValueError(f"--set {dotted}: no such cost")
            doc["costs"][key] = {**doc["costs"][key], "value": value,
                                 "kind": "assumed", "source": "set on the command line"}
        else:
            if key not in doc[section]:
                raise ValueError(f"--set {dotted}: no such key")
            doc[section][key] = value
    return CapacityModel.model_validate(doc)


@dataclass(frozen=True)
class Plan:
    """Loads at the peak second and the pools sized for them."""

    ads_per_day: float
    peak_ads_per_s: float
    calls_per_s: float
    # CPU cores busy at the peak, by stage
    cpu_proxy: float
    cpu_ingress: float
    cpu_hops: float  # encoder and scorer replicas' Serve work
    cpu_image: float  # decode + OCR + video decode, in the ImageRiskModel replicas
    cpu_ocr: float  # of which OCR
    # GPU-seconds per second at the peak, by stage
    gpu_image: float
    gpu_text: float
    gpu_llm: float
    llm_gpu_s_per_summary: float
    # replicas
    proxies: int
    ingress: int
    image: int
    text: int
    scorer: int
    llm: int
    # database
    decisions_per_s: float
    hash_decisions_per_s: float
    sightings_per_s: float
    summary_updates_per_s: float
    db_bytes_per_s: float
    db_gb_per_day: float
    db_box_load: float  # share of what the measured 2-core box sustained
    db_lock_load: float  # hash-bearing commits / their measured rate (they take turns: the id-order lock)
    # known-bad bank per ingress replica
    bank_hashes: float
    bank_mib_held: float
    bank_gib_first_load: float
    target_utilisation: float

    @property
    def cpu_busy(self) -> float:
        return self.cpu_proxy + self.cpu_ingress + self.cpu_hops + self.cpu_image

    @property
    def cpu_provision(self) -> float:
        return self.cpu_busy / self.target_utilisation

    @property
    def gpu_busy(self) -> float:
        return self.gpu_image + self.gpu_text + self.gpu_llm


def llm_gpu_seconds_per_summary(model: CapacityModel) -> float:
    """Prefill (compute-bound) plus this diagnosis's share of the decode steps (bandwidth-bound)."""
    c, m = model.cost, model.mix
    image_tokens = m.llm_images_per_summary * c("llm_tokens_per_image")
    prefill_flop = (2 * c("llm_language_params_b") * 1e9 * (c("llm_prompt_text_tokens") + image_tokens)
                    + 2 * c("llm_vision_params_b") * 1e9 * image_tokens * VISION_PATCHES_PER_TOKEN)
    compute = c("gpu_fp16_tflops") * 1e12 * c("gpu_compute_efficiency")
    step_s = c("llm_weights_gb") / (c("gpu_memory_bandwidth_gbs") * c("gpu_bandwidth_efficiency"))
    return prefill_flop / compute + c("llm_output_tokens") * step_s / c("llm_decode_batch")


def hash_commit_seconds(model: CapacityModel, hashes: float) -> float:
    """Seconds of the measured box per decision carrying `hashes` sightings: a line through the two
    measured points (a fixed part, the commit under the id-order lock, plus a part per hash)."""
    c = model.cost
    few, many = c("db_few_hashes"), c("db_many_hashes")
    t_few, t_many = 1 / c("db_decisions_per_s_few_hashes"), 1 / c("db_decisions_per_s_many_hashes")
    per_hash = (t_many - t_few) / (many - few)
    return t_few + (hashes - few) * per_hash


def plan(model: CapacityModel, ads_per_day: float) -> Plan:
    c, m, p, r = model.cost, model.mix, model.planning, model.replicas
    u = p.target_utilisation
    peak = ads_per_day / SECONDS_PER_DAY * p.peak_to_average
    calls = peak / m.ads_per_call
    media_share = m.image_share + m.video_share  # ads with images or a video (distinct by the mix's rule)
    calls_with_media = calls * (1 - (1 - media_share) ** m.ads_per_call)

    images = m.image_share * m.images_per_image_ad  # per ad
    frames = m.video_share * m.video_frames
    ocr_items = images + m.video_share * m.video_ocr_frames
    sightings = images + frames
    short_texts = m.text_share + ocr_items * m.ocr_text_share
    page_chunks = m.page_share * m.page_chunks

    cpu_proxy = calls * c("proxy_cpu_per_call") + peak * c("proxy_cpu_per_ad")
    cpu_ingress = calls * c("ingress_cpu_per_call") + peak * (
        c("ingress_cpu_per_ad") + m.page_share * c("page_parse_cpu_per_page")
        + media_share * c("known_bad_match_cpu_per_ad"))
    cpu_text_hop = calls * c("encoder_hop_cpu_per_call") + peak * c("encoder_hop_cpu_per_ad")
    cpu_image_hop = calls_with_media * c("encoder_hop_cpu_per_call") + peak * media_share * c("encoder_hop_cpu_per_ad")
    cpu_scorer = calls * c("scorer_cpu_per_call") + peak * c("scorer_cpu_per_ad")
    cpu_ocr = peak * ocr_items * c("ocr_cpu_per_item")
    cpu_image = cpu_ocr + peak * (images * c("image_decode_cpu_per_image")
                                  + m.video_share * m.video_seconds * c("video_decode_cpu_per_second"))

    gpu_per_image = c("image_tflop_per_image") * 1e12 / (c("gpu_fp16_tflops") * 1e12 * c("gpu_compute_efficiency"))
    gpu_image = peak * sightings * gpu_per_image  # every still image and sampled frame
    gpu_text = peak * (short_texts * c("text_gpu_per_text") + page_chunks * c("text_gpu_per_page_chunk"))
    per_summary = llm_gpu_seconds_per_summary(model)
    gpu_llm = peak * m.summary_share * per_summary

    def pool(load: float, per_replica: float, least: int = 1) -> int:
        return max(least, math.ceil(load / (per_replica * u) - 1e-9))

    image_replicas = max(pool(cpu_ocr, r.ocr_workers_per_image_replica),  # one OCR item per worker at a time
                         pool(gpu_image, r.image_gpu_fraction), pool(cpu_image_hop, p.process_cores))
    text_replicas = max(pool(gpu_text, r.text_gpu_fraction), pool(cpu_text_hop, p.process_cores))

    decisions = peak
    hash_decisions = peak * media_share
    sightings_s = peak * sightings
    updates = peak * m.summary_share
    row, sight = c("decision_row_bytes"), c("sighting_row_bytes")
    db_bytes = decisions * row + sightings_s * sight + updates * (row + c("diagnosis_bytes"))
    text_only_cost = 1 / c("db_decisions_per_s_text_only")
    hashes_per_hash_decision = sightings / media_share if media_share else 0.0
    hash_commit_s = hash_commit_seconds(model, hashes_per_hash_decision)
    db_lock_load = hash_decisions * hash_commit_s
    db_box_load = (decisions - hash_decisions + updates) * text_only_cost + db_lock_load

    bank_hashes = ads_per_day * m.bank_share * m.bank_hashes_per_ad * m.bank_retention_days
    return Plan(
        ads_per_day=ads_per_day, peak_ads_per_s=peak, calls_per_s=calls,
        cpu_proxy=cpu_proxy, cpu_ingress=cpu_ingress, cpu_hops=cpu_text_hop + cpu_image_hop + cpu_scorer,
        cpu_image=cpu_image, cpu_ocr=cpu_ocr,
        gpu_image=gpu_image, gpu_text=gpu_text, gpu_llm=gpu_llm, llm_gpu_s_per_summary=per_summary,
        proxies=pool(cpu_proxy, p.process_cores), ingress=pool(cpu_ingress, p.process_cores, r.min_ingress),
        image=image_replicas, text=text_replicas, scorer=pool(cpu_scorer, p.process_cores),
        llm=pool(gpu_llm, r.llm_gpus_per_replica),
        decisions_per_s=decisions, hash_decisions_per_s=hash_decisions, sightings_per_s=sightings_s,
        summary_updates_per_s=updates, db_bytes_per_s=db_bytes,
        db_gb_per_day=db_bytes / p.peak_to_average * SECONDS_PER_DAY / 1e9,
        db_box_load=db_box_load, db_lock_load=db_lock_load,
        bank_hashes=bank_hashes, bank_mib_held=bank_hashes * c("bank_bytes_per_hash_held") / MIB,
        bank_gib_first_load=bank_hashes * c("bank_bytes_per_hash_first_load") / MIB / 1024,
        target_utilisation=u,
    )


def gpus_allocated(model: CapacityModel, result: Plan) -> float:
    """GPUs the replicas reserve (fractions added up): what the cluster must hold."""
    r = model.replicas
    return (result.image * r.image_gpu_fraction + result.text * r.text_gpu_fraction
            + result.llm * r.llm_gpus_per_replica)


def _n(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ads(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def render(model: CapacityModel, plans: Sequence[Plan]) -> str:
    p, m = model.planning, model.mix
    rows: list[tuple[str, list[str]]] = [
        ("peak ads/s (calls/s)", [f"{_n(x.peak_ads_per_s)} ({_n(x.calls_per_s)})" for x in plans]),
        ("CPU busy: proxies", [_n(x.cpu_proxy) for x in plans]),
        ("CPU busy: ingress (incl. page parse, known-bad)", [_n(x.cpu_ingress) for x in plans]),
        ("CPU busy: encoder + scorer Serve hops", [_n(x.cpu_hops) for x in plans]),
        ("CPU busy: image decode + OCR (of which OCR)", [f"{_n(x.cpu_image)} ({_n(x.cpu_ocr)})" for x in plans]),
        ("**CPU cores to provision** (busy / utilisation)", [f"**{_n(x.cpu_provision)}**" for x in plans]),
        ("GPU busy: image models", [_n(x.gpu_image) for x in plans]),
        ("GPU busy: text encoder", [_n(x.gpu_text) for x in plans]),
        ("GPU busy: LLM diagnoses", [_n(x.gpu_llm) for x in plans]),
        ("**GPUs reserved by the replicas**", [f"**{_n(gpus_allocated(model, x))}**" for x in plans]),
        ("replicas: proxy / ingress / scorer", [f"{x.proxies} / {x.ingress} / {x.scorer}" for x in plans]),
        ("replicas: image / text / LLM", [f"{x.image} / {x.text} / {x.llm}" for x in plans]),
        ("DB: decisions/s (with hashes)", [f"{_n(x.decisions_per_s)} ({_n(x.hash_decisions_per_s)})" for x in plans]),
        ("DB: sighting rows/s, summary updates/s", [f"{_n(x.sightings_per_s)}, {_n(x.summary_updates_per_s)}"
                                                   for x in plans]),
        ("DB: MB/s written at peak (GB/day)", [f"{_n(x.db_bytes_per_s / 1e6)} ({_n(x.db_gb_per_day)})" for x in plans]),
        ("DB: load vs the measured 2-core box", [f"{x.db_box_load:.0%}" for x in plans]),
        ("DB: hash-bearing commits vs their measured rate (id-order lock)", [f"{x.db_lock_load:.0%}" for x in plans]),
        (f"known-bad bank after {m.bank_retention_days:g} days: hashes", [_ads(x.bank_hashes) for x in plans]),
        ("bank per ingress replica: held MiB (first load GiB)", [f"{_n(x.bank_mib_held)} ({_n(x.bank_gib_first_load)})"
                                                              for x in plans]),
    ]
    header = "| ads/day | " + " | ".join(_ads(x.ads_per_day) for x in plans) + " |"
    lines = [header, "|---|" + "---:|" * len(plans)]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows]
    per_summary = plans[0].llm_gpu_s_per_summary if plans else llm_gpu_seconds_per_summary(model)
    per_call = f"{m.ads_per_call} ad{'s' if m.ads_per_call != 1 else ''} per call"
    lines += ["", f"Peak {p.peak_to_average:g}x average, pools at {p.target_utilisation:.0%} at the peak; "
              f"{per_call}; LLM {per_summary:.2f} GPU-s per diagnosis."]
    return "\n".join(lines)


def measure_pages(directory: Path) -> dict[str, float]:
    """Process CPU time of analyze_page (what the ingress runs per landing page) over real pages."""
    from multimodal.page import analyze_page

    files = sorted(f for f in directory.glob("*.html") if not f.stem.endswith("--tagged"))
    if not files:
        raise SystemExit(f"no .html pages in {directory} (adrisk pages build writes them)")
    docs = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    analyze_page(docs[0], "https://example.com/")  # warm: rules and parser loaded
    times = []
    for doc in docs:
        start = time.process_time()
        analyze_page(doc, "https://example.com/landing")
        times.append(time.process_time() - start)
    sizes = [len(d.encode()) for d in docs]
    times.sort()
    return {"pages": len(docs), "html_kb_median": statistics.median(sizes) / 1024,
            "html_kb_mean": statistics.mean(sizes) / 1024, "ms_mean": 1e3 * statistics.mean(times),
            "ms_median": 1e3 * statistics.median(times), "ms_p90": 1e3 * times[int(0.9 * len(times))]}


def doc_tables(model: CapacityModel) -> dict[str, str]:
    """The generated blocks of docs/capacity.md: the default mix, and one ad per call."""
    single = with_changes(model, {"mix.ads_per_call": 1})
    return {"default": render(model, [plan(model, n) for n in DEFAULT_SIZES]),
            "one-ad-calls": render(single, [plan(single, n) for n in DEFAULT_SIZES])}


def write_doc(model: CapacityModel, path: Path = DOC) -> None:
    text = path.read_text(encoding="utf-8")
    for key, table in doc_tables(model).items():
        start, end = f"<!-- capacity:{key}:start -->", f"<!-- capacity:{key}:end -->"
        i, j = text.index(start), text.index(end)
        text = text[:i + len(start)] + "\n" + table + "\n" + text[j:]
    path.write_text(text, encoding="utf-8")


def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item}: expected section.key=value")
        out[key.strip()] = yaml.safe_load(raw)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("plan", "pages", "sources", "doc"), default="plan")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--ads-per-day", type=float, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one input, e.g. mix.ads_per_call=1 or costs.ocr_cpu_per_item=0.1")
    parser.add_argument("--dir", type=Path, default=PROJECT_ROOT / "var" / "page-corpus" / "pages")
    args = parser.parse_args(argv)
    if args.command == "pages":
        stats = measure_pages(args.dir)
        print(f"{stats['pages']} pages (HTML median {stats['html_kb_median']:.0f} KB, "
              f"mean {stats['html_kb_mean']:.0f} KB): analyze_page CPU mean {stats['ms_mean']:.1f} ms, "
              f"median {stats['ms_median']:.1f} ms, p90 {stats['ms_p90']:.1f} ms")
        return 0
    try:
        model = with_changes(load_model(args.config), _parse_set(args.set))
    except ValueError as exc:  # pydantic's ValidationError included
        print(f"capacity: {exc}", file=sys.stderr)
        return 2
    if args.command == "doc":
        write_doc(model)
        print(f"wrote the tables of {DOC.relative_to(PROJECT_ROOT)}")
        return 0
    if args.command == "sources":
        for name in COST_NAMES:
            cost = model.costs[name]
            print(f"{name} = {cost.value:g} [{cost.kind}] {cost.source}")
        return 0
    print(render(model, [plan(model, n) for n in args.ads_per_day]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
