"""One quality record: the README's table is exactly what the served artifacts say (`adrisk quality`)."""

from __future__ import annotations

import re

from core.config import PROJECT_ROOT, load_config, resolve_project_path
from models.quality import UNMEASURED, load_record, render_markdown

CONFIG = load_config("cpu")


def record():
    return load_record(CONFIG, resolve_project_path(CONFIG.heads.text), resolve_project_path(CONFIG.heads.page))


def test_every_category_has_a_record_and_the_unmeasured_say_so():
    rec = record()
    assert list(rec) == CONFIG.taxonomy.ids
    for category, q in rec.items():
        assert q.benign_commercial is not None and q.benign_commercial.n > 1000, category
        if q.measured:
            assert q.heldout and all(h.n_pos > 0 and h.n_neg > 0 for h in q.heldout), category
        else:
            assert q.status == UNMEASURED and not q.heldout, category
    assert {"weapons", "counterfeit_ip", "malware_cloaking"} <= {c for c, q in rec.items() if not q.measured}
    assert {"scam_fraud", "misleading_claims", "misinformation_political", "privacy_personal_data",
            "ai_generated_manipulated", "phishing"} <= {c for c, q in rec.items() if q.measured}
    phishing = {h.kind for h in rec["phishing"].heldout}
    assert {"trained_url_head", "page_head:url_page", "page_head:page_only"} <= phishing


def test_readme_carries_the_same_table():
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"<!-- quality-record:begin -->\n(.*?)\n<!-- quality-record:end -->", readme, re.S)
    assert block, "README lost its quality-record block"
    assert block.group(1).strip() == render_markdown(record()).strip(), "README table is stale: paste `adrisk quality`"
