"""`adrisk eval`, `calibrate` and `ab` as a user runs them, against the session's real service."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from core.config import load_config
from core.store import SQLiteDecisionStore
from evaluation.dataset import build_shared_set, write_set
from tests.test_service_feedback import BORDERLINE, CHARGEBACKS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def adrisk(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "commands.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def test_eval_then_calibrate_on_held_out_shared_data(service, tmp_path):
    data = tmp_path / "set.jsonl"
    pool = build_shared_set(SHARED, per_source=200)
    picked = []
    for source in ("sms", "hatecheck", "davidson", "openai_moderation", "phishing_urls"):
        rows = [ex for ex in pool if ex.source == source]
        positive = [ex for ex in rows if any(ex.labels.values())][:6]
        picked += positive + [ex for ex in rows if not any(ex.labels.values())][:12 - len(positive)]
    write_set(data, picked)
    logged_before = SQLiteDecisionStore(service.store_path).count()
    report = tmp_path / "report"
    out = adrisk("eval", "--data", str(data), "--report", str(report), "--url", service.url, "--batch-size", "8")
    assert "leak rate" in out.stdout

    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["n"] == 60 and metrics["errors"] == 0
    assert set(metrics["sources"]) == {"sms", "hatecheck", "davidson", "openai_moderation", "phishing_urls"}
    for category in ("scam_fraud", "phishing", "hate_harassment"):
        m = metrics["categories"][category]
        assert 0 <= m["auprc"] <= 1 and 0 <= m["leak_rate"] <= 1 and len(m["sweep"]) == 19
    assert metrics["categories"]["phishing"]["auprc"] > metrics["categories"]["phishing"]["prevalence"]
    assert 0 <= metrics["overall"]["overkill"] <= 1
    for png in ("pr_curves.png", "threshold_sweeps.png", "calibration.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (report / "report.md").read_text()
    assert "| scam_fraud |" in md and "![" in md and "<table>" in (report / "report.html").read_text()
    assert SQLiteDecisionStore(service.store_path).count() == logged_before  # record: false

    # Fit on this run, check on another (here: the same small set again, as a second file), preview
    # against the policy in force on the service's decision log, then write.
    check = tmp_path / "check.jsonl"
    check.write_text((report / "results.jsonl").read_text())
    policy_file = tmp_path / "v3.yaml"
    dry = adrisk("calibrate", "--results", str(report / "results.jsonl"), "--check", str(check),
                 "--min-positives", "5", "--version", "3-test", "--out", str(policy_file),
                 "--store", str(service.store_path), "--dry-run")
    assert "preview against the policy in force (default@2)" in dry.stdout and "agreement" in dry.stdout
    assert "checked on" in dry.stdout and "nothing written" in dry.stdout and not policy_file.exists()
    cal = adrisk("calibrate", "--results", str(report / "results.jsonl"), "--check", str(check),
                 "--min-positives", "5", "--version", "3-test", "--out", str(policy_file),
                 "--store", str(service.store_path))
    assert "phishing:" in cal.stdout and "weapons: kept" in cal.stdout
    doc = yaml.safe_load(policy_file.read_text())
    assert doc["version"] == "3-test" and "phishing" in doc["thresholds"]
    assert "written by `adrisk calibrate`" in policy_file.read_text()
    config = load_config("cpu", {"policy_doc": doc})
    assert config.thresholds("phishing").reject == doc["thresholds"]["phishing"]["reject"]
    for category in config.taxonomy.ids:  # the review band never collapses into reject
        assert config.thresholds(category).review < config.thresholds(category).reject, category


def test_ab_replays_the_decision_log_under_two_policies(client, service, tmp_path):
    request_id = f"ab-{uuid.uuid4().hex[:8]}"
    body = client.post("/v1/review", json={"request_id": request_id, "creative": {"text": BORDERLINE},
                                           "conversion": CHARGEBACKS}).json()
    assert body["decision"]["action"] == "human_review"  # v2's chargeback rule
    client.post("/v1/feedback", json={"request_id": request_id, "reviewer": "dana", "final_action": "reject",
                                      "labels": {"scam_fraud": True}})
    report = tmp_path / "ab.md"
    out = adrisk("ab", "--store", str(service.store_path), "--a", "policy/v1.yaml", "--b", "policy/v2.yaml",
                 "--report", str(report))
    assert "A = default@1, B = default@2" in out.stdout
    assert "| approve → human_review |" in out.stdout  # v1 had no fusion: it approved this one
    assert report.read_text() == out.stdout.rstrip("\n") + "\n"
    line = next(x for x in out.stdout.splitlines() if x.startswith("- With a reviewer verdict"))
    assert "sided with A" in line and not line.startswith("- With a reviewer verdict: 0;")


def test_retraining_with_reviewer_verdicts_ships_only_a_better_head_set(client, service, tmp_path):
    verdicts = [("Claim your guaranteed crypto airdrop, connect your wallet today", "reject", {"scam_fraud": True}),
                ("Handmade oak furniture, free delivery in the city", "approve", {})]
    for text, action, labels in verdicts:
        request_id = f"fb-train-{uuid.uuid4().hex[:8]}"
        client.post("/v1/review", json={"request_id": request_id, "creative": {"text": text}})
        client.post("/v1/feedback", json={"request_id": request_id, "reviewer": "erin", "final_action": action,
                                          "labels": labels})
    weak = tmp_path / "weak-current"
    adrisk("train-heads", "--limit", "400", "--out", str(weak))
    candidate = tmp_path / "candidate"
    out = adrisk("train-heads", "--with-feedback", str(service.store_path), "--limit", "3000", "--version", "2",
                 "--current", str(weak), "--out", str(candidate))
    rows = int(out.stdout.split(" text rows from reviewer verdicts")[0].split()[-1])
    assert rows >= 2
    comparison = json.loads((candidate / "comparison.json").read_text())
    assert comparison["beats_current"] and "shipped:" in out.stdout
    assert json.loads((weak / "manifest.json").read_text())["feedback_rows"] == rows  # the candidate now serves
    assert (tmp_path / "weak-current.prev" / "weights.npz").exists()
    assert "mean AUPRC" in out.stdout and "current" in out.stdout  # both are reported

    # Against a stronger head set (the committed one, all of the shared data) a small candidate loses.
    small = adrisk("train-heads", "--with-feedback", str(service.store_path), "--limit", "400", "--version", "3",
                   "--out", str(tmp_path / "small"), "--no-ship")
    assert "does not beat the current heads: not shipped" in small.stdout
    assert not json.loads((tmp_path / "small" / "comparison.json").read_text())["beats_current"]
