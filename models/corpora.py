"""The labelled public sets in ../shared/data, read into one list of `Example`s.

Every loader says, per row, which categories the set labels (`labels`), whether the row is harmless
in every respect (`benign`, a negative for every head) and which *group* it belongs to: rows of one
group are near-paraphrases or share a template, author, thread or collection, so the split
(models/splits.py) keeps a group on one side. The group columns are the ones ../shared/data/README.md
names; where that column is the label itself (clickbait's `source`) or absent, a row is its own group
and near-duplicates are caught by the normalised-text deduplication instead.

None of these sets is ad copy; every report says so.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

csv.field_size_limit(1 << 26)

# OpenAI moderation-api-release label keys → taxonomy categories.
MODERATION_LABELS = {
    "adult_sexual": ["S"],
    "child_safety": ["S3"],
    "hate_harassment": ["H", "H2", "HR"],
    "violence_gore": ["V", "V2"],
    "self_harm_body_image": ["SH"],
}

# SpamAssassin keyword sub-topics that make a spam mail a *scam* (money, investment, advance fee,
# account phishing) or that say nothing (no topic: the generic spam, mostly offers and schemes).
# Mail whose only topics are adult, pharma, miracle health or gambling is spam of another category:
# it is neither a scam_fraud positive nor a negative.
SCAM_SPAM_TOPICS = {"", "loans_mortgage_credit", "money_making_mlm", "advance_fee", "stock_investment",
                    "phishing_account", "replica_counterfeit"}

BENIGN_COMMERCIAL = "products"  # the source whose held-out rows measure overkill on commercial text
MAX_CHARS = 1200  # the encoder reads 256 word pieces; the rest of a long mail is never seen


@dataclass
class Example:
    text: str
    source: str
    labels: dict[str, int] = field(default_factory=dict)  # category → 0/1 where the set says
    benign: bool = False  # harmless in every respect: a negative for every head
    group: str = ""  # rows sharing a group stay on one side of the split ("" = the row itself)
    split: str | None = None  # forced split for sets whose groups are whole collections


_URL = re.compile(r"https?://\S+|www\.\S+", re.I)
_MENTION = re.compile(r"(^|\s)(?:rt\s+)?@\w+:?", re.I)
_NOT_LETTER = re.compile(r"[\W\d_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Near-duplicate key: lower case, URLs and @mentions removed, letters only, one space."""
    text = _MENTION.sub(" ", _URL.sub(" ", text.lower()))
    return " ".join(_NOT_LETTER.sub(" ", text).split())


def _csv(path: Path, delimiter: str = ",") -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        yield from csv.DictReader(fh, delimiter=delimiter, quoting=quoting)


def sms(data: Path) -> Iterator[Example]:
    for row in _csv(data / "sms_spam_collection.tsv", "\t"):
        spam = row["Label"].strip() == "spam"
        yield Example(row["SMS"], "sms", {"scam_fraud": int(spam)}, benign=not spam)


def hatecheck(data: Path) -> Iterator[Example]:
    for row in _csv(data / "hatecheck_test_suite_cases.csv"):
        hateful = row["label_gold"].strip() == "hateful"
        yield Example(row["test_case"], "hatecheck", {"hate_harassment": int(hateful)},
                      group=f"templ:{row['case_templ'].strip()}")


def davidson(data: Path) -> Iterator[Example]:
    for row in _csv(data / "davidson_labeled_data.csv"):
        cls = int(row["class"])
        if cls == 0:
            yield Example(row["tweet"], "davidson", {"hate_harassment": 1})
        elif cls == 2:
            yield Example(row["tweet"], "davidson", {"hate_harassment": 0}, benign=True)
        # class 1 (offensive, not hate) is ambiguous for every head: left out.


def openai_moderation(data: Path) -> Iterator[Example]:
    with gzip.open(data / "openai_moderation_samples.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            labels = {c: int(any(row.get(k) for k in keys)) for c, keys in MODERATION_LABELS.items()}
            yield Example(row["prompt"], "openai_moderation", labels, benign=not any(labels.values()))


# Product listings are matching pairs (one product as two shops list it), so a source is one group.
# Four groups cannot be hashed into a 75/10/15 split: the split is named.
PRODUCT_SPLITS = {"abt_buy": "calibration", "amazon_google": "evaluation"}


def benign_products(data: Path) -> Iterator[Example]:
    for row in _csv(data / "benign_product_listings_ditto.csv"):
        source = row["source"].strip()
        yield Example(row["text"], BENIGN_COMMERCIAL, {}, benign=True, group=f"source:{source}",
                      split=PRODUCT_SPLITS.get(source, "train"))


def clickbait(data: Path) -> Iterator[Example]:
    # Clickbait is a *style*, not a claim: trained as misleading_claims positives, the headlines taught
    # the head that quizzes, listicles and questions are misleading ("10 reasons to switch to our bank
    # today" 0.91, "What is the best way to shoot photos of fireworks?" 0.82), which is ordinary ad
    # copy. Only the news headlines are kept, as factual negatives. `source` is the label itself, so
    # rows are grouped by normalised text only.
    for row in _csv(data / "clickbait_headlines.csv"):
        if row["label"].strip() == "0":
            yield Example(row["text"], "clickbait", {"misleading_claims": 0})


# Mail header lines flattened into the text: a style every ham mail has and no ad copy has.
_MAIL_HEADERS = re.compile(
    r"^\s*\[[^\]]{1,40}\]\s*"  # list tags: [ILUG], [zzzzteana]
    r"|\b(?:URL|Link):\s*\S+"
    r"|\bDate:\s*(?:Not supplied|\w{3},?\s+\d{1,2}\s+\w{3}\s+\d{4}\s+[\d:]+(?:\s*[+-]\d{4})?(?:\s*\([A-Z]+\))?)"
    r"|\b(?:From|To|Cc|Reply-To):\s*(?:[^<>:]{0,60}<[^>]*>|\S+@\S+)",
    re.I,
)


def strip_mail_headers(text: str) -> str:
    return " ".join(_MAIL_HEADERS.sub(" ", text).split())


# The corpus's collections: spam-1 and easy-ham-2 are held out whole (an older spam collection and a
# later ham one), which also tests drift between collections.
SPAMASSASSIN_SPLITS = {"spam-1": "evaluation", "easy-ham-2": "evaluation"}


def spamassassin(data: Path) -> Iterator[Example]:
    # Scam-type spam is scam_fraud; "miracle health" spam ("Guaranteed to lose 10-12 lbs in 30 days")
    # is misleading_claims; ham is a negative for both. Spam that is only adult / pharma / gambling is
    # another category's and is left out.
    for row in _csv(data / "spamassassin_email.csv"):
        spam = row["label"].strip() == "1"
        topics = set(row["spam_topics_kw"].split("|")) if row["spam_topics_kw"] else {""}
        labels = {"scam_fraud": int(spam and bool(topics & SCAM_SPAM_TOPICS)),
                  "misleading_claims": int(spam and "health_miracle" in topics)}
        if spam and not any(labels.values()):
            continue
        if spam and not labels["scam_fraud"]:
            del labels["scam_fraud"]  # miracle-health spam: not a scam label either way
        group = row["group"].strip()
        yield Example(strip_mail_headers(row["text"])[:MAX_CHARS], "spamassassin", labels,
                      group=f"collection:{group}", split=SPAMASSASSIN_SPLITS.get(group, "train"))


def truthfulqa(data: Path) -> Iterator[Example]:
    # A statement answers a question; alone ("Nothing happens") it claims nothing, so the question
    # is kept in front of it, as a claim an ad would make in full. The question alone claims nothing
    # either: it is a benign row (clickbait headlines teach that a question is "misleading"; these
    # teach that asking is not). Question and answers share the question's group.
    questions: dict[str, str] = {}
    for row in _csv(data / "truthfulqa_claims.csv"):
        questions.setdefault(row["question_id"], row["question"].strip())
        text = f"{row['question'].strip()} {row['text'].strip()}"
        yield Example(text, "truthfulqa", {"misleading_claims": int(row["label"])},
                      group=f"question:{row['question_id']}")
    for qid, question in questions.items():
        yield Example(question, "truthfulqa", {"misleading_claims": 0}, benign=True, group=f"question:{qid}")


def health_misinfo(data: Path) -> Iterator[Example]:
    for row in _csv(data / "health_misinfo_reddit.csv"):
        yield Example(row["text"], "health_misinfo", {"misinformation_political": 1})


COVID_SPLITS = {"train": "train", "val": "calibration", "test": "evaluation"}  # the shared task's own


def covid(data: Path) -> Iterator[Example]:
    for row in _csv(data / "covid_fake_news_constraint.csv"):
        split = row["split"].strip()
        yield Example(row["text"], "covid", {"misinformation_political": int(row["label"])},
                      group=f"split:{split}", split=COVID_SPLITS[split])


def crypto_scams(data: Path) -> Iterator[Example]:
    for row in _csv(data / "janitr_x_scam_crypto_promo.csv"):
        yield Example(row["text"], "crypto_posts", {"scam_fraud": int(row["label"])})


def ai_replies(data: Path) -> Iterator[Example]:
    for row in _csv(data / "janitr_x_ai_replies.csv"):
        author = row["author"].strip()
        yield Example(row["text"], "ai_replies", {"ai_generated_manipulated": int(row["label"])},
                      group=f"author:{author.lower()}" if author else "")


def pii(data: Path) -> Iterator[Example]:
    for row in _csv(data / "pii_synthetic_presidio.csv"):
        yield Example(row["text"], "pii", {"privacy_personal_data": int(row["label"])},
                      group=f"template:{row['template_id']}")


LOADERS = (sms, hatecheck, davidson, openai_moderation, benign_products, clickbait, spamassassin, truthfulqa,
           health_misinfo, covid, crypto_scams, ai_replies, pii)

# What each source says, for manifests and reports.
SOURCE_NOTES = {
    "sms": "UCI SMS Spam Collection: spam vs ham",
    "hatecheck": "HateCheck functional tests (grouped by case template)",
    "davidson": "Davidson et al. tweets: hate vs neither",
    "openai_moderation": "OpenAI moderation-api-release samples",
    "products": "benign product listings (ditto: Abt-Buy, Amazon-Google, Walmart-Amazon, WDC)",
    "clickbait": "news headlines from the clickbait set (Chakraborty et al.), as factual negatives",
    "spamassassin": "SpamAssassin mail, 2002: scam-type and miracle-health spam vs ham (headers stripped)",
    "truthfulqa": "TruthfulQA: question + false vs true answer",
    "health_misinfo": "health misinformation Reddit posts (positives only)",
    "covid": "CONSTRAINT COVID fake vs real posts (the task's own train/val/test)",
    "crypto_posts": "janitr X posts: crypto scams/phishing vs other posts (model-labelled, human-checked)",
    "ai_replies": "janitr X replies blocked as AI-written vs posts (weak labels, grouped by author)",
    "pii": "presidio-research synthetic text exposing PII (grouped by template)",
}


def load_all(data_dir: Path) -> list[Example]:
    """Every set, whitespace-collapsed, deduplicated on normalised text (the first label wins), so
    a near-copy can never sit on both sides of the split."""
    seen: set[str] = set()
    out: list[Example] = []
    for loader in LOADERS:
        for ex in loader(data_dir):
            text = " ".join(ex.text.split())
            key = normalise(text) or text
            if not text or key in seen:
                continue
            seen.add(key)
            ex.text = text
            out.append(ex)
    return out
