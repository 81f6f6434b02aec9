"""The capacity model (benchmarks/capacity.py, configs/capacity.yaml, docs/capacity.md): its
arithmetic on a case worked by hand, the shipped inputs validated and sourced, and the tables in
the doc the ones the shipped inputs give."""

from __future__ import annotations

import math
import re

import pytest

from benchmarks import capacity
from core.config import PROJECT_ROOT


def _cost(value: float) -> dict:
    return {"value": value, "kind": "assumed", "source": "a hand-worked test case"}


def hand_model() -> capacity.CapacityModel:
    costs = {name: _cost(0.0) for name in capacity.COST_NAMES}
    costs.update({name: _cost(v) for name, v in {
        "proxy_cpu_per_call": 0.01, "ingress_cpu_per_call": 0.02, "ingress_cpu_per_ad": 0.01,
        "page_parse_cpu_per_page": 0.02, "known_bad_match_cpu_per_ad": 0.01, "non_model_split": 1.0,
        "image_decode_cpu_per_image": 0.005, "ocr_cpu_per_item": 0.1,
        "gpu_fp16_tflops": 100, "gpu_compute_efficiency": 0.5, "gpu_memory_bandwidth_gbs": 100,
        "gpu_bandwidth_efficiency": 0.5, "image_tflop_per_image": 0.5,
        "text_gpu_per_text": 0.001, "text_gpu_per_page_chunk": 0.002,
        "llm_language_params_b": 1, "llm_weights_gb": 10, "llm_prompt_text_tokens": 1000,
        "llm_output_tokens": 10, "llm_decode_batch": 10,
        "db_decisions_per_s_text_only": 1000, "db_decisions_per_s_few_hashes": 250, "db_few_hashes": 2,
        "db_decisions_per_s_many_hashes": 100, "db_many_hashes": 8,
        "decision_row_bytes": 1000, "sighting_row_bytes": 100, "diagnosis_bytes": 500,
        "bank_bytes_per_hash_held": 100, "bank_bytes_per_hash_first_load": 1000,
    }.items()})
    return capacity.CapacityModel.model_validate({
        "planning": {"peak_to_average": 2, "target_utilisation": 0.5, "process_cores": 1},
        "mix": {"ads_per_call": 4, "text_share": 1, "image_share": 0.5, "images_per_image_ad": 2, "video_share": 0,
                "video_seconds": 0, "page_share": 0.5, "page_chunks": 2, "ocr_text_share": 0, "summary_share": 0.1,
                "llm_images_per_summary": 0, "bank_share": 0.1, "bank_hashes_per_ad": 1, "bank_retention_days": 10},
        "costs": costs,
        "replicas": {"ocr_workers_per_image_replica": 2, "image_gpu_fraction": 0.25, "text_gpu_fraction": 0.25,
                     "llm_gpus_per_replica": 1, "min_ingress": 2},
    })


def test_the_plan_of_a_hand_worked_case():
    model = hand_model()
    p = capacity.plan(model, 864_000)  # 10 ads/s on average
    assert p.peak_ads_per_s == pytest.approx(20) and p.calls_per_s == pytest.approx(5)
    assert p.cpu_proxy == pytest.approx(5 * 0.01)
    # per call 0.02; per ad 0.01 + half the ads' page (0.02) + half the ads' known-bad match (0.01)
    assert p.cpu_ingress == pytest.approx(5 * 0.02 + 20 * (0.01 + 0.5 * 0.02 + 0.5 * 0.01))
    assert p.cpu_ocr == pytest.approx(20 * 1 * 0.1)  # one image per ad on average, each OCR'd
    assert p.cpu_image == pytest.approx(2.0 + 20 * 1 * 0.005)
    assert p.cpu_busy == pytest.approx(2.75) and p.cpu_provision == pytest.approx(5.5)
    assert p.gpu_image == pytest.approx(20 * 0.5e12 / 50e12)  # 0.01 GPU-s per image
    assert p.gpu_text == pytest.approx(20 * (0.001 + 0.5 * 2 * 0.002))
    # prefill 2 x 1e9 x 1000 FLOP at 50 TFLOPS = 0.04 s; 10 tokens x (10 GB / 50 GB/s) / 10 in the batch = 0.2 s
    assert p.llm_gpu_s_per_summary == pytest.approx(0.24)
    assert p.gpu_llm == pytest.approx(20 * 0.1 * 0.24)
    assert (p.proxies, p.ingress, p.scorer) == (1, 2, 1)  # 0.05 / 0.5; max(2, 0.6 / 0.5); nothing to score
    assert p.image == 2  # OCR: 2 busy workers / (2 per replica x 0.5); GPU: 0.2 / (0.25 x 0.5) = 1.6
    assert p.text == 1 and p.llm == 1  # 0.06 / 0.125 = 0.48; 0.48 / 0.5 = 0.96
    assert capacity.gpus_allocated(model, p) == pytest.approx(2 * 0.25 + 0.25 + 1)
    assert (p.decisions_per_s, p.hash_decisions_per_s, p.sightings_per_s, p.summary_updates_per_s) == \
        pytest.approx((20, 10, 20, 2))
    assert p.db_bytes_per_s == pytest.approx(20 * 1000 + 20 * 100 + 2 * 1500)
    assert p.db_gb_per_day == pytest.approx(25_000 / 2 * 86_400 / 1e9)
    # text-only and summary writes 1 ms each; 2 hashes 4 ms, 8 hashes 10 ms: 1 ms per hash above 2
    # hashes, so a decision with 2 (1 image per ad / half the ads) costs 4 ms
    assert capacity.hash_commit_seconds(model, 5) == pytest.approx(0.007)
    assert p.db_lock_load == pytest.approx(10 * 0.004)
    assert p.db_box_load == pytest.approx(12 * 0.001 + 10 * 0.004)
    assert p.bank_hashes == pytest.approx(864_000 * 0.1 * 10)
    assert p.bank_mib_held == pytest.approx(86_400_000 / 2**20)
    assert p.bank_gib_first_load == pytest.approx(864_000_000 / 2**30)


def test_one_ad_per_call_pays_the_per_call_costs_once_per_ad():
    model = capacity.with_changes(hand_model(), {"mix.ads_per_call": 1})
    p = capacity.plan(model, 864_000)
    assert p.calls_per_s == pytest.approx(20) and p.cpu_proxy == pytest.approx(20 * 0.01)


def test_the_shipped_inputs_load_and_every_cost_says_where_it_comes_from():
    model = capacity.load_model()
    assert set(model.costs) == set(capacity.COST_NAMES)
    kinds = {c.kind for c in model.costs.values()}
    assert kinds <= {"measured", "derived", "public", "assumed"} and "measured" in kinds
    for name, cost in model.costs.items():
        if cost.kind == "measured":  # measured here: a date says when
            assert re.search(r"20\d\d-\d\d-\d\d", cost.source), name
    # loads grow linearly with the traffic; only the rounding of replicas does not
    small, large = capacity.plan(model, 1e6), capacity.plan(model, 1e7)
    assert large.cpu_busy == pytest.approx(10 * small.cpu_busy)
    assert large.gpu_busy == pytest.approx(10 * small.gpu_busy)
    assert large.db_bytes_per_s == pytest.approx(10 * small.db_bytes_per_s)


def test_bad_inputs_are_refused_at_load():
    model = hand_model()
    for changes in ({"mix.image_share": 0.7, "mix.video_share": 0.5}, {"mix.nope": 1}, {"costs.nope": 1},
                    {"planning.target_utilisation": 1.5}):
        with pytest.raises(ValueError):
            capacity.with_changes(model, changes)
    doc = model.model_dump()
    del doc["costs"]["ocr_cpu_per_item"]
    with pytest.raises(ValueError, match="missing"):
        capacity.CapacityModel.model_validate(doc)


def test_the_tables_in_docs_capacity_are_what_the_shipped_inputs_give():
    text = (PROJECT_ROOT / "docs" / "capacity.md").read_text(encoding="utf-8")
    model = capacity.load_model()
    blocks = dict(re.findall(r"<!-- capacity:(\S+):start -->\n(.*?)\n<!-- capacity:\1:end -->", text, re.S))
    assert blocks == capacity.doc_tables(model), "docs/capacity.md is stale: python -m benchmarks.capacity doc"
    assert not math.isnan(capacity.llm_gpu_seconds_per_summary(model))


def test_the_command_prints_the_plan(capsys):
    assert capacity.main(["--ads-per-day", "2e6", "--set", "mix.ads_per_call=8"]) == 0
    out = capsys.readouterr().out
    assert "| ads/day | 2M |" in out and "8 ads per call" in out
    assert capacity.main(["--set", "mix.video_share=2"]) == 2
