"""One quality record for all 18 categories: what backs each score and how well it is measured.

Built from the artifacts' own manifests (text head set, page-phishing head), the profile's image
models and the page-signal rules, so the README table (`adrisk quality`), the `adrisk eval` report and
`GET /v1/taxonomy` show the same record. A category whose scores rest on nothing labelled says so
in plain words: "unmeasured: no labelled data".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.config import AdriskConfig, resolve_config_path
from core.schemas import BenignCommercial, CategoryQuality, HeldoutFigures, QualityBacking, ThresholdFigures
from models.scoring import UNMEASURED


def _figures(kind: str, data: str, doc: dict[str, Any]) -> HeldoutFigures:
    return HeldoutFigures(
        kind=kind, data=data, n_pos=int(doc["n_pos"]), n_neg=int(doc["n_neg"]), auprc=doc.get("auprc"),
        review=ThresholdFigures(**doc["review"]), reject=ThresholdFigures(**doc["reject"]),
    )


def _from_binary(review: dict[str, Any], reject: dict[str, Any]) -> dict[str, Any]:
    """A manifest's binary_metrics pair (at review, at reject) in the record's shape."""
    def one(m: dict[str, Any]) -> dict[str, Any]:
        return {"threshold": m["threshold"], "precision": m["precision"], "recall": m["recall"],
                "fpr": m["overkill"]}
    return {"n_pos": reject["n_pos"], "n_neg": reject["n_neg"], "auprc": reject["auprc"],
            "review": one(review), "reject": one(reject)}


def page_signal_categories() -> dict[str, list[str]]:
    doc = yaml.safe_load(resolve_config_path("page_signals.yaml").read_text())
    out: dict[str, list[str]] = {}
    for name, signal in doc["signals"].items():
        out.setdefault(signal["category"], []).append(name)
    return out


def quality_record(config: AdriskConfig, heads_manifest: dict[str, Any],
                   page_manifest: dict[str, Any] | None = None) -> dict[str, CategoryQuality]:
    """category id → its record, in taxonomy order."""
    text_heads = heads_manifest.get("heads", {})
    measured_text = heads_manifest.get("quality", {})
    signals = page_signal_categories()
    ident = f"{heads_manifest['name']}@{heads_manifest['version']}"
    record: dict[str, CategoryQuality] = {}
    for category in config.taxonomy.ids:
        backing: list[QualityBacking] = []
        heldout: list[HeldoutFigures] = []
        q = measured_text.get(category, {})
        if category in text_heads and "heldout" in q:
            data = text_heads[category]["data"]
            backing.append(QualityBacking(kind="trained_text_head", name=ident, data=data, measured=True))
            heldout.append(_figures("trained_text_head", data, q["heldout"]))
        else:
            backing.append(QualityBacking(kind="zero_shot_text", name=ident, measured=False,
                                          data="taxonomy prompts, centred on benign training text"))
        if category == "phishing":
            url = heads_manifest["url_head"]
            backing.append(QualityBacking(kind="trained_url_head", name=ident, data=url["data"], measured=True))
            if "metrics_at_review_threshold" in url:
                heldout.append(_figures("trained_url_head", url["data"],
                                        _from_binary(url["metrics_at_review_threshold"], url["metrics"])))
            if page_manifest is not None:
                page_id = f"{page_manifest['name']}@{page_manifest['version']}"
                for key, note in (("url_page", "URL features adrisk computes + the CSV's page-content columns"),
                                  ("page_only", "the CSV's page-content columns (HTML alone)")):
                    info = page_manifest["models"][key]
                    backing.append(QualityBacking(kind=f"page_head:{key}", name=page_id, measured=True,
                                                  data=f"phishing_urls: {note}"))
                    if "metrics_at_reject_threshold" in info:
                        heldout.append(_figures(f"page_head:{key}", note, _from_binary(
                            info["metrics"], info["metrics_at_reject_threshold"])))
        for name in signals.get(category, []):
            backing.append(QualityBacking(kind="page_signal", name=name, measured=False,
                                          data="configs/page_signals.yaml rules"))
        for model in config.image_models:
            if category in model.categories:
                backing.append(QualityBacking(kind=f"image:{model.backend}", name=f"{model.name}@{model.version}",
                                              measured=False, data="no labelled ad images"))
        if category in ("destination_quality", "misleading_claims"):
            backing.append(QualityBacking(kind="copy_page_mismatch", name="embedding cosine", measured=False))
        benign = q.get("benign_commercial")
        unmeasured = [b.kind for b in backing if not b.measured]
        if not heldout:
            status = UNMEASURED
        elif unmeasured:
            status = "measured: " + ", ".join(h.kind for h in heldout) + "; unmeasured: " + ", ".join(unmeasured)
        else:
            status = "measured: " + ", ".join(h.kind for h in heldout)
        record[category] = CategoryQuality(
            measured=bool(heldout), status=status, backing=backing, heldout=heldout,
            benign_commercial=BenignCommercial(**benign) if benign else None,
        )
    return record


def load_record(config: AdriskConfig, heads_dir: Path, page_dir: Path | None) -> dict[str, CategoryQuality]:
    import json

    heads_manifest = json.loads((heads_dir / "manifest.json").read_text())
    page_manifest = None
    if page_dir is not None and (page_dir / "manifest.json").exists():
        page_manifest = json.loads((page_dir / "manifest.json").read_text())
    return quality_record(config, heads_manifest, page_manifest)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


QUALITY_HEADER = ["category", "backing (measured in bold)", "held-out pos / neg", "AUPRC", "P / R at review",
                  "P / R at reject", "benign commercial text at review / reject", "status"]


def quality_rows(record: dict[str, CategoryQuality]) -> list[list[str]]:
    """One row per category and measured backing: the README, the eval report and `adrisk quality`."""
    rows = []
    for category, q in record.items():
        others = ", ".join(sorted({b.kind for b in q.backing if not b.measured}))
        benign = (f"{_pct(q.benign_commercial.at_review)} / {_pct(q.benign_commercial.at_reject)}"
                  if q.benign_commercial else "—")
        if not q.heldout:
            rows.append([category, others, "—", "—", "—", "—", benign, UNMEASURED])
            continue
        status = "measured" + (f"; {others} unmeasured" if others else "")
        for i, h in enumerate(q.heldout):
            first = i == 0
            rows.append([
                category if first else "",
                f"**{h.kind}** ({h.data})" + (f"; {others}" if first and others else ""),
                f"{h.n_pos} / {h.n_neg}", _num(h.auprc),
                f"{_num(h.review.precision)} / {_num(h.review.recall)}",
                f"{_num(h.reject.precision)} / {_num(h.reject.recall)}",
                benign if first else "", status if first else "",
            ])
    return rows


def render_markdown(record: dict[str, CategoryQuality]) -> str:
    lines = ["| " + " | ".join(QUALITY_HEADER) + " |", "|" + "---|" * len(QUALITY_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in quality_rows(record)]
    return "\n".join(lines)
