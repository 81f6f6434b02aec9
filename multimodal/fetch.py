"""Fetch a landing page for a `url`-only input, under strict SSRF rules.

Every URL — the one asked for and each redirect `Location` — goes through the same checks before any
connection is made (the rules that need no connection are in multimodal/url_rules.py):

* only ``http``/``https``; no userinfo; a valid port; a well-formed hostname; at most 8192 characters;
* IP literals are normalised first, including the legacy numeric forms that ``inet_aton`` accepts
  (``2130706433``, ``0x7f.1``, ``0177.0.0.1``), so they cannot slip past the address rule;
* the hostname is resolved once and the fetch is refused if ANY address is private, loopback,
  link-local, multicast, reserved, unspecified, CGNAT, or embeds one of those (IPv4-mapped, 6to4,
  NAT64), or is a cloud metadata endpoint;
* ``FetchConfig.allow_hosts`` entries (``host`` or ``host:port``) are exempt from the address rule
  only — never from the scheme/userinfo/port rules, and never for metadata endpoints.

The connection then goes to exactly the addresses that were checked: aiohttp is given a resolver that
only answers with those pinned addresses, so there is no second DNS lookup that could rebind. Redirects
are followed by hand, cookies are never kept, proxies from the environment are ignored, the body is
streamed up to ``max_bytes`` and the whole fetch is bounded by ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from aiohttp import hdrs
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from core.config import FetchConfig
from core.errors import InvalidInput, PayloadTooLarge, Unavailable, UnprocessableInput
from multimodal.url_rules import (
    MAX_URL_LENGTH,
    METADATA_HOSTNAMES,
    IPAddress,
    Target,
    allow_list,
    check_url,
    is_forbidden_address,
    is_metadata_address,
    normalise_host,
    parse_ip_literal,
    parse_url,
)

# The URL and address rules (multimodal/url_rules.py); these names are importable from here too.
__all__ = ["MAX_URL_LENGTH", "FetchedPage", "IPAddress", "Resolver", "fetch_page", "is_forbidden_address",
           "is_metadata_address", "parse_ip_literal", "system_resolver"]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``async (host, port) -> [address, ...]``; injectable so tests never touch real DNS."""

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
ACCEPT = "text/html, application/xhtml+xml"
# Video creatives by URL: the container is sniffed from its bytes afterwards (multimodal/video.py).
VIDEO_MEDIA_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm", "video/x-matroska",
                               "video/x-msvideo", "video/avi", "application/octet-stream"})
VIDEO_ACCEPT = "video/mp4, video/webm, video/quicktime, video/x-matroska, video/x-msvideo"
# Images by URL (the moderation endpoint's image_url parts): the format is sniffed afterwards too.
IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp",
                               "image/x-ms-bmp", "application/octet-stream"})
IMAGE_ACCEPT = "image/jpeg, image/png, image/gif, image/webp, image/bmp"
ACCEPTS = {"html": ACCEPT, "video": VIDEO_ACCEPT, "image": IMAGE_ACCEPT}
_CHUNK = 64 * 1024
_SNIFF_BYTES = 1024


@dataclass(frozen=True)
class FetchedPage:
    url: str  # the URL asked for
    final_url: str  # after redirects (as requested: IP literals normalised, fragment dropped)
    status: int  # status of the final, non-redirect response (not necessarily 2xx)
    content_type: str  # the Content-Type header as sent ("" when missing and the body sniffed as HTML)
    body: bytes  # at most config.max_bytes
    redirects: list[str] = field(default_factory=list)  # each hop's Location, resolved to an absolute URL


# ------------------------------------------------------------------------------------ resolution
async def system_resolver(host: str, port: int) -> list[str]:
    """The default resolver: getaddrinfo through the running event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _PinnedResolver(AbstractResolver):
    """Answers aiohttp only with addresses that were already checked; anything else fails."""

    def __init__(self) -> None:
        self._pins: dict[str, list[str]] = {}

    def pin(self, host: str, addresses: list[str]) -> None:
        self._pins[normalise_host(host)] = list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._pins.get(normalise_host(host))
        if not addresses:
            raise OSError(f"refusing to resolve unchecked host {host!r}")
        results: list[ResolveResult] = []
        for addr in addresses:
            addr_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            if family not in (socket.AF_UNSPEC, addr_family):
                continue
            results.append(
                {
                    "hostname": host,
                    "host": addr,
                    "port": port,
                    "family": addr_family,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        if not results:
            raise OSError(f"no checked address of the requested family for {host!r}")
        return results

    async def close(self) -> None:
        self._pins.clear()


@dataclass(frozen=True)
class _Hop:
    target: Target
    addresses: list[str]


async def _vet(url: URL, allowed: set[tuple[str, int | None]], resolve: Resolver) -> _Hop:
    """All the rules for one URL; returns the addresses it may be fetched from."""
    target = check_url(url)
    if target.host in METADATA_HOSTNAMES:
        raise InvalidInput("refusing to fetch a cloud metadata endpoint")
    exempt = (target.host, None) in allowed or (target.host, target.port) in allowed

    if target.ip is not None:
        addresses: list[IPAddress] = [target.ip]
    else:
        try:
            answers = await resolve(target.host, target.port)
        except OSError as e:
            raise Unavailable(f"could not resolve {target.host!r}: {e}") from e
        if not answers:
            raise Unavailable(f"{target.host!r} resolved to no addresses")
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer))
            except ValueError as e:
                raise InvalidInput(f"{target.host!r} resolved to an unusable address") from e

    for ip in addresses:
        if is_metadata_address(ip):
            raise InvalidInput("refusing to fetch a cloud metadata endpoint")
        if not exempt and is_forbidden_address(ip):
            raise InvalidInput(f"refusing to fetch {target.host!r}: it resolves to a non-public address")
    return _Hop(target=target, addresses=[str(ip) for ip in addresses])


# ------------------------------------------------------------------------------------------ fetch
def _looks_like_html(body: bytes) -> bool:
    head = body[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n\f").lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = resp.content_length
    if declared is not None and declared > max_bytes and hdrs.CONTENT_ENCODING not in resp.headers:
        raise PayloadTooLarge(f"page declares {declared} bytes, more than the {max_bytes} allowed")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"page is larger than the {max_bytes} bytes allowed")
    return bytes(body)


async def _fetch(url: str, config: FetchConfig, resolve: Resolver, kind: str, max_bytes: int) -> FetchedPage:
    allowed = allow_list(config.allow_hosts)
    current = parse_url(url)
    redirects: list[str] = []
    pins = _PinnedResolver()
    connector = aiohttp.TCPConnector(resolver=pins, use_dns_cache=False, force_close=True, limit=1)
    async with aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=config.timeout_s),
        headers={hdrs.USER_AGENT: config.user_agent, hdrs.ACCEPT: ACCEPTS[kind]},
    ) as session:
        while True:
            hop = await _vet(current, allowed, resolve)
            if hop.target.ip is None:
                pins.pin(hop.target.host, hop.addresses)
            request_url = hop.target.url
            async with session.get(request_url, allow_redirects=False) as resp:
                if resp.status in REDIRECT_STATUSES:
                    location = resp.headers.get(hdrs.LOCATION)
                    if location is None:
                        raise UnprocessableInput(f"redirect ({resp.status}) without a Location header")
                    if len(redirects) >= config.max_redirects:
                        raise UnprocessableInput(f"more than {config.max_redirects} redirects")
                    current = request_url.join(parse_url(location))
                    redirects.append(str(current))
                    continue

                content_type = resp.headers.get(hdrs.CONTENT_TYPE, "").strip()
                media_type = content_type.split(";", 1)[0].strip().lower()
                if kind == "video":
                    if media_type not in VIDEO_MEDIA_TYPES:
                        raise UnprocessableInput(f"content type {media_type or 'none'!r} is not a video")
                elif kind == "image":
                    if media_type not in IMAGE_MEDIA_TYPES:
                        raise UnprocessableInput(f"content type {media_type or 'none'!r} is not an image")
                elif media_type and media_type not in HTML_MEDIA_TYPES:
                    raise UnprocessableInput(f"content type {media_type!r} is not HTML")
                body = await _read_capped(resp, max_bytes)
                if kind == "html" and not media_type and not _looks_like_html(body):
                    raise UnprocessableInput("response has no content type and does not look like HTML")
                return FetchedPage(
                    url=url,
                    final_url=str(request_url),
                    status=resp.status,
                    content_type=content_type,
                    body=body,
                    redirects=redirects,
                )


async def fetch_page(
    url: str,
    config: FetchConfig,
    resolver: Resolver | None = None,
    kind: Literal["html", "video", "image"] = "html",
    max_bytes: int | None = None,
) -> FetchedPage:
    """Fetch ``url`` (an HTML landing page) under the SSRF rules in the module docstring.

    Raises InvalidInput (refused or unsafe URL, at the start or on any redirect), PayloadTooLarge (body over
    ``max_bytes``), UnprocessableInput (too many redirects, not HTML) or Unavailable (resolution or network
    failure, timeout). Any non-redirect status is returned as is; callers decide what a 404 page means.
    """
    if not config.enabled:
        raise InvalidInput("fetching is disabled (fetch.enabled is false); send the page content instead")
    resolve = resolver if resolver is not None else system_resolver
    try:
        async with asyncio.timeout(config.timeout_s):
            return await _fetch(url, config, resolve, kind, max_bytes or config.max_bytes)
    except TimeoutError as e:
        raise Unavailable(f"fetching the page timed out after {config.timeout_s:g}s") from e
    except aiohttp.ClientError as e:
        raise Unavailable(f"fetching the page failed: {type(e).__name__}: {e}") from e
    except OSError as e:
        raise Unavailable(f"fetching the page failed: {e}") from e
