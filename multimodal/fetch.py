"""Fetch a landing page for a `url`-only input, under strict SSRF rules.

Every URL — the one asked for and each redirect `Location` — goes through the same checks before any
connection is made:

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
import re
import socket
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from aiohttp import hdrs
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from core.config import FetchConfig
from core.errors import InvalidInput, PayloadTooLarge, Unavailable, UnprocessableInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``async (host, port) -> [address, ...]``; injectable so tests never touch real DNS."""

MAX_URL_LENGTH = 8192
ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
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

METADATA_HOSTNAMES = frozenset({"metadata.google.internal"})
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS / GCP / Azure / OpenStack instance metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "168.63.129.16",  # Azure wire server (a public address, so named explicitly)
        "100.100.100.200",  # Alibaba Cloud metadata
    )
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_CHARS = frozenset(string.ascii_lowercase + string.digits + "-_")
_FORBIDDEN_URL_CHARS = frozenset(chr(c) for c in range(0x21)) | {"\x7f", "\\"}
_AUTHORITY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//([^/?#]*)")


@dataclass(frozen=True)
class FetchedPage:
    url: str  # the URL asked for
    final_url: str  # after redirects (as requested: IP literals normalised, fragment dropped)
    status: int  # status of the final, non-redirect response (not necessarily 2xx)
    content_type: str  # the Content-Type header as sent ("" when missing and the body sniffed as HTML)
    body: bytes  # at most config.max_bytes
    redirects: list[str] = field(default_factory=list)  # each hop's Location, resolved to an absolute URL


# ------------------------------------------------------------------------------------- addresses
def _parse_ipv4_number(part: str) -> int | None:
    """One dotted part in inet_aton/WHATWG syntax: decimal, 0-prefixed octal or 0x-prefixed hex."""
    if not part:
        return None
    if part[:2] in ("0x", "0X"):
        digits, base, alphabet = part[2:], 16, string.hexdigits
    elif len(part) > 1 and part[0] == "0":
        digits, base, alphabet = part[1:], 8, string.octdigits
    else:
        digits, base, alphabet = part, 10, string.digits
    if not all(c in alphabet for c in digits):
        return None
    return int(digits, base) if digits else 0


def _ends_in_number(host: str) -> bool:
    """WHATWG: a host whose last label is numeric is an IPv4 address or invalid, never a name."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    if last and last.isascii() and last.isdigit():
        return True
    return _parse_ipv4_number(last) is not None and last[:2] in ("0x", "0X")


def parse_ipv4_legacy(host: str) -> ipaddress.IPv4Address | None:
    """Parse every IPv4 spelling inet_aton accepts (``127.1``, ``2130706433``, ``0x7f.0.0.1``, ...)."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_parse_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return None
    value = values[-1]
    for i, n in enumerate(values[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL host denotes if it is an IP literal (any IPv4 spelling, bracketless IPv6)."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return parse_ipv4_legacy(host)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    embedded: list[ipaddress.IPv4Address] = []
    if addr.ipv4_mapped is not None:
        embedded.append(addr.ipv4_mapped)
    if addr.sixtofour is not None:
        embedded.append(addr.sixtofour)
    if addr.teredo is not None:
        embedded.extend(addr.teredo)
    if addr in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return embedded


def is_metadata_address(addr: str | IPAddress) -> bool:
    ip = ipaddress.ip_address(addr) if isinstance(addr, str) else addr
    if ip in METADATA_ADDRESSES:
        return True
    return isinstance(ip, ipaddress.IPv6Address) and any(v4 in METADATA_ADDRESSES for v4 in _embedded_ipv4(ip))


def is_forbidden_address(addr: str | IPAddress) -> bool:
    """True unless ``addr`` is a plain public unicast address. Unparsable strings are forbidden."""
    try:
        ip = ipaddress.ip_address(addr) if isinstance(addr, str) else addr
    except ValueError:
        return True
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
        or ip in _CGNAT
        or is_metadata_address(ip)
    ):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return True
        return any(is_forbidden_address(v4) for v4 in _embedded_ipv4(ip))
    return False


# ------------------------------------------------------------------------------------------ URLs
@dataclass(frozen=True)
class _Target:
    url: URL  # what is requested: IP literal hosts canonicalised, fragment dropped
    host: str  # normalised: lower case, no trailing dot; canonical text for IP literals
    port: int
    ip: IPAddress | None  # set when the host is an IP literal


def _parse_url(raw: str) -> URL:
    """Parse an absolute URL or a (redirect) reference, checking the authority exactly as written.

    yarl quietly normalises some authorities (``h:+80`` becomes ``h``), so userinfo and the port are also
    checked on the raw text; the parsed URL is checked again in `_check_url`.
    """
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidInput(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(c in _FORBIDDEN_URL_CHARS for c in raw):
        raise InvalidInput("URL contains whitespace, control characters or backslashes")
    match = _AUTHORITY.match(raw)
    if match is not None:
        _check_authority(match.group(1))
    try:
        return URL(raw)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"malformed URL: {e}") from e


def _check_authority(authority: str) -> None:
    if "@" in authority:
        raise InvalidInput("URLs with credentials (user:pass@) are not allowed")
    port_text = _explicit_port(authority)
    if port_text is not None and not (port_text.isascii() and port_text.isdigit() and 1 <= len(port_text) <= 5):
        raise InvalidInput("URL port is not a valid number")


def _explicit_port(authority: str) -> str | None:
    """The port text exactly as written in the authority (no userinfo), or None."""
    if authority.startswith("["):
        end = authority.find("]")
        rest = authority[end + 1 :] if end != -1 else ""
        return rest[1:] if rest.startswith(":") else None
    _host, sep, port = authority.rpartition(":")
    return port if sep else None


def _check_url(url: URL) -> _Target:
    """Everything about a URL that can be decided without resolving it."""
    if not url.is_absolute() or not url.scheme:
        raise InvalidInput("URL must be absolute")
    scheme = url.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidInput(f"scheme {scheme!r} is not allowed (only http and https)")
    if url.raw_user is not None or url.raw_password is not None:
        raise InvalidInput("URLs with credentials (user:pass@) are not allowed")
    _check_authority(url.raw_authority)
    port_text = _explicit_port(url.raw_authority)
    if port_text is not None:
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise InvalidInput("URL port is out of range")
    else:
        port = DEFAULT_PORTS[scheme]
    raw_host = (url.raw_host or "").lower()
    if not raw_host:
        raise InvalidInput("URL has no hostname")
    if "%" in raw_host:
        raise InvalidInput("IPv6 zone identifiers are not allowed")

    target = url.with_fragment(None)
    ip: IPAddress | None = None
    if ":" in raw_host:
        ip = parse_ip_literal(raw_host)
        if ip is None:
            raise InvalidInput("URL host is not a valid IPv6 address")
    elif _ends_in_number(raw_host):
        ip = parse_ipv4_legacy(raw_host)
        if ip is None:
            raise InvalidInput("URL host is neither a valid IPv4 address nor a hostname")
    if ip is not None:
        return _Target(url=target.with_host(str(ip)), host=str(ip), port=port, ip=ip)

    host = raw_host[:-1] if raw_host.endswith(".") else raw_host
    labels = host.split(".")
    if len(host) > 253 or any(not 1 <= len(label) <= 63 or not set(label) <= _HOST_CHARS for label in labels):
        raise InvalidInput("URL hostname is malformed")
    return _Target(url=target, host=host, port=port, ip=None)


def _normalise_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ip = parse_ip_literal(host)
    if ip is not None:
        return str(ip)
    return host[:-1] if host.endswith(".") else host


def _allow_list(entries: list[str]) -> set[tuple[str, int | None]]:
    """``host`` / ``host:port`` / ``[v6]:port`` entries; malformed ones are skipped (fail closed)."""
    allowed: set[tuple[str, int | None]] = set()
    for entry in entries:
        text = entry.strip()
        port: int | None = None
        if text.startswith("["):
            end = text.find("]")
            if end == -1:
                continue
            host, rest = text[1:end], text[end + 1 :]
            if rest:
                if not (rest.startswith(":") and rest[1:].isdigit()):
                    continue
                port = int(rest[1:])
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
            if not port_text.isdigit():
                continue
            port = int(port_text)
        else:
            host = text
        if host:
            allowed.add((_normalise_host(host), port))
    return allowed


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
        self._pins[_normalise_host(host)] = list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._pins.get(_normalise_host(host))
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
    target: _Target
    addresses: list[str]


async def _vet(url: URL, allowed: set[tuple[str, int | None]], resolve: Resolver) -> _Hop:
    """All the rules for one URL; returns the addresses it may be fetched from."""
    target = _check_url(url)
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
    allowed = _allow_list(config.allow_hosts)
    current = _parse_url(url)
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
                    current = request_url.join(_parse_url(location))
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
