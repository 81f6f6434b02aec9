"""`adrisk serve` (what `make serve` runs) starts a ready service, answers the README example,
and stops cleanly on SIGTERM, leaving no Ray process behind. Runs before the session service."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx

from serving.config import PROJECT_ROOT
from tests.conftest import free_port


def ray_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "raylet" in line or "gcs_server" in line]


def test_adrisk_serve_answers_the_readme_example_and_stops_cleanly(tmp_path):
    before = set(ray_processes())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "serve", "--port", str(port),
         "--store", str(tmp_path / "decisions.sqlite3")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise AssertionError("adrisk serve never became ready")
        example = json.loads((PROJECT_ROOT / "examples" / "review.json").read_text())
        resp = httpx.post(f"{url}/v1/review", json=example, timeout=60)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["scores"]["scam_fraud"] > 0.5 and body["scores"]["phishing"] > 0.5
        assert body["decision"]["action"] == "suspend_account"  # egregious + 3-day unverified account
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stdout.read()[-3000:]
    time.sleep(2)
    assert set(ray_processes()) - before == set()
