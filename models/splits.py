"""Grouped, seeded splits: train / calibration / evaluation.

A row's split is decided by its *group*, never by the row: HateCheck template, registrable domain of
a URL, author, question, collection, or — where a set names no group — its normalised text (after
deduplication, so near-copies cannot straddle). sha256 of "source:group" picks the bucket:
    [0, 10)   calibration  thresholds are fitted here (`adrisk calibrate`)
    [10, 25)  evaluation   every figure reported is measured here
    [25, 100) train        heads and the zero-shot baseline learn here
Sets whose groups are a handful of whole collections name their split instead (Example.split).
"""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["train", "calibration", "evaluation"]
SPLITS: tuple[Split, ...] = ("train", "calibration", "evaluation")
CALIBRATION_PERCENT = 10
EVALUATION_PERCENT = 15
HELD_OUT = ("calibration", "evaluation")


def bucket(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100


def split_of(key: str) -> Split:
    b = bucket(key)
    if b < CALIBRATION_PERCENT:
        return "calibration"
    if b < CALIBRATION_PERCENT + EVALUATION_PERCENT:
        return "evaluation"
    return "train"


def group_key(source: str, group: str, text: str) -> str:
    from models.corpora import normalise

    return f"{source}:{group}" if group else f"{source}:text:{normalise(text) or text}"


def registrable_domain(url: str) -> str:
    """example.co.uk for https://login.example.co.uk/x, from the Public Suffix List snapshot; an IPv6
    address or a bare suffix is its own group. An IPv4 address goes through the list like a name, so
    it groups by its last two numbers (1.2.3.4 -> 3.4): coarser groups, never a leak, and kept because
    the trained heads' splits were drawn this way."""
    from urllib.parse import urlsplit

    from multimodal.page_urls import public_suffix_list

    raw = url if "//" in url else f"http://{url}"
    try:
        host = (urlsplit(raw).hostname or "").rstrip(".").lower()
    except ValueError:
        host = ""
    if not host:
        return url.lower()
    return public_suffix_list().privatesuffix(host) or host


def url_split(url: str) -> Split:
    return split_of(f"url:{registrable_domain(url)}")
