"""The held-out splits do not leak: no group and no normalised near-duplicate crosses them.

Runs on the real ../shared/data: HateCheck templates, registrable domains of the phishing URLs,
letters-only duplicates of messages, and every group column the newer sets name.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from core.config import PROJECT_ROOT
from models.corpora import Example, normalise
from models.splits import SPLITS, group_key, registrable_domain, split_of, url_split
from models.training import assign_splits, head_dataset, load_examples, load_phishing_urls

DATA = PROJECT_ROOT.parent / "shared" / "data"
pytestmark = [pytest.mark.skipif(not DATA.exists(), reason="../shared/data is not beside the project"),
              pytest.mark.slow]  # reads and splits all of ../shared/data (81k rows)


@pytest.fixture(scope="module")
def rows() -> tuple[list[Example], list[str]]:
    examples = load_examples(DATA)
    return examples, list(assign_splits(examples))


def test_every_split_is_used_and_train_is_the_largest(rows):
    _, split = rows
    counts = {s: split.count(s) for s in SPLITS}
    assert set(split) == set(SPLITS)
    assert counts["train"] > 3 * counts["evaluation"] > 0 and counts["calibration"] > 0


def test_no_group_crosses_the_split(rows):
    examples, split = rows
    sides: dict[str, set[str]] = defaultdict(set)
    for ex, s in zip(examples, split, strict=True):
        sides[group_key(ex.source, ex.group, ex.text)].add(s)
    crossing = {g: s for g, s in sides.items() if len(s) > 1}
    assert not crossing, list(crossing.items())[:5]
    # The named group columns really group: HateCheck templates hold many cases each.
    templates = [g for g in sides if g.startswith("hatecheck:templ:")]
    hatecheck = sum(ex.source == "hatecheck" for ex in examples)
    assert 0 < len(templates) < hatecheck / 3


def test_no_normalised_duplicate_crosses_the_split(rows):
    examples, split = rows
    sides: dict[str, set[str]] = defaultdict(set)
    for ex, s in zip(examples, split, strict=True):
        sides[normalise(ex.text) or ex.text].add(s)
    assert all(len(s) == 1 for s in sides.values())
    # and the normalisation catches what a row hash did not: case, digits, URLs and @mentions
    assert normalise("WIN £1000 now!! call 09061701461 http://x.co @bob") == normalise("win £250 NOW call 0800")


def test_named_collections_are_held_out_whole(rows):
    examples, split = rows
    by_group: dict[tuple[str, str], set[str]] = defaultdict(set)
    for ex, s in zip(examples, split, strict=True):
        if ex.source in {"products", "spamassassin", "covid"}:
            by_group[(ex.source, ex.group)].add(s)
    assert by_group[("products", "source:amazon_google")] == {"evaluation"}
    assert by_group[("products", "source:abt_buy")] == {"calibration"}
    assert by_group[("covid", "split:test")] == {"evaluation"}
    assert by_group[("spamassassin", "collection:spam-1")] == {"evaluation"}
    assert all(len(s) == 1 for s in by_group.values())


def test_every_head_has_positives_and_benign_commercial_negatives_in_each_split(rows):
    examples, split = rows
    for category in ("scam_fraud", "misleading_claims", "misinformation_political", "privacy_personal_data",
                     "ai_generated_manipulated", "hate_harassment"):
        idx, y = head_dataset(examples, category)
        for side in ("train", "evaluation"):
            mine = [k for k, i in enumerate(idx) if split[i] == side]
            assert sum(y[k] for k in mine) >= 2, (category, side)
            assert any(examples[idx[k]].source == "products" for k in mine), (category, side)


def test_no_registrable_domain_crosses_the_url_split():
    urls, _ = load_phishing_urls(DATA)
    sides: dict[str, set[str]] = defaultdict(set)
    for url in urls:
        sides[registrable_domain(url)].add(url_split(url))
    assert all(len(s) == 1 for s in sides.values())
    # hosts under one registrable domain (and public-suffix edge cases) share a group
    assert registrable_domain("http://login.paypal.co.uk/x") == registrable_domain("https://www.paypal.co.uk")
    assert registrable_domain("https://a.github.io/p") != registrable_domain("https://b.github.io/p")
    assert split_of("url:example.com") == url_split("http://shop.example.com/cart")


def test_split_is_stable_for_a_given_group():
    assert [split_of(f"k{i}") for i in range(50)] == [split_of(f"k{i}") for i in range(50)]
    shares = [split_of(f"key-{i}") for i in range(20000)]
    assert abs(shares.count("evaluation") / 20000 - 0.15) < 0.02
    assert abs(shares.count("calibration") / 20000 - 0.10) < 0.02
