"""Landing-page HTML (+ optional URL) → PageAnalysis: text, links, forms, redirects, risk signals.

Everything is read with a real HTML5 parser (selectolax/Lexbor); the only string searches are over
text the parser hands back (inline script bodies for JS redirects, visible text for phrases).
Hostile input stays bounded: the document is first cut to a prefix whose tree construction cost is
bounded (multimodal/page_guard.py), every list is capped, and every stored string is truncated.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from selectolax.lexbor import LexborHTMLParser, LexborNode

from core.errors import InvalidInput, PayloadTooLarge
from multimodal.page_guard import bounded_prefix
from multimodal.page_rules import load_page_signals, normalize_text
from multimodal.page_signals import detect_signals
from multimodal.page_types import (
    FormField,
    FormInfo,
    IframeInfo,
    PageAnalysis,
    PageExtras,
    PageSignal,
    Resource,
)
from multimodal.page_urls import absolute_url, hostname, path_extension, registrable_domain

__all__ = ["FormField", "FormInfo", "IframeInfo", "PageAnalysis", "PageSignal", "Resource", "analyze_page"]

MAX_HTML_CHARS = 6 * 1024 * 1024  # the service admits 5 MiB of UTF-8; a str of that has fewer chars
MAX_LINKS = 2000
MAX_FORMS = 50
MAX_FIELDS_PER_FORM = 200
MAX_FIELDS = 2000
MAX_RESOURCES = 10_000
MAX_LIST = 200  # scripts, iframes, downloads, redirects
MAX_ATTR_CHARS = 2048
MAX_SHORT_CHARS = 200  # field names, labels, link texts
MAX_TITLE_CHARS = 1000
MAX_SCRIPT_CHARS = 1_000_000  # inline script text searched for redirects, in all
MAX_LABELS = 5000
MAX_HEADINGS = 50
LABEL_ANCESTORS = 6
NOSCRIPT_ANCESTORS = 64

_JS_LOCATION = re.compile(
    r"""\blocation(?:\s{0,8}\.\s{0,8}href)?\s{0,8}=(?!=)\s{0,8}(["'`])([^"'`\\\r\n]{1,2048})\1"""
    r"""|\blocation\s{0,8}\.\s{0,8}(?:replace|assign)\s{0,8}\(\s{0,8}(["'`])([^"'`\\\r\n]{1,2048})\3"""
)
_NOT_FILES = ("mailto:", "tel:", "javascript:", "data:", "sms:")
_REFRESH_DELAY = re.compile(r"^\s*(\d{1,6}(?:\.\d*)?)?")

INVISIBLE = ("script", "style", "noscript", "template", "svg", "head")  # never visible text


def _attr(node: LexborNode, name: str, limit: int = MAX_ATTR_CHARS) -> str:
    value = node.attributes.get(name)
    return value.strip()[:limit] if value else ""


def _text(node: LexborNode | None, limit: int = MAX_SHORT_CHARS) -> str:
    if node is None:
        return ""
    return " ".join(node.text(separator=" ", strip=True).split())[:limit]


def _sanitize(html: str) -> bytes:
    """UTF-8 bytes; lone surrogates and other unencodable code points become '?'."""
    return html.encode("utf-8", errors="replace")


def _refresh_target(content: str) -> tuple[str, float] | None:
    """`<meta http-equiv=refresh content="5; url=...">` → (target, delay); None without a target."""
    match = _REFRESH_DELAY.match(content)
    delay = float(match.group(1)) if match and match.group(1) else 0.0
    rest = content[match.end() if match else 0 :].lstrip(" \t;,")
    if rest[:3].lower() == "url":
        rest = rest[3:].lstrip()
        rest = rest[1:].lstrip() if rest.startswith("=") else rest
    target = rest.strip().strip("'\"").strip()
    return (target[:MAX_ATTR_CHARS], delay) if target else None


def _is_hidden_iframe(node: LexborNode) -> bool:
    def tiny(value: str) -> bool:
        value = value.lower().removesuffix("px").strip()
        try:
            return float(value) <= 1
        except ValueError:
            return False

    style = "".join(_attr(node, "style").lower().split())
    return (
        tiny(_attr(node, "width"))
        or tiny(_attr(node, "height"))
        or "display:none" in style
        or "visibility:hidden" in style
        or any(f"{dim}:{zero}" in style for dim in ("width", "height") for zero in ("0;", "0px", "1px"))
        or style.endswith(("width:0", "height:0"))
        or "hidden" in node.attributes
    )


def _in_noscript(node: LexborNode) -> bool:
    parent, steps = node.parent, 0
    while parent is not None and steps < NOSCRIPT_ANCESTORS:
        if parent.tag == "noscript":
            return True
        parent, steps = parent.parent, steps + 1
    return False


class _Extractor:
    """One pass over a parsed document; each method fills one part of the analysis."""

    def __init__(self, tree: LexborHTMLParser, url: str | None, max_text_chars: int) -> None:
        self.tree = tree
        self.url = url
        self.max_text_chars = max_text_chars
        self.rules = load_page_signals()
        self.host = hostname(url)
        self.domain = registrable_domain(self.host)
        self.download_exts = frozenset(self.rules.downloads.executable_extensions) | frozenset(
            self.rules.downloads.archive_extensions
        )

    def domain_of(self, absolute: str | None) -> str | None:
        return registrable_domain(hostname(absolute)) if absolute else None

    def resolve(self, ref: str) -> str | None:
        return absolute_url(ref, self.url)

    # ------------------------------------------------------------------------------- head
    def title(self) -> str:
        node = self.tree.css_first("title")
        return _text(node, MAX_TITLE_CHARS)

    def headings(self) -> list[str]:
        return [t for t in (_text(node) for node in self.tree.css("h1, h2, h3")[:MAX_HEADINGS]) if t]

    def meta_description(self) -> str:
        for node in self.tree.css("meta[name]")[:MAX_LIST]:
            if _attr(node, "name").lower() in ("description", "og:description"):
                return _attr(node, "content")
        return ""

    def refreshes(self) -> list[tuple[str, float]]:
        found = []
        for node in self.tree.css("meta[http-equiv]")[:MAX_LIST]:
            if _attr(node, "http-equiv").lower() == "refresh":
                target = _refresh_target(_attr(node, "content"))
                if target:
                    found.append((self.resolve(target[0]) or target[0], target[1]))
        return found

    # ------------------------------------------------------------------------------- scripts
    def scripts(self) -> tuple[int, list[str], list[str]]:
        nodes = self.tree.css("script")
        external, redirects, budget = [], [], MAX_SCRIPT_CHARS
        for node in nodes:
            src = _attr(node, "src")
            if src:
                absolute = self.resolve(src)
                if absolute and (self.domain is None or self.domain_of(absolute) != self.domain):
                    if len(external) < MAX_LIST:
                        external.append(absolute)
                continue
            if budget <= 0:
                continue
            body = (node.text(deep=True, separator="", strip=False) or "")[:budget]
            budget -= len(body)
            for match in _JS_LOCATION.finditer(body):
                target = match.group(2) or match.group(4)
                if len(redirects) < MAX_LIST:
                    redirects.append(self.resolve(target) or target)
        return len(nodes), external, redirects

    # ------------------------------------------------------------------------------- links
    def anchors(self) -> tuple[list[str], list[str], int, list[str], list[str]]:
        links: list[str] = []
        texts: list[str] = []
        download_attr: list[str] = []
        downloads: list[str] = []
        contact = 0
        for node in self.tree.css("a[href], area[href]"):
            href = _attr(node, "href")
            if href[:7].lower().startswith(("mailto:", "tel:")):
                contact += 1
            if len(links) < MAX_LINKS and (absolute := self.resolve(href)):
                links.append(absolute)
            if len(texts) < MAX_LINKS:
                texts.append(normalize_text(f"{_text(node)} {href[:MAX_SHORT_CHARS]}"))
            has_attr = "download" in node.attributes
            if href[:11].lower().startswith(_NOT_FILES):
                continue
            if len(downloads) < MAX_LIST and (has_attr or path_extension(href) in self.download_exts):
                target = self.resolve(href) or href
                downloads.append(target)
                if has_attr:
                    download_attr.append(target)
        return links, texts, contact, download_attr, downloads

    # ------------------------------------------------------------------------------- forms
    def labels(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for node in self.tree.css("label[for]")[:MAX_LABELS]:
            key = _attr(node, "for", MAX_SHORT_CHARS)
            if key and key not in found:
                found[key] = _text(node)
        return found

    def field(self, node: LexborNode, labels: dict[str, str]) -> FormField:
        ident = _attr(node, "id", MAX_SHORT_CHARS)
        label = labels.get(ident, "") if ident else ""
        if not label:
            parent, steps = node.parent, 0
            while parent is not None and steps < LABEL_ANCESTORS and parent.tag not in ("form", "body"):
                if parent.tag == "label":
                    label = _text(parent)
                    break
                parent, steps = parent.parent, steps + 1
        label = label or _attr(node, "aria-label", MAX_SHORT_CHARS) or _attr(node, "title", MAX_SHORT_CHARS)
        tag = node.tag or ""
        kind = _attr(node, "type", MAX_SHORT_CHARS).lower() if tag == "input" else tag
        return FormField(
            tag=tag,
            type=kind or "text",
            name=_attr(node, "name", MAX_SHORT_CHARS),
            id=ident,
            autocomplete=_attr(node, "autocomplete", MAX_SHORT_CHARS).lower(),
            placeholder=_attr(node, "placeholder", MAX_SHORT_CHARS),
            label=label,
        )

    def forms(self, labels: dict[str, str]) -> list[FormInfo]:
        forms = []
        for node in self.tree.css("form")[:MAX_FORMS]:
            action = _attr(node, "action")
            if action.lower().startswith("mailto:"):
                action_url, action_domain = None, "mailto:" + action[7:].split("?", 1)[0].split("@")[-1].lower()
            else:
                action_url = self.resolve(action) if action else self.url
                action_domain = self.domain_of(action_url)
            fields = node.css("input, select, textarea")
            forms.append(
                FormInfo(
                    action=action,
                    action_url=action_url,
                    action_domain=action_domain,
                    method=(_attr(node, "method", 16).lower() or "get"),
                    fields=[self.field(f, labels) for f in fields[:MAX_FIELDS_PER_FORM]],
                    fields_total=len(fields),
                )
            )
        return forms

    def fields(self, labels: dict[str, str]) -> list[FormField]:
        return [self.field(node, labels) for node in self.tree.css("input, select, textarea")[:MAX_FIELDS]]

    # ------------------------------------------------------------------------------- frames
    def iframes(self) -> list[IframeInfo]:
        return [
            IframeInfo(
                src=_attr(node, "src"),
                width=_attr(node, "width", 32),
                height=_attr(node, "height", 32),
                frameborder=_attr(node, "frameborder", 32),
                border=_attr(node, "border", 32),
                style=_attr(node, "style", MAX_SHORT_CHARS),
                hidden=_is_hidden_iframe(node),
                noscript=_in_noscript(node),
            )
            for node in self.tree.css("iframe, frame")[:MAX_LIST]
        ]

    # ------------------------------------------------------------------------------- raw refs
    def resources(self) -> list[Resource]:
        """Raw references in document order per kind, for the phishing features (bounded)."""
        found: list[Resource] = []
        selectors = (
            ("a", "a[href]", "href"),
            ("img", "img[src]", "src"),
            ("audio", "audio[src]", "src"),
            ("embed", "embed[src]", "src"),
            ("iframe", "iframe[src]", "src"),
            ("link", "link[href]", "href"),
            ("script", "script[src]", "src"),
            ("form", "form[action]", "action"),
        )
        for kind, selector, attr in selectors:
            for node in self.tree.css(selector)[: MAX_RESOURCES - len(found)]:
                rel = _attr(node, "rel", MAX_SHORT_CHARS).lower() if kind == "link" else ""
                found.append(Resource(kind=kind, ref=_attr(node, attr), rel=rel))
        return found

    def countdown_marker(self) -> str | None:
        for marker in self.rules.urgency.countdown_markers:
            quoted = marker.replace('"', "")
            if self.tree.css_first(f'[id*="{quoted}"], [class*="{quoted}"]') is not None:
                return marker
        return None

    # ------------------------------------------------------------------------------- text
    def visible_text(self) -> tuple[str, bool]:
        self.tree.strip_tags(list(INVISIBLE))
        body = self.tree.body
        text = body.text(separator=" ", strip=True) if body else ""
        text = " ".join(text.split())
        return text[: self.max_text_chars], len(text) > self.max_text_chars


def analyze_page(html: str, url: str | None = None, max_text_chars: int = 100_000) -> PageAnalysis:
    """Parse a landing page and report what it contains and which risk signals it raises."""
    if not isinstance(html, str):
        raise InvalidInput("landing_page.html must be a string")
    if url is not None and not isinstance(url, str):
        raise InvalidInput("landing_page.url must be a string")
    if len(html) > MAX_HTML_CHARS:
        raise PayloadTooLarge(f"landing_page.html has {len(html)} characters; the limit is {MAX_HTML_CHARS}")
    data = _sanitize(html)
    budget = bounded_prefix(data)
    url = url.strip()[:MAX_ATTR_CHARS] if url else None
    tree = LexborHTMLParser(data[: budget.end])
    ex = _Extractor(tree, url, max(0, max_text_chars))

    links, anchor_texts, contact, download_attr, downloads = ex.anchors()
    labels = ex.labels()
    script_count, external_scripts, js_redirects = ex.scripts()
    refreshes = ex.refreshes()
    iframes = ex.iframes()
    title, description, headings = ex.title(), ex.meta_description(), ex.headings()
    forms, fields, resources = ex.forms(labels), ex.fields(labels), ex.resources()
    countdown = ex.countdown_marker()
    text, truncated = ex.visible_text()  # strips the invisible elements, so it runs last
    analysis = PageAnalysis(
        url=url,
        domain=ex.domain,
        host=ex.host,
        title=title,
        meta_description=description,
        headings=headings,
        visible_text=text,
        text_truncated=truncated,
        links=links,
        link_domains=dict(Counter(d for d in map(ex.domain_of, links) if d).most_common()),
        forms=forms,
        fields=fields,
        scripts=script_count,
        external_scripts=external_scripts,
        iframes=[ex.resolve(i.src) or i.src for i in iframes if i.src],
        hidden_iframes=sum(i.hidden for i in iframes),
        redirects=[target for target, _ in refreshes] + js_redirects,
        downloads=downloads,
        signals=[],
        resources=resources,
        iframe_details=iframes,
        parse_limited=budget.limited,
        parse_limit_reason=budget.reason,
    )
    extras = PageExtras(
        anchor_texts=anchor_texts,
        contact_links=contact,
        download_attribute_links=download_attr,
        refreshes=refreshes,
        js_redirects=js_redirects,
        countdown_marker=countdown,
    )
    return replace(analysis, signals=detect_signals(analysis, extras))
