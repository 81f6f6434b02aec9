"""Write an evaluation as Markdown + HTML with PNG plots, plus metrics.json and results.jsonl."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.runner import Outcome


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(1, n))
    return math.ceil(n / cols), cols


def _small_multiples(cats: list[str], path: Path, draw: Callable[[Any, str], None]) -> None:
    """One panel per category, three to a row, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = _grid(len(cats))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, c in zip(axes.flat, cats, strict=False):
        draw(ax, c)
    for ax in list(axes.flat)[len(cats):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plots(metrics: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    cats = list(metrics["categories"])
    if not cats:
        return []

    def pr(ax: Any, c: str) -> None:
        m = metrics["categories"][c]
        ax.plot(m["pr_curve"]["recall"], m["pr_curve"]["precision"], lw=1.8)
        for name, marker in (("at_review", "o"), ("at_reject", "s")):
            which = name.removeprefix("at_")
            ax.plot(m[name]["recall"], m[name]["precision"], marker, ms=7, label=f"{which} {m['thresholds'][which]}")
        ax.axhline(m["prevalence"], color="grey", ls=":", lw=1)
        ax.set(title=f"{c}  AUPRC {m['auprc']:.3f}", xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(fontsize=7, loc="lower left")

    def sweep(ax: Any, c: str) -> None:
        m = metrics["categories"][c]
        xs = [s["threshold"] for s in m["sweep"]]
        ax.plot(xs, [s["precision"] for s in m["sweep"]], label="precision")
        ax.plot(xs, [s["recall"] for s in m["sweep"]], label="recall")
        ax.plot(xs, [s["negatives_flagged"] for s in m["sweep"]], label="negatives flagged", ls="--")
        for t in m["thresholds"].values():
            ax.axvline(t, color="grey", ls=":", lw=1)
        ax.set(title=c, xlabel="threshold", ylim=(0, 1.02))
        ax.legend(fontsize=7)

    def reliability(ax: Any, c: str) -> None:
        cal = metrics["categories"][c]["calibration"]
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        ax.plot([b["mean_score"] for b in cal["bins"]], [b["positive_rate"] for b in cal["bins"]], "o-")
        ax.set(title=f"{c}  ECE {cal['ece']:.3f}", xlabel="mean score", ylabel="positive rate",
               xlim=(0, 1), ylim=(0, 1))

    figures = [
        ("Precision–recall curves (markers: the policy's review and reject thresholds)", "pr_curves.png", pr),
        ("Threshold sweeps (dotted: the policy's thresholds)", "threshold_sweeps.png", sweep),
        ("Calibration (reliability per score bin)", "calibration.png", reliability),
    ]
    for _, png, draw in figures:
        _small_multiples(cats, out / png, draw)
    return [(caption, png) for caption, png, _ in figures]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _tables(metrics: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    o = metrics["overall"]
    overall = ("Overall", ["examples", "errors", "violating", "benign", "leak rate", "overkill (blocked)",
                           "benign → review", "benign → deboost"],
               [[str(metrics["n"]), str(metrics["errors"]), str(o["violating"]), str(o["benign"]), _pct(o["leak_rate"]),
                 _pct(o["overkill"]), _pct(o["benign_review_rate"]), _pct(o["benign_deboost_rate"])]])
    rows = []
    for c, m in metrics["categories"].items():
        rows.append([c, str(m["n"]), str(m["positives"]), f"{m['auprc']:.3f}", f"{m['roc_auc']:.3f}",
                     f"{m['at_review']['precision']:.3f} / {m['at_review']['recall']:.3f} / {m['at_review']['f1']:.3f}",
                     f"{m['at_reject']['precision']:.3f} / {m['at_reject']['recall']:.3f}",
                     _pct(m["leak_rate"]), _pct(m["flag_rate_on_negatives"]), f"{m['calibration']['ece']:.3f}"])
    per_cat = ("Per category (at the policy's thresholds)",
               ["category", "n", "pos", "AUPRC", "ROC AUC", "P / R / F1 at review", "P / R at reject", "leak rate",
                "negatives flagged", "ECE"], rows)
    drivers = sorted({d for row in metrics["confusion"].values() for d in row})
    conf = ("Confusion: violations of a category (rows) and what the decision acted on (columns)",
            ["labeled \\ acted on", *drivers],
            [[c, *[str(row.get(d, 0)) for d in drivers]] for c, row in metrics["confusion"].items()])
    actions = ("Actions", list(metrics["actions"]), [[str(v) for v in metrics["actions"].values()]])
    tables = [overall, per_cat, conf, actions]
    bc = metrics.get("benign_commercial")
    if bc:
        tables.append((
            f"Benign commercial text ({bc['n']} held-out product listings as ad copy): blocked {_pct(bc['blocked'])}, "
            f"to review {_pct(bc['human_review'])}, deboosted {_pct(bc['deboost'])}",
            ["category", "score at review", "score at reject"],
            [[c, _pct(v["at_review"]), _pct(v["at_reject"])] for c, v in bc["categories"].items()]))
    pages = metrics.get("benign_pages")
    if pages:
        rows = []
        for name, g in pages["groups"].items():
            w = g["without_error_pages"]
            rows.append([name, str(g["n"]), _pct(g.get("approve")), _pct(g.get("human_review")), _pct(g.get("deboost")),
                         _pct(g.get("reject")), f"{_pct(w.get('human_review'))} / {_pct(w.get('reject'))}"])
        tables.append((f"Real benign landing pages ({pages['corpus']}; every page is legitimate, so anything but "
                       f"approve is overkill; details in {pages['report']})",
                       ["run / variant", "pages", "approve", "human_review", "deboost", "reject",
                        "review / reject without error pages"], rows))
    return tables


def write_report(metrics: dict[str, Any], outcomes: list[Outcome], out: Path, title: str, notes: list[str],
                 quality: dict[str, Any] | None = None) -> Path:
    """`quality` (models.quality.quality_record) adds the served heads' quality record for all categories."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for o in outcomes:
            fh.write(json.dumps(o.to_json()) + "\n")
    figures = _plots(metrics, out)
    tables = _tables(metrics)
    if quality is not None:
        from models.quality import QUALITY_HEADER, quality_rows

        tables.append(("Quality record of every category (from the served artifacts' held-out figures)",
                       QUALITY_HEADER, quality_rows(quality)))

    md = [f"# {title}", "", *[f"- {n}" for n in notes], ""]
    for name, header, rows in tables:
        md += [f"## {name}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    for caption, png in figures:
        md += [f"## {caption}", "", f"![{caption}]({png})", ""]
    (out / "report.md").write_text("\n".join(md))

    esc = html.escape
    page = [f"<!doctype html><meta charset=utf-8><title>{esc(title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1300px;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}</style>",
            f"<h1>{esc(title)}</h1><ul>{''.join(f'<li>{esc(n)}</li>' for n in notes)}</ul>"]
    for name, header, rows in tables:
        page.append(f"<h2>{esc(name)}</h2><table><tr>{''.join(f'<th>{esc(h)}</th>' for h in header)}</tr>")
        page += [f"<tr>{''.join(f'<td>{esc(c)}</td>' for c in r)}</tr>" for r in rows]
        page.append("</table>")
    for caption, png in figures:
        page.append(f"<h2>{esc(caption)}</h2><img src='{png}' style='max-width:100%'>")
    (out / "report.html").write_text("\n".join(page))
    return out / "report.md"
