"""Page evidence gate: model scores about an analysed landing page held to what its own structure shows."""

from __future__ import annotations

import pytest

from core.config import load_config, resolve_project_path
from models.heads import HeadSet
from models.scoring import ScoreJob, Signal, score_job
from multimodal.page import analyze_page
from multimodal.page_evidence import page_evidence_gate, phishing_support
from multimodal.page_rules import load_page_signals

CONFIG = load_config("cpu", {"llm": None})
RULES = load_page_signals().model_evidence

LOGIN = """<html><head><title>Sign in · Team Hub</title></head><body><h1>Sign in</h1>
<form action="/hub/login" method="post"><label for="u">Username</label><input id="u" name="username">
<label for="p">Password</label><input id="p" type="password" name="password"><button>Sign in</button></form>
</body></html>"""
CHECKOUT = """<html><head><title>Checkout</title></head><body><form action="/pay" method="post">
<label for="c">Card number</label><input id="c" name="cc-number" autocomplete="cc-number">
<label for="v">CVV</label><input id="v" name="cvv"></form></body></html>"""
HARVEST = """<html><head><title>Online banking</title></head><body>
<form action="https://collect.example.ru/gate.php" method="post"><input type="password" name="pass">
<input name="cardnumber" autocomplete="cc-number"></form></body></html>"""
DOCS = "<html><head><title>tarfile — Read and write tar archive files</title></head><body><p>Docs.</p></body></html>"


def support(html: str, url: str | None = None) -> str:
    return phishing_support(analyze_page(html, url).signals, RULES)[0]


def gate(html: str, url: str | None = None):
    return page_evidence_gate(analyze_page(html, url).signals, CONFIG)


def counted(g, *candidates):
    return {(c, s): (score, detail) for c, s, score, detail in g.apply(list(candidates))}


def test_support_comes_from_the_pages_own_phishing_signals():
    assert support(LOGIN) == "none"  # a login form posting to its own site: ordinary
    assert support(LOGIN, "https://hub.example.org/hub/login") == "none"
    assert support(DOCS, "https://docs.python.org/3.11/library/tarfile.html") == "none"
    assert support(CHECKOUT) == "weak"  # card fields on a checkout: ordinary, but a way to take secrets
    assert support(HARVEST) == "strong"  # password + card, form destination unknown: two distinct signals
    assert support(HARVEST, "https://bank.example.com/") == "strong"  # posts off-site
    brand = LOGIN.replace("Team Hub", "PayPal")
    assert support(brand, "http://paypal.com-secure.example.xyz/") == "strong"


def test_no_support_caps_url_models_below_review_and_page_text_one_band_weaker():
    review, reject = CONFIG.thresholds("phishing").review, CONFIG.thresholds("phishing").reject
    out = counted(gate(DOCS, "https://docs.python.org/3.11/library/tarfile.html"),
                  ("phishing", "landing_page.url", 0.97, "URL head"),
                  ("phishing", "landing_page.phishing_head", 0.95, "page-phishing@2 (URL+page model)"),
                  ("phishing", "landing_page.text[1]", 0.8, "zero-shot"),
                  ("phishing", "landing_page.title", 0.95, "zero-shot"),
                  ("phishing", "creative.text", 0.3, "zero-shot"))
    assert out[("phishing", "landing_page.url")][0] < review
    assert out[("phishing", "landing_page.phishing_head")][0] < review
    assert out[("phishing", "landing_page.text[1]")][0] < review  # below reject: cited, below review
    assert review <= out[("phishing", "landing_page.title")][0] < reject  # at reject: review, never reject
    assert out[("phishing", "creative.text")][0] == 0.3  # the ad's own copy is not page evidence
    detail = out[("phishing", "landing_page.url")][1]
    assert detail.startswith("URL head [counted ") and "not 0.97" in detail and "asks for no credentials" in detail


def test_weak_support_caps_below_reject_and_strong_support_counts_in_full():
    review, reject = CONFIG.thresholds("phishing").review, CONFIG.thresholds("phishing").reject
    weak = counted(gate(CHECKOUT, "https://getbootstrap.com/docs/5.2/examples/checkout/"),
                   ("phishing", "landing_page.phishing_head", 0.97, "m"), ("phishing", "landing_page.text", 0.7, "m"))
    assert review <= weak[("phishing", "landing_page.phishing_head")][0] < reject
    assert weak[("phishing", "landing_page.text")][0] == 0.7
    strong = counted(gate(HARVEST, "https://bank.example.com/"), ("phishing", "landing_page.url", 0.99, "m"),
                     ("phishing", "landing_page.text", 0.96, "m"))
    assert strong[("phishing", "landing_page.url")] == (0.99, "m")
    assert strong[("phishing", "landing_page.text")] == (0.96, "m")


def test_an_independent_source_at_review_lifts_the_caps():
    out = counted(gate(DOCS), ("phishing", "landing_page.url", 0.95, "m"), ("phishing", "creative.text", 0.6, "m"),
                  ("scam_fraud", "landing_page.text", 0.9, "m"), ("scam_fraud", "image[0].ocr", 0.55, "m"))
    assert out[("phishing", "landing_page.url")][0] == 0.95
    assert out[("scam_fraud", "landing_page.text")][0] == 0.9


@pytest.mark.parametrize(("category", "score", "expect"), [
    ("scam_fraud", 0.7, "below_review"),  # rejects: [review, reject) → cited only
    ("scam_fraud", 0.95, "review"),  # ≥ reject → review, not reject
    ("misleading_claims", 0.7, "below_review"),
    ("misleading_claims", 0.95, "as_scored"),  # a deboost category keeps its deboost
    ("adult_sexual", 0.7, "as_scored"),  # not listed: no benign page text reaches its review threshold
    ("destination_quality", 0.9, "as_scored"),  # a 404 page is a destination problem: scored as is
])
def test_page_text_of_listed_categories_is_one_band_weaker(category, score, expect):
    t = CONFIG.thresholds(category)
    got = counted(gate(DOCS), (category, "landing_page.text[0]", score, "m"))[(category, "landing_page.text[0]")][0]
    if expect == "below_review":
        assert got < t.review
    elif expect == "review":
        assert t.review <= got < t.reject
    else:
        assert got == score


def test_scorer_applies_the_gate_and_cites_what_was_capped():
    heads = HeadSet.load(resolve_project_path(CONFIG.heads.text), CONFIG.taxonomy, CONFIG.heads.zero_shot_scale,
                         CONFIG.heads.zero_shot_bias)
    head = Signal("phishing", "landing_page.phishing_head", 0.55, "page-phishing@2 (HTML-only model ×0.6)")
    plain = score_job(ScoreJob(signals=[head]), heads)
    gated = score_job(ScoreJob(signals=[head], page_gate=gate(DOCS)), heads)
    assert plain.scores["phishing"] == pytest.approx(0.55)
    assert gated.scores["phishing"] < CONFIG.thresholds("phishing").review
    cited = [e for e in gated.evidence if e["source"] == "landing_page.phishing_head"]
    assert cited and "HTML-only" in cited[0]["detail"] and "not 0.55" in cited[0]["detail"]
