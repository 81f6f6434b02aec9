"""What a landing-page analysis reports (multimodal/page.py builds these; re-exported there)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PageSignal:
    name: str  # credential_field, cross_domain_form, brand_domain_mismatch, ...
    category: str  # taxonomy id the signal supports
    score: float  # 0..1 strength of this signal on its own
    detail: str  # human-readable evidence


@dataclass(frozen=True)
class FormField:
    tag: str  # input, select, textarea
    type: str  # lower-case input type ("text" when absent)
    name: str
    id: str
    autocomplete: str
    placeholder: str
    label: str  # <label for=id>, an enclosing <label>, aria-label or title


@dataclass(frozen=True)
class FormInfo:
    action: str  # raw action attribute ("" when absent: the form posts to the page itself)
    action_url: str | None  # absolute http(s) URL of the action, when it can be resolved
    action_domain: str | None  # registrable domain of the action (None for relative actions without a page URL)
    method: str  # get or post
    fields: list[FormField]
    fields_total: int  # before the per-form cap


@dataclass(frozen=True)
class Resource:
    """A reference as written in the page, for features that need the raw string."""

    kind: str  # a, img, audio, embed, iframe, link, script, form
    ref: str  # href / src / action, truncated
    rel: str = ""  # link rel, lower case


@dataclass(frozen=True)
class IframeInfo:
    src: str
    width: str
    height: str
    frameborder: str
    border: str
    style: str
    hidden: bool  # 0/1 px, display:none, visibility:hidden or the hidden attribute
    noscript: bool = False  # inside <noscript>: loaded only by browsers with scripting off


@dataclass(frozen=True)
class PageAnalysis:
    url: str | None
    domain: str | None  # registrable-ish domain of the page URL, if given
    host: str | None
    title: str
    meta_description: str
    headings: list[str]  # h1-h3 texts, bounded
    visible_text: str  # no script/style/noscript/template/svg/head; whitespace collapsed; bounded
    text_truncated: bool
    links: list[str]  # absolute hrefs of <a>, bounded
    link_domains: dict[str, int]  # registrable domain -> count over `links`
    forms: list[FormInfo]
    fields: list[FormField]  # every input/select/textarea in the page, in or out of a form, bounded
    scripts: int
    external_scripts: list[str]
    iframes: list[str]
    hidden_iframes: int
    redirects: list[str]  # meta refresh targets and JS location assignments in inline scripts
    downloads: list[str]  # links to executables/archives or with a download attribute
    signals: list[PageSignal]
    resources: list[Resource] = field(default_factory=list)
    iframe_details: list[IframeInfo] = field(default_factory=list)
    parse_limited: bool = False  # the document was cut short before parsing (see multimodal/page_guard.py)
    parse_limit_reason: str = ""

    def signal(self, name: str) -> PageSignal | None:
        return next((s for s in self.signals if s.name == name), None)


@dataclass(frozen=True)
class PageExtras:
    """Evidence the signal detectors need that is not part of the public analysis."""

    anchor_texts: list[str]  # normalised "text href" of each link, bounded
    contact_links: int  # mailto: and tel: links
    download_attribute_links: list[str]
    refreshes: list[tuple[str, float]]  # (target, delay seconds)
    js_redirects: list[str]
    countdown_marker: str | None
