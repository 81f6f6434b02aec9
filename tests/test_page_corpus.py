"""Real benign pages through the review pipeline: a corpus built without network, evaluated in-process.

`adrisk pages build` fetches pinned packages; this test cannot count on the network, so it builds
a small corpus from HTML pages already installed here (pages shipped inside the venv's packages,
Debian documentation under /usr/share/doc) with the same builder, then runs `adrisk pages eval
--in-process` on it: the ingress's ReviewPipeline with in-process model calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commands.cli import main
from evaluation.page_corpus import (
    AS_PUBLISHED,
    SNIPPETS,
    TAGGED,
    CorpusError,
    SourceSpec,
    build_corpus,
    check_licence,
    inject,
    installed_html_sources,
    load_corpus_config,
    snippets_for,
    with_local_sources,
)
from multimodal.page import analyze_page

MAX_REVIEW_SHARE = 0.05
SEVERITY = {"approve": 0, "deboost": 1, "human_review": 2, "reject": 3, "suspend_account": 3}
# The synthetic positives of evaluation/page_eval.py and the least each must get: what page signals
# 2026.12.1 gave them (README "Landing pages"). js-redirect-cloak sent as HTML alone was approved then
# too (a script redirect to an absolute URL, with no page URL to compare it with, is 0.3). The drive-by
# page with its URL was rejected then as phishing by the URL+page head on a page that asks for nothing;
# it is caught now as what it is, malware_cloaking (hidden iframe to an unknown host), at review.
CAUGHT_AT_LEAST = {
    ("bank-credential-harvest", "html"): "reject", ("bank-credential-harvest", "url+html"): "reject",
    ("wallet-seed-phrase", "html"): "human_review", ("wallet-seed-phrase", "url+html"): "human_review",
    ("paypal-kit-relative-post", "html"): "human_review", ("paypal-kit-relative-post", "url+html"): "reject",
    ("microsoft-cross-domain", "html"): "human_review", ("microsoft-cross-domain", "url+html"): "reject",
    ("hidden-iframe-drive-by", "html"): "human_review", ("hidden-iframe-drive-by", "url+html"): "human_review",
    ("js-redirect-cloak", "html"): "approve", ("js-redirect-cloak", "url+html"): "human_review",
    ("fake-update-download", "html"): "reject", ("fake-update-download", "url+html"): "reject",
}


def test_config_pins_permissive_sources():
    config = load_corpus_config()
    assert len(config.sources) >= 15
    for spec in config.sources:
        assert spec.version and spec.registry in ("npm", "pypi", "deb")
        assert spec.license in ("MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "PSF-2.0")
    with pytest.raises(ValueError, match="not one of"):
        SourceSpec(registry="npm", name="x", version="1", license="GPL-3.0", include=["*"], kind="app")


def test_licence_statement_is_checked():
    npm = SourceSpec(registry="npm", name="x", version="1", license="MIT", include=["*"], kind="app")
    check_licence(npm, json.dumps({"license": "MIT"}))
    with pytest.raises(CorpusError, match="GPL"):
        check_licence(npm, json.dumps({"license": "GPL-3.0"}))
    deb = SourceSpec(registry="deb", name="x", version="1", license="BSD-3-Clause", license_terms=["BSD"],
                     include=["*"], kind="docs")
    with pytest.raises(CorpusError, match="no licence statement"):
        check_licence(deb, None)


def test_snippets_are_injected_where_vendors_put_them():
    page = "<!doctype html><html><head><title>Shop</title></head><body><p>Hello</p></body></html>"
    tagged = inject(page, snippets_for(0))
    assert tagged.index("googletagmanager.com/gtm.js") < tagged.index("</head>")
    assert tagged.index("<body>") < tagged.index("ns.html?id=GTM-") < tagged.index("<p>Hello")
    every = {name for i in range(len(SNIPPETS)) for name in snippets_for(i)}
    assert every == set(SNIPPETS)  # the rotation reaches every snippet
    a = analyze_page(inject(page, list(SNIPPETS)))
    assert len(a.iframes) >= 4 and a.hidden_iframes >= 1  # GTM's noscript iframe is hidden by design


def _installed_corpus(tmp_path: Path) -> Path:
    specs = installed_html_sources(limit_per_root=8)
    if not specs:
        pytest.skip("no installed HTML pages found")
    out = tmp_path / "corpus"
    result = build_corpus(with_local_sources(specs), out, tmp_path / "cache", log=lambda _: None)
    if result.pages < 6:
        pytest.skip(f"only {result.pages} installed pages found")
    assert result.by_variant[AS_PUBLISHED] == result.by_variant[TAGGED]
    return out


@pytest.mark.slow  # builds a corpus and reviews every page in-process
def test_installed_pages_build_and_none_is_rejected(tmp_path: Path):
    out = _installed_corpus(tmp_path)
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    for line in lines:
        data = (out / line["file"]).read_bytes()
        assert line["sha256"] and len(data) > 0 and line["variant"] in (AS_PUBLISHED, TAGGED)
    report = tmp_path / "report"
    assert main(["pages", "eval", "--corpus", str(out), "--report", str(report), "--in-process", "--with-url",
                 "--no-progress"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    group = metrics["groups"]["html / all"]
    assert group["n"] == len(lines) and group["errors"] == 0
    # The corpus guarantee (README "Landing pages"): no real legitimate page is rejected, and at most 5%
    # of them (4xx/5xx pages aside: a destination problem by definition) go to a reviewer.
    assert group["action_counts"]["reject"] == 0 and group["action_counts"]["suspend_account"] == 0
    assert group["actions_without_error_pages"]["human_review"] <= MAX_REVIEW_SHARE, metrics["not_approved"]
    # The snippets real sites carry (tag managers, embeds, chat) must not be what sends a page to review.
    tagged = metrics["groups"]["html / with_third_party_tags"]["signals"]
    assert tagged["hidden_iframe"]["fired"] == 0
    assert tagged["missing_business_identity"]["alone_reaches_review"] == 0
    assert tagged["js_redirect"]["alone_reaches_review"] == 0
    # ... while the hand-written phishing pages still trip the signals meant for them, and every one of
    # them is still caught at least as firmly as before the page evidence gate.
    synthetic = {(row["id"], row["mode"]): row for row in metrics["synthetic_positives"]}
    for (page, mode), floor in CAUGHT_AT_LEAST.items():
        row = synthetic[(f"synthetic:{page}", mode)]
        assert SEVERITY[row["action"]] >= SEVERITY[floor], (page, mode, row)
    assert synthetic[("synthetic:wallet-seed-phrase", "html")]["signals"]["credential_field"] >= 0.8
    assert synthetic[("synthetic:hidden-iframe-drive-by", "html")]["signals"]["hidden_iframe"] >= 0.5
    assert (report / "report.md").read_text().startswith("# Landing-page corpus evaluation")
