"""core.metrics.exposition() through the real `promtool check metrics`, without a service: the
adrisk metrics recorded in one process and metrics named the way vLLM names its own (`vllm:...`,
a `_total` histogram) in another, merged from one PROMETHEUS_MULTIPROC_DIR as the ingress merges
its replicas. The live service's /metrics, with real vLLM metrics, is checked in
test_service_metrics.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import multiprocess as mp

from core import metrics
from core.config import PROJECT_ROOT
from tests.exposition import dashboard_series, promtool_complaints, sample_names, value

RECORD_ADRISK = """
from core import metrics as m
m.REQUESTS.labels("http", "/v1/review", "200").inc()
m.REQUEST_SECONDS.labels("http", "/v1/review").observe(0.05)
m.STAGE_SECONDS.labels("scorer").observe(0.01)
m.BATCH_SIZE.labels("TextEncoder").observe(4)
m.IN_FLIGHT.labels("TextEncoder").inc()
m.DECISIONS.labels("reject", "default@2").inc()
m.DECISION_CATEGORIES.labels("scam", "reject").inc()
m.FUSION_RULES.labels("known_bad").inc()
m.MODEL_INFO.labels("policy", "default@2").set(1)
m.LLM_TOKENS.labels("prompt").inc(300)
m.LLM_TTFT.observe(0.4)
m.LLM_SUMMARIES.labels("ok").inc()
"""
RECORD_VLLM_STYLE = """
from prometheus_client import Counter, Gauge, Histogram
Counter("vllm:prompt_tokens", "Number of prefill tokens processed.", ["model_name"]).labels("m").inc(319)
Histogram("vllm:iteration_tokens_total", "Tokens per engine step.", buckets=(1, 8, 64)).observe(12)
Gauge("vllm:num_requests_running", "Requests in model execution batches.", multiprocess_mode="mostrecent").set(1)
"""


@pytest.fixture(scope="module")
def merged_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("multiproc")
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory), "PYTHONPATH": str(PROJECT_ROOT)}
    for code in (RECORD_ADRISK, RECORD_VLLM_STYLE):  # two processes, like two replicas
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    return directory


@pytest.fixture
def text(merged_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(merged_dir))
    return metrics.exposition().decode()


def test_merged_exposition_passes_promtool_with_vllm_metrics_renamed(text):
    assert promtool_complaints(text) == ""
    assert not [n for n in sample_names(text) if ":" in n]
    assert value(text, "adrisk_llm_vllm_prompt_tokens_total") == 319  # a counter keeps _total
    assert value(text, "adrisk_llm_vllm_iteration_tokens_count") == 1  # a histogram loses it
    assert value(text, "adrisk_llm_vllm_iteration_tokens_sum") == 12
    assert value(text, "adrisk_llm_vllm_num_requests_running") == 1
    assert value(text, "adrisk_batch_size_count") == 1 and value(text, "adrisk_llm_tokens_total") == 300


def test_promtool_rejects_the_names_vllm_writes(merged_dir):
    """Why they are renamed, and proof that the promtool check can fail."""
    raw = CollectorRegistry()
    mp.MultiProcessCollector(raw, path=str(merged_dir))
    complaints = promtool_complaints(generate_latest(raw).decode())
    assert "vllm:prompt_tokens_total metric names should not contain ':'" in complaints
    assert 'vllm:iteration_tokens_total non-counter metrics should not have "_total" suffix' in complaints


def test_every_series_the_dashboard_queries_is_exported(text):
    own = {name for name in dashboard_series() if not name.startswith(metrics.VLLM_RENAMED)}
    assert own - sample_names(text) == set()  # exact names: `_bucket` only on histograms, `_total` on counters
    series = {name: {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"} for name in metrics.METRIC_NAMES}
    assert [name for name in metrics.METRIC_NAMES if not series[name] & own] == [], "metrics with no panel"
