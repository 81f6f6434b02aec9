"""Every adrisk Prometheus metric, declared once (prometheus-client), recorded in whichever replica
does the work, exposed at GET /metrics by the ingress.

Ray Serve runs each replica in its own process. The launcher gives every process of a session one
`PROMETHEUS_MULTIPROC_DIR`, so the batch sizes recorded in the model replicas, the tokens in the
LLM replica and the request latencies in the ingress are all merged at scrape time by
prometheus-client's MultiProcessCollector. vLLM records its own metrics (`vllm:...`) in that
directory too; they are exposed as `adrisk_llm_vllm_...`, because `promtool check metrics` rejects
colons in scraped names (they are reserved for recording rules). Without that variable (a process on
its own), the metrics live in this module's registry and vLLM's are not exposed. Metric names are the
Grafana dashboard's contract (`deployments/grafana/adrisk.json`, checked by a test).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _mp
from prometheus_client.metrics_core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)

REQUESTS = Counter("adrisk_requests", "Requests answered, by protocol, route (template) and status.",
                   ["protocol", "route", "status"], registry=REGISTRY)
REQUEST_SECONDS = Histogram("adrisk_request_duration_seconds", "End-to-end request latency in the ingress.",
                            ["protocol", "route"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
STAGE_SECONDS = Histogram("adrisk_stage_duration_seconds",
                          "Latency of one review stage: prepare, image_models (decode + models + OCR), "
                          "text_encoder, scorer (heads), policy, llm, store.",
                          ["stage"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
BATCH_SIZE = Histogram("adrisk_batch_size", "Items per @serve.batch call, per deployment.",
                       ["deployment"], buckets=BATCH_BUCKETS, registry=REGISTRY)
IN_FLIGHT = Gauge("adrisk_in_flight_requests", "Calls waiting on or running in a deployment (queue depth).",
                  ["deployment"], multiprocess_mode="livesum", registry=REGISTRY)
DECISIONS = Counter("adrisk_decisions", "Decisions made, by action and policy version.",
                    ["action", "policy_version"], registry=REGISTRY)
DECISION_CATEGORIES = Counter("adrisk_decision_categories", "Categories that drove a decision, by action.",
                              ["category", "action"], registry=REGISTRY)
FUSION_RULES = Counter("adrisk_fusion_rules_fired", "Fusion rules (and known_bad matches) that fired.",
                       ["rule"], registry=REGISTRY)
MODEL_INFO = Gauge("adrisk_model_info", "1 for each model/policy version serving (labels: component, version).",
                   ["component", "version"], multiprocess_mode="max", registry=REGISTRY)
LLM_TOKENS = Counter("adrisk_llm_tokens", "LLM tokens processed, by kind (prompt, generation).",
                     ["kind"], registry=REGISTRY)
LLM_TTFT = Histogram("adrisk_llm_time_to_first_token_seconds", "LLM time to first token per diagnosis.",
                     buckets=LATENCY_BUCKETS, registry=REGISTRY)
LLM_SUMMARIES = Counter("adrisk_llm_summaries", "Reviews by summary status (ok, timeout, unavailable, ...).",
                        ["status"], registry=REGISTRY)


@contextmanager
def in_flight(deployment: str) -> Iterator[None]:
    gauge = IN_FLIGHT.labels(deployment)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


VLLM_PREFIX = "vllm:"
VLLM_RENAMED = "adrisk_llm_vllm_"


def renamed_vllm(family: Metric) -> Metric:
    """vLLM's `vllm:x` family as `adrisk_llm_vllm_x`, labels and values unchanged. A name ending in
    _total is kept for counters only (vLLM's `vllm:iteration_tokens_total` is a histogram)."""
    name = VLLM_RENAMED + family.name.removeprefix(VLLM_PREFIX)
    if family.type != "counter":
        name = name.removesuffix("_total")
    out = Metric(name, family.documentation, family.type)
    out.samples = [s._replace(name=name + s.name[len(family.name):]) for s in family.samples]
    return out


class SessionCollector:
    """Every process's metrics in the multiprocess directory, merged, vLLM's renamed."""

    def __init__(self) -> None:
        self._merged = _mp.MultiProcessCollector(None)

    def collect(self) -> Iterator[Metric]:
        for family in self._merged.collect():
            yield renamed_vllm(family) if family.name.startswith(VLLM_PREFIX) else family


def exposition() -> bytes:
    """The text exposition: merged over every process of the session when multiprocess is on."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        registry.register(SessionCollector())
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def process_exited(pid: int | None = None) -> None:
    """Drop a finished process's live gauges (call from a replica's shutdown)."""
    if os.environ.get(MULTIPROC_ENV):
        _mp.mark_process_dead(pid or os.getpid())


METRIC_NAMES = sorted({
    "adrisk_requests_total", "adrisk_request_duration_seconds", "adrisk_stage_duration_seconds",
    "adrisk_batch_size", "adrisk_in_flight_requests", "adrisk_decisions_total", "adrisk_decision_categories_total",
    "adrisk_fusion_rules_fired_total", "adrisk_model_info", "adrisk_llm_tokens_total",
    "adrisk_llm_time_to_first_token_seconds", "adrisk_llm_summaries_total",
})
