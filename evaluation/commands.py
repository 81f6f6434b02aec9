"""`adrisk eval`, `adrisk calibrate` and `adrisk ab`: the analyst's side of the loop."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from evaluation.dataset import build_shared_set, load_set, write_set


def service_thresholds(url: str) -> tuple[dict[str, tuple[float, float]], str]:
    """The running policy's thresholds, from the service itself (GET /v1/taxonomy)."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/v1/taxonomy", timeout=30) as resp:
        doc = json.load(resp)
    return ({c["id"]: (c["thresholds"]["review"], c["thresholds"]["reject"]) for c in doc["categories"]},
            doc["policy_version"])


def cmd_eval(args: argparse.Namespace) -> int:
    from evaluation.metrics import evaluate
    from evaluation.report import write_report
    from evaluation.runner import run_through_service
    from serving.config import load_config

    config = load_config(args.profile)
    report = Path(args.report)
    if args.data == "shared":
        examples = build_shared_set(Path(args.shared_dir), per_source=args.per_source)
        write_set(report / "eval_set.jsonl", examples)
        described = f"../shared/data held-out split, {args.per_source} per source (see its README; not ad data)"
    else:
        examples = load_set(Path(args.data), config.taxonomy.ids)
        described = args.data
    url, stop = args.url, None
    if args.local:
        url, stop = _start_local(args.profile)
    try:
        thresholds, policy_version = service_thresholds(url)
        outcomes = asyncio.run(run_through_service(url, examples, args.batch_size, args.concurrency,
                                                   progress=not args.no_progress))
    finally:
        if stop:
            stop()
    metrics = evaluate(outcomes, thresholds)
    metrics["policy_version"] = policy_version
    notes = [f"Data: {described}; {len(examples)} examples from {', '.join(metrics['sources'])}",
             f"Service: {url if not args.local else 'started locally for this run'}; policy {policy_version}",
             f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; `options.record: false` (nothing logged)",
             "Leak rate: violations the service approved. Overkill: benign examples it rejected or suspended."]
    path = write_report(metrics, outcomes, report, "adrisk evaluation", notes)
    o = metrics["overall"]
    print(f"{metrics['n']} examples, {metrics['errors']} errors; leak rate {o['leak_rate']}, overkill {o['overkill']}")
    print(f"report: {path} (and report.html)")
    return 1 if metrics["errors"] == metrics["n"] else 0


def _start_local(profile: str):
    from serving.launcher import start_local, stop_local
    from serving.net import free_port

    store = Path(tempfile.mkdtemp(prefix="adrisk-eval-")) / "decisions.sqlite3"
    url = start_local(profile=profile, host="127.0.0.1", port=free_port(),
                      overrides={"store": {"path": str(store)}, "llm": None})
    return url, stop_local


def cmd_calibrate(args: argparse.Namespace) -> int:
    from evaluation.calibrate import calibrate_policy

    text, summary = calibrate_policy(
        Path(args.results), args.profile, args.target_overkill, args.target_leak, args.version, args.min_positives)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    for line in summary:
        print(line)
    print(f"wrote {out}")
    return 0


def cmd_ab(args: argparse.Namespace) -> int:
    from evaluation.ab import compare_policies, render

    result = compare_policies(Path(args.store), args.profile, args.a, args.b, since_hours=args.since_hours)
    text = render(result)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text)
    print(text)
    return 0


def add_parsers(sub: Any, default_data: Path) -> None:
    ev = sub.add_parser("eval", help="run a labeled set through the service; write a metrics report")
    ev.add_argument("--data", required=True, help="labeled JSONL set, or 'shared' for ../shared/data's held-out split")
    ev.add_argument("--report", required=True, help="output directory (report.md, report.html, PNGs)")
    ev.add_argument("--url", default="http://127.0.0.1:8000", help="a running service")
    ev.add_argument("--local", action="store_true", help="start a local service for this run instead")
    ev.add_argument("--profile", default="cpu")
    ev.add_argument("--shared-dir", default=str(default_data))
    ev.add_argument("--per-source", type=int, default=300)
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--concurrency", type=int, default=4)
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=cmd_eval)

    cal = sub.add_parser("calibrate", help="choose thresholds for a target overkill/leak; write a policy version")
    cal.add_argument("--results", required=True, help="results.jsonl of an `adrisk eval` run")
    cal.add_argument("--target-overkill", type=float, default=0.02,
                     help="largest share of a category's negatives at or above its reject threshold")
    cal.add_argument("--target-leak", type=float, default=None,
                     help="largest share of a category's positives below its review threshold")
    cal.add_argument("--min-positives", type=int, default=20, help="categories with fewer keep their thresholds")
    cal.add_argument("--profile", default="cpu")
    cal.add_argument("--version", required=True, help="the new policy version")
    cal.add_argument("--out", required=True, help="the new policy file (e.g. configs/policy/v3.yaml)")
    cal.set_defaults(func=cmd_calibrate)

    ab = sub.add_parser("ab", help="compare two policy versions on the decision log")
    ab.add_argument("--store", required=True, help="decision log (SQLite)")
    ab.add_argument("--a", required=True, help="policy file A (e.g. configs/policy/v1.yaml)")
    ab.add_argument("--b", required=True, help="policy file B")
    ab.add_argument("--profile", default="cpu")
    ab.add_argument("--since-hours", type=float, default=None)
    ab.add_argument("--report", default=None, help="also write the Markdown here")
    ab.set_defaults(func=cmd_ab)

    from evaluation.page_commands import add_page_parsers

    add_page_parsers(sub, _start_local)
