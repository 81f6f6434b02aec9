"""Risk signals of a landing page, from what multimodal/page.py extracted.

One detector per signal; each returns at most one PageSignal (its strongest evidence, with up to
three examples in `detail`). Word lists, categories and strengths come from
configs/page_signals.yaml and configs/brands.yaml via multimodal/page_rules.py.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from multimodal.page_rules import (
    Brand,
    PageSignalsConfig,
    TermMatcher,
    load_brands,
    load_page_signals,
    normalize_identifier,
    normalize_text,
)
from multimodal.page_types import FormField, FormInfo, PageAnalysis, PageExtras, PageSignal
from multimodal.page_urls import absolute_url, host_in_domains, hostname, is_ip, path_extension, registrable_domain

EXAMPLES = 3
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_PHONE = re.compile(
    r"\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}"  # international
    r"|\(\d{3}\) ?\d{3}[ .-]\d{4}|\b\d{3}[.-]\d{3}[.-]\d{4}\b"  # North American
    r"|\b0\d{2,4} \d{3,4} ?\d{3,4}\b"  # national trunk prefix
)


@dataclass(frozen=True)
class _Rules:
    config: PageSignalsConfig
    credential: TermMatcher
    secret: TermMatcher
    payment: TermMatcher
    personal: TermMatcher
    government: TermMatcher
    urgency: TermMatcher
    group_links: dict[str, TermMatcher]
    group_text: dict[str, TermMatcher]
    address: re.Pattern[str]
    brand_names: TermMatcher
    brand_of: dict[str, Brand]
    executables: frozenset[str]
    archives: frozenset[str]


@cache
def _rules() -> _Rules:
    config = load_page_signals()
    fields = config.fields
    identity = config.business_identity
    brands = load_brands().brands
    brand_of = {normalize_text(name): brand for brand in brands for name in brand.names}
    streets = "|".join(re.escape(normalize_text(s)) for s in identity.street_types)
    return _Rules(
        config=config,
        credential=TermMatcher(fields.credential.terms),
        secret=TermMatcher(fields.credential.secret_terms),
        payment=TermMatcher(fields.payment.terms),
        personal=TermMatcher(fields.personal_data.terms),
        government=TermMatcher(fields.personal_data.government_id_terms),
        urgency=TermMatcher(config.urgency.phrases),
        group_links={name: TermMatcher(g.link_terms) for name, g in identity.groups.items()},
        group_text={name: TermMatcher(g.text_terms) for name, g in identity.groups.items()},
        address=re.compile(rf"(?:^| )\d{{1,5}}(?: [^\W\d_]{{2,24}}){{1,4}} (?:{streets})(?= |$)"),
        brand_names=TermMatcher(list(brand_of)),
        brand_of=brand_of,
        executables=frozenset(config.downloads.executable_extensions),
        archives=frozenset(config.downloads.archive_extensions),
    )


def _signal(name: str, level: str, detail: str) -> PageSignal:
    spec = _rules().config.signals[name]
    return PageSignal(name=name, category=spec.category, score=spec.scores[level], detail=detail[:500])


def _describe(f: FormField) -> str:
    parts = [f"{f.tag} type={f.type}"]
    parts += [f'{key}="{value[:40]}"' for key, value in (("name", f.name), ("label", f.label)) if value]
    if not f.name and not f.label and f.placeholder:
        parts.append(f'placeholder="{f.placeholder[:40]}"')
    return " ".join(parts)


def _field_words(f: FormField) -> str:
    return f"{normalize_identifier(f'{f.name} {f.id} {f.placeholder}')} {normalize_text(f.label)}".strip()


def _examples(items: list[str]) -> str:
    unique = list(dict.fromkeys(items))
    more = f" (+{len(unique) - EXAMPLES} more)" if len(unique) > EXAMPLES else ""
    return "; ".join(unique[:EXAMPLES]) + more


# ----------------------------------------------------------------------------------- fields
def _classify(f: FormField) -> dict[str, str]:
    """Which sensitive kinds a field asks for: kind -> the term or attribute that says so."""
    rules = _rules()
    fields = rules.config.fields
    if f.type in fields.ignored_input_types:
        return {}
    words = _field_words(f)
    autocomplete = set(f.autocomplete.split())
    found: dict[str, str] = {}
    if hit := rules.secret.search(words):
        found["secret"] = hit
    if f.type in fields.credential.input_types:
        found["credential"] = f"type={f.type}"
    elif hit := (autocomplete & set(fields.credential.autocomplete)) or rules.credential.search(words):
        found["credential"] = hit if isinstance(hit, str) else f"autocomplete={min(hit)}"
    if hit := (autocomplete & set(fields.payment.autocomplete)) or rules.payment.search(words):
        found["payment"] = hit if isinstance(hit, str) else f"autocomplete={min(hit)}"
    if hit := rules.government.search(words):
        found["government_id"] = hit
    if hit := (autocomplete & set(fields.personal_data.autocomplete)) or rules.personal.search(words):
        found["personal"] = hit if isinstance(hit, str) else f"autocomplete={min(hit)}"
    return found


def _form_target(form: FormInfo, analysis: PageAnalysis) -> str:
    """Where a form submits, as far as the page says: same_site, other_site or unknown."""
    action = form.action.strip().lower()
    if action.startswith("mailto:"):
        return "other_site"
    if not action or ("://" not in action and not action.startswith(("//", "javascript:"))):
        return "same_site"  # no action, or a relative one: the page's own site, whatever its URL
    target_host = hostname(form.action_url)
    if is_ip(target_host) and target_host != analysis.host:
        return "other_site"
    if analysis.domain and form.action_domain:
        return "same_site" if form.action_domain == analysis.domain else "other_site"
    return "unknown"  # an absolute action on a page whose URL was not given


def _credential_level(
    analysis: PageAnalysis, fields: list[tuple[FormField, dict[str, str]]], brand: PageSignal | None
) -> tuple[str, str]:
    """How strong the credential evidence is (level, why): a login form of the site it sits on is
    weak; one that posts elsewhere, or sits under a brand the page's domain does not own, is strong."""
    if any("secret" in k for _, k in fields):
        return "secret_phrase", ""
    if brand is not None and brand.score >= _rules().config.signals["brand_domain_mismatch"].scores["title"]:
        return "off_site", "; under a brand its domain does not own"
    named = [_rules().brand_of[name] for name in
             _rules().brand_names.find(normalize_text(" ".join([analysis.title, *analysis.headings])))]
    unowned = [b for b in named if not host_in_domains(analysis.host, b.domains)]
    wanted = Counter(f for f, k in fields if "credential" in k)
    targets = []
    for form in analysis.forms:
        inside = [f for f in form.fields if f in wanted and _classify(f).get("credential")]
        if not inside:
            continue
        target = _form_target(form, analysis)
        action_host = hostname(form.action_url)
        if target == "unknown" and named and not any(host_in_domains(action_host, b.domains) for b in named):
            return "off_site", f"; the form posts to {action_host}, which {named[0].id} does not own"
        targets.append(target)
        wanted.subtract(inside)
    if "other_site" in targets:
        return "off_site", "; the form posts to another site"
    if any(n > 0 for n in wanted.values()) or "unknown" in targets:
        return "field", ""  # fields outside any form, or a form whose destination is unknown
    if unowned:
        return "field", ""  # a brand named on a page whose domain cannot be shown to own it
    return "own_site", "; the form posts to the page's own site"


def _field_signals(
    fields: list[tuple[FormField, dict[str, str]]], analysis: PageAnalysis, brand: PageSignal | None
) -> list[PageSignal]:
    out = []
    secret = [f"{_describe(f)} ({k['secret']})" for f, k in fields if "secret" in k]
    cred = [f"{_describe(f)} ({k['credential']})" for f, k in fields if "credential" in k]
    if secret or cred:
        level, why = _credential_level(analysis, fields, brand)
        out.append(_signal("credential_field", level, _examples(secret + cred) + why))
    pay = [f"{_describe(f)} ({k['payment']})" for f, k in fields if "payment" in k]
    if pay:
        out.append(_signal("payment_field", "field", _examples(pay)))
    gov = [f"{_describe(f)} ({k['government_id']})" for f, k in fields if "government_id" in k]
    personal = [f"{_describe(f)} ({k['personal']})" for f, k in fields if "personal" in k]
    if gov or personal:
        out.append(_signal("personal_data_field", "government_id" if gov else "field", _examples(gov + personal)))
    return out


def _cross_domain_form(analysis: PageAnalysis) -> PageSignal | None:
    best: tuple[float, str, str] | None = None
    for form in analysis.forms:
        sensitive = any(_classify(f) for f in form.fields)
        target_host = hostname(form.action_url)
        if form.action.lower().startswith("mailto:"):
            level, detail = "mailto", f"form submits by e-mail: {form.action[:120]}"
        elif is_ip(target_host) and target_host != analysis.host:
            level, detail = "ip_address", f"form posts to a bare IP address: {form.action_url}"
        elif analysis.domain and form.action_domain and form.action_domain != analysis.domain:
            level = "with_sensitive_fields" if sensitive else "other_domain"
            what = "with sensitive fields " if sensitive else ""
            detail = f"form {what}posts to {form.action_domain} (page is on {analysis.domain})"
        else:
            continue
        score = _rules().config.signals["cross_domain_form"].scores[level]
        if best is None or score > best[0]:
            best = (score, level, detail)
    return _signal("cross_domain_form", best[1], best[2]) if best else None


# ----------------------------------------------------------------------------------- brand
def _brand_domain_mismatch(analysis: PageAnalysis, has_credentials: bool, has_payment: bool) -> PageSignal | None:
    """A brand named prominently (title, headings) or, on a page asking for secrets, anywhere in the text."""
    if not analysis.host:
        return None  # without the page's URL there is no domain to compare with
    rules = _rules()
    places = [("title", analysis.title), *(("heading", h) for h in analysis.headings)]
    if has_credentials or has_payment:
        places.append(("text", analysis.visible_text))
    for where, text in places:
        for name in rules.brand_names.find(normalize_text(text)):
            brand = rules.brand_of[name]
            if host_in_domains(analysis.host, brand.domains):
                continue
            prominent = where != "text"
            level = "with_credentials" if prominent and has_credentials else "title" if prominent else "text"
            detail = (
                f'names "{name}" in the {where}; page domain {analysis.domain} is not one of '
                f"{', '.join(brand.domains[:4])}" + (" and it asks for credentials" if has_credentials else "")
            )
            return _signal("brand_domain_mismatch", level, detail)
    return None


# ----------------------------------------------------------------------------------- downloads, redirects
def _auto_download(analysis: PageAnalysis, extras: PageExtras) -> PageSignal | None:
    rules = _rules()
    downloadable = rules.executables | rules.archives
    targets = [
        *(("redirect", f"meta refresh to {t}", t) for t, _ in extras.refreshes),
        *(("redirect", f"script sets location to {t}", t) for t in extras.js_redirects),
        *(("iframe", f"iframe loads {t}", t) for t in analysis.iframes),
    ]
    evidence = [(level, what) for level, what, t in targets if path_extension(t) in downloadable]
    evidence += [("download_attribute", f"link with download attribute: {t}") for t in extras.download_attribute_links]
    if not evidence:
        return None
    scores = rules.config.signals["auto_download"].scores
    level = max((lvl for lvl, _ in evidence), key=scores.__getitem__)
    return _signal("auto_download", level, _examples([d for _, d in evidence]))


def _download_link(analysis: PageAnalysis) -> PageSignal | None:
    rules = _rules()
    exe = [d for d in analysis.downloads if path_extension(d) in rules.executables]
    archive = [d for d in analysis.downloads if path_extension(d) in rules.archives]
    if not exe and not archive:
        return None
    return _signal("download_link", "executable" if exe else "archive", _examples(exe + archive))


def _redirect(name: str, targets: list[str], analysis: PageAnalysis, what: str) -> PageSignal | None:
    if not targets:
        return None
    scores = _rules().config.signals[name].scores
    best: tuple[str, str] | None = None
    for target in targets:
        domain = registrable_domain(hostname(target))
        if domain is None and "://" not in target and not target.startswith("//"):
            level = "same_site"  # a relative target (a route of this site), with or without the page URL
        elif analysis.domain is None or domain is None:
            level = "unknown_site"
        else:
            level = "same_site" if domain == analysis.domain else "cross_site"
        if best is None or scores[level] > scores[best[0]]:
            best = (level, target)
    if best is None:
        return None
    extra = f" (+{len(targets) - 1} more)" if len(targets) > 1 else ""
    return _signal(name, best[0], f"{what} to {best[1][:200]}{extra}")


def _hidden_iframe(analysis: PageAnalysis) -> PageSignal | None:
    """Hidden iframes, less the ones ordinary sites carry by design: inside <noscript> (a no-script
    fallback beacon, never loaded by a browser that runs scripts) or to a documented embed host."""
    rules = _rules()
    embed_hosts = rules.config.iframes.embed_hosts
    levels: list[tuple[str, str]] = []
    for frame in analysis.iframe_details:
        if not frame.hidden or frame.noscript:
            continue
        src = frame.src.strip()
        lowered = src.lower()
        if not src or lowered.startswith(("about:", "javascript:")):
            levels.append(("same_site", src or "(no src)"))  # loads nothing from anywhere
            continue
        if "://" not in src and not src.startswith("//") and not lowered.startswith("data:"):
            levels.append(("same_site", src))  # a relative URL: the page's own site
            continue
        host = hostname(absolute_url(src, analysis.url))
        if host_in_domains(host, embed_hosts):
            continue
        same = analysis.domain is not None and registrable_domain(host) == analysis.domain
        levels.append(("same_site" if same else "other_site", src))
    if not levels:
        return None
    scores = rules.config.signals["hidden_iframe"].scores
    level = max((lvl for lvl, _ in levels), key=scores.__getitem__)
    detail = f"{len(levels)} hidden iframe(s): {_examples([src for _, src in levels])}"
    return _signal("hidden_iframe", level, detail)


# ----------------------------------------------------------------------------------- text
def _urgency(analysis: PageAnalysis, extras: PageExtras) -> PageSignal | None:
    rules = _rules()
    phrases = rules.urgency.find(normalize_text(f"{analysis.title} {analysis.visible_text}"))
    if not phrases and not extras.countdown_marker:
        return None
    scores = rules.config.signals["urgency_language"].scores
    score = (scores["first"] + scores["each_more"] * (len(phrases) - 1)) if phrases else 0.0
    score += scores["countdown"] if extras.countdown_marker else 0.0
    parts = [f'"{p}"' for p in phrases[:5]]
    if extras.countdown_marker:
        parts.append(f"countdown widget ({extras.countdown_marker})")
    spec = rules.config.signals["urgency_language"]
    return PageSignal("urgency_language", spec.category, round(min(score, scores["max"]), 4), ", ".join(parts))


def _missing_business_identity(analysis: PageAnalysis, extras: PageExtras) -> PageSignal | None:
    rules = _rules()
    identity = rules.config.business_identity
    text = analysis.visible_text
    normalized = normalize_text(text)
    missing = []
    for group in identity.groups:
        present = any(rules.group_links[group].search(t) for t in extras.anchor_texts) or bool(
            rules.group_text[group].search(normalized)
        )
        if group == "contact":
            present = present or bool(
                extras.contact_links or _EMAIL.search(text) or _PHONE.search(text) or rules.address.search(normalized)
            )
        if not present:
            missing.append(group)
    if len(missing) < identity.min_missing_groups:
        return None
    spec = rules.config.signals["missing_business_identity"]
    score = round(min(spec.scores["max"], spec.scores["per_missing_group"] * len(missing)), 4)
    names = {"contact": "contact details", "privacy": "privacy policy", "terms": "terms", "refund": "refund policy"}
    detail = "no " + ", ".join(names.get(m, m) for m in missing) + " found in links or text"
    return PageSignal("missing_business_identity", spec.category, score, detail)


def _markup_abuse(analysis: PageAnalysis) -> PageSignal | None:
    if not analysis.parse_limited:
        return None
    return _signal(
        "markup_abuse", "parse_limited",
        f"markup built to make HTML parsing super-linear ({analysis.parse_limit_reason}); analysed a prefix only",
    )


def detect_signals(analysis: PageAnalysis, extras: PageExtras) -> list[PageSignal]:
    classified = [(f, k) for f in analysis.fields if (k := _classify(f))]
    has_credentials = any("credential" in k or "secret" in k for _, k in classified)
    has_payment = any("payment" in k for _, k in classified)
    brand = _brand_domain_mismatch(analysis, has_credentials, has_payment)
    detectors: list[Callable[[], PageSignal | None]] = [
        lambda: _cross_domain_form(analysis),
        lambda: brand,
        lambda: _auto_download(analysis, extras),
        lambda: _download_link(analysis),
        lambda: _urgency(analysis, extras),
        lambda: _missing_business_identity(analysis, extras),
        lambda: _redirect("meta_refresh_redirect", [t for t, _ in extras.refreshes], analysis, "meta refresh"),
        lambda: _redirect("js_redirect", extras.js_redirects, analysis, "script redirect"),
        lambda: _hidden_iframe(analysis),
        lambda: _markup_abuse(analysis),
    ]
    signals = _field_signals(classified, analysis, brand)
    signals += [s for s in (d() for d in detectors) if s is not None]
    return signals
