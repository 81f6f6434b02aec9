"""`adrisk serve` (what `make serve` runs) starts a ready service, answers the README example,
and stops cleanly on SIGTERM (exit 0), leaving no Ray or vLLM process of its cluster behind.
Runs before the session service. (The other ways it stops: tests/test_cli_stops.py.)"""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from core.config import PROJECT_ROOT
from tests.stops import assert_running_cluster, start_serve, wait_clean


@pytest.mark.slow
def test_adrisk_serve_answers_the_readme_example_and_stops_cleanly(tmp_path):
    served = start_serve(tmp_path)
    try:
        example = json.loads((PROJECT_ROOT / "examples" / "review.json").read_text())
        resp = httpx.post(f"{served.url}/v1/review", json=example, timeout=60)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["scores"]["scam_fraud"] > 0.5 and body["scores"]["phishing"] > 0.5
        assert body["decision"]["action"] == "suspend_account"  # egregious + 3-day unverified account
        assert_running_cluster(served)
        since = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        assert served.wait_exit(90) == 0, served.output()[-3000:]
        elapsed = wait_clean(served, since)
        print(f"SIGTERM: exit 0, nothing left after {elapsed:.1f} s")
    finally:
        served.kill_everything()
