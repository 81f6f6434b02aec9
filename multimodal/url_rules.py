"""The URL and address rules behind every fetch (multimodal/fetch.py), decided without a connection.

* only ``http``/``https``; no userinfo; a valid port; a well-formed hostname; at most 8192 characters;
* IP literals are normalised first, including the legacy numeric forms that ``inet_aton`` accepts
  (``2130706433``, ``0x7f.1``, ``0177.0.0.1``), so they cannot slip past the address rule;
* an address is forbidden if it is private, loopback, link-local, multicast, reserved, unspecified,
  CGNAT, or embeds one of those (IPv4-mapped, 6to4, NAT64), or is a cloud metadata endpoint;
* allow-list entries (``host``, ``host:port``, ``[v6]:port``) are normalised like URL hosts.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass

from yarl import URL

from core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 8192
ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

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
class Target:
    url: URL  # what is requested: IP literal hosts canonicalised, fragment dropped
    host: str  # normalised: lower case, no trailing dot; canonical text for IP literals
    port: int
    ip: IPAddress | None  # set when the host is an IP literal


def parse_url(raw: str) -> URL:
    """Parse an absolute URL or a (redirect) reference, checking the authority exactly as written.

    yarl quietly normalises some authorities (``h:+80`` becomes ``h``), so userinfo and the port are also
    checked on the raw text; the parsed URL is checked again in `check_url`.
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


def check_url(url: URL) -> Target:
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
        return Target(url=target.with_host(str(ip)), host=str(ip), port=port, ip=ip)

    host = raw_host[:-1] if raw_host.endswith(".") else raw_host
    labels = host.split(".")
    if len(host) > 253 or any(not 1 <= len(label) <= 63 or not set(label) <= _HOST_CHARS for label in labels):
        raise InvalidInput("URL hostname is malformed")
    return Target(url=target, host=host, port=port, ip=None)


def normalise_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ip = parse_ip_literal(host)
    if ip is not None:
        return str(ip)
    return host[:-1] if host.endswith(".") else host


def allow_list(entries: list[str]) -> set[tuple[str, int | None]]:
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
            allowed.add((normalise_host(host), port))
    return allowed
