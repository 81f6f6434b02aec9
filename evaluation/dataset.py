"""Labeled evaluation sets: JSONL, one `{"id", "source", "request", "labels", "benign"}` per line.

`request` is a ReviewRequest body (without request_id); `labels` maps the categories the source
knows about to 0/1; `benign` marks examples harmless in every category (good ads, for overkill).
`build_shared_set` draws a set from ../shared/data's grouped *evaluation* (or *calibration*) split
only, groups the heads never trained on, so an eval on it is honest.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.schemas import ReviewRequest


@dataclass
class LabeledExample:
    id: str
    source: str
    request: dict[str, Any]
    labels: dict[str, int] = field(default_factory=dict)
    benign: bool = False

    def label(self, category: str) -> int | None:
        if category in self.labels:
            return self.labels[category]
        return 0 if self.benign else None


def load_set(path: Path, category_ids: list[str]) -> list[LabeledExample]:
    """Read and validate a set: every request must be a valid review body, every label a known id."""
    examples = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                labels = {k: int(v) for k, v in doc.get("labels", {}).items()}
                ex = LabeledExample(id=str(doc.get("id", n)), source=str(doc.get("source", path.stem)),
                                    request=doc["request"], labels=labels, benign=bool(doc.get("benign", False)))
                ReviewRequest.model_validate({**ex.request, "request_id": "validate"})
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: not a labeled example: {exc}") from None
            unknown = set(ex.labels) - set(category_ids)
            if unknown:
                raise ValueError(f"{path}:{n}: unknown categories {sorted(unknown)}")
            if any(v not in (0, 1) for v in ex.labels.values()):
                raise ValueError(f"{path}:{n}: labels must be 0 or 1")
            examples.append(ex)
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def write_set(path: Path, examples: list[LabeledExample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(asdict(ex), ensure_ascii=False) + "\n")


def build_shared_set(data_dir: Path, per_source: int = 300, seed: int = 7,
                     split: str = "evaluation") -> list[LabeledExample]:
    """One split of ../shared/data (grouped, models/splits.py): texts as ad copy and phishing-set URLs
    as landing pages, at most `per_source` each. `evaluation` is where figures are reported;
    `calibration` is where `adrisk calibrate` fits thresholds; the heads trained on neither."""
    from models.splits import url_split
    from models.training import assign_splits, load_examples, load_phishing_urls

    rng = random.Random(seed)
    by_source: dict[str, list[LabeledExample]] = {}
    examples = load_examples(data_dir)
    for ex, ex_split in zip(examples, assign_splits(examples), strict=True):
        if ex_split == split:
            by_source.setdefault(ex.source, []).append(LabeledExample(
                id="", source=ex.source, request={"creative": {"text": ex.text}}, labels=dict(ex.labels),
                benign=ex.benign))
    urls, y = load_phishing_urls(data_dir)
    by_source["phishing_urls"] = [
        LabeledExample(id="", source="phishing_urls", request={"landing_page": {"url": url}},
                       labels={"phishing": int(label)}, benign=not label)
        for url, label in zip(urls, y, strict=True) if url_split(url) == split
    ]
    out: list[LabeledExample] = []
    for source in sorted(by_source):
        rows = by_source[source]
        rng.shuffle(rows)
        out += rows[:per_source]
    for i, ex in enumerate(out):
        ex.id = f"{ex.source}-{i}"
    return out
