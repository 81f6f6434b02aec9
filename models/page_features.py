"""Features of phishing_urls.csv (Hannousse & Yahiouche 2021), recomputed from a URL and a page.

The data set ships 87 precomputed features per URL. The ones that can be computed from the URL
string and the page's HTML alone are reimplemented here from the published definitions (quirks
included: they define what the trained model saw). The ones that need the network — WHOIS, DNS,
search-engine index, traffic rank, following redirects or links — are never computed or used.

URL features are checked row by row against the CSV (`url_agreement`): the trainer keeps only those
this code reproduces. Page-content features cannot be checked that way (the CSV has no HTML), so they
follow the definitions in the data set's extraction code: a reference is "internal" when it is
relative, "external" when it is absolute and names neither the page's host nor its registered
domain, and not counted when it is absolute and names either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from multimodal.page_rules import load_page_signals
from multimodal.page_types import IframeInfo, PageAnalysis, Resource
from multimodal.page_urls import is_ip

MAX_URL_CHARS = 4096

URL_FEATURES = (
    "length_url", "length_hostname", "ip", "nb_dots", "nb_hyphens", "nb_at", "nb_qm", "nb_and", "nb_or", "nb_eq",
    "nb_underscore", "nb_tilde", "nb_percent", "nb_slash", "nb_star", "nb_colon", "nb_comma", "nb_semicolumn",
    "nb_dollar", "nb_space", "nb_www", "nb_com", "nb_dslash", "http_in_path", "https_token", "ratio_digits_url",
    "ratio_digits_host", "punycode", "port", "tld_in_path", "tld_in_subdomain", "abnormal_subdomain",
    "nb_subdomains", "prefix_suffix", "shortening_service", "path_extension", "length_words_raw", "char_repeat",
    "shortest_words_raw", "shortest_word_host", "shortest_word_path", "longest_words_raw", "longest_word_host",
    "longest_word_path", "avg_words_raw", "avg_word_host", "avg_word_path", "phish_hints", "suspecious_tld",
)
# Page-content features that do not depend on knowing the page's own host. nb_intHyperlinks (relative
# references) is derived: ratio_intHyperlinks * nb_hyperlinks in the CSV. nb_hyperlinks itself is not
# host-free: absolute references to the page's own host are left out of it.
HOST_FREE_CONTENT_FEATURES = ("nb_intHyperlinks", "iframe", "popup_window", "onmouseover", "right_clic", "empty_title")
CONTENT_FEATURES = (
    *HOST_FREE_CONTENT_FEATURES, "nb_hyperlinks", "ratio_intHyperlinks", "ratio_extHyperlinks", "nb_extCSS",
    "login_form",
    "external_favicon", "links_in_tags", "ratio_intMedia", "ratio_extMedia", "safe_anchor",
)
# In the CSV but never used, and why.
NOT_COMPUTED = {
    "nb_redirection": "needs fetching the URL",
    "nb_external_redirection": "needs fetching the URL",
    "ratio_intRedirection": "needs fetching every link",
    "ratio_extRedirection": "needs fetching every link",
    "ratio_intErrors": "needs fetching every link",
    "ratio_extErrors": "needs fetching every link",
    "statistical_report": "needs a DNS lookup",
    "whois_registered_domain": "external lookup (WHOIS)",
    "domain_registration_length": "external lookup (WHOIS)",
    "domain_age": "external lookup (domain-age API)",
    "web_traffic": "external lookup (traffic rank)",
    "dns_record": "external lookup (DNS)",
    "google_index": "external lookup (search engine)",
    "page_rank": "external lookup (OpenPageRank)",
    "random_domain": "needs the data set's word-randomness model, not published with it",
    "domain_in_brand": "needs the data set's brand list, not published with it",
    "brand_in_subdomain": "needs the data set's brand list, not published with it",
    "brand_in_path": "needs the data set's brand list, not published with it",
    "domain_in_title": "two published definitions (domain name vs registered domain); cannot tell which made the CSV",
    "domain_with_copyright": "two published definitions (domain name vs registered domain); cannot tell which "
    "made the CSV",
    "ratio_nullHyperlinks": "constant 0 in the data set (its definition can never fire)",
    "submit_email": "constant 0 in the data set",
    "sfh": "constant 0 in the data set (its definition can never fire)",
}
DESCRIPTIONS = {
    "length_url": "URL length", "length_hostname": "hostname length", "ip": "IP address or long hex run in URL",
    "nb_dots": "dots in URL", "nb_hyphens": "hyphens in URL", "nb_at": "'@' in URL", "nb_qm": "'?' in URL",
    "nb_and": "'&' in URL", "nb_eq": "'=' in URL", "nb_underscore": "'_' in URL", "nb_tilde": "'~' in URL",
    "nb_percent": "'%' in URL", "nb_slash": "slashes in URL", "nb_colon": "':' in URL",
    "nb_semicolumn": "';' in URL", "nb_space": "spaces in URL", "nb_www": "'www' words in URL",
    "nb_com": "'com' words in URL", "nb_dslash": "'//' redirect in URL", "http_in_path": "'http' inside the path",
    "https_token": "not served over https", "ratio_digits_url": "share of digits in URL",
    "ratio_digits_host": "share of digits in hostname", "punycode": "punycode hostname", "port": "explicit port",
    "tld_in_path": "TLD inside the path", "tld_in_subdomain": "TLD inside a subdomain",
    "abnormal_subdomain": "odd www-like subdomain", "nb_subdomains": "many subdomains",
    "prefix_suffix": "hyphenated domain", "shortening_service": "URL shortener", "path_extension": ".txt path",
    "length_words_raw": "words in URL", "char_repeat": "repeated characters in URL words",
    "shortest_words_raw": "shortest URL word", "shortest_word_host": "shortest hostname word",
    "shortest_word_path": "shortest path word", "longest_words_raw": "longest URL word",
    "longest_word_host": "longest hostname word", "longest_word_path": "longest path word",
    "avg_words_raw": "average URL word length", "avg_word_host": "average hostname word length",
    "avg_word_path": "average path word length", "phish_hints": "phishing hint words in URL",
    "suspecious_tld": "suspicious TLD", "nb_hyperlinks": "number of links and resources",
    "nb_intHyperlinks": "relative links and resources",
    "ratio_intHyperlinks": "share of internal links", "ratio_extHyperlinks": "share of external links",
    "nb_extCSS": "external stylesheets", "login_form": "form posting off-site", "external_favicon": "external icon",
    "links_in_tags": "share of internal <link>/<script> references", "ratio_intMedia": "share of internal media",
    "ratio_extMedia": "share of external media", "iframe": "invisible iframe", "popup_window": "prompt() popup",
    "safe_anchor": "share of '#', javascript: or mailto: anchors", "onmouseover": "status-bar spoofing",
    "right_clic": "right-click disabled", "empty_title": "empty title",
}

_IP = re.compile(
    r"(?:(?:[01]?\d\d?|2[0-4]\d|25[0-5])\.){3}(?:[01]?\d\d?|2[0-4]\d|25[0-5])/"  # dotted IPv4, then a slash
    r"|(?:0x[0-9a-fA-F]{1,2}\.){3}0x[0-9a-fA-F]{1,2}/"  # hexadecimal IPv4
    r"|(?:[a-fA-F0-9]{1,4}:){7}[a-fA-F0-9]{1,4}"  # IPv6
    r"|[0-9a-fA-F]{7}"  # as defined by the data set: any run of seven hex digits
)
_PORT = re.compile(
    r"^[a-z][a-z0-9+\-.]*://([a-z0-9\-._~%!$&'()*+,;=]+@)?([a-z0-9\-._~%]+|\[[a-z0-9\-._~%!$&'()*+,;=:]+\]):([0-9]+)"
)
_ABNORMAL_SUBDOMAIN = re.compile(r"(http[s]?://(w[w]?|\d))([w]?(\d|-))")
_PREFIX_SUFFIX = re.compile(r"https?://[^\-]+-[^\-]+/")
_WORD_SPLIT = re.compile(r"[-./?=@&%:_]")
_LOGIN_PHP = re.compile(r"([a-zA-Z0-9_])+.php")
_RIGHT_CLICK = re.compile(r"event.button ?== ?2")


@dataclass(frozen=True)
class FeatureSpec:
    """The lists that define some features; a trained head keeps its own copy in its manifest."""

    phish_hints: tuple[str, ...]
    suspicious_tlds: frozenset[str]
    shorteners: tuple[str, ...]
    multi_label_suffixes: frozenset[str]

    def to_json(self) -> dict[str, list[str]]:
        return {
            "phish_hints": list(self.phish_hints),
            "suspicious_tlds": sorted(self.suspicious_tlds),
            "shorteners": list(self.shorteners),
            "multi_label_suffixes": sorted(self.multi_label_suffixes),
        }

    @classmethod
    def from_json(cls, doc: dict[str, list[str]]) -> FeatureSpec:
        return cls(
            phish_hints=tuple(doc["phish_hints"]),
            suspicious_tlds=frozenset(doc["suspicious_tlds"]),
            shorteners=tuple(doc["shorteners"]),
            multi_label_suffixes=frozenset(doc["multi_label_suffixes"]),
        )


def default_spec() -> FeatureSpec:
    config = load_page_signals()
    lists = config.phishing_features
    return FeatureSpec(
        phish_hints=tuple(lists.phish_hints),
        suspicious_tlds=frozenset(lists.suspicious_tlds),
        shorteners=tuple(lists.shorteners),
        multi_label_suffixes=frozenset(lists.multi_label_suffixes),
    )


# ----------------------------------------------------------------------------------- URL
@dataclass(frozen=True)
class UrlParts:
    url: str
    scheme: str
    hostname: str
    subdomain: str
    sld: str  # registered name without its suffix ("example" in www.example.co.uk)
    suffix: str  # public suffix ("co.uk"); "" for IP addresses
    path: str  # from the first "/" after the suffix, as the data set cut it
    words_raw: list[str]
    words_host: list[str]
    words_path: list[str]

    @property
    def domain(self) -> str:
        return f"{self.sld}.{self.suffix}" if self.suffix else self.sld


def _split_host(host: str, suffixes: frozenset[str]) -> tuple[str, str, str]:
    if not host or is_ip(host):
        return "", host, ""
    labels = host.split(".")
    size = 1
    for candidate in (3, 2):
        if len(labels) > candidate and ".".join(labels[-candidate:]) in suffixes:
            size = candidate
            break
    if len(labels) <= size:
        return "", labels[0], ".".join(labels[1:])
    return ".".join(labels[: -size - 1]), labels[-size - 1], ".".join(labels[-size:])


def _words(text: str) -> list[str]:
    return [w for w in _WORD_SPLIT.split(text.lower()) if w]


def split_url(url: str, spec: FeatureSpec) -> UrlParts | None:
    url = url.strip()[:MAX_URL_CHARS]
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if not host:
        return None
    subdomain, sld, suffix = _split_host(host, spec.multi_label_suffixes)
    tail = url[url.find(suffix) :]
    _, slash, rest = tail.partition("/")
    w_domain, w_sub, w_path = _words(sld), _words(subdomain), _words(rest)
    return UrlParts(
        url=url, scheme=parts.scheme.lower(), hostname=host, subdomain=subdomain, sld=sld, suffix=suffix,
        path=slash + rest, words_raw=w_domain + w_path + w_sub, words_host=w_domain + w_sub, words_path=w_path,
    )


def _char_repeat(words: Iterable[str]) -> int:
    count = 0
    for word in words:
        for size in (2, 3, 4, 5):
            count += sum(1 for i in range(len(word) - size + 1) if len(set(word[i : i + size])) == 1)
    return count


def _lengths(words: list[str]) -> tuple[float, float, float]:
    if not words:
        return 0.0, 0.0, 0.0
    sizes = [len(w) for w in words]
    return float(min(sizes)), float(max(sizes)), sum(sizes) / len(sizes)


def _digits(text: str) -> int:
    return sum(c.isdigit() and c.isascii() for c in text)


def url_features(parts: UrlParts, spec: FeatureSpec) -> dict[str, float]:
    url, host = parts.url, parts.hostname
    lowered = url.lower()
    slashes = [m.start() for m in re.finditer("//", url)]
    short_raw, long_raw, avg_raw = _lengths(parts.words_raw)
    short_host, long_host, avg_host = _lengths(parts.words_host)
    short_path, long_path, avg_path = _lengths(parts.words_path)
    dots = url.count(".")
    counted = {name: float(url.count(ch)) for name, ch in (
        ("nb_dots", "."), ("nb_hyphens", "-"), ("nb_at", "@"), ("nb_qm", "?"), ("nb_and", "&"), ("nb_or", "|"),
        ("nb_eq", "="), ("nb_underscore", "_"), ("nb_percent", "%"), ("nb_slash", "/"), ("nb_star", "*"),
        ("nb_colon", ":"), ("nb_comma", ","), ("nb_semicolumn", ";"), ("nb_dollar", "$"),
    )}
    return {
        "length_url": float(len(url)),
        "length_hostname": float(len(host)),
        "ip": float(bool(_IP.search(url))),
        **counted,
        "nb_tilde": float("~" in url),
        "nb_space": float(url.count(" ") + url.count("%20")),
        "nb_www": float(sum("www" in w for w in parts.words_raw)),
        "nb_com": float(sum("com" in w for w in parts.words_raw)),
        "nb_dslash": float(bool(slashes) and slashes[-1] > 6),
        "http_in_path": float(parts.path.count("http")),
        "https_token": float(parts.scheme != "https"),
        "ratio_digits_url": _digits(url) / len(url),
        "ratio_digits_host": _digits(host) / len(host),
        "punycode": float(url.startswith("http://xn--")),  # as defined by the data set: http only
        "port": float(bool(_PORT.search(url))),
        "tld_in_path": float(parts.suffix in parts.path.lower()),
        "tld_in_subdomain": float(parts.suffix in parts.subdomain),
        "abnormal_subdomain": float(bool(_ABNORMAL_SUBDOMAIN.search(url))),
        "nb_subdomains": 1.0 if dots == 1 else 2.0 if dots == 2 else 3.0,
        "prefix_suffix": float(bool(_PREFIX_SUFFIX.search(url))),
        "shortening_service": float(any(s in url for s in spec.shorteners)),
        "path_extension": float(parts.path.endswith(".txt")),
        "length_words_raw": float(len(parts.words_raw)),
        "char_repeat": float(_char_repeat(parts.words_raw)),
        "shortest_words_raw": short_raw,
        "shortest_word_host": short_host,
        "shortest_word_path": short_path,
        "longest_words_raw": long_raw,
        "longest_word_host": long_host,
        "longest_word_path": long_path,
        "avg_words_raw": avg_raw,
        "avg_word_host": avg_host,
        "avg_word_path": avg_path,
        "phish_hints": float(sum(lowered.count(h) for h in spec.phish_hints)),
        "suspecious_tld": float(parts.suffix in spec.suspicious_tlds),
    }


# ----------------------------------------------------------------------------------- content
@dataclass
class _Refs:
    internal: int = 0
    external: int = 0

    @property
    def total(self) -> int:
        return self.internal + self.external


def _bucket(ref: str, parts: UrlParts | None) -> str | None:
    """internal / external / None (absolute but naming the page's own host or domain: not counted)."""
    if not ref.startswith("http"):
        return "internal"
    own = ref.count(".") == 1
    if parts is not None:
        own = own or parts.hostname in ref or parts.domain in ref
    return None if own else "external"


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _invisible_iframe(frame: IframeInfo) -> bool:
    """The data set's definition: width and height "0" and a zero border, literally."""
    zero_border = frame.frameborder == "0" or frame.border == "0" or frame.style == "border:none;"
    return frame.width == "0" and frame.height == "0" and zero_border


def _is_icon(resource: Resource) -> bool:
    return any(token.endswith("icon") for token in resource.rel.split())


def content_features(analysis: PageAnalysis, html: str, parts: UrlParts | None) -> dict[str, float]:
    """The page-content features; the host-dependent ones only when the page URL is known."""
    groups = {name: _Refs() for name in ("href", "link", "media", "form", "css", "favicon")}
    login_php = False
    safe = unsafe = 0
    for res in analysis.resources:
        bucket = _bucket(res.ref, parts)
        kinds = {"a": ["href"], "img": ["media"], "audio": ["media"], "embed": ["media"], "iframe": ["media"],
                 "script": ["link"], "form": ["form"]}.get(res.kind, [])
        if res.kind == "link":
            kinds = ["link", "favicon"] + (["css"] if "stylesheet" in res.rel.split() else [])
            kinds += ["favicon"] if _is_icon(res) else []
        for kind in kinds:
            if bucket == "internal":
                groups[kind].internal += 1
            elif bucket == "external":
                groups[kind].external += 1
        if res.kind == "a":
            lowered = res.ref.lower()
            if bucket == "external":
                safe += 1
            elif "#" in res.ref or "javascript" in lowered or "mailto" in lowered:
                unsafe += 1
        if res.kind == "form" and bucket == "internal":
            host = parts.hostname if parts else ""
            login_php = login_php or bool(_LOGIN_PHP.match(host + ("" if res.ref.startswith("/") else "/") + res.ref))
    total = sum(g.total for g in groups.values())
    internal = sum(g.internal for g in groups.values())
    lowered_html = html.lower()
    features = {
        "nb_intHyperlinks": float(internal),
        "iframe": float(any(map(_invisible_iframe, analysis.iframe_details))),
        "popup_window": float("prompt(" in lowered_html),
        "onmouseover": float('onmouseover="window.status=' in lowered_html.replace(" ", "")),
        "right_clic": float(bool(_RIGHT_CLICK.search(html))),
        "empty_title": float(not analysis.title),
    }
    if parts is None:
        return features
    media, link = groups["media"], groups["link"]
    return {
        **features,
        "nb_hyperlinks": float(total),
        "ratio_intHyperlinks": internal / total if total else 0.0,
        "ratio_extHyperlinks": sum(g.external for g in groups.values()) / total if total else 0.0,
        "nb_extCSS": float(groups["css"].external),
        "login_form": float(groups["form"].external > 0 or login_php),
        "external_favicon": float(groups["favicon"].external > 0),
        "links_in_tags": _percent(link.internal, link.total),
        "ratio_intMedia": _percent(media.internal, media.total),
        "ratio_extMedia": _percent(media.external, media.total),
        "safe_anchor": _percent(unsafe, safe + unsafe),
    }


def page_features(
    url: str | None, analysis: PageAnalysis, html: str, spec: FeatureSpec | None = None
) -> dict[str, float]:
    """Every feature computable from what we have: URL features only when `url` is given and parses."""
    spec = spec or default_spec()
    parts = split_url(url, spec) if url else None
    features = url_features(parts, spec) if parts else {}
    return {**features, **content_features(analysis, html, parts)}
