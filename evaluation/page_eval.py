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
what the gate costs. The cases are in evaluation/page_cases.py, the figures and the report in
evaluation/page_report.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.page_cases import (
    HTML_ONLY,
    WITH_URL,
    PageCase,
    PageOutcome,
    content_cases,
    corpus_cases,
    synthetic_cases,
)
from evaluation.page_corpus import VARIANTS
from evaluation.page_report import summarise, write_page_report

# The cases and the report have modules of their own; `adrisk pages` imports these names from here.
__all__ = ["HTML_ONLY", "WITH_URL", "InProcessReviewer", "evaluate_corpus", "run_service", "signal_categories"]


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
