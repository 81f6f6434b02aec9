"""The landing-page word lists (configs/page_signals.yaml, configs/brands.yaml): load, validate, match.

The YAML files are data; this module turns them, once per process, into compiled matchers. A bad
file fails at load with a message (unknown taxonomy category, score outside 0..1, empty list, ...),
never at request time.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.config import CONFIG_DIR, Taxonomy

# Strength levels each signal must define in page_signals.yaml (the detectors look them up).
REQUIRED_SCORES: dict[str, set[str]] = {
    "credential_field": {"own_site", "field", "off_site", "secret_phrase"},
    "payment_field": {"field"},
    "personal_data_field": {"field", "government_id"},
    "cross_domain_form": {"other_domain", "with_sensitive_fields", "ip_address", "mailto"},
    "brand_domain_mismatch": {"text", "title", "with_credentials"},
    "auto_download": {"download_attribute", "redirect", "iframe"},
    "download_link": {"archive", "executable"},
    "urgency_language": {"first", "each_more", "countdown", "max"},
    "missing_business_identity": {"per_missing_group", "max"},
    "meta_refresh_redirect": {"same_site", "unknown_site", "cross_site"},
    "js_redirect": {"same_site", "unknown_site", "cross_site"},
    "hidden_iframe": {"same_site", "other_site"},
    "markup_abuse": {"parse_limited"},
}

Terms = list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _non_empty_terms(value: list[str]) -> list[str]:
    cleaned = [" ".join(v.split()).lower() for v in value]
    if not cleaned or any(not v for v in cleaned):
        raise ValueError("term lists must be non-empty lists of non-empty strings")
    return cleaned


class SignalSpec(_Strict):
    category: str
    scores: dict[str, float]

    @field_validator("scores")
    @classmethod
    def _in_unit_interval(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"scores must lie in 0..1: {bad}")
        return value


class FieldTerms(_Strict):
    input_types: Terms = Field(default_factory=list)
    autocomplete: Terms
    terms: Terms
    secret_terms: Terms = Field(default_factory=list)
    government_id_terms: Terms = Field(default_factory=list)

    _clean = field_validator("autocomplete", "terms")(_non_empty_terms)


class FieldRules(_Strict):
    credential: FieldTerms
    payment: FieldTerms
    personal_data: FieldTerms
    ignored_input_types: Terms


class DownloadRules(_Strict):
    executable_extensions: Terms
    archive_extensions: Terms

    _clean = field_validator("executable_extensions", "archive_extensions")(_non_empty_terms)


class UrgencyRules(_Strict):
    phrases: Terms
    countdown_markers: Terms

    _clean = field_validator("phrases", "countdown_markers")(_non_empty_terms)


class IdentityGroup(_Strict):
    link_terms: Terms
    text_terms: Terms

    _clean = field_validator("link_terms", "text_terms")(_non_empty_terms)


class BusinessIdentityRules(_Strict):
    groups: dict[str, IdentityGroup]
    street_types: Terms
    min_missing_groups: int = Field(ge=1)

    @model_validator(mode="after")
    def _groups(self) -> BusinessIdentityRules:
        if "contact" not in self.groups:
            raise ValueError("business_identity.groups needs a contact group")
        if self.min_missing_groups > len(self.groups):
            raise ValueError("min_missing_groups exceeds the number of groups")
        return self


class IframeRules(_Strict):
    embed_hosts: Terms  # a hidden iframe to one of these (or a subdomain) is the vendor's documented embed

    _clean = field_validator("embed_hosts")(_non_empty_terms)


class PhishingFeatureLists(_Strict):
    phish_hints: Terms
    suspicious_tlds: Terms
    shorteners: list[str] = Field(min_length=1)  # case-sensitive substrings, as the data set defined them
    multi_label_suffixes: Terms  # where the data set's URL split put the public suffix

    _clean = field_validator("phish_hints", "suspicious_tlds", "multi_label_suffixes")(_non_empty_terms)


class PhishingSupport(_Strict):
    signals: list[str] = Field(min_length=1)  # page signals of the phishing category that count as support
    weak: float = Field(ge=0, le=1)  # one of them at least this strong: weak support
    strong: float = Field(ge=0, le=1)  # one at least this strong, or two distinct at weak: strong support

    @model_validator(mode="after")
    def _ordered(self) -> PhishingSupport:
        if self.weak > self.strong:
            raise ValueError("model_evidence.phishing_support: weak must not exceed strong")
        unknown = set(self.signals) - set(REQUIRED_SCORES)
        if unknown:
            raise ValueError(f"model_evidence.phishing_support names unknown signals: {sorted(unknown)}")
        return self


class ModelEvidenceRules(_Strict):
    """How model scores about a page count, given the page's own structure (multimodal/page_evidence.py)."""

    page_text_sources: list[str] = Field(min_length=1)
    url_model_sources: list[str] = Field(min_length=1)
    phishing_support: PhishingSupport
    page_text_one_band_weaker: list[str]
    margin: float = Field(gt=0, le=0.1)  # how far below a threshold a capped score sits


class PageSignalsConfig(_Strict):
    version: str
    signals: dict[str, SignalSpec]
    fields: FieldRules
    downloads: DownloadRules
    urgency: UrgencyRules
    business_identity: BusinessIdentityRules
    iframes: IframeRules
    phishing_features: PhishingFeatureLists
    model_evidence: ModelEvidenceRules

    @model_validator(mode="after")
    def _complete(self) -> PageSignalsConfig:
        missing = set(REQUIRED_SCORES) - set(self.signals)
        if missing:
            raise ValueError(f"signals missing from page_signals.yaml: {sorted(missing)}")
        for name, spec in self.signals.items():
            lacking = REQUIRED_SCORES.get(name, set()) - set(spec.scores)
            if lacking:
                raise ValueError(f"signal {name} lacks scores {sorted(lacking)}")
        return self


class Brand(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    names: Terms
    domains: Terms

    _clean = field_validator("names", "domains")(_non_empty_terms)


class BrandsConfig(_Strict):
    version: str
    brands: list[Brand] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> BrandsConfig:
        ids = [b.id for b in self.brands]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate brand ids")
        return self


# ----------------------------------------------------------------------------------- matching
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[\W_]+")


def normalize_text(text: str) -> str:
    """Lower case, words separated by single spaces; punctuation and underscores become spaces."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def normalize_identifier(text: str) -> str:
    """Like normalize_text, but splits camelCase first ("userPassword" -> "user password")."""
    return normalize_text(_CAMEL.sub(" ", text))


def _term_pattern(term: str) -> str:
    parts: list[str] = []
    for i, piece in enumerate(term.split("{n}")):
        if i:
            parts.append(r"\d+")
        if normalize_text(piece):
            parts.append(re.escape(normalize_text(piece)))
    return " ".join(parts)


class TermMatcher:
    """Finds whole-word occurrences of normalised terms ({n} = a number) in normalised text."""

    def __init__(self, terms: list[str]) -> None:
        patterns = sorted({p for p in map(_term_pattern, terms) if p}, key=len, reverse=True)
        self.terms = terms
        self._regex = re.compile(r"(?:^| )(" + "|".join(patterns) + r")(?= |$)") if patterns else None

    def find(self, normalized: str, limit: int = 20) -> list[str]:
        """Distinct matches in order of first appearance, at most `limit`."""
        if self._regex is None or not normalized:
            return []
        found: dict[str, None] = {}
        for match in self._regex.finditer(normalized):
            found.setdefault(match.group(1), None)
            if len(found) >= limit:
                break
        return list(found)

    def search(self, normalized: str) -> str | None:
        hits = self.find(normalized, limit=1)
        return hits[0] if hits else None


# ----------------------------------------------------------------------------------- loading
def _read(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc


@cache
def taxonomy_ids(config_dir: Path = CONFIG_DIR) -> frozenset[str]:
    return frozenset(Taxonomy.model_validate(_read(config_dir / "taxonomy.yaml")).ids)


@cache
def load_page_signals(config_dir: Path = CONFIG_DIR) -> PageSignalsConfig:
    config = PageSignalsConfig.model_validate(_read(config_dir / "page_signals.yaml"))
    unknown = {s.category for s in config.signals.values()} - taxonomy_ids(config_dir)
    unknown |= set(config.model_evidence.page_text_one_band_weaker) - taxonomy_ids(config_dir)
    if unknown:
        raise ValueError(f"page_signals.yaml names unknown taxonomy categories: {sorted(unknown)}")
    return config


@cache
def load_brands(config_dir: Path = CONFIG_DIR) -> BrandsConfig:
    return BrandsConfig.model_validate(_read(config_dir / "brands.yaml"))
