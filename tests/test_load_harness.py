"""The load harness as `make load` runs it (short and small here): payloads, locust with HTTP and
gRPC users in its own process, and the Markdown summary."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from load_tests.payloads import build


def test_payloads_are_deterministic():
    assert build(seed=7, n=8) == build(seed=7, n=8)
    assert build(seed=7, n=8) != build(seed=8, n=8)


def test_short_load_run_against_the_service(service, tmp_path):
    out = tmp_path / "load"
    done = subprocess.run(
        [sys.executable, "-m", "load_tests.run", "--url", service.url, "--grpc", service.grpc_target,
         "--users", "4", "--spawn-rate", "4", "--time", "8s", "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    with (out / "stats_stats.csv").open() as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert int(rows["Aggregated"]["Request Count"]) >= 10
    assert any(name.startswith("http ") for name in rows) and any(name.startswith("grpc ") for name in rows)
    assert int(rows["Aggregated"]["Failure Count"]) == 0, (out / "stats_failures.csv").read_text()
    summary = (out / "summary.md").read_text()
    assert "| p50 ms |" in summary and "http text" in summary
    assert (out / "report.html").stat().st_size > 1000


@pytest.mark.slow  # starts locust in a child process
def test_only_loopback_targets(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "load_tests/locustfile.py", "--headless", "-u", "1", "-t", "2s",
         "--host", "http://10.0.0.1:8000"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "LOAD_PAYLOADS": str(_payloads(tmp_path)), "PYTHONPATH": "."})
    assert done.returncode != 0 and "127.0.0.1 only" in done.stdout + done.stderr


def _payloads(tmp_path):
    import json

    path = tmp_path / "p.json"
    path.write_text(json.dumps(build(n=4)))
    return path
