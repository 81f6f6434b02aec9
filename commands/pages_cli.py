"""`adrisk pages build` and `adrisk pages eval`: real benign landing pages for the page signals."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import CONFIG_DIR

StartLocal = Callable[[str], tuple[str, Callable[[], None]]]


def cmd_pages_build(args: argparse.Namespace) -> int:
    from evaluation.page_corpus import (
        CorpusError,
        build_corpus,
        installed_html_sources,
        load_corpus_config,
        with_local_sources,
    )

    config = with_local_sources(installed_html_sources()) if args.installed_only else load_corpus_config(
        Path(args.config))
    out, cache = Path(args.out), Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    print(f"building {out} from {len(config.sources)} sources (downloads cached in {cache}) ...")
    try:
        result = build_corpus(config, out, cache)
    except CorpusError as exc:
        raise SystemExit(f"adrisk pages build: {exc}") from None
    print(f"{result.pages} pages in {result.seconds:.0f} s: {result.by_variant}; kinds {result.by_kind}")
    for line in result.skipped:
        print(f"  skipped {line}")
    print(f"manifest: {out / 'manifest.jsonl'}")
    return 0


def cmd_pages_eval(args: argparse.Namespace) -> int:
    from evaluation.page_corpus import VARIANTS, CorpusError
    from evaluation.page_eval import HTML_ONLY, evaluate_corpus

    variants = VARIANTS if args.variant == "all" else (args.variant,)
    try:
        metrics = evaluate_corpus(
            Path(args.corpus), Path(args.report), url=None if (args.local or args.in_process) else args.url,
            local=args.local, in_process=args.in_process, profile=args.profile, with_url=args.with_url,
            variants=variants, limit=args.limit, batch_size=args.batch_size, concurrency=args.concurrency,
            progress=not args.no_progress, start_local=args.start_local)
    except CorpusError as exc:
        raise SystemExit(f"adrisk pages eval: {exc}") from None
    for name, group in metrics["groups"].items():
        a = group["actions"]
        print(f"{name:<36} {group['n']:>4} pages, {group['errors']} errors: approve {a['approve']:.1%}, "
              f"review {a['human_review']:.1%}, deboost {a['deboost']:.1%}, "
              f"reject {a['reject'] + a['suspend_account']:.1%}")
    print(f"report: {metrics['report']}")
    answered = sum(metrics["groups"].get(f"{HTML_ONLY} / all", {}).get("action_counts", {}).values())
    return 1 if not answered else 0


def add_page_parsers(sub: Any, start_local: StartLocal) -> None:
    pages = sub.add_parser("pages", help="real benign landing pages: build a corpus, measure the page signals on it")
    pages_sub = pages.add_subparsers(dest="pages_command", required=True)
    build = pages_sub.add_parser("build", help="fetch the pinned packages of configs/page_corpus.yaml; write the pages")
    build.add_argument("--out", default="var/page-corpus", help="corpus directory (pages/ + manifest.jsonl)")
    build.add_argument("--config", default=str(CONFIG_DIR / "page_corpus.yaml"))
    build.add_argument("--cache", default="var/page-corpus-cache", help="downloaded packages, reused by later builds")
    build.add_argument("--installed-only", action="store_true",
                       help="no network: only HTML pages already installed here (site-packages, /usr/share/doc)")
    build.set_defaults(func=cmd_pages_build)
    pe = pages_sub.add_parser("eval", help="send each corpus page as HTML alone; report actions and signal rates")
    pe.add_argument("--corpus", default="var/page-corpus")
    pe.add_argument("--report", required=True, help="output directory (report.md, metrics.json)")
    pe.add_argument("--url", default="http://127.0.0.1:8000", help="a running service")
    pe.add_argument("--local", action="store_true", help="start a local service for this run instead")
    pe.add_argument("--in-process", action="store_true",
                    help="no service: the ingress's ReviewPipeline in this process (same code, no Ray)")
    pe.add_argument("--with-url", action="store_true", help="also send URL + HTML where the page's origin is known")
    pe.add_argument("--variant", default="all", choices=["all", "as_published", "with_third_party_tags"])
    pe.add_argument("--limit", type=int, default=None, help="first N manifest lines only")
    pe.add_argument("--profile", default="cpu")
    pe.add_argument("--batch-size", type=int, default=8)
    pe.add_argument("--concurrency", type=int, default=2)
    pe.add_argument("--no-progress", action="store_true")
    pe.set_defaults(func=cmd_pages_eval, start_local=start_local)
