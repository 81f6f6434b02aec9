"""`adrisk eval`, `adrisk calibrate` and `adrisk ab`: the analyst's side of the loop."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT, StoreConfig, load_config
from core.store_factory import describe, open_store, store_config_for
from evaluation.dataset import build_shared_set, load_set, write_set


def cmd_eval(args: argparse.Namespace) -> int:
    from core.config import load_config
    from evaluation.metrics import evaluate
    from evaluation.report import write_report
    from evaluation.runner import run_through_service, service_thresholds

    config = load_config(args.profile)
    report = Path(args.report)
    if args.data == "shared":
        examples = build_shared_set(Path(args.shared_dir), per_source=args.per_source, split=args.split)
        write_set(report / "eval_set.jsonl", examples)
        described = (f"../shared/data grouped {args.split} split, at most {args.per_source} per source "
                     "(see its README; not ad data)")
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
        pages = None
        if args.pages:  # real benign landing pages through the same service (adrisk pages build)
            from evaluation.page_eval import evaluate_corpus

            pages = evaluate_corpus(Path(args.pages), report / "pages", url=url, with_url=True,
                                    progress=not args.no_progress)
    finally:
        if stop:
            stop()
    metrics = evaluate(outcomes, thresholds)
    metrics["policy_version"] = policy_version
    if pages is not None:
        metrics["benign_pages"] = {"corpus": args.pages, "report": "pages/report.md",
                                   "groups": {name: {"n": g["n"], **g["actions"],
                                                     "without_error_pages": g["actions_without_error_pages"]}
                                              for name, g in pages["groups"].items()}}
    notes = [f"Data: {described}; {len(examples)} examples from {', '.join(metrics['sources'])}",
             f"Service: {url if not args.local else 'started locally for this run'}; policy {policy_version}",
             f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; `options.record: false` (nothing logged)",
             "Leak rate: violations the service approved. Overkill: benign examples it rejected or suspended."]
    from core.config import resolve_project_path
    from models.quality import load_record

    quality = load_record(config, resolve_project_path(config.heads.text), resolve_project_path(config.heads.page))
    path = write_report(metrics, outcomes, report, "adrisk evaluation", notes, quality)
    o = metrics["overall"]
    print(f"{metrics['n']} examples, {metrics['errors']} errors; leak rate {o['leak_rate']}, overkill {o['overkill']}")
    print(f"report: {path} (and report.html)")
    return 1 if metrics["errors"] == metrics["n"] else 0


def _start_local(profile: str):
    from commands.launcher import start_local, stop_local
    from core.net import free_port

    store = Path(tempfile.mkdtemp(prefix="adrisk-eval-")) / "decisions.sqlite3"
    # A private loopback service for this run (its own store, no LLM, no keys: the runner sends none).
    url = start_local(profile=profile, host="127.0.0.1", port=free_port(),
                      overrides={"store": {"path": str(store)}, "llm": None, "auth": "off"})
    return url, stop_local


def _store_config(args: argparse.Namespace) -> StoreConfig:
    """`--store`: a SQLite path or a postgresql:// URL (password settings from the profile's store)."""
    return store_config_for(args.store, load_config(args.profile).store)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from evaluation.ab import compare_policies, render
    from evaluation.calibrate import Targets, calibrate_policy, policy_file_in_force

    targets = Targets(commercial_reject=args.target_commercial_reject, overkill=args.target_overkill,
                      review_budget=args.review_budget, min_positives=args.min_positives,
                      min_band=args.min_band, max_step=args.max_step)
    check = Path(args.check) if args.check else None
    text, report = calibrate_policy(Path(args.results), args.profile, args.version, targets, check)
    for line in report:
        print(line)
    store = _store_config(args)
    if store.backend == "postgres" or Path(store.path).exists():
        # What the new policy would have done to the logged traffic, before writing it.
        with tempfile.TemporaryDirectory() as tmp:
            candidate = Path(tmp) / "candidate.yaml"
            candidate.write_text(text)
            result = compare_policies(open_store(store), args.profile, str(policy_file_in_force(args.profile)),
                                      str(candidate))
        approve_to_block = sum(v for k, v in result["transitions"].items()
                               if k.startswith("approve →") and k.split("→ ")[1] in ("reject", "suspend_account"))
        print(f"\npreview against the policy in force ({result['a']}) on {describe(store)}: "
              f"agreement {result['agreement']}, approvals turned to reject/suspend {approve_to_block}")
        print(render(result))
    else:
        print(f"\nno decision log at {describe(store)}: no A/B preview (pass --store)")
    if args.dry_run:
        print("--dry-run: nothing written")
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return 0


def cmd_ab(args: argparse.Namespace) -> int:
    from evaluation.ab import compare_policies, render

    result = compare_policies(open_store(_store_config(args)), args.profile, args.a, args.b,
                              since_hours=args.since_hours)
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
    ev.add_argument("--split", choices=["evaluation", "calibration"], default="evaluation",
                    help="with --data shared: which grouped held-out split (calibrate on one, report on the other)")
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--concurrency", type=int, default=4)
    ev.add_argument("--no-progress", action="store_true")
    ev.add_argument("--pages", default=None, metavar="CORPUS",
                    help="also send a benign landing-page corpus (adrisk pages build) through the same service")
    ev.set_defaults(func=cmd_eval)

    cal = sub.add_parser("calibrate", help="fit thresholds on a calibration run; check them; write a policy version")
    cal.add_argument("--results", required=True,
                     help="results.jsonl of `adrisk eval --data shared --split calibration` (fitted here)")
    cal.add_argument("--check", default=None,
                     help="results.jsonl of a separate run (the evaluation split) to report the new thresholds on")
    cal.add_argument("--target-commercial-reject", type=float, default=0.005,
                     help="largest share of benign commercial text at or above a category's reject threshold")
    cal.add_argument("--target-overkill", type=float, default=0.01,
                     help="largest share of a category's negatives at or above its reject threshold")
    cal.add_argument("--review-budget", type=float, default=0.02,
                     help="largest share of benign ads at or above any review threshold")
    cal.add_argument("--min-positives", type=int, default=20, help="categories with fewer keep their thresholds")
    cal.add_argument("--min-band", type=float, default=0.1, help="review stays at least this far below reject")
    cal.add_argument("--max-step", type=float, default=0.2, help="largest change of one threshold")
    cal.add_argument("--store", default=str(PROJECT_ROOT / "var" / "decisions.sqlite3"),
                     help="decision log (SQLite path or postgresql:// URL) for the A/B preview "
                     "against the policy in force")
    cal.add_argument("--dry-run", action="store_true", help="print the fit, the check and the preview; write nothing")
    cal.add_argument("--profile", default="cpu")
    cal.add_argument("--version", required=True, help="the new policy version")
    cal.add_argument("--out", required=True, help="the new policy file (e.g. configs/policy/v3.yaml)")
    cal.set_defaults(func=cmd_calibrate)

    ab = sub.add_parser("ab", help="compare two policy versions on the decision log")
    ab.add_argument("--store", required=True, help="decision log: SQLite path or postgresql:// URL")
    ab.add_argument("--a", required=True, help="policy file A (e.g. configs/policy/v1.yaml)")
    ab.add_argument("--b", required=True, help="policy file B")
    ab.add_argument("--profile", default="cpu")
    ab.add_argument("--since-hours", type=float, default=None)
    ab.add_argument("--report", default=None, help="also write the Markdown here")
    ab.set_defaults(func=cmd_ab)

    from commands.pages_cli import add_page_parsers

    add_page_parsers(sub, _start_local)
