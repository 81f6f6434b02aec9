"""URL helpers for landing-page analysis: hostnames, registrable domains, absolute links.

Every function takes untrusted strings and never raises on them: a URL that cannot be understood
yields None (or is left out), it does not fail the request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from publicsuffixlist import PublicSuffixList

MAX_URL_CHARS = 4096


def hostname(url: str | None) -> str | None:
    """Lower-case host of an absolute http(s)/ftp URL ("" and relative URLs give None)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip()[:MAX_URL_CHARS])
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host or None


def is_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def public_suffix_list() -> PublicSuffixList:
    """The Public Suffix List, ICANN and private sections, from the publicsuffixlist package's
    bundled snapshot (nothing is fetched; a package upgrade brings a newer list)."""
    return PublicSuffixList()


def registrable_domain(host: str | None) -> str | None:
    """The site a host belongs to, by the Public Suffix List: example.com for www.shop.example.com,
    example.co.uk for a.example.co.uk, alice.github.io for a GitHub Pages host (the list's private
    section: each customer of a hosting platform is its own site). An IP address, a bare public
    suffix and a single label stay themselves."""
    if not host:
        return None
    if is_ip(host):
        return host.strip("[]")
    host = host.rstrip(".").lower()
    return public_suffix_list().privatesuffix(host) or host or None


def absolute_url(ref: str, base: str | None) -> str | None:
    """An absolute http(s) URL for an href/src/action, or None when there is none to be had."""
    ref = ref.strip()[:MAX_URL_CHARS]
    if not ref:
        return None
    try:
        target = urljoin(base, ref) if base else ref
        scheme = urlsplit(target).scheme.lower()
    except ValueError:
        return None
    if target.startswith("//"):
        target = "https:" + target
        scheme = "https"
    return target if scheme in ("http", "https") else None


def host_in_domains(host: str | None, domains: Collection[str]) -> bool:
    """True when host is one of `domains` or a subdomain of one."""
    if not host:
        return False
    return any(host == d or host.endswith("." + d) for d in domains)


def path_extension(url: str) -> str:
    """Lower-case extension of the URL path's last segment ("" if none)."""
    try:
        path = urlsplit(url.strip()[:MAX_URL_CHARS]).path
    except ValueError:
        return ""
    last = path.rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[-1].lower() if "." in last else ""
