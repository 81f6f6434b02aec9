"""The figures and the report of `adrisk pages eval` (evaluation/page_eval.py): actions per run, variant
and kind, each page signal's firing (and whether it alone reaches review), precision against the
hand-written positives, the model evidence as scored and as counted after the page evidence gate, and
what drives the pages that are not approved; written as report.md + metrics.json.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from evaluation.page_cases import HTML_ONLY, SYNTHETIC_POSITIVES, WITH_URL, PageOutcome

ACTIONS = ("approve", "deboost", "human_review", "reject", "suspend_account")
# Model evidence about the page (scored by the text heads, the URL head and the page-phishing head).
PAGE_TEXT_SOURCES = ("landing_page.title", "landing_page.meta", "landing_page.text")
MODEL_SOURCES = (*PAGE_TEXT_SOURCES, "landing_page.url", "landing_page.phishing_head")
_COUNTED = re.compile(r"\[counted ([0-9.]+), not ([0-9.]+):")


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
                  "evaluation/page_cases.py (SYNTHETIC_POSITIVES), not real phishing: precision here is "
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
                  "CONTENT_POSITIVES in evaluation/page_cases.py: the page text is the only evidence of the "
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
